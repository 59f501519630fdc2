// The Explorer's side panel: a plain click on a tile or row (nothing selected, no modifier key) opens the
// item in #item-panel; Previous/Next and ArrowLeft/ArrowRight walk the loaded results in page order,
// asking "load more" for the next page at the end; Escape closes. Event delegation on document, so tiles
// swapped in by htmx need no re-binding. Ctrl/Cmd/Shift/middle clicks keep the tile link's behaviour.
(function () {
  "use strict";

  const TILES = "#results .result-tile[data-item], #results .result-row[data-item]";
  let current = null;
  let loadedBefore = 0;  // tiles loaded when "load more" was asked for on the way to the next item (0: not asked)

  function panel() { return document.getElementById("item-panel"); }

  function selecting() {
    const results = document.getElementById("results");
    return Boolean(document.querySelector(".select-item:checked") || (results && results.hasAttribute("data-selecting")));
  }

  function tiles() { return Array.from(document.querySelectorAll(TILES)); }

  function mark() {
    const list = tiles();
    const index = list.findIndex(function (t) { return t.dataset.item === current; });
    list.forEach(function (t, i) { t.classList.toggle("panel-current", i === index); });
    if (index >= 0) list[index].scrollIntoView({ block: "nearest" });
    const box = panel();
    box.querySelector("#panel-prev").disabled = index <= 0;
    box.querySelector("#panel-next").disabled = index === list.length - 1 && !document.querySelector("#load-more a");
  }

  function open(uuid) {
    const box = panel();
    if (!box) return;
    current = uuid;
    box.hidden = false;
    document.body.classList.add("panel-open");
    mark();
    htmx.ajax("GET", box.dataset.url.replace("00000000-0000-0000-0000-000000000000", uuid),
      { target: "#item-panel-body", swap: "innerHTML" });
  }

  function close() {
    const box = panel();
    if (!box || box.hidden) return;
    box.hidden = true;
    document.body.classList.remove("panel-open");
    box.querySelector("#item-panel-body").innerHTML = "";  // stops a playing video or audio
    tiles().forEach(function (t) { t.classList.remove("panel-current"); });
    current = null;
  }

  function step(delta) {
    const list = tiles();
    const index = list.findIndex(function (t) { return t.dataset.item === current; });
    const target = index + delta;
    if (index >= 0 && target >= 0 && target < list.length) {
      open(list[target].dataset.item);
    } else if (index < 0 && list.length) {
      open(list[0].dataset.item);  // the result changed under the panel: start at its first item
    } else if (delta > 0 && target >= list.length) {
      const more = document.querySelector("#load-more a");
      if (more && !loadedBefore) {
        loadedBefore = list.length;
        more.click();  // htmx appends the next page; the htmx:load listener moves on
      }
    }
  }

  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    const box = panel();
    if (box && event.target.closest("[data-panel-close]")) { close(); return; }
    const stepper = event.target.closest("[data-panel-step]");
    if (box && stepper && box.contains(stepper)) { step(parseInt(stepper.dataset.panelStep, 10)); return; }
    if (event.target.closest(".select-item, #load-more")) return;
    const tile = event.target.closest(TILES);
    if (!tile || selecting()) return;
    event.preventDefault();
    open(tile.dataset.item);
  });

  document.addEventListener("keydown", function (event) {
    const box = panel();
    if (!box || box.hidden || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, textarea, select, [contenteditable], video, audio")) return;
    if (event.key === "Escape") { close(); event.preventDefault(); }
    else if (event.key === "ArrowRight") { step(1); event.preventDefault(); }
    else if (event.key === "ArrowLeft") { step(-1); event.preventDefault(); }
  });

  // htmx:load fires on each new node (tiles appended by "load more", the panel's new content): one
  // look per batch of them, on the next frame.
  let queued = false;
  document.addEventListener("htmx:load", function () {
    const box = panel();
    if (!box || box.hidden || queued) return;
    queued = true;
    requestAnimationFrame(function () {
      queued = false;
      if (box.hidden) return;
      if (loadedBefore && tiles().length > loadedBefore) {
        loadedBefore = 0;
        step(1);
      } else {
        mark();
      }
    });
  });
})();
