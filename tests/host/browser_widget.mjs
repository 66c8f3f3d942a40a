// Browser test of js/boundary_grid.js in a running ComfyUI (started by test_browser_widget.py).
//
//   node tests/host/browser_widget.mjs <comfy url> <artifact dir> [chromium path]
//
// Adds a Boundary Visualizer and a PBC Model Patcher through the page's LiteGraph API, edits width
// and N the way the canvas does (widget.value + widget.callback), types into the patcher's preview
// fields, switches to the Vue node renderer and back, and asserts from the widget canvases' pixels
// that the grid is drawn and changes with N.  In the Vue renderer a probe (a plain DOM widget on a
// Note) finds whether the frontend mounts DOM widgets in Vue nodes itself (1.49.6, 1.58.1): then the
// grid must be its mount, otherwise (1.27) the pack's fallback's.  No console warning or error
// (deprecations included) may come from the pack's files (browser_launch.mjs, watchPackConsole).  Screenshots go to the artifact dir.  Prints one JSON
// line of results; exits non-zero on the first failed check.
import { closeDialogs, launchChromium, repeatDeprecationWarnings, watchPackConsole } from "./browser_launch.mjs";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const [url, artifacts, chromiumPath = "/usr/bin/chromium"] = process.argv.slice(2);
assert.ok(url && artifacts, "usage: browser_widget.mjs <url> <artifact dir> [chromium]");
mkdirSync(artifacts, { recursive: true });

const { context, page, close } = await launchChromium(chromiumPath, { profilePrefix: "pbc-chromium-" });
const pageErrors = [];
const packConsole = await watchPackConsole(page);
const consoleErrors = [];
page.on("pageerror", (e) => pageErrors.push(`${e.message}\n${e.stack ?? ""}`));
page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });

const results = { checks: [] };
const check = (name, cond, detail) => {
  results.checks.push({ name, ok: !!cond, detail });
  assert.ok(cond, `${name}: ${JSON.stringify(detail)}`);
};

try {
  // a fresh user folder shows first-run dialogs (templates) over the canvas: mark them seen
  for (const [key, value] of [["Comfy.TutorialCompleted", true], ["Comfy.VueNodes.Enabled", false]]) {
    await fetch(`${url}api/settings/${key}`, { method: "POST", body: JSON.stringify(value) });
  }
  // Every text the grid's canvases draw, recorded by the canvas API itself (not by the widget's
  // own bookkeeping): the text, where, its measured width and fillText's maxWidth (which squashes a
  // wider text).  A draw starts with a fill of the whole canvas, which starts a new record.
  await page.addInitScript(() => {
    const proto = CanvasRenderingContext2D.prototype;
    const ours = (ctx) => ctx.canvas?.classList?.contains("pbc-grid-canvas");
    const fillRect = proto.fillRect;
    proto.fillRect = function (x, y, w, h) {
      if (ours(this) && x === 0 && y === 0 && w >= this.canvas.clientWidth && h >= this.canvas.clientHeight) {
        this.canvas.__posencTexts = [];
      }
      return fillRect.call(this, x, y, w, h);
    };
    const fillText = proto.fillText;
    proto.fillText = function (text, x, y, maxWidth) {
      if (ours(this)) {
        const width = this.measureText(String(text)).width;
        const left = this.textAlign === "center" ? x - width / 2 : this.textAlign === "right" || this.textAlign === "end" ? x - width : x;
        (this.canvas.__posencTexts ??= []).push({ text: String(text), left, right: left + width, y, width, maxWidth, font: this.font });
      }
      return maxWidth === undefined ? fillText.call(this, text, x, y) : fillText.call(this, text, x, y, maxWidth);
    };
  });
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => window.app?.graph && window.LiteGraph?.registered_node_types?.BoundaryVisualizer,
    null, { timeout: 90000 });
  await repeatDeprecationWarnings(page);
  await page.evaluate(() => window.app.extensionManager.setting.set("Comfy.VueNodes.Enabled", false));
  await page.waitForTimeout(1500);
  await closeDialogs(page);

  // A clean graph with our two nodes.
  const ids = await page.evaluate(() => {
    const { app, LiteGraph } = window;
    app.graph.clear();
    const viz = LiteGraph.createNode("BoundaryVisualizer");
    viz.pos = [60, 80];
    app.graph.add(viz);
    viz.setSize([440, Math.max(viz.size[1], 560)]);
    const pat = LiteGraph.createNode("PBCModelPatcher");
    pat.pos = [560, 80];
    app.graph.add(pat);
    pat.setSize([440, Math.max(pat.size[1], 520)]);
    app.canvas.ds.offset = [0, 0];
    app.canvas.ds.scale = 1;
    app.canvas.setDirty(true, true);
    return { viz: viz.id, pat: pat.id };
  });

  // Pixel statistics of a node's widget canvas, read in the page.
  const stats = (id) => page.evaluate((nodeId) => {
    const node = window.app.graph.getNodeById(nodeId);
    const w = node.widgets.find((x) => x.name === "pbc_boundary_grid");
    const st = w.posencState;
    const canvas = w.element.querySelector("canvas");
    const ctx = canvas.getContext("2d");
    const { width, height } = canvas;
    const data = width && height ? ctx.getImageData(0, 0, width, height).data : [];
    // strong (red) ring pixels inside the level panels
    let red = 0;
    const dprAll = width / (canvas.clientWidth || 1);
    for (const p of st.layout?.panels ?? []) {
      for (let y = Math.floor(p.y * dprAll); y < Math.floor((p.y + p.height) * dprAll); y++) {
        for (let x = Math.floor(p.x * dprAll); x < Math.floor((p.x + p.width) * dprAll); x++) {
          const i = (y * width + x) * 4;
          if (data[i] > 150 && data[i + 1] < 140 && data[i + 2] < 120 && data[i] - data[i + 1] > 60) red++;
        }
      }
    }
    // crossings of red lines along a horizontal scan through the middle of the level-0 panel
    let runs = 0;
    const p0 = st.layout?.panels?.[0];
    if (p0 && width) {
      const dpr = width / canvas.clientWidth;
      const y = Math.round((p0.y + p0.height / 2) * dpr);
      let inside = false;
      for (let x = Math.round(p0.x * dpr); x < Math.round((p0.x + p0.width) * dpr); x++) {
        const i = (y * width + x) * 4;
        const line = data[i] > 90 && data[i] - data[i + 2] > 30;
        if (line && !inside) runs++;
        inside = line;
      }
    }
    return {
      red, runs, draws: st.draws, error: st.error, width, height,
      connected: w.element.isConnected, mount: st.mount,
      inVueNode: !!w.element.closest(".lg-node"),
      plan: st.plan && { latentW: st.plan.latentWidth, w: st.plan.width, h: st.plan.height, base: st.plan.baseResolution, n: st.plan.n, rows: st.plan.rows, cols: st.plan.cols, levels: st.plan.levels.length },
      notes: st.params?.notes,
      family: st.params?.family && { id: st.params.family.preset.id, source: st.params.family.source },
      menu: (() => { const m = w.element.querySelector("select"); return m && { value: m.value, disabled: m.disabled }; })(),
    };
  }, id);

  const setWidget = (id, name, value, withCallback = true) => page.evaluate(([nodeId, n, v, cb]) => {
    const node = window.app.graph.getNodeById(nodeId);
    const w = node.widgets.find((x) => x.name === n);
    w.value = v;
    if (cb) w.callback?.(v, window.app.canvas, node);
    window.app.canvas.setDirty(true, true);
  }, [id, name, value, withCallback]);

  const settle = async () => { await page.waitForTimeout(700); };
  const shot = async (name, id) => {
    await page.screenshot({ path: join(artifacts, `${name}.png`) });
    if (id !== undefined) {
      const el = await page.evaluateHandle((nodeId) => window.app.graph.getNodeById(nodeId)
        .widgets.find((x) => x.name === "pbc_boundary_grid").element, id);
      await el.asElement().screenshot({ path: join(artifacts, `${name}-widget.png`) });
    }
  };

  // ---- Boundary Visualizer, classic canvas ----
  await setWidget(ids.viz, "base_resolution", 512);
  await setWidget(ids.viz, "boundaries", 3);
  await setWidget(ids.viz, "jitter", 0);
  await settle();
  let s0 = await stats(ids.viz);
  check("visualizer widget mounted and drawn", s0.connected && s0.draws > 0 && s0.width > 50, s0);
  check("1024x1024 over base 512: grid drawn, both axes", s0.red > 100 && s0.plan.rows && s0.plan.cols, s0);
  check("N=3: 6 vertical lines across level 0", s0.runs === 6, s0);
  await shot("01-visualizer-N3", ids.viz);

  await setWidget(ids.viz, "boundaries", 12);
  await settle();
  const s1 = await stats(ids.viz);
  check("N=12 redraws with more rings", s1.plan.n === 12 && s1.runs > s0.runs && s1.red > s0.red && s1.draws > s0.draws, { s0, s1 });
  await shot("02-visualizer-N12", ids.viz);

  await setWidget(ids.viz, "width", 2048);
  await settle();
  const s2 = await stats(ids.viz);
  check("width 2048 changes the plan", s2.plan.w === 2048 && s2.draws > s1.draws && s2.red > 0, s2);
  await shot("03-visualizer-2048x1024", ids.viz);

  await setWidget(ids.viz, "height", 512);
  await setWidget(ids.viz, "width", 1536);
  await settle();
  const s3 = await stats(ids.viz);
  check("1536x512 over base 512: vertical boundaries only", s3.plan.cols && !s3.plan.rows && s3.red > 0, s3);

  await setWidget(ids.viz, "width", 512);
  await settle();
  const s4 = await stats(ids.viz);
  check("512x512 at base 512: no rings", !s4.plan.rows && !s4.plan.cols && s4.red === 0, s4);
  await shot("04-visualizer-at-base", ids.viz);

  // a value set without a callback (as seed randomize does) is picked up by the poll
  await setWidget(ids.viz, "width", 1024, false);
  await setWidget(ids.viz, "height", 1024, false);
  await page.waitForTimeout(1200);
  const s5 = await stats(ids.viz);
  check("value set without callback is picked up", s5.plan.w === 1024 && s5.plan.h === 1024 && s5.red > 0, s5);

  // bad input: the widget shows an error, no exception
  await setWidget(ids.viz, "boundaries", 0);
  await settle();
  const s5b = await stats(ids.viz);
  check("N=0 (auto) at 1024x1024 over base 512 draws N=1: 2 vertical lines across level 0",
        !s5b.error && s5b.plan.n === 1 && s5b.runs === 2, s5b);
  await shot("05-visualizer-auto", ids.viz);
  await setWidget(ids.viz, "boundaries", -1);
  await settle();
  const s6 = await stats(ids.viz);
  check("N=-1 shows an error on the widget", s6.error && /boundaries/.test(s6.error) && s6.red === 0, s6);
  await setWidget(ids.viz, "boundaries", 12);
  await setWidget(ids.viz, "width", 0);
  await settle();
  const s7 = await stats(ids.viz);
  check("width 0 shows an error on the widget", s7.error && /width/.test(s7.error), s7);
  await setWidget(ids.viz, "width", 1024);

  // ---- PBC Model Patcher: preview size in node.properties ----
  await setWidget(ids.pat, "base_resolution", 512);
  await setWidget(ids.pat, "boundaries", 4);
  await setWidget(ids.pat, "jitter", 0);
  await settle();
  const p0 = await stats(ids.pat);
  check("patcher widget drawn at the default preview (2x base)", p0.plan?.w === 1024 && p0.plan?.h === 1024 && p0.runs === 8, p0);
  await shot("05-patcher-N4", ids.pat);
  await setWidget(ids.pat, "boundaries", 9);
  await settle();
  const p1 = await stats(ids.pat);
  check("patcher N=9 redraws", p1.plan.n === 9 && p1.runs > p0.runs && p1.red > p0.red, { p0, p1 });

  // type into the preview width field like a user
  const field = page.locator(".pbc-grid-root[data-pbc-kind=patcher] input").first();
  await field.fill("1536");
  await field.press("Enter");
  await field.evaluate((el) => el.blur());
  await settle();
  const p2 = await stats(ids.pat);
  const props = await page.evaluate((id) => window.app.graph.getNodeById(id).properties, ids.pat);
  check("preview width typed into the field lands in properties", props.pbc_preview_width === 1536 && p2.plan.w === 1536, { props, p2 });
  await shot("06-patcher-preview-1536", ids.pat);

  // base_resolution 0 (auto): the preview's model menu decides base and levels
  await setWidget(ids.pat, "base_resolution", 0);
  await page.locator(".pbc-grid-root[data-pbc-kind=patcher] select").first().selectOption("sdxl");
  await settle();
  const p3 = await stats(ids.pat);
  const props3 = await page.evaluate((id) => window.app.graph.getNodeById(id).properties, ids.pat);
  // the W/H shown before (1536 typed, 1024 = the default 2x base 512) stay: the menu used to reset
  // the untyped one to 2x the new base
  check("model menu SDXL: base 1024, 3 levels, the preview's W/H kept",
    p3.plan.base === 1024 && p3.plan.levels === 3 && p3.plan.w === 1536 && p3.plan.h === 1024
    && props3.pbc_preview_base === 1024 && props3.pbc_preview_levels === 3, { p3, props3 });
  await shot("06b-patcher-sdxl", ids.pat);

  // ---- a connected Reference Model Loader decides what the previews assume (issue #15) ----
  const refIds = await page.evaluate(([vizId, patId]) => {
    const { app, LiteGraph } = window;
    const loader = LiteGraph.createNode("ReferenceModelLoader");
    loader.pos = [60, 700];
    app.graph.add(loader);
    const viz = app.graph.getNodeById(vizId);
    const pat = app.graph.getNodeById(patId);
    loader.connect(0, pat, pat.inputs.findIndex((i) => i.name === "model"));
    loader.connect(0, viz, viz.inputs.findIndex((i) => i.name === "model"));
    return { loader: loader.id };
  }, [ids.viz, ids.pat]);
  await setWidget(ids.pat, "base_resolution", 0);
  await setWidget(ids.viz, "base_resolution", 0);
  await setWidget(ids.viz, "levels", 0);
  await setWidget(ids.viz, "width", 128);
  await setWidget(ids.viz, "height", 128);
  await page.waitForTimeout(1200);
  const r0 = await stats(ids.viz);
  const r1 = await stats(ids.pat);
  const notes = await page.evaluate((i) => [i.viz, i.pat].map((id) => window.app.graph.getNodeById(id)
    .widgets.find((w) => w.name === "pbc_boundary_grid").posencState.params.notes), ids);
  check("visualizer linked to the reference loader: base 32, 3 levels, pixel latent, rings drawn",
    r0.plan.base === 32 && r0.plan.levels === 3 && r0.plan.latentW === 128 && r0.red > 0
    && /reference U-Net/.test(notes[0].join(" ")), { r0, notes: notes[0] });
  check("patcher linked to the reference loader: base 32, 3 levels, says so",
    r1.plan.base === 32 && r1.plan.levels === 3 && /reference U-Net, from Reference Model Loader/.test(notes[1].join(" ")), { r1, notes: notes[1] });
  await shot("06c-linked-reference", ids.viz);
  await page.evaluate((id) => window.app.graph.remove(window.app.graph.getNodeById(id)), refIds.loader);
  await setWidget(ids.viz, "width", 1024);
  await setWidget(ids.viz, "height", 1024);
  await page.waitForTimeout(900);

  // ---- a Load Checkpoint's file through FreeU_V2 decides the patcher's family (issue #33) ----
  await page.locator(".pbc-grid-root[data-pbc-kind=patcher] select").first().selectOption("sd1");
  const ckIds = await page.evaluate((patId) => {
    const { app, LiteGraph } = window;
    const ck = LiteGraph.createNode("CheckpointLoaderSimple");
    ck.pos = [60, 700];
    app.graph.add(ck);
    // no checkpoint files on the test server: the name is set as a loaded workflow sets it
    ck.widgets.find((w) => w.name === "ckpt_name").value = "sd_xl_base_1.0.safetensors";
    const fu = LiteGraph.createNode("FreeU_V2");
    fu.pos = [400, 700];
    app.graph.add(fu);
    ck.connect(0, fu, fu.inputs.findIndex((i) => i.name === "model"));
    const pat = app.graph.getNodeById(patId);
    fu.connect(0, pat, pat.inputs.findIndex((i) => i.name === "model"));
    return { ck: ck.id, fu: fu.id };
  }, ids.pat);
  await setWidget(ids.pat, "base_resolution", 0);
  await page.waitForTimeout(1200);
  const k0 = await stats(ids.pat);
  check("patcher set to SD 1.x, linked to an SDXL checkpoint through FreeU_V2: previews SDXL (base 1024, 3 levels), says so, menu shows it",
    k0.plan.base === 1024 && k0.plan.levels === 3 && /SDXL, from Load Checkpoint/.test((k0.notes ?? []).join(" "))
    && k0.menu?.value === "sdxl" && k0.menu?.disabled === true, k0);
  await shot("06d-linked-sdxl-checkpoint", ids.pat);
  const setCkpt = (name) => page.evaluate(([id, n]) => {
    window.app.graph.getNodeById(id).widgets.find((w) => w.name === "ckpt_name").value = n;
  }, [ckIds.ck, name]);
  await setCkpt("v1-5-pruned-emaonly-fp16.safetensors");
  await page.waitForTimeout(1200);
  const k1 = await stats(ids.pat);
  check("another checkpoint chosen (SD 1.5): the preview follows", k1.plan.base === 512 && k1.plan.levels === 4
    && k1.family?.source === "loader", k1);
  await setCkpt("dreamshaper_8.safetensors");
  await page.waitForTimeout(1200);
  const k2 = await stats(ids.pat);
  check("a checkpoint name that does not tell the family: the node's own setting, said on the widget, menu enabled",
    k2.plan.base === 512 && k2.family?.source === "setting" && /this node's setting/.test((k2.notes ?? []).join(" "))
    && k2.menu?.disabled === false, k2);
  await page.evaluate((i) => { for (const id of [i.ck, i.fu]) window.app.graph.remove(window.app.graph.getNodeById(id)); }, ckIds);
  await page.waitForTimeout(900);

  // ---- nothing serialized that the backend does not expect ----
  const ser = await page.evaluate(async (i) => {
    const { app } = window;
    const wf = app.graph.serialize();
    const prompt = await app.graphToPrompt();
    const out = {};
    for (const id of [i.viz, i.pat]) {
      const node = app.graph.getNodeById(id);
      // node ids: numbers on the 1.27 frontend; strings at run time (numbers when saved) on newer ones
      const sn = wf.nodes.find((n) => String(n.id) === String(id));
      out[id] = {
        widgetNames: node.widgets.map((w) => w.name),
        widgets_values: sn.widgets_values,
        promptInputs: Object.keys(prompt.output[String(id)]?.inputs ?? {}),
        properties: sn.properties,
      };
    }
    return out;
  }, ids);
  for (const id of [ids.viz, ids.pat]) {
    const o = ser[id];
    const backend = o.widgetNames.filter((n) => n !== "pbc_boundary_grid");
    check(`node ${id}: widgets_values has one entry per backend widget`,
      o.widgets_values.length === backend.length && o.widgets_values.every((v) => v !== null && v !== ""), o);
    check(`node ${id}: prompt has no widget entry`, !o.promptInputs.includes("pbc_boundary_grid"), o);
  }

  // ---- Vue node renderer ----
  // Does this frontend mount a custom DOM widget in its Vue node itself?  A probe: a Note given a
  // plain addDOMWidget element (no pack code involved).  Where it does, the grid must take that
  // route too; where not (the 1.27 line), the pack's own fallback mounts it.
  const probeId = await page.evaluate(() => {
    const { app, LiteGraph } = window;
    const probe = LiteGraph.createNode("Note");
    const el = document.createElement("div");
    el.className = "posenc-dom-probe";
    el.style.height = "40px";
    probe.addDOMWidget("posenc_probe", "posenc_probe", el, { serialize: false, hideOnZoom: false });
    probe.pos = [1060, 80];
    probe.size = [240, 160];
    app.graph.add(probe);
    return probe.id;
  });
  await page.evaluate(() => window.app.extensionManager.setting.set("Comfy.VueNodes.Enabled", true));
  await page.waitForSelector(".lg-node[data-node-id]", { timeout: 20000 });
  await page.waitForTimeout(1500);
  const frontendMountsDom = await page.evaluate(() => !!document.querySelector(".lg-node .posenc-dom-probe"));
  results.frontendMountsDomWidgetsInVueNodes = frontendMountsDom;
  await page.evaluate((id) => window.app.graph.remove(window.app.graph.getNodeById(id)), probeId);
  await page.waitForTimeout(900);
  const v0 = await stats(ids.viz);
  check("Vue renderer: widget is inside the Vue node and drawn", v0.connected && v0.inVueNode && v0.red > 100 && v0.plan.n === 12, v0);
  check(`Vue renderer: mounted by ${frontendMountsDom ? "the frontend (it mounts DOM widgets in Vue nodes)" : "the pack's fallback (the frontend does not mount DOM widgets in Vue nodes)"}`,
    v0.mount === (frontendMountsDom ? "frontend, Vue node" : "vue-fallback"), { frontendMountsDom, v0 });
  await shot("07-vue-visualizer-N12");
  // Edit N in the Vue node's own number field, like a user.  The 1.27 frontend's Vue renderer
  // (experimental there) sometimes drops typed edits before they reach the widget, for core nodes
  // too; so the check is that the grid follows the widget's value, whichever way it changes.
  // a widget's row: .lg-widget-container on 1.27, [data-testid=node-widget] on newer frontends
  const nField = page.locator(`.lg-node[data-node-id="${ids.viz}"] :is(.lg-widget-container, [data-testid="node-widget"])`, { hasText: "boundaries" })
    .locator("input").first();
  // force: newer frontends lay a drag-to-scrub layer over the number; a click on it (as a user's,
  // at the field's centre) switches the field to text entry
  await nField.click({ force: true });
  await nField.press("Control+A");
  await nField.pressSequentially("5");
  await nField.press("Tab");
  await settle();
  let nValue = await page.evaluate((id) => window.app.graph.getNodeById(id).widgets.find((w) => w.name === "boundaries").value, ids.viz);
  results.vueTypedEditReachedWidget = nValue === 5;
  if (nValue !== 5) {
    await setWidget(ids.viz, "boundaries", 5, false);   // as the frontend sets values itself
    await page.waitForTimeout(1200);
    nValue = 5;
  }
  const v1 = await stats(ids.viz);
  check("Vue renderer: N=5 redraws", v1.plan.n === 5 && v1.runs === 10 && v1.draws > v0.draws, { v0, v1 });
  const vp = await stats(ids.pat);
  check("Vue renderer: patcher widget drawn", vp.inVueNode && vp.red > 100 && vp.plan.n === 9, vp);
  await shot("08-vue-N5");

  // Another workflow tab whose node has the Visualizer's id: the grid must not move into it.
  // (Here the Visualizer is in the root graph, which the tab switch clears, so its node is removed
  // and this passes even with a lookup by id alone; browser_vue_ids.mjs has the cases that need
  // the lookup by graph and id: Visualizers inside subgraphs, which outlive a tab switch.)
  const wfA = await page.evaluate(() => window.app.graph.serialize());
  await page.evaluate(async (vizId) => {
    const other = { last_node_id: vizId, last_link_id: 0, links: [], groups: [], config: {}, extra: {}, version: 0.4,
      nodes: [{ id: vizId, type: "Note", pos: [100, 100], size: [300, 160], flags: {}, order: 0, mode: 0,
        inputs: [], outputs: [], properties: {}, widgets_values: ["another tab"] }] };
    await window.app.loadGraphData(other, true, true, "posenc-other-tab");
  }, ids.viz);
  await page.waitForSelector(`.lg-node[data-node-id="${ids.viz}"]`, { timeout: 20000 });
  await page.waitForTimeout(1500);
  const foreign = await page.evaluate((vizId) => {
    const el = document.querySelector(`.lg-node[data-node-id="${vizId}"]`);
    return { vueNode: !!el, type: window.app.graph.getNodeById(vizId)?.type,
      grids: el ? el.querySelectorAll(".pbc-grid-root").length : -1,
      anyGrid: document.querySelectorAll(".pbc-grid-root").length };
  }, ids.viz);
  await shot("08b-vue-other-tab");
  check("Vue renderer, another tab: no grid in a node that only shares the Visualizer's id",
    foreign.vueNode && foreign.type === "Note" && foreign.grids === 0 && foreign.anyGrid === 0, foreign);
  await page.evaluate(async (wf) => { await window.app.loadGraphData(wf, true, true, "posenc-widget-test"); }, wfA);
  await page.waitForTimeout(1500);
  const back = await stats(ids.viz);
  check("Vue renderer, first tab again: the Visualizer's grid is back in its own node",
    back.inVueNode && back.plan.n === 5 && back.red > 0, back);


  await page.evaluate(() => window.app.extensionManager.setting.set("Comfy.VueNodes.Enabled", false));
  await page.waitForTimeout(1500);
  await closeDialogs(page);
  await page.evaluate(() => window.app.canvas.setDirty(true, true));
  await page.waitForTimeout(800);
  const c0 = await stats(ids.viz);
  check("back to the classic canvas: widget remounted and drawn", c0.connected && !c0.inVueNode && c0.runs === 10, c0);
  await shot("09-classic-again", ids.viz);

  // The Visualizer node alone, at a size above base with jitter.  (docs/boundary_widget.png is the
  // PBC node of workflow 06 below: 11-wf06-node7-classic.png, from the run on frontend 1.58.1.)
  for (const [k, v] of [["width", 2048], ["height", 1536], ["base_resolution", 0], ["boundaries", 16], ["jitter", 1], ["jitter_seed", 7]]) {
    await setWidget(ids.viz, k, v);
  }
  await settle();
  const clip = await page.evaluate((id) => {
    const { app, LiteGraph } = window;
    const node = app.graph.getNodeById(id);
    const r = app.canvas.canvas.getBoundingClientRect();
    const [x, y] = app.canvas.ds.convertOffsetToCanvas(node.pos);
    const t = LiteGraph.NODE_TITLE_HEIGHT;
    return { x: r.left + x - 8, y: r.top + y - t - 8, width: node.size[0] + 16, height: node.size[1] + t + 16 };
  }, ids.viz);
  await page.screenshot({ path: join(artifacts, "10-readme-visualizer-node.png"), clip });
  const s8 = await stats(ids.viz);
  check("2048x1536, N=16, jitter 1: drawn", s8.red > 100 && s8.plan.n === 16 && s8.plan.rows && s8.plan.cols, s8);

  // ---- legibility at 100% zoom on every node of the example workflows (issue #33) ----
  // What the canvas API saw drawn (the recorder above), the bar's fields and menu, and the widget
  // against its node: every text as wide as it measures (fillText never squashing it), inside the
  // canvas, no two overlapping, none over a panel; every field and the menu inside the widget, the
  // menu wide enough for its choice; the widget inside its node.
  const legibility = (id) => page.evaluate((nodeId) => {
    const { app, LiteGraph } = window;
    const node = app.graph.getNodeById(nodeId);
    const w = node.widgets.find((x) => x.name === "pbc_boundary_grid");
    const st = w.posencState;
    const root = w.element;
    const canvas = root.querySelector("canvas");
    const cw = canvas.clientWidth;
    const ch = canvas.clientHeight;
    const problems = [];
    const texts = canvas.__posencTexts ?? [];
    const lineH = 12;
    for (const t of texts) {
      if (t.maxWidth !== undefined && t.width > t.maxWidth + 0.5) problems.push(`squashed to ${Math.round(t.maxWidth)} of ${Math.round(t.width)} px: "${t.text}"`);
      if (t.left < -0.5 || t.right > cw + 0.5) problems.push(`outside the ${cw} px canvas (${Math.round(t.left)}..${Math.round(t.right)}): "${t.text}"`);
      if (t.y < -0.5 || t.y + lineH > ch + 0.5) problems.push(`below the ${ch} px canvas: "${t.text}"`);
    }
    for (let i = 0; i < texts.length; i++) {
      for (let j = i + 1; j < texts.length; j++) {
        const a = texts[i];
        const b = texts[j];
        const wa = Math.min(a.right, a.left + (a.maxWidth ?? a.width));   // what fillText drew
        const wb = Math.min(b.right, b.left + (b.maxWidth ?? b.width));
        if (a.left < wb && b.left < wa && a.y < b.y + lineH && b.y < a.y + lineH) problems.push(`"${a.text}" overlaps "${b.text}"`);
      }
    }
    const panels = st.layout?.panels ?? [];
    for (const p of panels) {
      if (p.x < 0 || p.y < 0 || p.x + p.width > cw + 0.5 || p.y + p.height > ch + 0.5) problems.push(`panel ${p.level} outside the canvas`);
      if (p.height < 24 || p.width < 8) problems.push(`panel ${p.level} too small to read (${p.width}x${p.height})`);
      for (const t of texts) {
        if (t.text !== "no boundaries" && t.left < p.x + p.width && p.x < t.right && t.y < p.y + p.height && p.y < t.y + lineH) problems.push(`"${t.text}" over panel ${p.level}`);
      }
    }
    const rr = root.getBoundingClientRect();
    const bar = root.querySelector(".pbc-grid-bar");
    if (bar && bar.scrollWidth > bar.clientWidth + 1) problems.push(`bar overflows (${bar.scrollWidth} > ${bar.clientWidth})`);
    for (const el of root.querySelectorAll(".pbc-grid-bar > *, .pbc-grid-bar input, .pbc-grid-bar select")) {
      const r = el.getBoundingClientRect();
      if (r.left < rr.left - 0.5 || r.right > rr.right + 0.5 || r.top < rr.top - 0.5 || r.bottom > rr.bottom + 0.5) {
        problems.push(`${el.tagName.toLowerCase()} ${el.textContent.slice(0, 20)} clipped: ${Math.round(r.left)}..${Math.round(r.right)} in ${Math.round(rr.left)}..${Math.round(rr.right)}`);
      }
    }
    const menu = root.querySelector("select");
    if (menu) {
      const m = document.createElement("canvas").getContext("2d");
      const cs = getComputedStyle(menu);
      m.font = `${cs.fontSize} ${cs.fontFamily}`;
      const need = m.measureText(menu.selectedOptions[0]?.textContent ?? "").width + 14;   // + the arrow
      if (menu.clientWidth < need) problems.push(`menu ${menu.clientWidth} px for "${menu.selectedOptions[0]?.textContent}" (${Math.round(need)} px)`);
    }
    // the widget inside its node: the Vue node's element, or the node's box on the canvas
    const vueNode = root.closest(".lg-node");
    let box;
    if (vueNode) {
      const b = vueNode.getBoundingClientRect();
      box = { left: b.left, right: b.right, top: b.top, bottom: b.bottom };
    } else {
      const c = app.canvas.canvas.getBoundingClientRect();
      const [x, y] = app.canvas.ds.convertOffsetToCanvas(node.pos);
      const s = app.canvas.ds.scale;
      box = { left: c.left + x, right: c.left + x + node.size[0] * s, top: c.top + y - LiteGraph.NODE_TITLE_HEIGHT * s, bottom: c.top + y + node.size[1] * s };
    }
    if (rr.left < box.left - 1 || rr.right > box.right + 1 || rr.bottom > box.bottom + 1) {
      problems.push(`widget ${Math.round(rr.left)}..${Math.round(rr.right)} x ..${Math.round(rr.bottom)} outside its node ${Math.round(box.left)}..${Math.round(box.right)} x ..${Math.round(box.bottom)}`);
    }
    return {
      problems, texts: texts.map((t) => t.text), canvas: [cw, ch], node: [...node.size], mount: st.mount,
      family: st.params?.family && { id: st.params.family.preset.id, source: st.params.family.source },
      plan: st.plan && { w: st.plan.width, h: st.plan.height, base: st.plan.baseResolution, rows: st.plan.rows, cols: st.plan.cols, levels: st.plan.levels.length },
    };
  }, id);
  const dismiss = () => closeDialogs(page, { toasts: true });
  // What each workflow's grid must preview (the family from its loader, the size it samples).
  const expected = {
    "01": { family: "ref", w: 128, h: 128 }, "04": { family: "ref", w: 64, h: 64 },
    "05": { family: "sd1", w: 1024, h: 1024 }, "06": { family: "sdxl", w: 2048, h: 2048 },
    // 07's note: only the height is above SDXL's base, so only horizontal boundaries
    "07": { family: "sdxl", w: 1024, h: 3072, rows: true, cols: false },
  };
  const wfDir = fileURLToPath(new URL("../../example_workflows/", import.meta.url));
  for (const file of readdirSync(wfDir).filter((f) => f.endsWith(".json")).sort()) {
    const wf = JSON.parse(readFileSync(join(wfDir, file), "utf8"));
    const targets = wf.nodes.filter((n) => n.type === "PBCModelPatcher" || n.type === "BoundaryVisualizer");
    if (!targets.length) continue;
    const tag = file.slice(0, 2);
    // loaded with Vue nodes off, then each renderer (1.27's Vue renderer keeps drawing the graph it
    // had when a workflow is loaded while it is on)
    await page.evaluate(() => window.app.extensionManager.setting.set("Comfy.VueNodes.Enabled", false));
    await page.waitForTimeout(800);
    await page.evaluate(async (w) => { await window.app.loadGraphData(w, true, true, "posenc-legibility"); }, wf);
    await page.waitForTimeout(1200);
    await dismiss();
    for (const vue of [false, true]) {
      if (vue) {
        await page.evaluate(() => window.app.extensionManager.setting.set("Comfy.VueNodes.Enabled", true));
        await page.waitForSelector(".lg-node[data-node-id]", { timeout: 20000 });
        await page.waitForTimeout(1500);
        await dismiss();
      }
      for (const t of targets) {
        await page.evaluate((id) => {
          const { app } = window;
          const node = app.graph.getNodeById(id);
          app.canvas.ds.scale = 1;
          app.canvas.ds.offset = [-node.pos[0] + 160, -node.pos[1] + 140];
          app.canvas.setDirty(true, true);
        }, t.id);
        await page.waitForTimeout(1300);
        const L = await legibility(t.id);
        const where = `${vue ? "Vue nodes" : "classic canvas"}, workflow ${tag} node ${t.id} (${t.type}, ${L.node.map(Math.round).join("x")})`;
        check(`${where}: every line readable, nothing clipped or overlapping`, L.problems.length === 0 && L.texts.length >= 3
          && (!vue || L.mount === (frontendMountsDom ? "frontend, Vue node" : "vue-fallback")), L);
        const e = expected[tag];
        if (e && t.type === "PBCModelPatcher") {
          check(`${where}: previews ${e.family} at ${e.w}x${e.h}, from its loader`, L.family?.id === e.family && L.family?.source === "loader"
            && L.plan.w === e.w && L.plan.h === e.h && (e.rows === undefined || (L.plan.rows === e.rows && L.plan.cols === e.cols)), L);
        }
        const clip = await page.evaluate((id) => {
          const { app, LiteGraph } = window;
          const el = document.querySelector(`.lg-node[data-node-id="${id}"]`);
          if (el) {
            const b = el.getBoundingClientRect();
            return { x: b.x - 8, y: b.y - 28, width: b.width + 16, height: b.height + 36 };
          }
          const node = app.graph.getNodeById(id);
          const r = app.canvas.canvas.getBoundingClientRect();
          const [x, y] = app.canvas.ds.convertOffsetToCanvas(node.pos);
          const T = LiteGraph.NODE_TITLE_HEIGHT;
          return { x: r.left + x - 8, y: r.top + y - T - 28, width: node.size[0] + 16, height: node.size[1] + T + 36 };
        }, t.id);
        await page.screenshot({ path: join(artifacts, `11-wf${tag}-node${t.id}-${vue ? "vue" : "classic"}.png`), clip });
      }
    }
  }
  await page.evaluate(() => window.app.extensionManager.setting.set("Comfy.VueNodes.Enabled", false));

  // Errors from the page that mention this pack (others come from offline assets of the frontend).
  const ours = pageErrors.filter((e) => /boundary_grid|boundaries\.js|posenc|pbc/i.test(e));
  results.pageErrors = pageErrors;
  results.consoleErrors = consoleErrors;
  check("no page errors from the pack", ours.length === 0, ours);
  // console warnings and errors (deprecation warnings included) raised from the pack's own files
  results.packConsole = packConsole;
  check("no console warning or error from the pack's files", packConsole.length === 0, packConsole);
} finally {
  console.log(JSON.stringify(results));
  await close();
}
