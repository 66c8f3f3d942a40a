// The progressive boundary grid on the Boundary Visualizer and PBC Model Patcher nodes: a DOM widget
// with its own <canvas> that redraws as the user edits width, height, N, jitter, seed or the base.
//
// * Geometry: ./boundaries.js, the twin of posenc/boundaries.py (held together by a fixture).
// * What the preview assumes and how it is drawn: ./grid_preview.js (no ComfyUI imports; unit-tested).
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
import { MIN_HEIGHT, PRESETS, choosePreset, drawGrid, modelSource, readParams, toInt, widgetValue } from "./grid_preview.js";
import { isVueElementOf, mountedByFrontend, vueElementOf } from "./vue_mount.js";

const WIDGET_NAME = "pbc_boundary_grid";
const TARGETS = { BoundaryVisualizer: "visualizer", PBCModelPatcher: "patcher" };
const WATCHED = ["width", "height", "base_resolution", "boundaries", "jitter", "jitter_seed", "levels"];
const POLL_MS = 400;
// Set once the frontend has been seen mounting a grid in a Vue node itself (see attachGrid).
let frontendMountsVueWidgets = false;

function chain(object, name, fn) {
  const orig = object[name];
  object[name] = function (...args) {
    const r = orig?.apply(this, args);
    fn.apply(this, args);
    return r;
  };
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
.pbc-grid-bar { display:flex; flex-wrap:wrap; gap:2px 8px; align-items:center; padding:3px 6px; font:11px sans-serif; color:#bbb; flex:0 0 auto; }
.pbc-grid-field { display:flex; gap:3px; align-items:center; flex:0 0 auto; }
.pbc-grid-field input { width:44px; box-sizing:content-box; background:#2a2a2e; color:#ddd; border:1px solid #444; border-radius:3px; font:11px sans-serif; padding:1px 3px; }
.pbc-grid-field select { max-width:100%; background:#2a2a2e; color:#ddd; border:1px solid #444; border-radius:3px; font:11px sans-serif; }
.pbc-grid-field select:disabled { opacity:1; color:#bbb; }
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
    caption.textContent = "preview";
    const w = makeNumberInput("W", "Preview width in pixels (kept in the node's properties, not sent to the backend)");
    const h = makeNumberInput("H", "Preview height in pixels (kept in the node's properties, not sent to the backend)");
    // which model the preview assumes: its base (used while base_resolution is 0) and its levels
    const presetLabel = document.createElement("label");
    presetLabel.className = "pbc-grid-field";
    presetLabel.title = "Model family of the preview when its MODEL does not come from a loader whose family is known: "
      + "its training size (used while base_resolution is 0 = auto) and U-Net levels. Kept in the node's properties.";
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
    // the W/H shown stay: choosePreset keeps them in the properties
    presetSelect.addEventListener("change", () => { if (choosePreset(node, presetSelect.value)) schedule(); });
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
    const family = state.params.family;
    if (document.activeElement !== inputs.preset) inputs.preset.value = family.preset.id;
    inputs.preset.disabled = family.source === "loader";   // the linked loader decides
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
      pr.pbc_preview_downscale, JSON.stringify(modelSource(node)));
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
      // moved by the frontend into a Vue node: it mounts them itself.  (Taken into the classic
      // canvas's DOM-widget layer when Vue nodes are switched off says nothing about Vue nodes.)
      if (root.isConnected && root.parentElement !== fallbackParent && root.parentElement?.closest(".lg-node")) {
        frontendMountsVueWidgets = true;
      }
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
