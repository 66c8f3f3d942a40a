// Loads workflow JSON files into the real ComfyUI frontend (started by test_host_workflows.py) and
// reports what the frontend made of them: unregistered node types, node and link counts, each
// node's widget values as the frontend saves them (graph.serialize), and the API prompt the frontend itself builds (app.graphToPrompt), which
// the Python test compares with posenc_lab/workflow_format.py's converter; and how its first view
// looks, opened as a file (the stored view) and as a template (the frontend's own template route;
// 1.49 and 1.58 fit the view to the nodes there).  Screenshots of both go to the artifact dir.
//
// Two renderers: the classic canvas (default) and, with --nodes2, Nodes 2.0 (the frontend draws
// each node as a DOM element; 1.49 and 1.58 offer it as a setting, "Modern Node Design (Nodes
// 2.0)"; 1.27 has only a hidden experiment, which counts as not there: nodes2Available false).
// In both, the first view is measured as the user sees it: every node with its title in sight and
// uncovered, no two overlapping, none crossing a group's edge, text drawn (zoom above the canvas's
// low-quality threshold), no title cut short, no text box (notes, prompts) that has to be scrolled
// to read its text.
//
// It also measures the text metrics the layout rules use (posenc_lab/frontend_text.json): the title
// font and each printable ASCII character's width in it, how much of a node's width the title bar
// keeps for itself, and the text boxes' font, line height and insets.
//
// Prints one JSON line: {"workflows": {name: {...}}, "renderer", "nodes2Available", "frontend",
// "text", "pageErrors": [...], "packConsole": [...]} (packConsole: console warnings and errors from
// the pack's own files, browser_launch.mjs).
//
//   node tests/host/browser_workflows.mjs <comfy url> <artifact dir> <chromium> [--nodes2] <workflow.json>...
import { closeDialogs, launchChromium, repeatDeprecationWarnings, watchPackConsole } from "./browser_launch.mjs";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";

const argv = process.argv.slice(2);
const nodes2 = argv.includes("--nodes2");
const [url, artifacts, chromiumPath, ...files] = argv.filter((a) => a !== "--nodes2");
assert.ok(url && artifacts && files.length, "usage: browser_workflows.mjs <url> <dir> <chromium> [--nodes2] <json>...");
mkdirSync(artifacts, { recursive: true });
const { context, page, close } = await launchChromium(chromiumPath, { profilePrefix: "posenc-chromium-", viewport: { width: 1600, height: 1000 } });
const pageErrors = [];
const packConsole = await watchPackConsole(page);
page.on("pageerror", (e) => pageErrors.push(`${current}: ${e.message}\n${(e.stack ?? "").split("\n").slice(0, 4).join("\n")}`));
let current = "startup";
const out = { workflows: {}, renderer: nodes2 ? "nodes2" : "classic", nodes2Available: null, frontend: null, text: null,
  pageErrors, packConsole };
try {
  for (const [key, value] of [["Comfy.TutorialCompleted", true], ["Comfy.VueNodes.Enabled", nodes2]]) {
    await fetch(`${url}api/settings/${key}`, { method: "POST", body: JSON.stringify(value) });
  }
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => window.app?.graph && window.LiteGraph?.registered_node_types?.RedilationPatcher,
    null, { timeout: 120000 });
  await repeatDeprecationWarnings(page);
  // Nodes 2.0 is there when the frontend offers its setting to users (1.27's is "hidden", an experiment)
  Object.assign(out, await page.evaluate(() => {
    const pinia = document.getElementById("vue-app")?.__vue_app__?.config?.globalProperties?.$pinia;
    const def = pinia?._s?.get("setting")?.settingsById?.["Comfy.VueNodes.Enabled"];
    return { nodes2Available: !!def && def.type !== "hidden", frontend: window.__COMFYUI_FRONTEND_VERSION__ ?? null };
  }));
  if (nodes2 && !out.nodes2Available) throw new Error("skip: no Nodes 2.0 in this frontend");
  await page.evaluate(() => document.fonts.ready);
  await closeDialogs(page);
  // Close what a user closes before looking: toasts, the missing-models dialog (GPU workflows), and
  // on newer frontends the "issues found" overlay at the top right (its close button).
  const dismiss = () => closeDialogs(page, { toasts: true });
  // Wait until the view and (Nodes 2.0) the node elements stop moving: the same positions and sizes
  // over 10 polls 100 ms apart, instead of a fixed sleep.
  const settle = async () => {
    await page.evaluate(() => { window.__posencSettle = { sig: null, n: 0 }; });
    await page.waitForFunction(() => {
      const { app } = window;
      const rects = [...document.querySelectorAll(".lg-node[data-node-id], textarea")].map((e) => {
        const r = e.getBoundingClientRect();
        return [r.x, r.y, r.width, r.height].map(Math.round).join(",");
      });
      const sig = JSON.stringify([app.canvas.ds.scale, ...app.canvas.ds.offset, app.graph._nodes.length, rects]);
      const s = window.__posencSettle;
      s.n = sig === s.sig ? s.n + 1 : 0;
      s.sig = sig;
      return s.n >= 10;
    }, null, { polling: 100, timeout: 60000 });
  };
  // The view on screen: every node (with its title bar) must be in sight, uncovered by the
  // frontend's toolbars, no two nodes may overlap, no title cut short, no text box scrolled.
  // Classic canvas: a point is in sight when the topmost element there is the graph canvas or a DOM
  // widget (text box, our grid) on that node; a title is cut when it is wider in the node's title
  // font than the title bar leaves for it (the frontends' drawTitleText: the node's width less two
  // title heights, less any title buttons).  Nodes 2.0: the node's own element must be topmost at
  // its corners (inset past the rounded corners), boxes are the elements' own, and a title is cut
  // when its element overflows (the frontend truncates it with an ellipsis).
  const measure = (ds) => page.evaluate(([ds, nodes2]) => {
    const { app, LiteGraph } = window;
    const canvas = app.canvas.canvas;
    const c = canvas.getBoundingClientRect();
    const view = app.canvas.ds;
    const T = LiteGraph.NODE_TITLE_HEIGHT;
    const screen = (x, y) => [c.left + (x + view.offset[0]) * view.scale, c.top + (y + view.offset[1]) * view.scale];
    const toCanvas = (x, y) => [(x - c.left) / view.scale - view.offset[0], (y - c.top) / view.scale - view.offset[1]];
    const savedId = (id) => (typeof id === "string" && /^-?\d+$/.test(id) ? Number(id) : id);
    const ctx = document.createElement("canvas").getContext("2d");
    const titlesCut = [];
    const nodes = app.graph._nodes.map((n) => {
      const el = nodes2 ? document.querySelector(`.lg-node[data-node-id="${n.id}"]`) : null;
      let x0, y0, x1, y1, box;
      if (nodes2) {
        if (!el) return { id: savedId(n.id), title: n.title, box: null, screen: null, hidden: ["no element"] };
        const r = el.getBoundingClientRect();
        [x0, y0, x1, y1] = [r.left, r.top, r.right, r.bottom];
        box = [...toCanvas(x0, y0), ...toCanvas(x1, y1)];
        const t = el.querySelector('[data-testid="node-title"] .truncate') ?? el.querySelector('[data-testid="node-title"]');
        if (t && t.scrollWidth > t.clientWidth + 0.5) {
          titlesCut.push({ id: savedId(n.id), title: n.title, needs: t.scrollWidth, has: t.clientWidth });
        }
      } else {
        box = [n.pos[0], n.pos[1] - T, n.pos[0] + n.size[0], n.pos[1] + n.size[1]];
        [x0, y0] = screen(box[0], box[1]);
        [x1, y1] = screen(box[2], box[3]);
        ctx.font = n.titleFontStyle ?? n.title_text_font;
        const title = String(n.getTitle?.() ?? n.title ?? "");
        const buttons = (n.title_buttons ?? []).filter((b) => b.visible).reduce((s, b) => s + b.getWidth(ctx) + 2, 0);
        ctx.font = n.titleFontStyle ?? n.title_text_font;
        const has = n.size[0] - 2 * T - (buttons > 0 ? buttons + 10 : 0);
        const needs = ctx.measureText(title).width;
        if (needs > has) titlesCut.push({ id: savedId(n.id), title, needs: Math.round(needs), has });
      }
      const inset = nodes2 ? 6 : 2;
      const seen = (x, y) => {
        const at = document.elementFromPoint(x, y);
        if (!at) return false;
        if (nodes2) return at.closest(".lg-node") === el;
        return at === canvas || !!at.closest(".dom-widget, .dom-widgets, .pbc-grid-root, textarea");
      };
      const pts = [[x0 + inset, y0 + inset], [x1 - inset, y0 + inset], [x0 + inset, y1 - inset], [x1 - inset, y1 - inset],
        [(x0 + x1) / 2, y0 + 6]];
      return { id: savedId(n.id), title: n.title, box, screen: [x0, y0, x1, y1].map(Math.round),
        hidden: pts.filter(([x, y]) => !seen(x, y)).map((p) => p.map(Math.round)) };
    });
    const overlaps = [];
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        const a = nodes[i].box, b = nodes[j].box;
        if (a && b && a[0] < b[2] - 0.5 && b[0] < a[2] - 0.5 && a[1] < b[3] - 0.5 && b[1] < a[3] - 0.5) {
          overlaps.push([nodes[i].title, nodes[j].title]);
        }
      }
    }
    // nodes crossing a group's edge (partly in it, partly out) or under its title bar
    const groupCrossings = [];
    for (const g of app.graph._groups ?? app.graph.groups ?? []) {
      const [gx, gy, gw, gh] = g._bounding ?? [...g.pos, ...g.size];
      const titleH = g.titleHeight ?? (g.font_size ?? 24) * 1.4;
      for (const n of nodes) {
        if (!n.box) continue;
        const [x0, y0, x1, y1] = n.box;
        const inside = gx <= x0 + 0.5 && x1 <= gx + gw + 0.5 && gy <= y0 + 0.5 && y1 <= gy + gh + 0.5;
        const apart = x1 <= gx + 0.5 || gx + gw <= x0 + 0.5 || y1 <= gy + 0.5 || gy + gh <= y0 + 0.5;
        if (!inside && !apart) groupCrossings.push(`${n.title} crosses the edge of group ${g.title}`);
        else if (inside && y0 < gy + titleH - 0.5) groupCrossings.push(`${n.title} is under the title bar of group ${g.title}`);
      }
    }
    // text boxes (notes, prompts) whose text does not fit: the user would have to scroll them
    const textScrolls = [...document.querySelectorAll("textarea")].filter((t) => t.offsetParent)
      .filter((t) => t.scrollHeight > t.clientHeight + 1).map((t) => ({
        node: t.closest(".lg-node")?.dataset.nodeId ?? null, text: t.value.slice(0, 40), excess: t.scrollHeight - t.clientHeight }));
    // the zoom below which the classic canvas draws nodes without text (1.27+: low_quality)
    return { scale: view.scale, offset: [...view.offset], stored: ds, window: [innerWidth, innerHeight],
      canvasRect: [c.left, c.top, c.width, c.height], nodes, overlaps, groupCrossings, titlesCut, textScrolls,
      lowQuality: !!app.canvas.low_quality, textThreshold: app.canvas._lowQualityZoomThreshold || null };
  }, [ds, nodes2]);

  // The text metrics of this frontend and renderer (see the header), from the nodes on screen.
  const textMetrics = () => page.evaluate((nodes2) => {
    const { app, LiteGraph } = window;
    const ctx = document.createElement("canvas").getContext("2d");
    const chars = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));
    const widths = (font) => {
      ctx.font = font;
      return Object.fromEntries(chars.map((ch) => [ch, Math.round(ctx.measureText(ch).width * 1000) / 1000]));
    };
    const cssFont = (cs) => `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
    const lineHeight = (cs) => {
      if (cs.lineHeight !== "normal") return parseFloat(cs.lineHeight);
      const probe = document.createElement("div");
      probe.style.cssText = `position:absolute;visibility:hidden;white-space:pre;font:${cssFont(cs)};line-height:normal`;
      probe.textContent = Array(20).fill("Ag").join("\n");
      document.body.appendChild(probe);
      const h = probe.getBoundingClientRect().height / 20;
      probe.remove();
      return Math.round(h * 1000) / 1000;
    };
    const scale = app.canvas.ds.scale;
    let title;
    if (nodes2) {
      // the title's element is as wide as its text; what the header leaves for it is the node's width
      // less what lies left of the title, right of the header row, and the row's other items
      let font = null, reserve = 0;
      for (const el of document.querySelectorAll(".lg-node[data-node-id]")) {
        const t = el.querySelector('[data-testid="node-title"] .truncate');
        const row = t?.closest(".justify-between");
        if (!t || !row) continue;
        font ??= cssFont(getComputedStyle(t.querySelector("span") ?? t));
        const node = el.getBoundingClientRect(), tr = t.getBoundingClientRect(), rr = row.getBoundingClientRect();
        const gap = parseFloat(getComputedStyle(row).columnGap) || 0;
        const others = [...row.children].filter((k) => !k.contains(t) && k.getBoundingClientRect().width > 0)
          .reduce((s, k) => s + k.getBoundingClientRect().width + gap, 0);
        reserve = Math.max(reserve, ((tr.left - node.left) + (node.right - rr.right) + others) / scale);
      }
      title = { font, reserve: Math.ceil(reserve), widths: font ? widths(font) : null };
    } else {
      const font = app.graph._nodes[0]?.titleFontStyle ?? `${LiteGraph.NODE_TEXT_SIZE}px ${LiteGraph.NODE_FONT}`;
      title = { font, reserve: 2 * LiteGraph.NODE_TITLE_HEIGHT, widths: widths(font) };
    }
    // text boxes: the font, its line height, and what of the node's size the box's text does not get
    let note = null;
    for (const n of app.graph._nodes) {
      if (n.type !== "Note") continue;
      const el = nodes2 ? document.querySelector(`.lg-node[data-node-id="${n.id}"] textarea`)
        : [...document.querySelectorAll("textarea")].find((t) => t.value === n.widgets?.[0]?.value);
      if (!el) continue;
      const cs = getComputedStyle(el);
      const px = (v) => parseFloat(v) || 0;
      const insetW = n.size[0] - (el.clientWidth - px(cs.paddingLeft) - px(cs.paddingRight));
      const insetH = n.size[1] - (el.clientHeight - px(cs.paddingTop) - px(cs.paddingBottom));
      if (note && (note.insetW !== insetW || note.insetH !== insetH)) {
        note.insetW = Math.max(note.insetW, insetW);
        note.insetH = Math.max(note.insetH, insetH);
        continue;
      }
      note ??= { font: cssFont(cs), lineHeight: lineHeight(cs), insetW, insetH, widths: widths(cssFont(cs)) };
    }
    return { title, note };
  }, nodes2);

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
    await settle();
    // the frontend reports schema problems of a loaded workflow in toasts ("Invalid workflow ...")
    result.alerts = await page.locator(".p-toast-message").allInnerTexts();
    await dismiss();
    await settle();
    result.layout = await measure(wf.extra?.ds ?? null);
    out.text ??= await textMetrics();
    if (!out.text.note) out.text = null;     // measured from the first workflow with a note
    await page.screenshot({ path: join(artifacts, `${name}.png`) });
    // Opened from the Templates browser, as a user finds it: the frontend's template route
    // (loadGraphData with openSource "template"; 1.49 and 1.58 fit the view to the nodes there,
    // ignoring the stored one, 1.27 knows no such option and restores it).
    current = `${name} (template)`;
    await page.evaluate(async ([w, n]) => {
      await window.app.loadGraphData(structuredClone(w), true, true, n, { openSource: "template" });
    }, [wf, name]);
    await settle();
    await dismiss();
    await settle();
    result.templateLayout = await measure(wf.extra?.ds ?? null);
    await page.screenshot({ path: join(artifacts, `${name} (template).png`) });
    out.workflows[name] = result;
  }
} catch (e) {
  if (!String(e.message).startsWith("skip:")) throw e;
} finally {
  console.log(JSON.stringify(out));
  await close();
}
