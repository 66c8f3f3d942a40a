// js/template_names.js: the pack's workflows in numbered order under Browse Templates.  Run: node --test js/tests/
import { test } from "node:test";
import assert from "node:assert/strict";
import { numberedOrder, orderPackTemplates, packFolder } from "../template_names.js";

// what ComfyUI served on ext4 here (glob.glob: directory order)
const SERVED = ["01 CPU, a", "08 GPU, h", "07 GPU, g", "10 GPU, j", "04 CPU, d", "06 GPU, f", "09 GPU, i",
  "03 CPU, c", "02 CPU, b", "05 GPU, e"];

test("numbered order: by the number, 10 after 9", () => {
  assert.deepEqual(numberedOrder(SERVED).map((n) => n.slice(0, 2)),
    ["01", "02", "03", "04", "05", "06", "07", "08", "09", "10"]);
  assert.deepEqual(numberedOrder(["10 x", "9 x", "1 x"]), ["1 x", "9 x", "10 x"]);
});

test("the pack's folder from its web file's URL, also under a path prefix and with spaces", () => {
  assert.equal(packFolder("http://127.0.0.1:8188/extensions/ComfyUI-posenc/template_order.js"), "ComfyUI-posenc");
  assert.equal(packFolder("https://h/comfy/api/extensions/my%20pack/sub/x.js"), "my pack");
  assert.equal(packFolder("http://h/scripts/app.js"), null);
  assert.equal(packFolder("http://h/extensions/x.js"), null);
});

test("only the pack's own list is sorted; other packs' lists and their order stay", () => {
  const other = ["b", "a"];
  const listing = { "other-pack": other, "ComfyUI-posenc": SERVED, last: ["z"] };
  const out = orderPackTemplates(listing, "ComfyUI-posenc");
  assert.deepEqual(Object.keys(out), ["other-pack", "ComfyUI-posenc", "last"]);
  assert.equal(out["other-pack"], other);
  assert.deepEqual(out["ComfyUI-posenc"], numberedOrder(SERVED));
  assert.deepEqual(listing["ComfyUI-posenc"], SERVED, "the server's answer is not changed in place");
});

test("anything unexpected passes through unchanged", () => {
  const sorted = { p: ["01 a", "02 b"] };
  assert.equal(orderPackTemplates(sorted, "p"), sorted);
  for (const listing of [null, undefined, [], "x", { q: ["02", "01"] }, { p: "01 a" }, { p: [1, 2] }]) {
    assert.equal(orderPackTemplates(listing, "p"), listing);
  }
  const l = { p: ["02", "01"] };
  assert.equal(orderPackTemplates(l, null), l);
});
