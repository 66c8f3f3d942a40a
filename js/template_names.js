// The order of the pack's example workflows under Browse Templates.  No imports: the rule is tested
// by node --test (js/tests/template_names.test.mjs) and used by js/template_order.js.
//
// ComfyUI's GET /workflow_templates answers {custom node folder: [workflow names]}, each list built
// with glob.glob and never sorted, so it comes in the file system's directory order (on ext4 a hash
// order: 01, 08, 07, 10, 04, ...).  Frontends 1.27.10, 1.49.6 and 1.58.1 show a pack's templates in
// exactly that order (1.49 and 1.58 with their "Default" sort, which keeps the list as it came).
// The workflows' names are numbered (tools/make_workflows.py), so their order is the names'.

const NUMBERED = new Intl.Collator("en", { numeric: true });

/** The names sorted by their number ("2 ..." before "10 ..."), then by the rest. */
export function numberedOrder(names) {
  return [...names].sort(NUMBERED.compare);
}

/**
 * The folder name ComfyUI serves this pack's web files under, from the URL of one of them:
 * /extensions/<folder>/<file>.js (after any path ComfyUI is served under).  That is the key of the
 * pack's list in GET /workflow_templates: both are the basename of the pack's folder.
 */
export function packFolder(moduleUrl) {
  const parts = new URL(moduleUrl).pathname.split("/");
  const i = parts.lastIndexOf("extensions");
  return i >= 0 && i + 2 < parts.length ? decodeURIComponent(parts[i + 1]) : null;
}

/**
 * The listing with `folder`'s list in numbered order; anything else (other packs' lists, a listing
 * of another shape) as it came.  The same object when there is nothing to change.
 */
export function orderPackTemplates(listing, folder) {
  if (!folder || !listing || typeof listing !== "object" || Array.isArray(listing)) return listing;
  const names = listing[folder];
  if (!Array.isArray(names) || !names.every((n) => typeof n === "string")) return listing;
  const sorted = numberedOrder(names);
  if (sorted.every((n, i) => n === names[i])) return listing;
  return { ...listing, [folder]: sorted };
}
