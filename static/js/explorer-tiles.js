// Explorer and folder pages: the toolbar's tile-size slider sets the grid's tile width (--tile) at once,
// and this browser remembers it (localStorage), so every results page opens at the size last chosen.
// The slider is not a filter: its change event is stopped before the form's htmx search sees it.
(function () {
  "use strict";
  const KEY = "loupe.tileSize";

  function apply(size) {
    document.documentElement.style.setProperty("--tile", size + "px");
  }

  function slider() {
    return document.getElementById("tile-size");
  }

  const saved = Number(localStorage.getItem(KEY));
  if (saved >= 80 && saved <= 320) apply(saved);

  document.addEventListener("DOMContentLoaded", function () {
    const input = slider();
    if (input && saved >= 80 && saved <= 320) input.value = String(saved);
  });

  document.addEventListener("input", function (event) {
    if (event.target !== slider()) return;
    apply(event.target.value);
    localStorage.setItem(KEY, event.target.value);
  });

  // Capture phase on document: runs before the form's own listener, so no search is sent.
  document.addEventListener("change", function (event) {
    if (event.target === slider()) event.stopPropagation();
  }, true);
})();
