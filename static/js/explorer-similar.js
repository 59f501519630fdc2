// "More like this" and the sentence box of the Explorer (templates/explorer/explore.html).
// The page's state lives in its URL: both build the current URL with similar=<key>&similar_item=<uuid>
// (or similar_text=...) in place of any earlier similarity and page token, and load it, so the result
// keeps the scope and filter and a copied link reproduces it. Buttons are found by delegation, so tiles
// swapped in by htmx and the side panel need no re-binding.
(function () {
  "use strict";
  var SIMILAR = ["similar", "similar_item", "similar_frame", "similar_text", "after"];

  function chosenKey() {
    var select = document.getElementById("similar-key");
    if (select) return select.value;
    var config = document.getElementById("similar-config");
    return config ? config.value : "";
  }

  function similarUrl(params) {
    var url = new URL(window.location.href);
    SIMILAR.forEach(function (name) { url.searchParams.delete(name); });
    Object.keys(params).forEach(function (name) { url.searchParams.set(name, params[name]); });
    return url.pathname + "?" + url.searchParams.toString();
  }

  // Capture phase: before the tile's link and the side panel's own click handling.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-more-like-this]");
    if (!button) return;
    event.preventDefault();
    event.stopPropagation();
    var key = button.dataset.similarKey || chosenKey();
    if (!key) return;
    var params = {similar: key, similar_item: button.dataset.moreLikeThis};
    if (button.dataset.similarFrame) params.similar_frame = button.dataset.similarFrame;
    window.location.assign(similarUrl(params));
  }, true);

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id !== "sentence-form") return;
    event.preventDefault();
    var text = form.elements.namedItem("similar_text").value.trim();
    var key = form.elements.namedItem("similar").value;
    if (!text || !key) return;
    window.location.assign(similarUrl({similar: key, similar_text: text}));
  });
})();
