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
// Loaders whose model the preview can name without a file name: the pack's own.
const LOADER_PRESETS = { ReferenceModelLoader: "ref" };
// Widgets that hold the chosen file of a checkpoint or diffusion-model loader (Load Checkpoint,
// Load Diffusion Model and the loaders that copy their inputs).
const FILE_WIDGETS = ["ckpt_name", "unet_name"];

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

/** The preset id of the model family a checkpoint's file name (with its folders) names, or null
 * when the name does not tell or tells two: "sd_xl_base_1.0", "SDXL/juggernautXL_v9",
 * "animagine-xl-3.1" are SDXL; "v1-5-pruned-emaonly", "sd-v1-4", "sd15/..." SD 1.x;
 * "v2-1_768-ema-pruned", "768-v-ema" SD 2.x 768-v.  A refiner (SDXL's has 4 levels, not 3) is not
 * named.  The names tell only what their makers put in them: anything else is the node's setting. */
export function familyFromFileName(name) {
  if (typeof name !== "string" || !name.trim()) return null;
  const lower = name.toLowerCase();
  // words: split at anything not a letter or digit, and where a capital follows a small letter or
  // digit (camelCase names such as "ponyDiffusionV6XL")
  const words = name.replace(/\.[a-z0-9]+$/i, "").split(/[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])/)
    .filter(Boolean).map((w) => w.toLowerCase());
  if (words.includes("refiner")) return null;
  const found = new Set();
  if (words.some((w) => w === "xl" || /^sdxl/.test(w))) found.add("sdxl");
  if (/768-v|v2-[01]_768/.test(lower)) found.add("sd2v");
  if (/(^|[^a-z0-9])(v1-[45]|sd-?v?1[-_.]?[45]|sd15)([^0-9]|$)/.test(lower)) found.add("sd1");
  return found.size === 1 ? [...found][0] : null;
}

/** The socket a MODEL arrives on: the input named "model", else the node's only MODEL (or "*",
 * as on a reroute) input; -1 when there is none or more than one. */
function modelSlot(node) {
  const named = inputSlot(node, "model");
  if (named >= 0) return named;
  const slots = (node.inputs ?? []).map((inp, i) => (inp.type === "MODEL" || inp.type === "*" ? i : -1)).filter((i) => i >= 0);
  return slots.length === 1 ? slots[0] : -1;
}

function nodeTitle(node) {
  return node.title || node.type || "a node";
}

/** Where the node's MODEL comes from: null when its model input is not linked; else
 * { presetId, loader, file } of the node found by following the links upstream through nodes
 * that take a MODEL and give one (LoRA, FreeU, model sampling, reroutes ...).  presetId is null
 * when that node's family cannot be known (a file name that does not tell, a node that is not a
 * loader, a loop). */
export function modelSource(node) {
  let origin = linkedNode(node, modelSlot(node));
  if (!origin) return null;
  const seen = new Set([node]);
  while (origin && !seen.has(origin) && seen.size < 64) {
    seen.add(origin);
    const type = origin.comfyClass ?? origin.type;
    if (LOADER_PRESETS[type]) return { presetId: LOADER_PRESETS[type], loader: nodeTitle(origin), file: null };
    const fileWidget = origin.widgets?.find((w) => FILE_WIDGETS.includes(w.name));
    if (fileWidget) {
      const file = String(fileWidget.value ?? "");
      return { presetId: familyFromFileName(file), loader: nodeTitle(origin), file };
    }
    const slot = modelSlot(origin);
    const up = slot >= 0 ? linkedNode(origin, slot) : null;
    if (!up) return { presetId: null, loader: nodeTitle(origin), file: null };
    origin = up;
  }
  return { presetId: null, loader: null, file: null };
}

/** The preset of the loader feeding the node's MODEL when its family is known (see modelSource),
 * with the loader's title and file; else null. */
export function connectedModel(node) {
  const src = modelSource(node);
  const preset = src && PRESETS.find((p) => p.id === src.presetId);
  return preset ? { preset, loader: src.loader, file: src.file } : null;
}

/** The family the node's own setting names (the patcher's menu, kept in its properties): a preset,
 * or a "custom" one made of the properties' numbers. */
function settingFamily(node) {
  const pr = node.properties ?? {};
  const base = toInt(pr.pbc_preview_base ?? ASSUMED_BASE);
  const levels = toInt(pr.pbc_preview_levels ?? DEFAULT_LEVELS);
  const downscale = toInt(pr.pbc_preview_downscale ?? 8);
  return PRESETS.find((p) => p.base === base && p.levels === levels && p.downscale === downscale)
    ?? { id: "custom", label: "custom", base: base > 0 ? base : ASSUMED_BASE, levels: levels > 0 ? levels : DEFAULT_LEVELS,
      downscale: downscale > 0 ? downscale : 8 };
}

const stem = (file) => String(file).split(/[\\/]/).pop().replace(/\.(safetensors|ckpt|pt|pth|bin|gguf|sft)$/i, "");

/** Which family the preview assumes and the line that says so:
 * { preset, source: "loader" | "setting" | "assumed", text }. */
export function previewFamily(node, kind) {
  const src = modelSource(node);
  const known = src && PRESETS.find((p) => p.id === src.presetId);
  if (known) {
    const from = src.file ? `${src.loader}: ${stem(src.file)}` : src.loader;
    return { preset: known, source: "loader", text: `${known.label}, from ${from}` };
  }
  const preset = settingFamily(node);
  const why = !src ? "no loader linked"
    : src.file ? `family of ${stem(src.file)} not known` : `family of ${src.loader}'s model not known`;
  if (kind === "patcher") return { preset, source: "setting", text: `${preset.label}: this node's setting (${why})` };
  // The Visualizer has no menu.  Without a MODEL it assumes what the node assumes when it runs:
  // SD 1.x's base and levels where base_resolution and levels are 0, and a latent /8.
  if (!src) {
    const auto = [];
    if (!(toInt(widgetValue(node, "base_resolution", 0)) > 0)) auto.push(`base ${preset.base}`);
    if (!(toInt(widgetValue(node, "levels", 0)) > 0)) auto.push(`${preset.levels} levels`);
    const what = auto.length ? `${preset.label} assumed (${auto.join(", ")}, latent /${preset.downscale})` : `latent /${preset.downscale} assumed`;
    return { preset, source: "assumed", text: `no MODEL linked: ${what}` };
  }
  return { preset, source: "assumed", text: `${preset.label} assumed (${why}); the MODEL decides when the node runs` };
}

/** The patcher's menu: the node previews `presetId` from now on, at the W/H it shows now. */
export function choosePreset(node, presetId) {
  const p = PRESETS.find((x) => x.id === presetId);
  if (!p) return false;
  const shown = readParams(node, "patcher");
  node.properties = node.properties || {};
  const pr = node.properties;
  if (pr.pbc_preview_width == null && Number.isInteger(shown.width)) pr.pbc_preview_width = shown.width;
  if (pr.pbc_preview_height == null && Number.isInteger(shown.height)) pr.pbc_preview_height = shown.height;
  pr.pbc_preview_base = p.base;
  pr.pbc_preview_levels = p.levels;
  pr.pbc_preview_downscale = p.downscale;
  return true;
}

/** The preview's parameters from the node's widgets (and, for the patcher, its properties). */
export function readParams(node, kind) {
  const baseWidget = toInt(widgetValue(node, "base_resolution", 0));
  const family = previewFamily(node, kind);
  const fam = family.preset;
  const autoBase = !(baseWidget > 0);
  const base = autoBase ? fam.base : baseWidget;
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
  if (!(levels > 0)) levels = fam.levels;
  let seed = widgetValue(node, "jitter_seed", 0);
  try {
    seed = BigInt(typeof seed === "number" ? Math.trunc(seed) : String(seed));
  } catch {
    seed = 0n;
  }
  return {
    width, height, baseResolution: base, autoBase, levels, seed, downscale: fam.downscale,
    n: toInt(widgetValue(node, "boundaries", 3)),
    jitter: toInt(widgetValue(node, "jitter", 1)),
    family,
    notes: [family.text],
  };
}

/** Columns for `count` panels of aspect w:h in a box, chosen for the largest panels. */
function bestGrid(count, aspect, boxW, boxH, gap, labelH) {
  let best = { cols: 1, rows: count, pw: 1, ph: 1 };
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
    if (pw * ph > best.pw * best.ph) best = { cols, rows, pw: Math.max(1, Math.floor(pw)), ph: Math.max(1, Math.floor(ph)) };
  }
  return best;
}

export const FONT = "11px sans-serif";
const LINE_HEIGHT = 14;
const PAD = 6;
const LABEL_HEIGHT = 13;
const GAP = 6;

/** `text` broken at spaces into lines no wider than maxWidth (as ctx measures them); a word wider
 * than a line (a long file name) is cut. */
export function wrapText(ctx, text, maxWidth) {
  const width = (s) => ctx.measureText(s).width;
  const lines = [];
  let cur = "";
  for (const word of String(text).split(" ")) {
    const trial = cur ? `${cur} ${word}` : word;
    if (width(trial) <= maxWidth) {
      cur = trial;
      continue;
    }
    if (cur) lines.push(cur);
    let rest = word;
    while (rest.length > 1 && width(rest) > maxWidth) {
      let k = rest.length - 1;
      while (k > 1 && width(rest.slice(0, k)) > maxWidth) k--;
      lines.push(rest.slice(0, k));
      rest = rest.slice(k);
    }
    cur = rest;
  }
  if (cur) lines.push(cur);
  return lines;
}

/** The lines of text above the panels: [text, colour]. */
function headerLines(p, params) {
  const lines = [[`${p.width}×${p.height} px → latent ${p.latentWidth}×${p.latentHeight}, base ${p.baseResolution}${params.autoBase ? " (auto)" : ""}`, "#ddd"]];
  if (!p.active) {
    lines.push([`at or below base ${p.baseResolution}: no boundaries (model untouched)`, "#ffcc4d"]);
  } else {
    const axes = p.rows && p.cols ? "both axes" : p.cols ? "vertical lines only (width above base)" : "horizontal lines only (height above base)";
    lines.push([`N=${p.n}${p.auto ? " (auto)" : ""}, ${axes}, jitter ±${p.jitter}`, "#ddd"]);
  }
  for (const note of params.notes ?? []) lines.push([note, "#999"]);
  return lines;
}

/** Draw the plan (or an error) on a 2D context of css size cw x ch.  Returns the layout: the
 * panels, and every text drawn with its measured width and the width it had ({ text, x, y, width,
 * maxWidth }). */
export function drawGrid(ctx, cw, ch, plan, params, error, dpr = 1) {
  // lines on device-pixel centres: crisp 1-px strokes whatever the panel scale
  const snap = (v) => (Math.floor(v * dpr) + 0.5) / dpr;
  ctx.fillStyle = "#1b1b1f";
  ctx.fillRect(0, 0, cw, ch);
  ctx.font = FONT;
  ctx.textBaseline = "top";
  ctx.textAlign = "left";
  const texts = [];
  // no fillText maxWidth: a text that does not fit is wrapped or left out, never squashed
  const put = (s, x, y, maxWidth, color) => {
    ctx.fillStyle = color;
    ctx.fillText(s, x, y);
    texts.push({ text: s, x, y, width: ctx.measureText(s).width, maxWidth });
  };
  const textW = cw - 2 * PAD;
  let y = PAD;
  const paragraph = (s, color) => {
    for (const line of wrapText(ctx, s, textW)) {
      put(line, PAD, y, textW, color);
      y += LINE_HEIGHT;
    }
  };
  if (error) {
    paragraph("Boundary preview unavailable:", "#ff7a66");
    paragraph(error, "#ff7a66");
    return { panels: [], texts };
  }
  const p = plan;
  for (const [line, color] of headerLines(p, params)) paragraph(line, color);

  const boxX = PAD;
  const boxY = y + 2;
  const boxW = textW;
  const boxH = ch - boxY - PAD;
  const grid = bestGrid(p.levels.length, p.width / p.height, boxW, boxH, GAP, LABEL_HEIGHT);
  // columns spread over the width: a narrow (tall) panel leaves its label the whole column
  const cellW = Math.floor((boxW - GAP * (grid.cols - 1)) / grid.cols);
  const panels = [];
  p.levels.forEach((lv, i) => {
    const r = Math.floor(i / grid.cols);
    const c = i % grid.cols;
    const x0 = Math.round(boxX + c * (cellW + GAP));
    const y0 = Math.round(boxY + r * (grid.ph + LABEL_HEIGHT + GAP) + LABEL_HEIGHT);
    const pw = grid.pw;
    const ph = grid.ph;
    panels.push({ level: i, x: x0, y: y0, width: pw, height: ph, cells: [lv.width, lv.height] });
    const label = [`L${i} ${lv.width}×${lv.height}`, `L${i}`].find((t) => ctx.measureText(t).width <= cellW);
    if (label) put(label, x0, y0 - LABEL_HEIGHT + 1, cellW, "#bbb");
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
    const none = "no boundaries";
    const noneW = ctx.measureText(none).width;
    if (!p.active && ph >= 24 && noneW <= pw - 4) put(none, x0 + (pw - noneW) / 2, y0 + ph / 2 - 6, pw - 4, "#ffcc4d");
  });
  return { panels, texts };
}
