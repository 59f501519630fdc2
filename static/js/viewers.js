// Item page viewers: the video frame strip seeks its video, a click on the audio waveform seeks the
// audio, and the DICOM slice slider scrolls through the series' slice pictures. The same viewers appear in
// the Explorer's side panel (an htmx swap): each is bound once, on load and after every swap.
(function () {
  "use strict";

  function frameStrips() {
    document.querySelectorAll(".frame-strip[data-video]").forEach(function (strip) {
      if (!once(strip)) return;
      const video = document.getElementById(strip.dataset.video);
      if (!video) return;
      const frames = Array.from(strip.querySelectorAll(".frame"));
      strip.addEventListener("click", function (event) {
        const button = event.target.closest(".frame");
        if (!button) return;
        video.currentTime = parseFloat(button.dataset.time) || 0;
      });
      video.addEventListener("timeupdate", function () {
        let current = null;
        frames.forEach(function (f) { if (parseFloat(f.dataset.time) <= video.currentTime + 0.001) current = f; });
        frames.forEach(function (f) { f.classList.toggle("active", f === current); });
      });
    });
  }

  function waveforms() {
    document.querySelectorAll(".waveform[data-audio]").forEach(function (box) {
      if (!once(box)) return;
      const audio = document.getElementById(box.dataset.audio);
      const head = box.querySelector(".playhead");
      if (!audio) return;
      box.addEventListener("click", function (event) {
        const rect = box.getBoundingClientRect();
        if (isFinite(audio.duration) && rect.width) {
          audio.currentTime = ((event.clientX - rect.left) / rect.width) * audio.duration;
        }
      });
      const follow = function () {
        if (head && isFinite(audio.duration) && audio.duration) {
          head.style.left = (100 * audio.currentTime) / audio.duration + "%";
        }
      };
      audio.addEventListener("timeupdate", follow);
      audio.addEventListener("seeked", follow);
    });
  }

  function sliceViewer() {
    const range = document.getElementById("slice-range");
    const data = document.getElementById("slice-data");
    if (!range || !data || !once(range)) return;
    const slices = JSON.parse(data.textContent);
    const label = document.getElementById("slice-label");
    const windowText = document.getElementById("slice-window");
    const link = document.getElementById("slice-link");
    const show = function (index) {
      const slice = slices[index];
      let image = document.getElementById("slice-image");
      if (slice.src && image.tagName !== "IMG") {
        const img = document.createElement("img");
        img.id = "slice-image";
        image.replaceWith(img);
        image = img;
      }
      if (image.tagName === "IMG") {
        image.src = slice.src || "";
        image.alt = "Slice " + (index + 1);
      }
      label.textContent = "Slice " + (index + 1) + " of " + slices.length;
      const shown = function (v) { return v === null || v === undefined ? "–" : v; };
      windowText.textContent = "Window centre " + shown(slice.center) + " / width " + shown(slice.width);
      link.href = slice.href;
      link.textContent = slice.name;
    };
    slices.forEach(function (slice) { if (slice.src) new Image().src = slice.src; }); // scroll without waiting
    range.addEventListener("input", function () { show(parseInt(range.value, 10)); });
    range.parentElement.querySelector(".slice-stage").addEventListener("wheel", function (event) {
      event.preventDefault();
      const next = Math.min(Math.max(parseInt(range.value, 10) + Math.sign(event.deltaY), 0), slices.length - 1);
      if (String(next) !== range.value) {
        range.value = String(next);
        show(next);
      }
    }, { passive: false });
  }

  function once(element) {
    if (element.dataset.viewerBound) return false;
    element.dataset.viewerBound = "1";
    return true;
  }

  function bindAll() {
    frameStrips();
    waveforms();
    sliceViewer();
  }

  document.addEventListener("DOMContentLoaded", bindAll);
  document.addEventListener("htmx:load", bindAll);
})();
