// The pack's workflows as a user finds them: opens the real frontend's Templates browser (started by
// test_host_templates.py), picks the pack's folder, and reports the cards' order and which thumbnails
// the frontend fetched (HTTP status, picture drawn); then opens the given workflows from their cards,
// as a user would, and reports what the frontend lists as missing models (1.27: the Missing Models
// dialog; 1.49 and 1.58: the "issues found" card's details, the Errors panel).  Screenshots go to
// the artifact dir.  Prints one JSON line: {"frontend", "order", "thumbnails", "missing", "pageErrors"}.
//
//   node tests/host/browser_templates.mjs <comfy url> <artifact dir> <chromium> <pack folder> [<workflow name>...]
import { closeDialogs, launchChromium } from "./browser_launch.mjs";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [url, artifacts, chromiumPath, folder, ...open] = process.argv.slice(2);
assert.ok(url && artifacts && folder, "usage: browser_templates.mjs <url> <dir> <chromium> <pack folder> [<name>...]");
mkdirSync(artifacts, { recursive: true });
const { page, close } = await launchChromium(chromiumPath, { profilePrefix: "posenc-templates-", viewport: { width: 1600, height: 1000 } });
const TITLE = /^\d\d (CPU|GPU), /;
const thumbs = {};          // workflow name -> HTTP status of its <name>.jpg
const pageErrors = [];
let phase = "startup";
page.on("pageerror", (e) => pageErrors.push(`${phase}: ${e.message}\n${(e.stack ?? "").split("\n").slice(1, 4).join("\n")}`));
page.on("response", (r) => {
  const path = decodeURIComponent(new URL(r.url()).pathname);
  const prefix = `/workflow_templates/${folder}/`;
  const i = path.indexOf(prefix);
  if (i >= 0 && path.endsWith(".jpg")) thumbs[path.slice(i + prefix.length, -4)] = r.status();
});
const out = { frontend: null, order: [], thumbnails: thumbs, missing: {}, pageErrors };

async function openPackTemplates() {
  await closeDialogs(page);
  await page.evaluate(() => window.app.extensionManager.command.execute("Comfy.BrowseTemplates"));
  // 1.27: "Custom Nodes" -> the folder; 1.49 and 1.58: "Extensions" -> the folder
  const item = page.getByText(folder, { exact: true }).first();
  await item.waitFor({ timeout: 30000 });
  await item.click();
  await page.getByText(TITLE).first().waitFor({ timeout: 30000 });
  await page.waitForTimeout(1000);
}

async function cardTitles() {
  return page.evaluate((re) => {
    const title = new RegExp(re);
    const seen = [];
    for (const el of document.querySelectorAll("body *")) {
      const t = el.children.length ? "" : el.textContent.trim();
      if (title.test(t) && !seen.includes(t)) seen.push(t);   // 1.27 repeats the title as description
    }
    return seen;
  }, TITLE.source);
}

// Frontend 1.27 renders the template cards a page (12) at a time and adds the next page when the
// last card scrolls into view; a user scrolls.  So does this: until no new card appears.
async function allCardTitles(until = null) {
  let seen = await cardTitles();
  for (let i = 0; i < 20 && seen.length && !(until && seen.includes(until)); i++) {
    const last = page.getByText(seen[seen.length - 1], { exact: true }).first();
    await last.scrollIntoViewIfNeeded();
    // a reopened dialog keeps its scroll position, where the last card is already in view and no
    // scroll event comes: wheel over it, as a user does
    const box = await last.boundingBox();
    if (box) {
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await page.mouse.wheel(0, 1500);
    }
    // the next page, if there is one, arrives after the scroll: wait for it (a condition, not a sleep)
    const grew = await page.waitForFunction(([re, n]) => {
      const title = new RegExp(re), seen = new Set();
      for (const el of document.querySelectorAll("body *"))
        if (!el.children.length && title.test(el.textContent.trim())) seen.add(el.textContent.trim());
      return seen.size > n;
    }, [TITLE.source, seen.length], { timeout: 8000 }).then(() => true, () => false);
    if (!grew) break;
    seen = await cardTitles();
  }
  return seen;
}

try {
  for (const [key, value] of [["Comfy.TutorialCompleted", true], ["Comfy.VueNodes.Enabled", false]]) {
    await fetch(`${url}api/settings/${key}`, { method: "POST", body: JSON.stringify(value) });
  }
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => window.app?.graph && window.LiteGraph?.registered_node_types?.RedilationPatcher,
    null, { timeout: 120000 });
  out.frontend = await page.evaluate(() => window.__COMFYUI_FRONTEND_VERSION__ ?? null);
  await page.waitForTimeout(1500);
  phase = "templates";
  await openPackTemplates();
  out.order = await allCardTitles();
  // every card into view (thumbnails load lazily), then what each card's picture is
  for (const name of out.order) {
    await page.getByText(name, { exact: true }).first().scrollIntoViewIfNeeded();
    await page.waitForTimeout(1200);
    await page.screenshot({ path: join(artifacts, `templates ${name.slice(0, 2)}.png`) });
  }
  for (const name of open) {
    phase = name;
    await openPackTemplates();
    await allCardTitles(name);
    const card = page.getByText(name, { exact: true }).first();
    await card.scrollIntoViewIfNeeded();
    await card.click();
    await page.waitForFunction((n) => [...document.querySelectorAll("body *")].some(
      (el) => !el.children.length && el.textContent.includes(n.slice(0, 12)) && !el.closest("[role=dialog]")),
    name, { timeout: 30000 }).catch(() => {});
    await page.waitForTimeout(3000);
    const details = page.getByText("View details", { exact: true });   // 1.49, 1.58: the "issues found" card
    if (await details.count()) {
      await details.first().click();
      await page.waitForTimeout(2000);
    }
    await page.screenshot({ path: join(artifacts, `missing ${name.slice(0, 2)}.png`) });
    out.missing[name] = await page.evaluate(() => {
      const text = document.body.innerText;
      const i = text.indexOf("Missing Models");
      return i < 0 ? "" : text.slice(i, i + 2000);
    });
    await closeDialogs(page);
  }
} finally {
  console.log(JSON.stringify(out));
  await close();
}
