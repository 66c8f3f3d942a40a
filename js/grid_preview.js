// The boundary grid's logic, without ComfyUI imports (tested by node --test, js/tests/grid_preview.test.mjs):
// which model family the preview assumes (from a linked loader or the node's own setting), the
// preview's parameters from a node's widgets and properties, and the drawing on a 2D canvas context.
// ./boundary_grid.js mounts it as a DOM widget on the Boundary Visualizer and PBC Model Patcher.
export const ASSUMED_BASE = 512;          // base_resolution 0 without a MODEL: SD 1.5, as the node assumes
export const DEFAULT_LEVELS = 4;
export const MIN_HEIGHT = 220;
// Model families the preview can assume: training size in pixels, U-Net levels, pixels per latent
// cell.  The bundled reference U-Net (models/reference_unet.json) samples in pixel space.
export const PRESETS = [
  { id: "sd1", label: "SD 1.x", base: 512, levels: 4, downscale: 8 },
  { id: "sd2v", label: "SD 2.x 768-v", base: 768, levels: 4, downscale: 8 },
  { id: "sdxl", label: "SDXL", base: 1024, levels: 3, downscale: 8 },
  { id: "ref", label: "reference U-Net", base: 32, levels: 3, downscale: 1 },
];
// Loaders whose model the frontend can name: the preview follows them when the MODEL input is
// linked (through any chain of MODEL -> MODEL nodes such as LoRA or FreeU).
const LOADER_PRESETS = { ReferenceModelLoader: "ref" };

const STRONG = [255, 41, 26];      // lambda -> 0 (edge): opaque red, as posenc/boundary_drawing.py
const WEAK = [255, 237, 140];      // lambda -> 1 (centre): faint yellow

export function lambdaStyle(lam) {
  const c = STRONG.map((s, i) => Math.round(s + (WEAK[i] - s) * lam));
  return `rgba(${c[0]},${c[1]},${c[2]},${(1 - 0.85 * lam).toFixed(3)})`;
}

export function widgetValue(node, name, fallback) {
  const w = node.widgets?.find((x) => x.name === name);
  return w === undefined || w.value === undefined || w.value === null || w.value === "" ? fallback : w.value;
}

export function toInt(v) {
  const n = typeof v === "number" ? v : Number(v);
  return Number.isFinite(n) ? Math.trunc(n) : NaN;
}

/** Index of the node's input socket named `name`, or -1. */
export function inputSlot(node, name) {
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
export function readParams(node, kind) {
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

