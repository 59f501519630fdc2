// The map page: an embedding key's 2-D projection in WebGL (regl-scatterplot), coloured by a key or a
// built-in field, with hover thumbnails, lasso / box selection handed to the Explorer as a filter leaf
// (lasso:<key>=x1,y1 x2,y2 ...), and the projection's status with recompute and progress.
// Points come as binary (see apps/similarity/selectors.py: projection_payload); coordinates are in [-1, 1],
// the space regl-scatterplot draws without scales, so a lasso's coordinates are the server's.
import createScatterplot from "regl-scatterplot";

const root = document.getElementById("map-page");
if (root) start(root);

const PALETTE = ["#9ca3af", "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
  "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
  "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"]; // code 0 (missing / other) first
const RAMP = ["#9ca3af", "#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779",
  "#6ece58", "#b5de2b", "#fde725"]; // NaN first, then viridis
const LASSO_VERTICES_MAX = 200; // what the Explorer URL carries; the server takes up to 1,000

function start(root) {
  const key = root.dataset.key;
  const organisation = root.dataset.organisation;
  const base = root.dataset.api + encodeURIComponent(key);
  const query = "?organisation=" + encodeURIComponent(organisation);
  const token = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
  const $ = (id) => document.getElementById(id);
  const canvas = $("map-canvas");
  const scatterplot = createScatterplot({
    canvas, width: "auto", height: "auto", pointSize: 4, pointSizeSelected: 2, pointOutlineWidth: 1,
    opacity: 0.85, pointColor: "#60a5fa", lassoColor: "#fbbf24", lassoMinDelay: 10, showReticle: false,
    lassoInitiator: false, keyMap: {}, backgroundColor: "#111111",
  });
  const state = { points: null, lasso: null, selected: [], statusTimer: null };
  window.loupeMap = { scatterplot, state, ready: false, transferMs: null, bytes: 0 }; // for tests and benches

  async function loadPoints() {
    const started = performance.now();
    const response = await fetch(base + query, { credentials: "same-origin" });
    if (!response.ok) return fail(`The points could not be loaded (${response.status}).`);
    const buffer = await response.arrayBuffer();
    window.loupeMap.transferMs = performance.now() - started;
    window.loupeMap.bytes = buffer.byteLength;
    const n = new DataView(buffer).getUint32(4, true);
    const points = {
      n, x: new Float32Array(buffer, 8, n), y: new Float32Array(buffer, 8 + 4 * n, n),
      ordinal: new Uint32Array(buffer, 8 + 8 * n, n), ids: new Uint8Array(buffer, 8 + 12 * n, 16 * n),
    };
    points.index = new Map(); // ordinal -> position in the arrays (colour values arrive by ordinal)
    for (let i = 0; i < n; i++) points.index.set(points.ordinal[i], i);
    state.points = points;
    await scatterplot.draw({ x: points.x, y: points.y });
    window.loupeMap.ready = true;
    colour();
  }

  function uuidAt(i) {
    const bytes = state.points.ids.subarray(16 * i, 16 * i + 16);
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  async function colour() {
    const choice = $("map-colour").value;
    const legend = $("map-legend");
    legend.replaceChildren();
    if (!state.points) return;
    const { x, y, n } = state.points;
    if (!choice) {
      scatterplot.set({ colorBy: null, pointColor: "#60a5fa" });
      return scatterplot.draw({ x, y });
    }
    const [target, name] = [choice.slice(0, choice.indexOf(":")), choice.slice(choice.indexOf(":") + 1)];
    const response = await fetch(`${base}/values${query}&${target}=${encodeURIComponent(name)}`, { credentials: "same-origin" });
    if (!response.ok) return fail(`The values of ${name} could not be loaded (${response.status}).`);
    const buffer = await response.arrayBuffer();
    const view = new DataView(buffer);
    const length = view.getUint32(0, true);
    const meta = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, length)));
    const count = view.getUint32(4 + length, true);
    const ordinals = new Uint32Array(buffer.slice(8 + length, 8 + length + 4 * count));
    const values = new Float32Array(n); // category codes as integers, numbers scaled into [0, 1]
    if (meta.kind === "category") {
      const codes = new Uint16Array(buffer.slice(8 + length + 4 * count, 8 + length + 6 * count));
      for (let j = 0; j < count; j++) values[state.points.index.get(ordinals[j])] = codes[j];
      scatterplot.set({ colorBy: "valueA", pointColor: PALETTE.slice(0, meta.labels.length + 1) });
      legend.append(...["missing / other", ...meta.labels].map((label, i) => legendRow(PALETTE[i], label)));
    } else {
      const numbers = new Float32Array(buffer.slice(8 + length + 4 * count, 8 + length + 8 * count));
      const span = (meta.max - meta.min) || 1;
      for (let j = 0; j < count; j++) {
        const v = numbers[j];
        // bin 0 is "missing"; 1..10 the ramp: a value in [0, 1) picks floor(value * 11)
        values[state.points.index.get(ordinals[j])] = Number.isNaN(v) ? 0 : (1 + Math.min(9, Math.floor(((v - meta.min) / span) * 10))) / RAMP.length;
      }
      scatterplot.set({ colorBy: "valueA", pointColor: RAMP });
      legend.append(legendRow(RAMP[0], "missing"), legendRow(RAMP[1], `${meta.min}`), legendRow(RAMP[10], `${meta.max}`));
    }
    await scatterplot.draw({ x, y, valueA: values }, { preventFilterReset: true });
  }

  function legendRow(color, label) {
    const row = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.style.background = color;
    row.append(swatch, document.createTextNode(label));
    return row;
  }

  function showHover(i) {
    const box = $("map-hover");
    if (i === null) return;
    const id = uuidAt(i);
    const link = document.createElement("a");
    link.href = `/items/${id}/`;
    link.dataset.item = id;
    const picture = document.createElement("img");
    picture.alt = "";
    picture.src = `/items/${id}/preview`;
    picture.onerror = () => picture.replaceWith(document.createTextNode("(no preview)"));
    link.append(picture, document.createTextNode(id.slice(0, 8)));
    box.replaceChildren(link);
  }

  function simplified(polygon) {
    if (polygon.length <= LASSO_VERTICES_MAX) return polygon;
    const step = polygon.length / LASSO_VERTICES_MAX;
    return Array.from({ length: LASSO_VERTICES_MAX }, (_, i) => polygon[Math.floor(i * step)]);
  }

  function setLasso(polygon) {
    state.lasso = polygon && polygon.length >= 3 ? simplified(polygon) : null;
    const open = $("map-open");
    open.hidden = $("map-clear").hidden = !state.lasso;
    if (state.lasso) {
      const text = state.lasso.map(([px, py]) => `${+px.toFixed(6)},${+py.toFixed(6)}`).join(" ");
      const params = new URLSearchParams({ organisation });
      params.set(`lasso:${key}`, text);
      open.href = `${root.dataset.explore}?${params}`;
    }
  }

  scatterplot.subscribe("pointOver", (i) => showHover(i));
  scatterplot.subscribe("select", ({ points }) => {
    state.selected = points;
    $("map-selected").textContent = `${points.length.toLocaleString()} selected`;
  });
  scatterplot.subscribe("deselect", () => {
    state.selected = [];
    $("map-selected").textContent = "nothing selected";
    setLasso(null);
  });
  scatterplot.subscribe("lassoEnd", ({ coordinates }) => setLasso(coordinates));
  window.loupeMap.setLasso = setLasso;

  document.querySelectorAll("input[name=mode]").forEach((radio) => radio.addEventListener("change", () => {
    const mode = document.querySelector("input[name=mode]:checked").value;
    scatterplot.set(mode === "pan" ? { mouseMode: "panZoom" }
      : { mouseMode: "lasso", lassoType: mode === "box" ? "rectangle" : "freeform" });
  }));
  $("map-colour").addEventListener("change", colour);
  $("map-clear").addEventListener("click", () => scatterplot.deselect());

  async function refreshStatus() {
    const response = await fetch(`${base}/status${query}`, { credentials: "same-origin" });
    if (!response.ok) return fail(`The status could not be loaded (${response.status}).`);
    showStatus(await response.json());
  }

  function showStatus(status) {
    const badge = $("map-status");
    const words = { none: "never computed", fresh: "up to date", stale: "stale: vectors changed since",
      computing: "computing…", failed: `failed: ${status.error}` };
    badge.dataset.status = status.status;
    badge.textContent = words[status.status] || status.status;
    const bar = $("map-progress");
    bar.hidden = status.status !== "computing";
    bar.value = status.progress;
    $("map-recompute").disabled = status.status === "computing";
    clearTimeout(state.statusTimer);
    if (status.status === "computing") {
      state.wasComputing = true;
      state.statusTimer = setTimeout(refreshStatus, 1000);
    } else if (state.wasComputing && status.status === "fresh") {
      state.wasComputing = false;
      loadPoints();
    }
  }

  $("map-recompute").addEventListener("click", async () => {
    const response = await fetch(`${base}/recompute${query}`, {
      method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": token, Accept: "application/json" },
    });
    if (!response.ok) return fail(`Recompute was refused (${response.status}).`);
    showStatus(await response.json());
  });

  function fail(message) {
    const box = $("map-error");
    box.textContent = message;
    box.hidden = false;
  }

  refreshStatus();
  loadPoints();
}
