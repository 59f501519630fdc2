// Item page: ArrowLeft / ArrowRight follow the previous / next links (#item-prev, #item-next) through the
// result or the group the item was opened from. Keys typed into a field, or meant for a focused player or
// slider, are left alone.
(function () {
  "use strict";

  function busy(target) {
    return target instanceof Element &&
      (target.closest("input, textarea, select, video, audio, [contenteditable]") !== null);
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
    if (busy(event.target)) return;
    const link = document.getElementById(event.key === "ArrowLeft" ? "item-prev" : "item-next");
    if (!link) return;
    event.preventDefault();
    window.location.assign(link.href);
  });
})();
