// Old saves of the pack's nodes keep their values after the seed inputs were renamed (see
// ./saved_values.js): drop the stale "control after generate" value before the node configures.
import { app } from "../../scripts/app.js";
import { RENAMED_SEEDS, dropStaleSeedControl, renameSeedSockets } from "./saved_values.js";

app.registerExtension({
  name: "posenc.SeedRename",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!RENAMED_SEEDS[nodeData?.name]) return;
    const configure = nodeType.prototype.configure;
    nodeType.prototype.configure = function (info, ...rest) {
      if (info && typeof info === "object") {
        const names = (this.widgets ?? []).filter((w) => w.serialize !== false).map((w) => w.name);
        const values = dropStaleSeedControl(nodeData.name, names, info.widgets_values);
        const inputs = renameSeedSockets(nodeData.name, info.inputs);
        if (values !== info.widgets_values || inputs !== info.inputs) {
          info = { ...info, widgets_values: values, inputs };
        }
      }
      return configure.call(this, info, ...rest);
    };
  },
});
