// The Explorer sidebar's counts and histograms: after the page loads and after every results swap, fetch
// the facets fragment for the same state (#results[data-facets-url]) and put each block into its
// <output data-facet-counts>; boolean and enum counts go next to their values. The page never waits for
// it, and an answer that arrives after a newer filter was applied is dropped.
(function () {
  "use strict";

  let asked = null;

  function load() {
    const results = document.getElementById("results");
    const facets = document.getElementById("facets");
    if (!results || !facets || !results.dataset.facetsUrl || results.dataset.facetsUrl === asked) return;
    const url = asked = results.dataset.facetsUrl;
    facets.classList.add("facets-loading");
    fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (response) { return response.text().then(function (html) { return [response.ok, html]; }); })
      .then(function (answer) {
        if (url !== asked) return;  // a newer filter's facets are on their way
        facets.classList.remove("facets-loading");
        if (answer[0]) fill(facets, answer[1]);
      })
      .catch(function () { if (url === asked) facets.classList.remove("facets-loading"); });
  }

  function fill(facets, html) {
    const parsed = document.createElement("template");
    parsed.innerHTML = html;
    facets.querySelectorAll("output[data-facet-counts]").forEach(function (o) { o.hidden = true; o.innerHTML = ""; });
    parsed.content.querySelectorAll("[data-facet-result]").forEach(function (block) {
      const param = block.dataset.facetResult;
      const output = facets.querySelector('output[data-facet-counts="' + CSS.escape(param) + '"]');
      if (!output) return;
      output.innerHTML = block.innerHTML;
      output.dataset.kind = block.dataset.kind;
      output.hidden = false;
      if (block.dataset.counts) counts(output.closest("fieldset"), param, JSON.parse(block.dataset.counts));
    });
  }

  function counts(fieldset, param, byValue) {
    if (!fieldset) return;
    fieldset.querySelectorAll('input[name="in:' + CSS.escape(param) + '"]').forEach(function (box) {
      let badge = box.parentElement.querySelector(".facet-n");
      if (!badge) {
        badge = document.createElement("span");
        badge.className = "facet-n";
        box.parentElement.appendChild(badge);
      }
      badge.textContent = String(byValue[box.value] || 0);
    });
    fieldset.querySelectorAll('select[name="is:' + CSS.escape(param) + '"] option[value]').forEach(function (option) {
      if (!option.value) return;
      option.dataset.count = String(byValue[option.value] || 0);
      option.textContent = option.value + " (" + option.dataset.count + ")";
    });
  }

  // A click on a histogram bar sets the range to that bar.
  document.addEventListener("click", function (event) {
    const bar = event.target.closest("#facets svg.histogram rect[data-low]");
    if (!bar) return;
    const fieldset = bar.closest("fieldset");
    const range = fieldset && fieldset.querySelector(".range");
    if (!range) return;
    const inputs = range.querySelectorAll("input");
    const shown = function (v) { return inputs[0].type === "datetime-local" ? v.slice(0, 16) : v; };
    inputs[0].value = shown(bar.dataset.low);
    inputs[1].value = shown(bar.dataset.high);
    inputs[1].dispatchEvent(new Event("change", { bubbles: true }));
  });

  document.addEventListener("DOMContentLoaded", load);
  // htmx:load fires on the new #results (an outerHTML swap's afterSettle fires on the detached old one).
  document.addEventListener("htmx:load", load);
})();
