// js/vue_mount.js: the Vue node element of a node, found by graph and id.  Run: node --test js/tests/
// (The browser test tests/host/browser_vue_ids.mjs checks the same in the real frontend.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { isVueElementOf, mountedByFrontend, vueElementOf } from "../vue_mount.js";

// A graph that holds nodes by id, as LiteGraph's getNodeById does.
function graph(name) {
  const byId = new Map();
  return {
    name,
    add(node) { node.graph = this; byId.set(String(node.id), node); return node; },
    getNodeById(id) { return byId.get(String(id)) ?? null; },
  };
}
const element = (id) => ({ getAttribute: (k) => (k === "data-node-id" ? String(id) : null) });
const page = (...els) => ({ querySelectorAll: (sel) => (sel === ".lg-node[data-node-id]" ? els : []) });

test("a node inside a subgraph is not mounted in the root graph's node with the same id", () => {
  const root = graph("root");
  const sub = graph("subgraph");
  const note = root.add({ id: 1, type: "Note" });
  const viz = sub.add({ id: 1, type: "BoundaryVisualizer" });
  const doc = page(element(1));
  // the root graph on the canvas; and the subgraph opened, while 1.27 still draws the root's nodes
  assert.equal(vueElementOf(viz, root, root, doc), null);
  assert.equal(vueElementOf(viz, root, sub, doc), null);
  assert.equal(isVueElementOf(doc.querySelectorAll(".lg-node[data-node-id]")[0], viz, root), false);
  assert.ok(note);
});

test("the root graph's node gets its own element, and keeps it while a subgraph is open", () => {
  const root = graph("root");
  const sub = graph("subgraph");
  const viz = root.add({ id: 7, type: "BoundaryVisualizer" });
  sub.add({ id: 7, type: "BoundaryVisualizer" });
  const mine = element(7);
  const doc = page(element(3), mine);
  assert.equal(vueElementOf(viz, root, root, doc), mine);
  assert.equal(vueElementOf(viz, root, sub, doc), null);   // no new mount while the canvas shows another graph
  assert.equal(isVueElementOf(mine, viz, root), true);      // an existing mount stays
  assert.equal(isVueElementOf(element(3), viz, root), false);
  assert.equal(vueElementOf(viz, root, root, page(element(3))), null);   // not on screen
});

test("a node that is no longer its graph's node under its id, or has no graph, gets nothing", () => {
  const root = graph("root");
  const stale = root.add({ id: 2, type: "BoundaryVisualizer" });
  root.add({ id: 2, type: "Note" });   // e.g. the tab's graph cleared and loaded again
  const doc = page(element(2));
  assert.equal(vueElementOf(stale, root, root, doc), null);
  assert.equal(isVueElementOf(element(2), stale, root), false);
  const removed = { id: 2, graph: null };
  assert.equal(vueElementOf(removed, root, root, doc), null);
  assert.equal(vueElementOf(stale, null, null, doc), null);
});

test("a grid the frontend put in a Vue node counts as the frontend's mount, the fallback's does not", () => {
  const el = (inVue, mark) => ({ isConnected: true, dataset: mark ? { pbcMount: mark } : {},
    closest: (sel) => (sel === ".lg-node" && inVue ? {} : null) });
  assert.equal(mountedByFrontend(el(true)), true);
  assert.equal(mountedByFrontend(el(true, "vue-fallback")), false);
  assert.equal(mountedByFrontend(el(false)), false);              // classic canvas: not a Vue node
  assert.equal(mountedByFrontend({ ...el(true), isConnected: false }), false);
  assert.equal(mountedByFrontend(null), false);
});
