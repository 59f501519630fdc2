// "Save this view" on the Explorer page: the dialog takes the page's current state from the address bar
// (htmx keeps it in step with every filter change) and posts it with a name.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    const dialog = document.getElementById("save-view-dialog");
    if (!dialog) return;
    if (event.target.closest("#save-view-open")) {
      const query = dialog.querySelector("#save-view-query");
      if (query) query.value = window.location.search.replace(/^\?/, "");
      document.getElementById("saved-views-menu").open = false;
      dialog.showModal();
      const name = dialog.querySelector("#save-view-name");
      if (name) name.focus();
    } else if (event.target.closest("[data-dialog-close]")) {
      dialog.close();
    }
  });

  // After a refused save htmx swaps the form back in: fill the state again for the next try.
  document.addEventListener("htmx:load", function () {
    const query = document.getElementById("save-view-query");
    if (query && !query.value) query.value = window.location.search.replace(/^\?/, "");
  });
})();
