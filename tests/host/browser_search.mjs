// Browser test of the node search in a running ComfyUI (started by test_browser_search.py).
//
//   node tests/host/browser_search.mjs <comfy url> <artifact dir> [chromium path] -- <query>...
//
// For each query: double-clicks the empty canvas (which opens the node search box the frontend
// uses by default: v1 on 1.27, v2 on 1.49 and 1.58, found by its markup), types the query as a
// user would, reads the display names the result list shows, in order, and how often the frontend
// counts each node as used; then closes the box with Escape.  Prints one JSON line {"results":
// {query: [names]}, "boxes": {query: "v1"|"v2"}, "frequencies": {name: count}, "keys": [the fields
// the frontend searches], "frontend": version} and saves a screenshot of each result list.
//
// Nothing waits a fixed time, and the double-click does not depend on how fast the page takes
// it (see dblclick below): the frontend ranks results partly by how often nodes are used, from a
// table it loads once the graph is ready, so the queries wait until that table is loaded; after
// typing, the list is read once it shows what the frontend's own search gives for the whole query
// (not for a prefix still being typed); before the next double-click, the box must be closed and
// the canvas the topmost element where it lands (a double-click on a dialog still fading out never
// reaches the canvas).  POSENC_CPU_THROTTLE=<n> slows
// the page's CPU n times (Chromium's CPU throttling), as a loaded machine does.
import { launchChromium } from "./browser_launch.mjs";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const argv = process.argv.slice(2);
const sep = argv.indexOf("--");
const [url, artifacts, chromiumPath = "/usr/bin/chromium"] = argv.slice(0, sep < 0 ? argv.length : sep);
const queries = sep < 0 ? [] : argv.slice(sep + 1);
assert.ok(url && artifacts && queries.length, "usage: browser_search.mjs <url> <artifacts> [chromium] -- <query>...");
mkdirSync(artifacts, { recursive: true });

const { context, page, close } = await launchChromium(chromiumPath, { profilePrefix: "posenc-search-chromium-" });
const results = {};
const boxes = {};
const V1_INPUT = ".comfy-vue-node-search-container input";
const V2_INPUT = '[role="search"] input[role="combobox"]';
const V2_ITEM = '[data-testid="result-item"]';
const INPUT = `:is(${V1_INPUT}, ${V2_INPUT})`;
const LIMIT = 64;                 // both boxes ask the search for 64 results
try {
  for (const [key, value] of [["Comfy.TutorialCompleted", true], ["Comfy.VueNodes.Enabled", false],
    ["Comfy.NodeSearchBoxImpl", "default"]]) {
    await fetch(`${url}api/settings/${key}`, { method: "POST", body: JSON.stringify(value) });
  }
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => window.app?.graph && window.LiteGraph?.registered_node_types?.PBCModelPatcher,
    null, { timeout: 90000 });
  // the frontend's stores (Pinia): its node search service and its table of how often nodes are used
  await page.evaluate(() => {
    const pinia = document.getElementById("vue-app").__vue_app__.config.globalProperties.$pinia;
    window.__posencStore = (id) => pinia._s.get(id);
  });
  await page.waitForFunction(() => window.__posencStore("nodeFrequency")?.isLoaded === true, null, { timeout: 90000 });
  const throttle = Number(process.env.POSENC_CPU_THROTTLE || 0);
  if (throttle > 1) {
    await (await context.newCDPSession(page)).send("Emulation.setCPUThrottlingRate", { rate: throttle });
  }
  for (let i = 0; i < 3 && await page.locator(".p-dialog-mask").count(); i++) {
    await page.keyboard.press("Escape");
    await page.locator(".p-dialog-mask").first().waitFor({ state: "detached", timeout: 30000 }).catch(() => {});
  }
  await page.evaluate(() => { window.app.graph.clear(); window.app.canvas.setDirty(true, true); });
  const box = await page.locator("#graph-canvas").boundingBox();
  const [cx, cy] = [box.x + box.width / 2, box.y + box.height / 2];
  // A double-click as a mouse makes it: the four events stamped 30-110 ms apart when they happen.
  // The canvas tells a double-click by those stamps (300 ms at most between the two presses);
  // Playwright's own dblclick waits for the page to take each event before sending the next, so on
  // a busy machine its presses were stamped further apart and the canvas saw two single clicks.
  const cdp = await context.newCDPSession(page);
  const dblclick = async (x, y) => {
    const t0 = Date.now() / 1000;
    const send = (type, clickCount, dt) => cdp.send("Input.dispatchMouseEvent", {
      type, x, y, button: "left", buttons: type === "mousePressed" ? 1 : 0, clickCount, timestamp: t0 + dt });
    await Promise.all([send("mousePressed", 1, 0), send("mouseReleased", 1, 0.03),
      send("mousePressed", 2, 0.08), send("mouseReleased", 2, 0.11)]);
  };
  for (const [i, query] of queries.entries()) {
    // the double-click must land on the canvas, not on the last box's dialog still fading out
    await page.waitForFunction(([x, y]) => document.elementFromPoint(x, y) === window.app.canvas.canvas, [cx, cy],
      { timeout: 60000, polling: 100 });
    await dblclick(cx, cy);
    // The search box the frontend opens by default: "v1" on 1.27 (.comfy-vue-node-search-container,
    // names in .option-display-name), "v2" on newer ones (a [role=search] dialog, a combobox input,
    // results [data-testid=result-item], each name in its first span.truncate).
    const input = page.locator(INPUT).first();
    await input.waitFor({ state: "visible", timeout: 60000 }).catch(async (e) => {
      await page.screenshot({ path: join(artifacts, `search_${i}_no_box.png`) });
      throw e;
    });
    const kind = await page.locator(V1_INPUT).count() ? "v1" : "v2";   // v1's input has role=combobox too
    boxes[query] = kind;
    await input.fill("");
    await input.pressSequentially(query, { delay: 40 });
    // The list once it answers the whole query: the names the frontend's own search gives for it, in
    // its order, as far as the list shows them (none, when it finds nothing).
    const item = kind === "v2" ? V2_ITEM : ".option-display-name";
    await page.waitForFunction(([query, item, v2, limit]) => {
      const svc = window.__posencStore("nodeDef").nodeSearchService;
      const want = svc.searchNode(query, [], { limit }).map((d) => d.display_name);
      const shown = [...document.querySelectorAll(item)].map((e) =>
        ((v2 ? e.querySelector("span.truncate") : e)?.textContent ?? "").replace(/\s+/g, " ").trim());
      if (document.querySelector(":is(.comfy-vue-node-search-container input, [role='search'] input[role='combobox'])")?.value !== query) return false;
      if (!want.length) return shown.length === 0;
      return shown.length > 0 && shown.length <= want.length && shown.every((s, k) => s.startsWith(want[k]));
    }, [query, item, kind === "v2", LIMIT], { timeout: 60000, polling: 100 });
    // v2: the name is the item's first span.truncate (the category and badges come after it)
    results[query] = await page.locator(item).evaluateAll((els, v2) => els.map((e) =>
      ((v2 ? e.querySelector("span.truncate") : e)?.textContent ?? "").replace(/\s+/g, " ").trim()), kind === "v2");
    await page.screenshot({ path: join(artifacts, `search_${i}_${query.replace(/\W+/g, "_")}.png`) });
    await page.keyboard.press("Escape");
    await input.waitFor({ state: "hidden", timeout: 60000 });
  }
  const extra = await page.evaluate(() => {
    const svc = window.__posencStore("nodeDef").nodeSearchService;
    const freq = window.__posencStore("nodeFrequency");
    const defs = window.__posencStore("nodeDef").nodeDefsByName ?? {};
    return {
      keys: svc.nodeFuseSearch?.keys ?? [],
      frequencies: Object.fromEntries(Object.values(defs).map((d) => [d.display_name, freq.getNodeFrequencyByName(d.name)])),
      frontend: window.__COMFYUI_FRONTEND_VERSION__ ?? null,
    };
  });
  console.log(JSON.stringify({ results, boxes, ...extra }));
} finally {
  await close();
}
