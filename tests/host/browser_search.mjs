// Browser test of the node search in a running ComfyUI (started by test_browser_search.py).
//
//   node tests/host/browser_search.mjs <comfy url> <artifact dir> [chromium path] -- <query>...
//
// For each query: double-clicks the empty canvas (which opens the node search box the frontend
// uses by default: v1 on 1.27, v2 on 1.49 and 1.58, found by its markup), types the query as a
// user would, waits for the result list and reads the display names it shows, in order; then
// closes the box with Escape.  Prints one JSON line {"results": {query: [names]}, "boxes":
// {query: "v1"|"v2"}} and saves a screenshot of each result list to the artifact dir.
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
try {
  for (const [key, value] of [["Comfy.TutorialCompleted", true], ["Comfy.VueNodes.Enabled", false],
    ["Comfy.NodeSearchBoxImpl", "default"]]) {
    await fetch(`${url}api/settings/${key}`, { method: "POST", body: JSON.stringify(value) });
  }
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => window.app?.graph && window.LiteGraph?.registered_node_types?.PBCModelPatcher,
    null, { timeout: 90000 });
  await page.waitForTimeout(1500);
  for (let i = 0; i < 3 && await page.locator(".p-dialog-mask").count(); i++) {
    await page.keyboard.press("Escape");
    await page.waitForTimeout(300);
  }
  await page.evaluate(() => { window.app.graph.clear(); window.app.canvas.setDirty(true, true); });
  const box = await page.locator("#graph-canvas").boundingBox();
  for (const [i, query] of queries.entries()) {
    await page.mouse.dblclick(box.x + box.width / 2, box.y + box.height / 2);
    // The search box the frontend opens by default: "v1" on 1.27 (.comfy-vue-node-search-container,
    // names in .option-display-name), "v2" on newer ones (a [role=search] dialog, a combobox input,
    // results [data-testid=result-item], each name in its first span.truncate).
    const input = page.locator(`:is(${V1_INPUT}, ${V2_INPUT})`).first();
    await input.waitFor({ state: "visible", timeout: 15000 });
    const kind = await page.locator(V1_INPUT).count() ? "v1" : "v2";   // v1's input has role=combobox too
    boxes[query] = kind;
    await input.fill("");
    await input.pressSequentially(query, { delay: 40 });
    await page.waitForTimeout(800);                       // the search runs on each keystroke
    // no result at all is an answer too (the list stays empty): record it, do not fail here
    const item = kind === "v2" ? V2_ITEM : ".option-display-name";
    await page.locator(item).first().waitFor({ timeout: 8000 }).catch(() => {});
    // v2: the name is the item's first span.truncate (the category and badges come after it)
    results[query] = await page.locator(item).evaluateAll((els, v2) => els.map((e) =>
      ((v2 ? e.querySelector("span.truncate") : e)?.textContent ?? "").replace(/\s+/g, " ").trim()), kind === "v2");
    await page.screenshot({ path: join(artifacts, `search_${i}_${query.replace(/\W+/g, "_")}.png`) });
    await page.keyboard.press("Escape");
    await page.waitForTimeout(400);
  }
  console.log(JSON.stringify({ results, boxes }));
} finally {
  await close();
}
