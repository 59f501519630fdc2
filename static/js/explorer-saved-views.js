// "Save this view" on the Explorer page: the dialog takes the page's current state from the address bar
// (htmx keeps it in step with every filter change) and posts it with a name. On a folder page the scope
// is in the path, not the query: the dialog's data-prefix ("folder=<uuid>&sub=0&") puts it back (a later
// "sub=1" from the address bar wins).
(function () {
  "use strict";

  function pageState(dialog) {
    return (dialog.dataset.prefix || "") + window.location.search.replace(/^\?/, "");
  }

  document.addEventListener("click", function (event) {
    const dialog = document.getElementById("save-view-dialog");
    if (!dialog) return;
    if (event.target.closest("#save-view-open")) {
      const query = dialog.querySelector("#save-view-query");
      if (query) query.value = pageState(dialog);
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
    const dialog = document.getElementById("save-view-dialog");
    if (query && dialog && !query.value) query.value = pageState(dialog);
  });
})();
