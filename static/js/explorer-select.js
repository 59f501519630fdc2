// The Explorer's selection: checkboxes on tiles/rows, shift-click ranges, "select page", "select all N
// matching" (sent as the page's scope + filter + expression, never as ids), and the actions on it, which
// go to the REST doors /api/v1/explore/{bulk-edit,move,trash,export} with the session's CSRF token.
// Event delegation on document: htmx swaps #results (a new filter: the selection is cleared) and appends
// rows (load more: new tiles of the selection show as selected).
(() => {
  "use strict";
  const state = { ids: new Set(), all: false, last: null, results: null };
  const $ = (selector, root = document) => root.querySelector(selector);
  const boxes = () => [...document.querySelectorAll("#results .select-item")];
  const results = () => document.getElementById("results");
  const matching = () => Number(document.getElementById("selection-matching")?.value || 0);
  const count = () => (state.all ? matching() : state.ids.size);
  const selecting = () => count() > 0;

  function plural(n) { return `${n.toLocaleString("en")} item${n === 1 ? "" : "s"}`; }

  function sync() {
    const root = results();
    if (root !== state.results) { // a new result set: a selection never outlives its filter
      state.ids.clear(); state.all = false; state.last = null; state.results = root;
    }
    for (const box of boxes()) {
      box.checked = state.all || state.ids.has(box.dataset.item);
      box.closest(".result-tile, .result-row")?.classList.toggle("selected", box.checked);
    }
    const bar = document.getElementById("selection-bar");
    if (!bar) return;
    const n = count();
    if (root) root.toggleAttribute("data-selecting", n > 0);
    $("#selection-count", bar).textContent = state.all ? `All ${plural(n)} matching selected` : `${plural(n)} selected`;
    $("[data-matching]", bar).textContent = matching().toLocaleString("en");
    $("#select-all", bar).disabled = state.all || matching() === 0;
    for (const button of bar.querySelectorAll("#select-clear, [data-action], [data-export]")) button.disabled = n === 0;
    for (const span of document.querySelectorAll("[data-selection-count]")) span.textContent = plural(n);
  }

  function setItems(ids, on) {
    if (state.all && on) return;
    if (state.all) { // unticking one of "all matching": the loaded tiles, minus it, become the pick
      state.all = false;
      state.ids = new Set(boxes().map((box) => box.dataset.item));
    }
    for (const id of ids) (on ? state.ids.add(id) : state.ids.delete(id));
  }

  function toggled(box, shift) {
    const all = boxes();
    const from = shift && state.last ? all.findIndex((b) => b.dataset.item === state.last) : -1;
    const to = all.indexOf(box);
    const range = from >= 0 ? all.slice(Math.min(from, to), Math.max(from, to) + 1) : [box];
    setItems(range.map((b) => b.dataset.item), box.checked);
    state.last = box.dataset.item;
    sync();
  }

  // Capture phase: decide before the tile's link or the side panel sees the click.
  document.addEventListener("click", (event) => {
    const box = event.target.closest(".select-item");
    if (box) { event.stopPropagation(); toggled(box, event.shiftKey); return; }
    const tile = event.target.closest("#results .result-tile, #results .result-row");
    if (!tile || !selecting() || event.button !== 0 || event.ctrlKey || event.metaKey || event.altKey) return;
    event.preventDefault(); event.stopPropagation(); // while selecting, a plain click toggles (like a photo app)
    const tileBox = $(".select-item", tile);
    tileBox.checked = !tileBox.checked;
    toggled(tileBox, event.shiftKey);
  }, true);
  // A ticked box is not a filter control: keep its change event away from the sidebar form.
  document.addEventListener("change", (event) => {
    if (event.target.matches(".select-item")) event.stopPropagation();
  }, true);
  document.addEventListener("htmx:afterSettle", sync);
  document.addEventListener("DOMContentLoaded", () => { sync(); bindBar(); bindDialogs(); });

  // --- the actions ---------------------------------------------------------------------------------
  function selectionBody() {
    if (state.all) return JSON.parse(document.getElementById("selection-scope").textContent);
    return { items: [...state.ids] };
  }

  function api(kind, body) {
    const bar = document.getElementById("selection-bar");
    const url = `${bar.dataset[kind + "Url"]}?organisation=${encodeURIComponent(bar.dataset.organisation)}`;
    const token = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
    return fetch(url, {
      method: "POST", credentials: "same-origin", body: JSON.stringify({ ...selectionBody(), ...body }),
      headers: { "Content-Type": "application/json", "X-CSRFToken": token, Accept: "application/json" },
    });
  }

  function messages(errors) { // {"set.score": ["..."]} or {"detail": "..."} -> ["set.score: ...", ...]
    if (!errors || typeof errors !== "object") return [String(errors)];
    return Object.entries(errors).flatMap(([place, value]) =>
      (Array.isArray(value) ? value : [value]).map((m) => (place === "detail" ? String(m) : `${place}: ${m}`)));
  }

  async function refusal(response) {
    try { return messages(await response.json()); } catch { return [`The server answered ${response.status}.`]; }
  }

  function refreshResults() { // the first page of the same view, through the page's own htmx route
    const form = document.getElementById("explore-form");
    if (form && window.htmx) window.htmx.trigger(form, "submit");
  }

  function bindBar() {
    const bar = document.getElementById("selection-bar");
    if (!bar) return;
    $("#select-page", bar).addEventListener("click", () => {
      setItems(boxes().map((box) => box.dataset.item), true); sync();
    });
    $("#select-all", bar).addEventListener("click", () => { state.all = true; state.ids.clear(); sync(); });
    $("#select-clear", bar).addEventListener("click", () => { state.all = false; state.ids.clear(); sync(); });
    for (const button of bar.querySelectorAll("[data-action]")) {
      button.addEventListener("click", () => openDialog(document.getElementById(`${button.dataset.action}-dialog`)));
    }
    for (const button of bar.querySelectorAll("[data-export]")) {
      button.addEventListener("click", () => download(button.dataset.export));
    }
  }

  async function download(format) {
    const note = document.getElementById("selection-message");
    note.hidden = true;
    const response = await api("export", { format });
    if (!response.ok) { note.textContent = (await refusal(response)).join(" "); note.hidden = false; return; }
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = `selection.${format}`;
    document.body.append(link); link.click(); link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }

  // --- dialogs -------------------------------------------------------------------------------------
  function feedback(dialog, { errors = [], result = "" } = {}) {
    const list = $("[data-errors]", dialog);
    list.replaceChildren(...errors.map((text) => Object.assign(document.createElement("li"), { textContent: text })));
    list.hidden = errors.length === 0;
    $("[data-result]", dialog).textContent = result;
    $("[data-result]", dialog).hidden = !result;
  }

  function openDialog(dialog) {
    feedback(dialog);
    $("[data-progress]", dialog).hidden = true;
    $("[data-apply]", dialog).disabled = dialog.id === "move-dialog" && !$("#move-destination", dialog);
    sync();
    dialog.showModal();
  }

  function bindDialogs() {
    for (const form of document.querySelectorAll("[data-action-form]")) {
      const dialog = form.closest("dialog");
      $("[data-close]", form).addEventListener("click", () => dialog.close());
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        ACTIONS[form.dataset.actionForm](dialog);
      });
    }
    const edit = document.getElementById("edit-form");
    if (!edit) return;
    edit.addEventListener("change", () => {
      const op = edit.elements.op.value;
      for (const part of edit.querySelectorAll("[data-op]")) part.hidden = part.dataset.op !== op;
      const key = $("#edit-key", edit)?.value;
      for (const part of edit.querySelectorAll(".edit-value")) part.hidden = part.dataset.key !== key;
    });
  }

  function editPatch(form) { // the bulk-edit body from the typed form; throws a message for unreadable input
    const op = form.elements.op.value;
    if (op === "remove") return { remove: [$("#edit-remove", form).value.trim()] };
    if (op === "merge") {
      let value;
      try { value = JSON.parse($("#edit-merge", form).value); } catch (error) { throw `Not JSON: ${error.message}`; }
      return { merge: value };
    }
    const key = $("#edit-key", form);
    if (!key) throw "No declared key to set.";
    const part = $(`.edit-value[data-key="${CSS.escape(key.value)}"]`, form);
    return { set: { [key.value]: typedValue(part) } };
  }

  function typedValue(part) {
    const type = part.dataset.type;
    if (type === "geospatial") {
      const number = (input) => (input.value === "" ? input.value : Number(input.value));
      return { latitude: number($("[data-latitude]", part)), longitude: number($("[data-longitude]", part)) };
    }
    const raw = $("[data-value]", part).value;
    if (type === "number") return raw === "" ? raw : Number(raw); // "" is refused by the server, in words
    if (type === "boolean") return raw === "true";
    if (type === "datetime") {
      if (!raw) return raw;
      const when = new Date(raw); // the browser's local time, sent as an instant
      if (Number.isNaN(when.getTime())) throw `Not a date and time: ${raw}`;
      return when.toISOString();
    }
    return raw;
  }

  async function runAction(dialog, kind, body, done) {
    const apply = $("[data-apply]", dialog);
    apply.disabled = true;
    feedback(dialog);
    try {
      const response = await api(kind, body);
      if (response.status === 202) return await follow(dialog, await response.json());
      if (!response.ok) return feedback(dialog, { errors: await refusal(response) });
      feedback(dialog, { result: done(await response.json()) });
      refreshResults();
    } catch (error) {
      feedback(dialog, { errors: [String(error)] });
    } finally {
      apply.disabled = false;
    }
  }

  const ACTIONS = {
    edit(dialog) {
      let body;
      try { body = editPatch($("form", dialog)); } catch (message) { return feedback(dialog, { errors: [String(message)] }); }
      runAction(dialog, "bulkEdit", body, (r) => `Edited ${plural(r.matched)}: ${plural(r.changed)} changed.`);
    },
    move(dialog) {
      runAction(dialog, "move", { destination: $("#move-destination", dialog).value },
        (r) => `Moved ${plural(r.moved)}.`);
    },
    trash(dialog) {
      runAction(dialog, "trash", {}, (r) => `Moved ${plural(r.trashed)} to the trash.`);
    },
  };

  const POLL_MS = 500;
  const FINISHED = ["DONE", "ERROR", "CANCELLED"];

  async function follow(dialog, accepted) { // a bulk edit over the cap: poll its metadata job until it ends
    const box = $("[data-progress]", dialog);
    const bar = $("progress", box);
    box.hidden = false;
    for (;;) {
      const response = await fetch(accepted.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return feedback(dialog, { errors: await refusal(response) });
      const job = await response.json();
      bar.max = job.total || accepted.matched;
      bar.value = job.done + job.failed;
      $("[data-progress-text]", box).textContent = `${job.done.toLocaleString("en")} of ${bar.max.toLocaleString("en")}`;
      if (FINISHED.includes(job.status)) {
        const failed = job.failed ? `, ${plural(job.failed)} refused` : "";
        const error = job.error ? ` (${job.error})` : "";
        const result = `Edited ${plural(job.done)}${failed}: job ${job.status.toLowerCase()}${error}.`;
        feedback(dialog, job.status === "DONE" ? { result } : { errors: [result] });
        refreshResults();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
})();
