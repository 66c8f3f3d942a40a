// The progressive boundary grid on the Boundary Visualizer and PBC Model Patcher nodes: a DOM widget
// with its own <canvas> that redraws as the user edits width, height, N, jitter, seed or the base.
//
// * Geometry: ./boundaries.js, the twin of posenc/boundaries.py (held together by a fixture).
// * Classic LiteGraph canvas: node.addDOMWidget; the frontend positions the element over the node.
// * Vue node renderer ("Nodes 2.0"): frontends 1.49.6 and 1.58.1 mount the same DOM widget in the
//   Vue node themselves (their WidgetDOM component).  The 1.27 line (ComfyUI 0.3.64, frontend
//   1.27.10) does not mount custom DOM widgets in Vue nodes (its DOM-widget layer is rendered only
//   while Vue nodes are off), so where the frontend has not mounted the element but this node's Vue
//   element is on the page, the grid appends itself to that node's body: a fallback that turns
//   itself off once the frontend is seen doing the mount.  The Vue element is found by graph and id
//   (./vue_mount.js): ids repeat across subgraphs and tabs.
// * Nothing is serialized: the widget has serialize: false (no entry in widgets_values, nothing in
//   the prompt).  The patcher's preview size lives in node.properties.pbc_preview_width/height.
// * No innerHTML: every text is canvas fillText or textContent.
import { app } from "../../scripts/app.js";
import { MAX_BOUNDARIES, planBoundaries } from "./boundaries.js";
import { isVueElementOf, mountedByFrontend, vueElementOf } from "./vue_mount.js";

const WIDGET_NAME = "pbc_boundary_grid";
const TARGETS = { BoundaryVisualizer: "visualizer", PBCModelPatcher: "patcher" };
const WATCHED = ["width", "height", "base_resolution", "boundaries", "jitter", "jitter_seed", "levels"];
const ASSUMED_BASE = 512;          // base_resolution 0 without a MODEL: SD 1.5, as the node assumes
const DEFAULT_LEVELS = 4;
const MIN_HEIGHT = 220;
// Model families the preview can assume: training size in pixels, U-Net levels, pixels per latent
// cell.  The bundled reference U-Net (models/reference_unet.json) samples in pixel space.
const PRESETS = [
  { id: "sd1", label: "SD 1.x", base: 512, levels: 4, downscale: 8 },
  { id: "sd2v", label: "SD 2.x 768-v", base: 768, levels: 4, downscale: 8 },
  { id: "sdxl", label: "SDXL", base: 1024, levels: 3, downscale: 8 },
  { id: "ref", label: "reference U-Net", base: 32, levels: 3, downscale: 1 },
];
// Loaders whose model the frontend can name: the preview follows them when the MODEL input is
// linked (through any chain of MODEL -> MODEL nodes such as LoRA or FreeU).
const LOADER_PRESETS = { ReferenceModelLoader: "ref" };
const POLL_MS = 400;
// Set once the frontend has been seen mounting a grid in a Vue node itself (see attachGrid).
let frontendMountsVueWidgets = false;

const STRONG = [255, 41, 26];      // lambda -> 0 (edge): opaque red, as posenc/boundary_drawing.py
const WEAK = [255, 237, 140];      // lambda -> 1 (centre): faint yellow

export function lambdaStyle(lam) {
  const c = STRONG.map((s, i) => Math.round(s + (WEAK[i] - s) * lam));
  return `rgba(${c[0]},${c[1]},${c[2]},${(1 - 0.85 * lam).toFixed(3)})`;
}

function chain(object, name, fn) {
  const orig = object[name];
  object[name] = function (...args) {
    const r = orig?.apply(this, args);
    fn.apply(this, args);
    return r;
  };
}

function widgetValue(node, name, fallback) {
  const w = node.widgets?.find((x) => x.name === name);
  return w === undefined || w.value === undefined || w.value === null || w.value === "" ? fallback : w.value;
}

function toInt(v) {
  const n = typeof v === "number" ? v : Number(v);
  return Number.isFinite(n) ? Math.trunc(n) : NaN;
}

/** Index of the node's input socket named `name`, or -1. */
function inputSlot(node, name) {
  return node.inputs?.findIndex((i) => i.name === name) ?? -1;
}

/** The node linked into `node`'s input socket `slot`, or null.  Through the graph API
 * (isInputConnected, getInputNode: LiteGraph has had both all along), not the socket's `link`
 * field, which frontend 1.58 reports as deprecated (links live in the graph's link store). */
export function linkedNode(node, slot) {
  if (slot < 0 || !node?.graph || typeof node.getInputNode !== "function") return null;
  if (typeof node.isInputConnected === "function" && !node.isInputConnected(slot)) return null;
  return node.getInputNode(slot) ?? null;
}

/** Whether the node's input socket `name` is linked. */
function isLinked(node, name) {
  const slot = inputSlot(node, name);
  if (slot < 0 || !node.graph) return false;
  return typeof node.isInputConnected === "function" ? node.isInputConnected(slot) : linkedNode(node, slot) !== null;
}

/** The preset of the loader feeding the node's `model` input (followed upstream through nodes
 * that take and give a MODEL), with the loader's title; null when not linked or not known. */
export function connectedModel(node) {
  let current = node;
  for (let hops = 0; hops < 16 && current; hops++) {
    const origin = linkedNode(current, inputSlot(current, "model"));
    if (!origin) return null;
    const presetId = LOADER_PRESETS[origin.comfyClass ?? origin.type];
    if (presetId) return { preset: PRESETS.find((p) => p.id === presetId), loader: origin.title || origin.type };
    current = origin;
  }
  return null;
}

/** The preview's parameters from the node's widgets (and, for the patcher, its properties). */
function readParams(node, kind) {
  const baseWidget = toInt(widgetValue(node, "base_resolution", 0));
  const notes = [];
  const linked = connectedModel(node);
  const hasModel = isLinked(node, "model");
  const chosen = PRESETS.find((p) => p.base === toInt(node.properties?.pbc_preview_base ?? ASSUMED_BASE)
    && p.levels === toInt(node.properties?.pbc_preview_levels ?? DEFAULT_LEVELS)
    && p.downscale === toInt(node.properties?.pbc_preview_downscale ?? 8));
  const family = linked ? linked.preset : chosen;
  let downscale = family ? family.downscale : toInt(node.properties?.pbc_preview_downscale ?? 8);
  let base = baseWidget;
  if (linked) {
    notes.push(`assumes ${linked.preset.label} (from the connected ${linked.loader}): base ${linked.preset.base} px, ${linked.preset.levels} levels, latent /${downscale}`);
  } else if (kind === "visualizer" && hasModel) {
    notes.push(`preview assumes ${family ? family.label : "a custom model"}; the connected MODEL decides when the node runs`);
  } else {
    notes.push(`preview assumes ${family ? family.label : "a custom model"} (menu above): latent /${downscale}; the real model decides when sampling`);
  }
  if (baseWidget === 0) {
    const assumed = linked ? linked.preset.base : toInt(node.properties?.pbc_preview_base ?? ASSUMED_BASE);
    base = assumed > 0 ? assumed : ASSUMED_BASE;
    notes.push(`base_resolution 0 (auto): ${base} px assumed`);
  }
  let width;
  let height;
  if (kind === "visualizer") {
    width = toInt(widgetValue(node, "width", 1024));
    height = toInt(widgetValue(node, "height", 1024));
  } else {
    width = toInt(node.properties?.pbc_preview_width ?? 2 * base);
    height = toInt(node.properties?.pbc_preview_height ?? 2 * base);
  }
  let levels = kind === "visualizer" ? toInt(widgetValue(node, "levels", 0)) : 0;
  if (!(levels > 0)) levels = linked ? linked.preset.levels : toInt(node.properties?.pbc_preview_levels ?? DEFAULT_LEVELS);
  let seed = widgetValue(node, "jitter_seed", 0);
  try {
    seed = BigInt(typeof seed === "number" ? Math.trunc(seed) : String(seed));
  } catch {
    seed = 0n;
  }
  return {
    width, height, baseResolution: base, levels, seed, downscale,
    n: toInt(widgetValue(node, "boundaries", 3)),
    jitter: toInt(widgetValue(node, "jitter", 1)),
    notes,
  };
}

/** Columns for `count` panels of aspect w:h in a box, chosen for the largest panels. */
function bestGrid(count, aspect, boxW, boxH, gap, labelH) {
  let best = { cols: 1, pw: 1, ph: 1 };
  for (let cols = 1; cols <= count; cols++) {
    const rows = Math.ceil(count / cols);
    const cellW = (boxW - gap * (cols - 1)) / cols;
    const cellH = (boxH - gap * (rows - 1)) / rows - labelH;
    if (cellW <= 4 || cellH <= 4) continue;
    let pw = cellW;
    let ph = pw / aspect;
    if (ph > cellH) {
      ph = cellH;
      pw = ph * aspect;
    }
    if (pw * ph > best.pw * best.ph) best = { cols, pw: Math.floor(pw), ph: Math.max(1, Math.floor(ph)) };
  }
  return best;
}

/** Draw the plan (or an error) on a 2D context of css size cw x ch.  Returns the panel layout. */
export function drawGrid(ctx, cw, ch, plan, params, error, dpr = 1) {
  // lines on device-pixel centres: crisp 1-px strokes whatever the panel scale
  const snap = (v) => (Math.floor(v * dpr) + 0.5) / dpr;
  ctx.fillStyle = "#1b1b1f";
  ctx.fillRect(0, 0, cw, ch);
  ctx.font = "11px sans-serif";
  ctx.textBaseline = "top";
  ctx.textAlign = "left";
  const pad = 6;
  let y = pad;
  const text = (s, color) => {
    ctx.fillStyle = color;
    ctx.fillText(s, pad, y, cw - 2 * pad);
    y += 14;
  };
  if (error) {
    text("Boundary preview unavailable:", "#ff7a66");
    text(error, "#ff7a66");
    return { panels: [] };
  }
  const p = plan;
  text(`${p.width}×${p.height} px → latent ${p.latentWidth}×${p.latentHeight}, base ${p.baseResolution} px`, "#ddd");
  if (!p.active) {
    text(`at or below base ${p.baseResolution}: no boundaries (model untouched)`, "#ffcc4d");
  } else {
    const axes = p.rows && p.cols ? "both axes" : p.cols ? "vertical only (width is the long axis)" : "horizontal only (height is the long axis)";
    text(`N=${p.n}${p.auto ? " (auto)" : ""}, ${axes}; jitter ±${p.jitter}: one draw, redrawn every step`, "#ddd");
  }
  for (const note of params.notes) text(note, "#999");

  const boxX = pad;
  const boxY = y + 2;
  const boxW = cw - 2 * pad;
  const boxH = ch - boxY - pad;
  const labelH = 13;
  const gap = 6;
  const grid = bestGrid(p.levels.length, p.width / p.height, boxW, boxH, gap, labelH);
  const panels = [];
  p.levels.forEach((lv, i) => {
    const r = Math.floor(i / grid.cols);
    const c = i % grid.cols;
    const x0 = Math.round(boxX + c * (grid.pw + gap));
    const y0 = Math.round(boxY + r * (grid.ph + labelH + gap) + labelH);
    const pw = grid.pw;
    const ph = grid.ph;
    panels.push({ level: i, x: x0, y: y0, width: pw, height: ph, cells: [lv.width, lv.height] });
    ctx.fillStyle = "#bbb";
    ctx.fillText(`L${i} ${lv.width}×${lv.height}`, x0, y0 - labelH + 1, pw);
    ctx.fillStyle = "#2c2c31";
    ctx.fillRect(x0, y0, pw, ph);
    const b = lv.boundaries;
    const sx = pw / lv.width;
    const sy = ph / lv.height;
    ctx.lineWidth = 1 / dpr;
    for (let n = b.lambdas.length - 1; n >= 0; n--) {
      ctx.strokeStyle = lambdaStyle(b.lambdas[n]);
      // the line between cell k-1 and k sits at pixel k * scale (the far sides one pixel inside)
      const left = snap(x0 + b.left[n] * sx);
      const right = snap(x0 + (lv.width - b.right[n]) * sx - 1 / dpr);
      const top = snap(y0 + b.top[n] * sy);
      const bottom = snap(y0 + (lv.height - b.bottom[n]) * sy - 1 / dpr);
      ctx.beginPath();
      if (b.top[n] > 0) { ctx.moveTo(left, top); ctx.lineTo(right, top); }
      if (b.bottom[n] > 0) { ctx.moveTo(left, bottom); ctx.lineTo(right, bottom); }
      if (b.left[n] > 0) { ctx.moveTo(left, top); ctx.lineTo(left, bottom); }
      if (b.right[n] > 0) { ctx.moveTo(right, top); ctx.lineTo(right, bottom); }
      ctx.stroke();
    }
    if (!p.active && ph >= 24) {
      ctx.fillStyle = "#ffcc4d";
      ctx.textAlign = "center";
      ctx.fillText("no boundaries", x0 + pw / 2, y0 + ph / 2 - 6, pw - 4);
      ctx.textAlign = "left";
    }
  });
  return { panels };
}

function makeNumberInput(labelText, title) {
  const label = document.createElement("label");
  label.className = "pbc-grid-field";
  label.title = title;
  const span = document.createElement("span");
  span.textContent = labelText;
  const input = document.createElement("input");
  input.type = "number";
  input.min = "8";
  input.max = "16384";
  input.step = "8";
  label.append(span, input);
  // keep typing and wheel inside the field from reaching the canvas
  for (const ev of ["pointerdown", "keydown", "wheel"]) input.addEventListener(ev, (e) => e.stopPropagation());
  return { label, input };
}

function ensureStyles() {
  if (document.getElementById("pbc-grid-style")) return;
  const s = document.createElement("style");
  s.id = "pbc-grid-style";
  s.textContent = `
.pbc-grid-root { width:100%; height:100%; min-height:120px; display:flex; flex-direction:column; box-sizing:border-box; background:#1b1b1f; border-radius:4px; overflow:hidden; }
.pbc-grid-bar { display:flex; gap:8px; align-items:center; padding:3px 6px; font:11px sans-serif; color:#bbb; flex:0 0 auto; }
.pbc-grid-field { display:flex; gap:4px; align-items:center; }
.pbc-grid-field input { width:56px; background:#2a2a2e; color:#ddd; border:1px solid #444; border-radius:3px; font:11px sans-serif; padding:1px 3px; }
.pbc-grid-field select { background:#2a2a2e; color:#ddd; border:1px solid #444; border-radius:3px; font:11px sans-serif; }
.pbc-grid-canvas { flex:1 1 auto; min-height:0; width:100%; display:block; }
`;
  document.head.appendChild(s);
}

function attachGrid(node, kind) {
  ensureStyles();
  const root = document.createElement("div");
  root.className = "pbc-grid-root";
  root.dataset.pbcKind = kind;
  // mount: who put the element in the page ("frontend, canvas", "frontend, Vue node", "vue-fallback")
  const state = { plan: null, params: null, error: null, layout: null, signature: "", draws: 0, mount: null };

  let inputs = null;
  if (kind === "patcher") {
    const bar = document.createElement("div");
    bar.className = "pbc-grid-bar";
    const caption = document.createElement("span");
    caption.textContent = "preview at";
    const w = makeNumberInput("W", "Preview width in pixels (kept in the node's properties, not sent to the backend)");
    const h = makeNumberInput("H", "Preview height in pixels (kept in the node's properties, not sent to the backend)");
    // which model the preview assumes: its base (used while base_resolution is 0) and its levels
    const presetLabel = document.createElement("label");
    presetLabel.className = "pbc-grid-field";
    presetLabel.title = "Model family of this preview: its training size (used while base_resolution is 0 = auto) and its U-Net levels. Kept in the node's properties.";
    const presetSelect = document.createElement("select");
    for (const [value, text] of PRESETS.map((p) => [p.id, p.label]).concat([["custom", "custom"]])) {
      const opt = document.createElement("option");
      opt.value = value;
      opt.textContent = text;
      presetSelect.appendChild(opt);
    }
    for (const ev of ["pointerdown", "keydown", "wheel"]) presetSelect.addEventListener(ev, (e) => e.stopPropagation());
    presetLabel.append(presetSelect);
    bar.append(caption, w.label, h.label, presetLabel);
    root.appendChild(bar);
    inputs = { w: w.input, h: h.input, preset: presetSelect };
    presetSelect.addEventListener("change", () => {
      const p = PRESETS.find((x) => x.id === presetSelect.value);
      if (!p) return;
      node.properties = node.properties || {};
      node.properties.pbc_preview_base = p.base;
      node.properties.pbc_preview_levels = p.levels;
      node.properties.pbc_preview_downscale = p.downscale;
      schedule();
    });
    const commit = (prop, input) => {
      const v = toInt(input.value);
      node.properties = node.properties || {};
      if (Number.isInteger(v) && v >= 8 && v <= 16384) node.properties[prop] = v;
      else input.value = String(node.properties[prop] ?? "");
      schedule();
    };
    inputs.w.addEventListener("change", () => commit("pbc_preview_width", inputs.w));
    inputs.h.addEventListener("change", () => commit("pbc_preview_height", inputs.h));
  }
  const canvas = document.createElement("canvas");
  canvas.className = "pbc-grid-canvas";
  root.appendChild(canvas);

  const widget = node.addDOMWidget(WIDGET_NAME, WIDGET_NAME, root, {
    serialize: false,
    hideOnZoom: false,
    getMinHeight: () => MIN_HEIGHT,
  });
  widget.serialize = false;             // no entry in the workflow's widgets_values
  widget.posencState = state;           // read by the browser test

  const syncInputs = () => {
    if (!inputs || !state.params) return;
    if (document.activeElement !== inputs.w) inputs.w.value = String(state.params.width);
    if (document.activeElement !== inputs.h) inputs.h.value = String(state.params.height);
    const pr = node.properties || {};
    const linked = connectedModel(node);
    const preset = linked ? linked.preset : PRESETS.find((p) => p.base === toInt(pr.pbc_preview_base ?? ASSUMED_BASE)
      && p.levels === toInt(pr.pbc_preview_levels ?? DEFAULT_LEVELS) && p.downscale === toInt(pr.pbc_preview_downscale ?? 8));
    if (document.activeElement !== inputs.preset) inputs.preset.value = preset ? preset.id : "custom";
    inputs.preset.disabled = !!linked;   // the connected loader decides
  };

  const draw = () => {
    const dpr = window.devicePixelRatio || 1;
    const cw = canvas.clientWidth;
    const ch = canvas.clientHeight;
    if (cw <= 0 || ch <= 0) return;
    const W = Math.round(cw * dpr);
    const H = Math.round(ch * dpr);
    if (canvas.width !== W) canvas.width = W;
    if (canvas.height !== H) canvas.height = H;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    state.layout = drawGrid(ctx, cw, ch, state.plan, state.params, state.error, dpr);
    state.draws += 1;
  };

  const recompute = () => {
    const params = readParams(node, kind);
    state.params = params;
    state.signature = signature();
    try {
      if (!(params.n >= 0 && params.n <= MAX_BOUNDARIES)) {
        throw new RangeError(`boundaries must be from 0 (auto) to ${MAX_BOUNDARIES} (got ${params.n})`);
      }
      state.plan = planBoundaries({
        width: params.width, height: params.height, baseResolution: params.baseResolution,
        n: params.n, jitter: params.jitter, seed: params.seed, key: 0n, levels: params.levels,
        latentDownscale: params.downscale,
      });
      state.error = null;
    } catch (e) {
      state.plan = null;
      state.error = e instanceof Error ? e.message : String(e);
    }
    syncInputs();
  };

  let pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      recompute();
      draw();
    });
  }

  function signature() {
    const vals = WATCHED.map((n) => String(widgetValue(node, n, "")));
    const pr = node.properties || {};
    vals.push(pr.pbc_preview_width, pr.pbc_preview_height, pr.pbc_preview_base, pr.pbc_preview_levels,
      pr.pbc_preview_downscale, connectedModel(node)?.preset.id ?? "");
    return vals.join("|");
  }

  // Redraw on edits: wrap the widgets' callbacks.  Deferred until after the node is in the graph:
  // the 1.27 frontend wraps every callback when a node is added, and a wrapper installed inside
  // that one (in onNodeCreated) makes its Vue renderer drop later edits of that widget once the
  // callback has fired on the classic canvas.  The poll below covers the moment in between.
  setTimeout(() => {
    for (const name of WATCHED) {
      const w = node.widgets?.find((x) => x.name === name);
      if (w) chain(w, "callback", schedule);
    }
  }, 0);

  // Vue nodes.  Frontends with a DOM-widget component for Vue nodes (1.49.6 and 1.58.1, tested)
  // mount widget.element in the node themselves: nothing for the pack to do.  The 1.27 line
  // (ComfyUI 0.3.64's frontend 1.27.10) does not, so there the grid appends itself to the body of
  // its node's Vue element.  Decided by what the page does, not by version: the fallback waits one
  // poll after the node's Vue element appears, and once any grid has been seen mounted in a Vue
  // node by the frontend (or moved there from the fallback's place), the fallback is off for the
  // page.  Remove this (and ./vue_mount.js) when the 1.27 line is no longer supported.
  let vuePolls = 0;
  let fallbackParent = null;
  const mountInVueNode = () => {
    if (frontendMountsVueWidgets || root.isConnected) {
      vuePolls = 0;
      return;
    }
    // By graph and id, not id alone: a node inside a subgraph (also one of a workflow tab that was
    // switched away from, which stays alive) may share its id with a node on screen.
    const vueNode = vueElementOf(node, app.graph, app.canvas?.graph, document);
    if (!vueNode) {
      vuePolls = 0;
      return;
    }
    if (vuePolls++ < 1) return;         // the frontend's own mount comes with the Vue node
    const body = vueNode.querySelector(`[data-testid="node-body-${CSS.escape(String(node.id))}"]`) || vueNode;
    root.style.height = `${MIN_HEIGHT}px`;
    root.dataset.pbcMount = "vue-fallback";
    body.appendChild(root);
    fallbackParent = body;
    state.mount = "vue-fallback";
    schedule();
  };

  // Values set without a callback (seed "randomize" after queueing, loading a workflow, links)
  // and the Vue fallback: a cheap poll while the node exists.
  const timer = setInterval(() => {
    if (!node.graph) return;
    if (root.dataset.pbcMount === "vue-fallback") {
      const holder = root.parentElement?.closest(".lg-node");
      // in a Vue element that no longer stands for this node (its graph or id changed): leave it
      if (holder && !isVueElementOf(holder, node, app.graph)) root.remove();
      if (root.isConnected && root.parentElement !== fallbackParent) frontendMountsVueWidgets = true;
      if (!holder || !root.isConnected || frontendMountsVueWidgets) {
        root.style.height = "";
        delete root.dataset.pbcMount;
        fallbackParent = null;
      }
    }
    if (mountedByFrontend(root)) frontendMountsVueWidgets = true;
    state.mount = !root.isConnected ? null : root.dataset.pbcMount === "vue-fallback" ? "vue-fallback"
      : root.closest(".lg-node") ? "frontend, Vue node" : "frontend, canvas";
    mountInVueNode();
    if (signature() !== state.signature) schedule();
  }, POLL_MS);

  const ro = new ResizeObserver(() => schedule());
  ro.observe(canvas);
  chain(node, "onResize", schedule);
  chain(node, "onConfigure", schedule);
  chain(node, "onRemoved", () => {
    clearInterval(timer);
    ro.disconnect();
    root.remove();
  });

  const [w, h] = node.computeSize ? node.computeSize() : node.size;
  node.setSize([Math.max(node.size[0], w, 340), Math.max(node.size[1], h)]);
  schedule();
  return widget;
}

app.registerExtension({
  name: "posenc.BoundaryGrid",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    const kind = TARGETS[nodeData?.name];
    if (!kind) return;
    chain(nodeType.prototype, "onNodeCreated", function () {
      try {
        attachGrid(this, kind);
      } catch (e) {
        console.warn("posenc: boundary grid not available on this node:", e);
      }
    });
  },
});
