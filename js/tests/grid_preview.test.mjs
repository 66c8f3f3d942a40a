// js/grid_preview.js: which model family the boundary grid previews (from the loader the node's
// MODEL comes from, else the node's own setting), the W/H kept when the family changes, and text
// that fits its width.  Run: node --test js/tests/
// (tests/host/browser_widget.mjs checks the same on the real frontends.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { planBoundaries } from "../boundaries.js";
import * as preview from "../grid_preview.js";
import { drawGrid, readParams } from "../grid_preview.js";

// ---- a graph the way the widget reads it: isInputConnected / getInputNode, never input.link ----

function makeGraph() {
  const nodes = [];
  const graph = {
    add(type, { inputs = [], widgets = {}, title, properties } = {}) {
      const node = {
        type, comfyClass: type, title: title ?? type, graph, properties: properties ?? {},
        inputs: inputs.map(([name, t]) => ({ name, type: t })),
        widgets: Object.entries(widgets).map(([name, value]) => ({ name, value })),
        origins: {},
        isInputConnected(slot) { return this.origins[slot] !== undefined; },
        getInputNode(slot) { return this.origins[slot] ?? null; },
      };
      // the socket's deprecated `link` field must not be what the widget reads
      for (const input of node.inputs) {
        Object.defineProperty(input, "link", { get() { throw new Error("input.link read"); } });
      }
      nodes.push(node);
      return node;
    },
    link(from, to, inputName) {
      const slot = to.inputs.findIndex((i) => i.name === inputName);
      assert.ok(slot >= 0, inputName);
      to.origins[slot] = from;
    },
  };
  return graph;
}

const PBC_WIDGETS = { boundaries: 31, jitter: 1, start_percent: 0, end_percent: 0.5, base_resolution: 0, jitter_seed: 0 };
const VIZ_WIDGETS = { width: 1024, height: 1024, base_resolution: 0, boundaries: 3, jitter: 1, jitter_seed: 0, levels: 0 };

function pbcFrom(graph, upstream, properties) {
  const pbc = graph.add("PBCModelPatcher", { inputs: [["model", "MODEL"]], widgets: PBC_WIDGETS, properties });
  if (upstream) graph.link(upstream, pbc, "model");
  return pbc;
}

function checkpoint(graph, name, title = "Load Checkpoint") {
  return graph.add("CheckpointLoaderSimple", { widgets: { ckpt_name: name }, title });
}

function freeU(graph, from) {
  const fu = graph.add("FreeU_V2", { inputs: [["model", "MODEL"]], widgets: { b1: 1.3, b2: 1.4, s1: 0.9, s2: 0.2 } });
  graph.link(from, fu, "model");
  return fu;
}

const notes = (p) => p.notes.join(" ");

test("an SDXL checkpoint through FreeU_V2 (workflows 06 and 07): the patcher previews SDXL and says where from", () => {
  const g = makeGraph();
  const pbc = pbcFrom(g, freeU(g, checkpoint(g, "sd_xl_base_1.0.safetensors")),
    { pbc_preview_width: 1024, pbc_preview_height: 3072 });
  const p = readParams(pbc, "patcher");
  assert.equal(p.baseResolution, 1024);
  assert.equal(p.levels, 3);
  assert.equal(p.downscale, 8);
  assert.deepEqual([p.width, p.height], [1024, 3072]);
  assert.match(notes(p), /SDXL/);
  assert.match(notes(p), /Load Checkpoint/);
  // 1024x3072 over base 1024: only the height is above the base, so horizontal lines only
  const plan = planBoundaries({ width: p.width, height: p.height, baseResolution: p.baseResolution, n: p.n,
    jitter: p.jitter, levels: p.levels, latentDownscale: p.downscale });
  assert.ok(plan.rows && !plan.cols);
  assert.equal(plan.levels.length, 3);
});

test("families known from checkpoint names, through a chain of LoRA, FreeU and sampling patches", () => {
  const cases = [
    ["sd_xl_base_1.0.safetensors", 1024, 3],
    ["SDXL/juggernautXL_v9.safetensors", 1024, 3],
    ["ponyDiffusionV6XL.safetensors", 1024, 3],
    ["animagine-xl-3.1.safetensors", 1024, 3],
    ["v1-5-pruned-emaonly-fp16.safetensors", 512, 4],
    ["sd-v1-4.ckpt", 512, 4],
    ["v2-1_768-ema-pruned.safetensors", 768, 4],
  ];
  for (const [name, base, levels] of cases) {
    const g = makeGraph();
    const lora = g.add("LoraLoader", { inputs: [["model", "MODEL"], ["clip", "CLIP"]], widgets: { lora_name: "x.safetensors" } });
    g.link(checkpoint(g, name), lora, "model");
    const ms = g.add("ModelSamplingDiscrete", { inputs: [["model", "MODEL"]], widgets: { sampling: "eps" } });
    g.link(freeU(g, lora), ms, "model");
    const p = readParams(pbcFrom(g, ms, { pbc_preview_base: 768, pbc_preview_levels: 4 }), "patcher");
    assert.equal(p.baseResolution, base, name);
    assert.equal(p.levels, levels, name);
  }
});

test("a file name that does not tell the family: the node's own setting, and the widget says so", () => {
  for (const name of ["dreamshaper_8.safetensors", "sd_xl_refiner_1.0.safetensors", "model.safetensors"]) {
    const g = makeGraph();
    const pbc = pbcFrom(g, checkpoint(g, name), { pbc_preview_base: 1024, pbc_preview_levels: 3, pbc_preview_downscale: 8 });
    const p = readParams(pbc, "patcher");
    assert.equal(p.baseResolution, 1024, name);
    assert.equal(p.levels, 3, name);
    assert.match(notes(p), /this node's setting/, name);
  }
  // nothing linked at all: the setting, said as such
  const lone = readParams(pbcFrom(makeGraph(), null), "patcher");
  assert.equal(lone.baseResolution, 512);
  assert.match(notes(lone), /this node's setting/);
});

test("the pack's reference loader: reference U-Net, pixel space", () => {
  const g = makeGraph();
  const loader = g.add("ReferenceModelLoader", { widgets: { model_name: "reference_unet.safetensors" }, title: "Reference Model Loader" });
  const p = readParams(pbcFrom(g, loader, { pbc_preview_width: 128, pbc_preview_height: 128 }), "patcher");
  assert.deepEqual([p.baseResolution, p.levels, p.downscale], [32, 3, 1]);
  assert.match(notes(p), /reference U-Net/);
});

test("a loop of model nodes ends without an answer from it", () => {
  const g = makeGraph();
  const a = g.add("FreeU_V2", { inputs: [["model", "MODEL"]] });
  const b = g.add("FreeU_V2", { inputs: [["model", "MODEL"]] });
  g.link(a, b, "model");
  g.link(b, a, "model");
  const p = readParams(pbcFrom(g, b), "patcher");
  assert.equal(p.baseResolution, 512);
});

test("the Visualizer without a MODEL talks of no menu (it has none)", () => {
  const g = makeGraph();
  const viz = g.add("BoundaryVisualizer", { inputs: [["image", "IMAGE"], ["model", "MODEL"]], widgets: VIZ_WIDGETS });
  const p = readParams(viz, "visualizer");
  assert.doesNotMatch(notes(p), /menu/);
  assert.match(notes(p), /no MODEL/);
  // with an SDXL checkpoint linked it previews SDXL's base and levels (base_resolution, levels 0)
  g.link(checkpoint(g, "sd_xl_base_1.0.safetensors"), viz, "model");
  const q = readParams(viz, "visualizer");
  assert.deepEqual([q.baseResolution, q.levels], [1024, 3]);
});

test("choosing a family in the menu keeps the W/H the preview shows", () => {
  assert.equal(typeof preview.choosePreset, "function", "grid_preview.js exports choosePreset");
  const g = makeGraph();
  const pbc = pbcFrom(g, null);
  const before = readParams(pbc, "patcher");
  assert.deepEqual([before.width, before.height], [1024, 1024]);
  preview.choosePreset(pbc, "sdxl");
  const after = readParams(pbc, "patcher");
  assert.deepEqual([after.width, after.height], [1024, 1024]);
  assert.deepEqual([after.baseResolution, after.levels], [1024, 3]);
  // a size the user typed stays too
  pbc.properties.pbc_preview_width = 1536;
  preview.choosePreset(pbc, "sd2v");
  const again = readParams(pbc, "patcher");
  assert.deepEqual([again.width, again.height, again.baseResolution], [1536, 1024, 768]);
});

// ---- drawing: every text line fits its width (never squashed), nothing overlaps ----

const CHAR_W = 6;   // a deterministic font: 6 px per character, 11 px high
function recordingContext() {
  const calls = [];
  return {
    calls,
    font: "", fillStyle: "", strokeStyle: "", lineWidth: 1, textAlign: "left", textBaseline: "top",
    fillRect() {}, beginPath() {}, moveTo() {}, lineTo() {}, stroke() {},
    measureText(s) { return { width: CHAR_W * [...String(s)].length }; },
    fillText(text, x, y, maxWidth) { calls.push({ text: String(text), x, y, maxWidth, align: this.textAlign }); },
  };
}

function boxesOf(ctx) {
  return ctx.calls.map((c) => {
    const w = CHAR_W * [...c.text].length;
    const x0 = c.align === "center" ? c.x - w / 2 : c.x;
    return { ...c, x0, x1: x0 + w, y0: c.y, y1: c.y + 12 };
  });
}

function assertLegible(ctx, cw, ch, what, layout) {
  const boxes = boxesOf(ctx);
  for (const p of layout.panels) {
    assert.ok(p.x >= 0 && p.x + p.width <= cw && p.y >= 0 && p.y + p.height <= ch, `${what}: panel out of the widget ${JSON.stringify(p)}`);
    for (const b of boxes) {
      const overlap = p.x < b.x1 && b.x0 < p.x + p.width && p.y < b.y1 && b.y0 < p.y + p.height;
      assert.ok(!overlap || b.text === "no boundaries", `${what}: "${b.text}" over panel ${p.level}`);
    }
  }
  assert.ok(boxes.length >= 3, `${what}: text drawn`);
  for (const b of boxes) {
    // fillText's maxWidth squashes a longer text: it must never bite
    if (b.maxWidth !== undefined) assert.ok(b.x1 - b.x0 <= b.maxWidth + 0.01, `${what}: squashed ${JSON.stringify(b)}`);
    assert.ok(b.x0 >= 0 && b.x1 <= cw + 0.01, `${what}: runs out of the widget (${cw} px): ${JSON.stringify(b)}`);
    assert.ok(b.y0 >= 0 && b.y1 <= ch + 0.01, `${what}: below the widget: ${JSON.stringify(b)}`);
  }
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i];
      const b = boxes[j];
      const overlap = a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
      assert.ok(!overlap, `${what}: "${a.text}" and "${b.text}" overlap`);
    }
  }
}

// the node sizes of example_workflows/*.json (315 px patchers, 400 px visualizers) less the margins
// the frontends give a DOM widget, and the sizes the browser test uses
for (const [cw, ch] of [[295, 180], [299, 200], [380, 220], [420, 300]]) {
  test(`text fits at ${cw}x${ch}: the PBC node of workflow 07 (SDXL, 1024x3072, N=31)`, () => {
    const g = makeGraph();
    const pbc = pbcFrom(g, freeU(g, checkpoint(g, "sd_xl_base_1.0.safetensors")),
      { pbc_preview_width: 1024, pbc_preview_height: 3072 });
    const p = readParams(pbc, "patcher");
    const plan = planBoundaries({ width: p.width, height: p.height, baseResolution: p.baseResolution, n: p.n,
      jitter: p.jitter, levels: p.levels, latentDownscale: p.downscale });
    const ctx = recordingContext();
    const layout = drawGrid(ctx, cw, ch, plan, p, null, 1);
    assertLegible(ctx, cw, ch, `${cw}x${ch}`, layout);
    assert.equal(layout.panels.length, 3);
    for (const panel of layout.panels) assert.ok(panel.height >= 40, `panels visible: ${JSON.stringify(panel)}`);
  });

  test(`text fits at ${cw}x${ch}: SD 1.x and the reference U-Net, every aspect`, () => {
    for (const [w, h, loader] of [[2048, 2048, "v1-5-pruned-emaonly-fp16.safetensors"], [3072, 1024, "v1-5.safetensors"],
      [512, 512, "v1-5.safetensors"], [128, 128, null], [64, 256, null]]) {
      const g = makeGraph();
      const src = loader ? checkpoint(g, loader)
        : g.add("ReferenceModelLoader", { widgets: { model_name: "reference_unet.safetensors" }, title: "Reference Model Loader" });
      const p = readParams(pbcFrom(g, src, { pbc_preview_width: w, pbc_preview_height: h }), "patcher");
      const plan = planBoundaries({ width: p.width, height: p.height, baseResolution: p.baseResolution, n: p.n,
        jitter: p.jitter, levels: p.levels, latentDownscale: p.downscale });
      const ctx = recordingContext();
      const layout = drawGrid(ctx, cw, ch, plan, p, null, 1);
      assertLegible(ctx, cw, ch, `${cw}x${ch} ${w}x${h}`, layout);
    }
  });
}

test("an error message wraps instead of being squashed", () => {
  const ctx = recordingContext();
  drawGrid(ctx, 295, 200, null, { notes: [] }, "boundaries must be from 0 (auto) to 256 (got -1), which is a long message", 1);
  const boxes = boxesOf(ctx);
  assert.ok(boxes.length >= 3);
  for (const b of boxes) assert.ok(b.x1 <= 295 - 6 + 0.01, JSON.stringify(b));
});
