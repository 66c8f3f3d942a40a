// Browse Templates shows the pack's example workflows in their numbered order (01 ... 10), not in the
// server's directory order (see ./template_names.js for why they come unordered).  Every frontend
// from 1.27.10 to 1.58.1 gets the list through api.getWorkflowTemplates() when the templates are first
// needed, after the extensions are loaded; so the pack wraps that method and sorts its own list as
// it arrives.  Feature detection only: without the method (or with a listing of another shape)
// nothing changes.  Other packs' lists are left as they come.
import { api } from "../../scripts/api.js";
import { orderPackTemplates, packFolder } from "./template_names.js";

const FOLDER = packFolder(import.meta.url);
const WRAPPED = Symbol.for("posenc.templateOrder");

function orderTemplatesOf(target) {
  const get = target?.getWorkflowTemplates;
  if (typeof get !== "function" || get[WRAPPED]) return;
  const ordered = async function (...args) {
    return orderPackTemplates(await get.apply(this, args), FOLDER);
  };
  ordered[WRAPPED] = true;
  target.getWorkflowTemplates = ordered;
}

orderTemplatesOf(api);
