// Loads workflow JSON files into the real ComfyUI frontend (started by test_host_workflows.py) and
// reports what the frontend made of them: unregistered node types, node and link counts, each
// node's widget values as the frontend saves them (graph.serialize), and the API prompt the frontend itself builds (app.graphToPrompt), which
// the Python test compares with posenc_lab/workflow_format.py's converter; and how its first view
// looks, opened as a file (the stored view) and as a template (the frontend's own template route;
// 1.49 and 1.58 fit the view to the nodes there).  Screenshots of both go to the artifact dir.
// Prints one JSON line: {"workflows": {name: {...}}, "pageErrors": [...], "packConsole": [...]}
// (packConsole: console warnings and errors from the pack's own files, browser_launch.mjs).
//
//   node tests/host/browser_workflows.mjs <comfy url> <artifact dir> <chromium> <workflow.json>...
import { launchChromium, repeatDeprecationWarnings, watchPackConsole } from "./browser_launch.mjs";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";

const [url, artifacts, chromiumPath, ...files] = process.argv.slice(2);
assert.ok(url && artifacts && files.length, "usage: browser_workflows.mjs <url> <dir> <chromium> <json>...");
mkdirSync(artifacts, { recursive: true });
const { context, page, close } = await launchChromium(chromiumPath, { profilePrefix: "posenc-chromium-", viewport: { width: 1600, height: 1000 } });
const pageErrors = [];
const packConsole = await watchPackConsole(page);
page.on("pageerror", (e) => pageErrors.push(`${current}: ${e.message}\n${(e.stack ?? "").split("\n").slice(0, 4).join("\n")}`));
let current = "startup";
const out = { workflows: {}, pageErrors, packConsole };
try {
  for (const [key, value] of [["Comfy.TutorialCompleted", true], ["Comfy.VueNodes.Enabled", false]]) {
    await fetch(`${url}api/settings/${key}`, { method: "POST", body: JSON.stringify(value) });
  }
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => window.app?.graph && window.LiteGraph?.registered_node_types?.RedilationPatcher,
    null, { timeout: 120000 });
  await repeatDeprecationWarnings(page);
  await page.waitForTimeout(1500);
  for (let i = 0; i < 3 && await page.locator(".p-dialog-mask").count(); i++) {
    await page.keyboard.press("Escape");
    await page.waitForTimeout(300);
  }
  // Close what a user closes before looking: toasts, the missing-models dialog (GPU workflows), and
  // on newer frontends the "issues found" overlay at the top right (its close button).
  const dismiss = async () => {
    await page.evaluate(() => document.querySelectorAll(".p-toast-close-button, [data-testid=error-overlay-dismiss]")
      .forEach((b) => b.click()));
    for (let i = 0; i < 3 && await page.locator(".p-dialog-mask").count(); i++) {
      await page.keyboard.press("Escape");
      await page.waitForTimeout(300);
    }
    await page.waitForTimeout(300);
  };
  // The view on screen: every node (with its title bar) must be in sight, uncovered by the
  // frontend's toolbars, and no two nodes may overlap.  A point is in sight when the topmost
  // element there is the graph canvas or a DOM widget (text box, our grid) on that node.
  const measure = (ds) => page.evaluate((ds) => {
    const { app, LiteGraph } = window;
    const canvas = app.canvas.canvas;
    const c = canvas.getBoundingClientRect();
    const view = app.canvas.ds;
    const T = LiteGraph.NODE_TITLE_HEIGHT;
    const screen = (x, y) => [c.left + (x + view.offset[0]) * view.scale, c.top + (y + view.offset[1]) * view.scale];
    const seen = (x, y) => {
      const el = document.elementFromPoint(x, y);
      return !!el && (el === canvas || !!el.closest(".dom-widget, .dom-widgets, .pbc-grid-root, textarea"));
    };
    const nodes = app.graph._nodes.map((n) => {
      const box = [n.pos[0], n.pos[1] - T, n.pos[0] + n.size[0], n.pos[1] + n.size[1]];
      const [x0, y0] = screen(box[0], box[1]);
      const [x1, y1] = screen(box[2], box[3]);
      const pts = [[x0 + 2, y0 + 2], [x1 - 2, y0 + 2], [x0 + 2, y1 - 2], [x1 - 2, y1 - 2], [(x0 + x1) / 2, y0 + 6]];
      return { id: typeof n.id === "string" && /^-?\d+$/.test(n.id) ? Number(n.id) : n.id, title: n.title, box,
        screen: [x0, y0, x1, y1].map(Math.round), hidden: pts.filter(([x, y]) => !seen(x, y)).map((p) => p.map(Math.round)) };
    });
    const overlaps = [];
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        const a = nodes[i].box, b = nodes[j].box;
        if (a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]) overlaps.push([nodes[i].title, nodes[j].title]);
      }
    }
    // the zoom below which the classic canvas draws nodes without text (1.27+: low_quality)
    return { scale: view.scale, offset: [...view.offset], stored: ds, window: [innerWidth, innerHeight],
      canvasRect: [c.left, c.top, c.width, c.height], nodes, overlaps, lowQuality: !!app.canvas.low_quality,
      textThreshold: app.canvas._lowQualityZoomThreshold || null };
  }, ds);

  for (const file of files) {
    const name = basename(file, ".json");
    current = name;
    const wf = JSON.parse(readFileSync(file, "utf8"));
    const result = await page.evaluate(async (wf) => {
      const { app, LiteGraph } = window;
      const frontendOnly = new Set(["Note", "MarkdownNote"]);
      const unregistered = wf.nodes.map((n) => n.type).filter((t) => !LiteGraph.registered_node_types[t]);
      await app.loadGraphData(structuredClone(wf), true, true, null);
      // node ids as saved: numbers on 1.27; newer frontends keep them as strings at run time and
      // save integral ones as numbers (serializeNodeId), so "7" is reported as 7
      const savedId = (id) => (typeof id === "string" && /^-?\d+$/.test(id) ? Number(id) : id);
      const nodes = app.graph._nodes.map((n) => ({
        id: savedId(n.id), type: n.type,
        widgets: (n.widgets ?? []).filter((w) => w.type !== "button").map((w) => w.value),
        widgetNames: (n.widgets ?? []).map((w) => w.name),
        // through the graph API: input.link is deprecated on 1.58
        inputs: (n.inputs ?? []).map((i, k) => ({ name: i.name, type: i.type, link: n.getInputLink(k)?.id ?? null })),
      }));
      const prompt = await app.graphToPrompt();
      const saved = Object.fromEntries(app.graph.serialize().nodes.map((n) => [n.id, n.widgets_values ?? []]));
      return { unregistered, nodes, saved, links: Object.keys(app.graph.links ?? {}).length
        || app.graph.links?.size || 0, prompt: prompt.output,
        frontendOnly: nodes.filter((n) => frontendOnly.has(n.type)).length };
    }, wf);
    await page.waitForTimeout(800);
    // the frontend reports schema problems of a loaded workflow in toasts ("Invalid workflow ...")
    result.alerts = await page.locator(".p-toast-message").allInnerTexts();
    await dismiss();
    result.layout = await measure(wf.extra?.ds ?? null);
    await page.screenshot({ path: join(artifacts, `${name}.png`) });
    // Opened from the Templates browser, as a user finds it: the frontend's template route
    // (loadGraphData with openSource "template"; 1.49 and 1.58 fit the view to the nodes there,
    // ignoring the stored one, 1.27 knows no such option and restores it).
    current = `${name} (template)`;
    await page.evaluate(async ([w, n]) => {
      await window.app.loadGraphData(structuredClone(w), true, true, n, { openSource: "template" });
    }, [wf, name]);
    await page.waitForTimeout(1200);
    await dismiss();
    result.templateLayout = await measure(wf.extra?.ds ?? null);
    await page.screenshot({ path: join(artifacts, `${name} (template).png`) });
    out.workflows[name] = result;
  }
} finally {
  console.log(JSON.stringify(out));
  await close();
}
