// Which Vue node element the boundary grid (./boundary_grid.js) may put itself in.  A pure module
// (no ComfyUI imports), tested by node --test (js/tests/vue_mount.test.mjs).
//
// Only for the 1.27 frontend line (ComfyUI 0.3.64, frontend 1.27.10): its Vue node renderer does not
// mount custom DOM widgets (its DOM-widget layer is rendered only while Vue nodes are off), so the
// widget appends its element to its node's Vue element itself.  Newer frontends (1.49.6, 1.58.1
// tested) mount DOM widgets in Vue nodes themselves, draw the graph the canvas shows and number the
// nodes of a subgraph apart from the root graph's; the widget then leaves mounting to them.  Those elements carry only the
// node id (data-node-id), and ids repeat across graphs:
// * a subgraph numbers its nodes on its own, so node 1 of the root graph and node 1 inside a
//   subgraph are different nodes;
// * switching workflow tabs clears the one root graph and removes its own nodes, but the nodes
//   inside the old workflow's subgraphs stay alive (with their widgets);
// * the 1.27 renderer draws the nodes of the root graph (app.graph) whatever the canvas shows:
//   opening a subgraph leaves the root graph's Vue nodes on screen.
// So an element with id N is this node's only if the root graph holds this very node under N.

/** Whether the Vue element `el` stands for `node`: its id is the node's and the root graph holds
 * this node object under that id. */
export function isVueElementOf(el, node, rootGraph) {
  if (!el || !node || !rootGraph || node.graph !== rootGraph) return false;
  if (rootGraph.getNodeById?.(node.id) !== node) return false;
  return el.getAttribute?.("data-node-id") === String(node.id);
}

/** The Vue element to mount `node`'s widget in, or null: found by graph and id, and only while the
 * canvas shows the root graph (then a renderer that draws the canvas's graph instead of the root's
 * draws the same nodes).  `doc` is the document (anything with querySelectorAll). */
export function vueElementOf(node, rootGraph, canvasGraph, doc) {
  if (!rootGraph || canvasGraph !== rootGraph || node?.graph !== rootGraph) return null;
  if (rootGraph.getNodeById?.(node.id) !== node) return null;
  const id = String(node.id);
  const el = Array.from(doc.querySelectorAll(".lg-node[data-node-id]"))
    .find((e) => e.getAttribute("data-node-id") === id);
  return el && isVueElementOf(el, node, rootGraph) ? el : null;
}

/** Whether `el` (a widget's element) sits in a Vue node element put there by the frontend itself,
 * not by the pack's fallback (which marks its mounts with data-pbc-mount="vue-fallback"). */
export function mountedByFrontend(el) {
  return !!el?.isConnected && !!el.closest?.(".lg-node") && el.dataset?.pbcMount !== "vue-fallback";
}
