// Loading workflows saved before the seed inputs were renamed (issue #15).  No imports: the rule is
// tested by node --test (js/tests/saved_values.test.mjs) and used by js/seed_rename.js.
//
// The frontend gives every INT input named `seed` or `noise_seed` a second widget, "control after
// generate", defaulting to randomize, and saves its value right after the seed's in widgets_values
// (by position).  Our seeds are now `jitter_seed` / `position_seed`: no control widget, so an old
// save has one value too many, and every value after the seed would land one widget too early
// (the Boundary Visualizer's `levels` would get "fixed").

/** Node type -> [old input name, new input name]. */
export const RENAMED_SEEDS = {
  PBCModelPatcher: ["seed", "jitter_seed"],
  BoundaryVisualizer: ["seed", "jitter_seed"],
  RPE2DDiTLoader: ["seed", "position_seed"],
};

export const CONTROL_VALUES = ["fixed", "increment", "decrement", "randomize"];

/**
 * widgets_values of an old save with the stale control value dropped, or the same array when it is
 * not an old save.  `names` are the node's serialized widget names in order (the new ones).
 * Old save = exactly one value more than widgets, and a control value right after the seed.
 */
export function dropStaleSeedControl(nodeType, names, values) {
  const rename = RENAMED_SEEDS[nodeType];
  if (!rename || !Array.isArray(values) || values.length !== names.length + 1) return values;
  const i = names.indexOf(rename[1]);
  if (i < 0 || !CONTROL_VALUES.includes(values[i + 1])) return values;
  return values.slice(0, i + 1).concat(values.slice(i + 2));
}

/** Input sockets of an old save: the socket of the old seed widget takes the new name. */
export function renameSeedSockets(nodeType, inputs) {
  const rename = RENAMED_SEEDS[nodeType];
  if (!rename || !Array.isArray(inputs)) return inputs;
  return inputs.map((inp) => (inp?.name === rename[0] && inp.widget?.name === rename[0]
    ? { ...inp, name: rename[1], widget: { ...inp.widget, name: rename[1] } }
    : inp));
}
