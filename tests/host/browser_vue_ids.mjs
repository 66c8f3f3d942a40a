// Browser test: in the Vue node renderer the boundary grid is mounted in its own node and in no
// other node that has the same id (issue #15, item 7).  Started by test_browser_widget.py.
//
//   node tests/host/browser_vue_ids.mjs <comfy url> <artifact dir> [chromium path]
//
// Node ids repeat across graphs: a subgraph numbers its nodes on its own, so a workflow can hold
// node 1 in the root graph and another node 1 inside a subgraph.  The Vue renderer's elements
// carry only the id (data-node-id), and frontend 1.27 does not mount custom DOM widgets in Vue
// nodes, so js/boundary_grid.js appends its grid to the Vue element itself; looking that element
// up by id alone put the grid of a Visualizer that is inside a subgraph into the root graph's node
// with the same id, and the nodes inside the subgraphs of a workflow tab that was switched away
// from stay alive: switching tabs clears the one root graph and removes its own nodes only.
//
// With the Vue renderer on, loads three workflows, each in its own tab, through app.loadGraphData
// (as opening a file does), and after each step checks every grid element in the page: it may sit
// only in the Vue element of the node that owns it.
//   A: root graph: a Note with id 1; inside a subgraph: a Boundary Visualizer with id 1
//      (root graph shown, subgraph opened, back to the root).
//   B: root graph: a Boundary Visualizer with id 1; inside a subgraph: another Visualizer, id 1
//      (the same three steps).
//   C: root graph: a Note with id 1 only; then a click on tab B.
//   D: Vue nodes off, tab A again, its subgraph opened: the classic canvas shows that grid.
// B and C also check that the root Visualizer's grid is there and drawn (so the test cannot pass
// by never mounting).  Newer frontends (1.49.6, 1.58.1) renumber a subgraph's nodes on load (no
// repeated ids), draw the graph on the canvas in the Vue renderer and mount DOM widgets there
// themselves: the same checks hold, and where the subgraph is drawn its grid must be in its node.  Prints one JSON line of results; exits non-zero if a check failed.
import { closeDialogs, launchChromium, repeatDeprecationWarnings, watchPackConsole } from "./browser_launch.mjs";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [url, artifacts, chromiumPath = "/usr/bin/chromium"] = process.argv.slice(2);
assert.ok(url && artifacts, "usage: browser_vue_ids.mjs <url> <artifact dir> [chromium]");
mkdirSync(artifacts, { recursive: true });

const { context, page, close } = await launchChromium(chromiumPath, { profilePrefix: "pbc-chromium-" });
const pageErrors = [];
const packConsole = await watchPackConsole(page);
page.on("pageerror", (e) => pageErrors.push(`${e.message}\n${e.stack ?? ""}`));

const results = { checks: [] };
const check = (name, cond, detail) => { results.checks.push({ name, ok: !!cond, detail }); };

// A UI-format workflow: `root` nodes plus a subgraph node (id 2) whose subgraph holds `inner`.
const SUBGRAPH = "5b0c0f1e-7d1a-4c55-9a57-2d5b7f7e1a01";
const note = (id, text) => ({ id, type: "Note", pos: [100, 100], size: [320, 180], flags: {}, order: 0,
  mode: 0, inputs: [], outputs: [], properties: {}, widgets_values: [text] });
const visualizer = (id, n) => ({ id, type: "BoundaryVisualizer", pos: [100, 100], size: [440, 620], flags: {},
  order: 0, mode: 0, inputs: [], outputs: [{ name: "IMAGE", type: "IMAGE", links: [] }], properties: {},
  // width, height, base_resolution, boundaries, jitter, jitter_seed, levels
  widgets_values: [1024, 1024, 512, n, 0, 0, 0] });
const workflow = (root, inner) => ({
  id: "5b0c0f1e-7d1a-4c55-9a57-2d5b7f7e1a02", revision: 0, last_node_id: 2, last_link_id: 0,
  nodes: [...root, { id: 2, type: SUBGRAPH, pos: [700, 100], size: [220, 60], flags: {}, order: 1, mode: 0,
    inputs: [], outputs: [], properties: {}, widgets_values: [] }],
  links: [], groups: [], config: {}, extra: { ds: { scale: 1, offset: [0, 0] } }, version: 0.4,
  definitions: { subgraphs: [{
    id: SUBGRAPH, version: 1, revision: 0, name: "inner graph", config: {}, extra: {},
    state: { lastGroupId: 0, lastNodeId: 1, lastLinkId: 0, lastRerouteId: 0 },
    inputNode: { id: -10, bounding: [-180, -20, 120, 40] }, outputNode: { id: -20, bounding: [1200, -20, 120, 40] },
    inputs: [], outputs: [], widgets: [], nodes: inner, groups: [], links: [] }] },
});

// Every grid element in the page: which node owns it (root graph or subgraph) and which Vue
// element, if any, holds it.  A Vue element stands for the node with its id in the graph the Vue
// renderer draws: the root graph on the 1.27 line, also while a subgraph is open on the canvas;
// the graph on the canvas on newer frontends (1.49.6, 1.58.1).  Which one is found from the page:
// the graph whose node ids are the Vue elements' ids (the canvas's graph when both fit).
const mounts = () => page.evaluate(() => {
  const { app } = window;
  const owners = new Map();
  const graphs = [["root", app.graph], ...[...(app.graph.subgraphs?.values() ?? [])].map((g) => [`subgraph ${g.name}`, g])];
  for (const [label, graph] of graphs) {
    for (const node of graph.nodes) {
      const w = node.widgets?.find((x) => x.name === "pbc_boundary_grid");
      if (w) owners.set(w.element, { node, label });
    }
  }
  const vueIds = [...document.querySelectorAll(".lg-node[data-node-id]")].map((el) => el.getAttribute("data-node-id"));
  const fits = (g) => g && vueIds.length === g.nodes.length && vueIds.every((id) => g.getNodeById(id));
  const drawn = fits(app.canvas.graph) ? app.canvas.graph : fits(app.graph) ? app.graph : app.graph;
  return {
    canvasShowsRoot: app.canvas.graph === app.graph,
    vueDraws: drawn === app.canvas.graph ? "canvas graph" : "root graph",
    widgets: [...owners.values()].map((o) => `${o.label}, node ${o.node.id} (${o.node.type})`),
    vueNodes: vueIds.map((id) => `${id}: ${drawn.getNodeById(id)?.type}`),
    grids: [...document.querySelectorAll(".pbc-grid-root")].map((el) => {
      const owner = owners.get(el);
      const vue = el.closest(".lg-node[data-node-id]");
      const vueId = vue?.getAttribute("data-node-id") ?? null;
      const shown = vueId === null ? null : drawn.getNodeById(vueId);
      const st = owner?.node.widgets.find((x) => x.name === "pbc_boundary_grid").posencState;
      return {
        owner: owner ? `${owner.label}, node ${owner.node.id} (${owner.node.type})` : "unknown",
        inVueNode: vueId === null ? null : `${vueId} (${shown?.type})`,
        inOwnNode: vueId !== null && owner !== undefined && shown === owner.node,
        drawn: !!(st && st.draws > 0 && el.querySelector("canvas")?.width > 50), n: st?.plan?.n ?? null,
      };
    }),
  };
});

const wrongMounts = (m) => m.grids.filter((g) => g.inVueNode !== null && !g.inOwnNode);

try {
  for (const [key, value] of [["Comfy.TutorialCompleted", true], ["Comfy.VueNodes.Enabled", true]]) {
    await fetch(`${url}api/settings/${key}`, { method: "POST", body: JSON.stringify(value) });
  }
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => window.app?.graph && window.LiteGraph?.registered_node_types?.BoundaryVisualizer,
    null, { timeout: 90000 });
  await repeatDeprecationWarnings(page);
  await page.evaluate(() => window.app.extensionManager.setting.set("Comfy.VueNodes.Enabled", true));
  await page.waitForTimeout(1500);
  await closeDialogs(page);
  // long enough for several of the widget's polls (400 ms), which is when it mounts itself
  const polls = () => page.waitForTimeout(2500);
  const load = async (wf, name) => {
    await page.evaluate(async ([w, n]) => { await window.app.loadGraphData(w, true, true, n); }, [wf, name]);
    await page.waitForSelector('.lg-node[data-node-id="1"]', { timeout: 20000 });
    await polls();
  };
  // as the subgraph node's "enter" button and the breadcrumb do
  const openSubgraph = async () => {
    await page.evaluate(() => window.app.canvas.openSubgraph(window.app.graph.subgraphs.values().next().value));
    await polls();
  };
  const backToRoot = async () => {
    await page.evaluate(() => window.app.canvas.setGraph(window.app.graph));
    await polls();
  };

  // ---- A: the Visualizer is inside the subgraph, the root graph's node 1 is a Note ----
  await load(workflow([note(1, "root graph: a Note with the id of the Visualizer in the subgraph")], [visualizer(1, 5)]), "posenc-ids-a");
  const a1 = await mounts();
  await page.screenshot({ path: join(artifacts, "vue-ids-a1-root.png") });
  check("A, root graph shown: the subgraph's Visualizer grid is in no Vue node (not in the root's Note 1)",
    a1.canvasShowsRoot && a1.widgets.some((w) => w.startsWith("subgraph")) && wrongMounts(a1).length === 0
    && a1.grids.every((g) => g.inVueNode === null), a1);
  await openSubgraph();
  const a2 = await mounts();
  await page.screenshot({ path: join(artifacts, "vue-ids-a2-subgraph.png") });
  check("A, subgraph opened: no grid in a Vue node of another node with its id",
    !a2.canvasShowsRoot && wrongMounts(a2).length === 0, a2);
  // a renderer that draws the opened subgraph shows its Visualizer, grid and all
  check("A, subgraph opened: where the Vue renderer draws the subgraph, its Visualizer's grid is in its own node, drawn (N=5)",
    a2.vueDraws === "root graph" || a2.grids.some((g) => g.owner.startsWith("subgraph") && g.inOwnNode && g.drawn && g.n === 5), a2);
  await backToRoot();
  const a3 = await mounts();
  check("A, back to the root graph: no grid in the root's Note 1", a3.canvasShowsRoot && wrongMounts(a3).length === 0
    && a3.grids.every((g) => g.inVueNode === null), a3);

  // ---- B: Visualizer 1 in the root graph, another Visualizer 1 inside the subgraph ----
  await load(workflow([visualizer(1, 3)], [visualizer(1, 7)]), "posenc-ids-b");
  await page.waitForFunction(() => document.querySelector('.lg-node[data-node-id="1"] .pbc-grid-root'), null,
    { timeout: 20000 }).catch(() => {});
  const b1 = await mounts();
  await page.screenshot({ path: join(artifacts, "vue-ids-b1-root.png") });
  const rootGrid = (m) => m.grids.filter((g) => g.owner.startsWith("root,") && g.inOwnNode && g.drawn && g.n === 3);
  check("B, root graph shown: the root Visualizer's grid is in its own Vue node, drawn (N=3)",
    rootGrid(b1).length === 1, b1);
  check("B, root graph shown: the subgraph Visualizer's grid is in no Vue node",
    wrongMounts(b1).length === 0 && b1.grids.filter((g) => g.inVueNode !== null).length === 1, b1);
  await openSubgraph();
  const b2 = await mounts();
  await page.screenshot({ path: join(artifacts, "vue-ids-b2-subgraph.png") });
  check("B, subgraph opened: one grid per Vue node, each in its owner's",
    wrongMounts(b2).length === 0 && b2.grids.filter((g) => g.inVueNode !== null).length <= 1, b2);
  check("B, subgraph opened: where the Vue renderer draws the subgraph, its Visualizer's grid is in its own node, drawn (N=7)",
    b2.vueDraws === "root graph" || b2.grids.some((g) => g.owner.startsWith("subgraph") && g.inOwnNode && g.drawn && g.n === 7), b2);
  await backToRoot();
  const b3 = await mounts();
  await page.screenshot({ path: join(artifacts, "vue-ids-b3-root.png") });
  check("B, back to the root graph: only the root Visualizer's grid, in its own Vue node",
    rootGrid(b3).length === 1 && wrongMounts(b3).length === 0 && b3.grids.filter((g) => g.inVueNode !== null).length === 1, b3);

  // ---- C: workflow tabs.  Tab C's root graph has only a Note with id 1.  Loading it clears the
  // graph and removes the root graph's nodes, but the nodes inside tab A's and tab B's subgraphs
  // stay alive (with their widgets' timers): none of their grids may come into the Note. ----
  await load(workflow([note(1, "tab C: a Note with the Visualizers' id")], []), "posenc-ids-c");
  const c1 = await mounts();
  await page.screenshot({ path: join(artifacts, "vue-ids-c1-tab.png") });
  check("C, another tab with a Note 1: no grid in it", c1.grids.every((g) => g.inVueNode === null), c1);
  // back to tab B by clicking its tab, as a user does
  await page.locator(".workflow-label:visible", { hasText: "posenc-ids-b" }).first().click({ timeout: 10000 });
  await page.waitForFunction(() => window.app.graph.getNodeById(1)?.type === "BoundaryVisualizer", null, { timeout: 20000 });
  await page.waitForFunction(() => document.querySelector('.lg-node[data-node-id="1"] .pbc-grid-root'), null,
    { timeout: 20000 }).catch(() => {});
  await polls();
  const c2 = await mounts();
  await page.screenshot({ path: join(artifacts, "vue-ids-c2-tab-b-again.png") });
  check("C, tab B clicked again: only its root Visualizer's grid, in its own Vue node",
    rootGrid(c2).length === 1 && wrongMounts(c2).length === 0 && c2.grids.filter((g) => g.inVueNode !== null).length === 1, c2);

  // ---- D: the classic canvas (Vue nodes off) shows the grid of the Visualizer inside tab A's
  // subgraph when that subgraph is opened: the frontend mounts it there (what docs/troubleshooting.md advises). ----
  await page.evaluate(() => window.app.extensionManager.setting.set("Comfy.VueNodes.Enabled", false));
  await page.waitForTimeout(1500);
  await page.locator(".workflow-label:visible", { hasText: "posenc-ids-a" }).first().click({ timeout: 10000 });
  await page.waitForFunction(() => window.app.graph.getNodeById(1)?.type === "Note", null, { timeout: 20000 });
  await openSubgraph();
  await page.evaluate(() => window.app.canvas.setDirty(true, true));
  // the subgraph's Visualizer by type: newer frontends (1.49.6, 1.58.1) renumber a subgraph's
  // nodes on load so that they do not repeat the root graph's ids (its id 1 becomes 3 here)
  await page.waitForFunction(() => {
    const sg = window.app.canvas.graph;
    const w = sg?.nodes.find((n) => n.type === "BoundaryVisualizer")?.widgets?.find((x) => x.name === "pbc_boundary_grid");
    return w?.element.isConnected && w.posencState.draws > 0;
  }, null, { timeout: 20000 }).catch(() => {});
  const d1 = await page.evaluate(() => {
    const sg = window.app.canvas.graph;
    const node = sg.nodes.find((n) => n.type === "BoundaryVisualizer");
    const w = node?.widgets?.find((x) => x.name === "pbc_boundary_grid");
    const r = w?.element.getBoundingClientRect();
    return { canvasShowsRoot: sg === window.app.graph, type: node?.type, id: node?.id, connected: !!w?.element.isConnected,
      inVueNode: !!w?.element.closest(".lg-node"), visible: !!r && r.width > 50 && r.height > 50
        && getComputedStyle(w.element.closest(".dom-widget") ?? w.element).display !== "none",
      drawn: (w?.posencState.draws ?? 0) > 0, n: w?.posencState.plan?.n ?? null };
  });
  await page.screenshot({ path: join(artifacts, "vue-ids-d1-classic-subgraph.png") });
  check("D, classic canvas, tab A's subgraph opened: its Visualizer's grid is shown and drawn (N=5)",
    !d1.canvasShowsRoot && d1.type === "BoundaryVisualizer" && d1.connected && !d1.inVueNode && d1.visible
    && d1.drawn && d1.n === 5, d1);

  const ours = pageErrors.filter((e) => /boundary_grid|boundaries\.js|posenc|pbc/i.test(e));
  results.pageErrors = pageErrors;
  check("no page errors from the pack", ours.length === 0, ours);
  // console warnings and errors (deprecation warnings included) raised from the pack's own files
  results.packConsole = packConsole;
  check("no console warning or error from the pack's files", packConsole.length === 0, packConsole);
} catch (e) {
  check(`ran to the end (${e.message})`, false, String(e.stack ?? e));
} finally {
  console.log(JSON.stringify(results));
  await close();
}
const failed = results.checks.filter((c) => !c.ok);
for (const c of results.checks) console.error(`${c.ok ? "ok  " : "FAIL"} ${c.name}`);
process.exit(failed.length ? 1 : 0);
