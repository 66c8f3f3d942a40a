// Loads workflow JSON files into the real ComfyUI frontend (started by test_host_workflows.py) and
// reports what the frontend made of them: unregistered node types, node and link counts, each
// node's widget values as the frontend saves them (graph.serialize), and the API prompt the frontend itself builds (app.graphToPrompt), which
// the Python test compares with posenc_lab/workflow_format.py's converter.  Screenshots go to the
// artifact dir.  Prints one JSON line: {"workflows": {name: {...}}, "pageErrors": [...]}.
//
//   node tests/host/browser_workflows.mjs <comfy url> <artifact dir> <chromium> <workflow.json>...
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { createRequire } from "node:module";

const [url, artifacts, chromiumPath, ...files] = process.argv.slice(2);
assert.ok(url && artifacts && files.length, "usage: browser_workflows.mjs <url> <dir> <chromium> <json>...");
mkdirSync(artifacts, { recursive: true });
const require = createRequire(join(process.env.PLAYWRIGHT_CORE_DIR || process.cwd(), "noop.js"));
const { chromium } = require("playwright-core");

const userDataDir = mkdtempSync(join(tmpdir(), "posenc-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: chromiumPath, headless: true, viewport: { width: 1600, height: 1000 },
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = context.pages()[0] ?? (await context.newPage());
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(`${current}: ${e.message}\n${(e.stack ?? "").split("\n").slice(0, 4).join("\n")}`));
let current = "startup";
const out = { workflows: {}, pageErrors };
try {
  for (const [key, value] of [["Comfy.TutorialCompleted", true], ["Comfy.VueNodes.Enabled", false]]) {
    await fetch(`${url}api/settings/${key}`, { method: "POST", body: JSON.stringify(value) });
  }
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => window.app?.graph && window.LiteGraph?.registered_node_types?.RedilationPatcher,
    null, { timeout: 120000 });
  await page.waitForTimeout(1500);
  for (let i = 0; i < 3 && await page.locator(".p-dialog-mask").count(); i++) {
    await page.keyboard.press("Escape");
    await page.waitForTimeout(300);
  }
  for (const file of files) {
    const name = basename(file, ".json");
    current = name;
    const wf = JSON.parse(readFileSync(file, "utf8"));
    const result = await page.evaluate(async (wf) => {
      const { app, LiteGraph } = window;
      const frontendOnly = new Set(["Note", "MarkdownNote"]);
      const unregistered = wf.nodes.map((n) => n.type).filter((t) => !LiteGraph.registered_node_types[t]);
      await app.loadGraphData(structuredClone(wf), true, true, null);
      const nodes = app.graph._nodes.map((n) => ({
        id: n.id, type: n.type,
        widgets: (n.widgets ?? []).filter((w) => w.type !== "button").map((w) => w.value),
        inputs: (n.inputs ?? []).map((i) => ({ name: i.name, type: i.type, link: i.link })),
      }));
      const prompt = await app.graphToPrompt();
      const saved = Object.fromEntries(app.graph.serialize().nodes.map((n) => [n.id, n.widgets_values ?? []]));
      return { unregistered, nodes, saved, links: Object.keys(app.graph.links ?? {}).length
        || app.graph.links?.size || 0, prompt: prompt.output,
        frontendOnly: nodes.filter((n) => frontendOnly.has(n.type)).length };
    }, wf);
    await page.waitForTimeout(500);
    // the frontend reports schema problems of a loaded workflow in toasts ("Invalid workflow ...")
    result.alerts = await page.locator(".p-toast-message").allInnerTexts();
    await page.screenshot({ path: join(artifacts, `${name}.png`) });
    await page.evaluate(() => document.querySelectorAll(".p-toast-close-button").forEach((b) => b.click()));
    for (let i = 0; i < 3 && await page.locator(".p-dialog-mask").count(); i++) {
      await page.keyboard.press("Escape");
      await page.waitForTimeout(300);
    }
    out.workflows[name] = result;
  }
} finally {
  console.log(JSON.stringify(out));
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
