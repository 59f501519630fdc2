// Folder page: drop files onto the import or upload form (or choose them) and they are sent at once
// through the form's own htmx post. Shows upload progress; keeps stray drops from opening the file.
(function () {
  "use strict";

  function zoneOf(event) {
    return event.target instanceof Element ? event.target.closest("form[data-dropzone]") : null;
  }

  function carriesFiles(event) {
    return event.dataTransfer && Array.from(event.dataTransfer.types || []).includes("Files");
  }

  function send(form) {
    if (form.requestSubmit) form.requestSubmit();
    else form.dispatchEvent(new Event("submit", { cancelable: true, bubbles: true }));
  }

  document.addEventListener("change", function (event) {
    const input = event.target;
    if (input.matches && input.matches("form[data-dropzone] input[type=file]") && input.files.length) {
      send(input.form);
    }
  });

  ["dragenter", "dragover"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      if (!carriesFiles(event)) return;
      event.preventDefault(); // also stops a drop outside a zone from navigating to the file
      const form = zoneOf(event);
      event.dataTransfer.dropEffect = form ? "copy" : "none";
      if (form) form.classList.add("dragging");
    });
  });

  document.addEventListener("dragleave", function (event) {
    const form = zoneOf(event);
    if (form && !form.contains(event.relatedTarget)) form.classList.remove("dragging");
  });

  document.addEventListener("drop", function (event) {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    const form = zoneOf(event);
    if (!form) return;
    form.classList.remove("dragging");
    let files = event.dataTransfer.files;
    if (!files.length) return;
    if (form.hasAttribute("data-single") && files.length > 1) {
      const one = new DataTransfer();
      one.items.add(files[0]);
      files = one.files;
    }
    form.querySelector("input[type=file]").files = files;
    send(form);
  });

  document.addEventListener("htmx:xhr:progress", function (event) {
    const form = event.target.closest && event.target.closest("form[data-dropzone]");
    const bar = form && form.querySelector("progress");
    if (!bar || !event.detail.lengthComputable) return;
    bar.hidden = false;
    bar.value = Math.round((100 * event.detail.loaded) / event.detail.total);
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.target.closest && event.target.closest("form[data-dropzone]");
    if (!form) return;
    form.reset(); // the same file can be chosen again
    const bar = form.querySelector("progress");
    if (bar) bar.hidden = true;
  });
})();
