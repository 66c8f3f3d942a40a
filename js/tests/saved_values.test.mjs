// js/saved_values.js: old saves of the renamed seed inputs.  Run: node --test js/tests/
import { test } from "node:test";
import assert from "node:assert/strict";
import { dropStaleSeedControl, renameSeedSockets } from "../saved_values.js";

const VIZ = ["width", "height", "base_resolution", "boundaries", "jitter", "jitter_seed", "levels"];
const PBC = ["boundaries", "jitter", "start_percent", "end_percent", "base_resolution", "jitter_seed"];

test("old Boundary Visualizer save: the control value after the seed goes, levels keeps its value", () => {
  const old = [1024, 3072, 1024, 3, 1, 5, "fixed", 3];
  assert.deepEqual(dropStaleSeedControl("BoundaryVisualizer", VIZ, old), [1024, 3072, 1024, 3, 1, 5, 3]);
  assert.deepEqual(dropStaleSeedControl("BoundaryVisualizer", VIZ, [8, 8, 0, 1, 0, 0, "randomize", 0]),
    [8, 8, 0, 1, 0, 0, 0]);
});

test("old PBC and loader saves: trailing control value dropped", () => {
  assert.deepEqual(dropStaleSeedControl("PBCModelPatcher", PBC, [3, 1, 0, 0.5, 0, 7, "increment"]),
    [3, 1, 0, 0.5, 0, 7]);
  assert.deepEqual(dropStaleSeedControl("RPE2DDiTLoader", ["dit_name", "position_mode", "position_seed"],
    ["a.pt", "random", 9, "fixed"]), ["a.pt", "random", 9]);
});

test("new saves, other node types and odd values are left alone", () => {
  const fresh = [1024, 1024, 0, 31, 1, 0, 4];
  assert.equal(dropStaleSeedControl("BoundaryVisualizer", VIZ, fresh), fresh);
  const ks = [0, "fixed", 20, 8, "euler", "normal", 1];
  assert.equal(dropStaleSeedControl("KSampler", ["seed", "steps", "cfg", "sampler_name", "scheduler", "denoise"], ks), ks);
  // one value too many, but no control value after the seed: not ours to guess
  const odd = [1024, 1024, 0, 31, 1, 0, 4, 5];
  assert.equal(dropStaleSeedControl("BoundaryVisualizer", VIZ, odd), odd);
  assert.equal(dropStaleSeedControl("BoundaryVisualizer", VIZ, undefined), undefined);
});

test("a socket of the old seed widget takes the new name; others stay", () => {
  const inputs = [{ name: "model", type: "MODEL", link: 1 },
    { name: "seed", type: "INT", widget: { name: "seed" }, link: 4 }];
  const got = renameSeedSockets("PBCModelPatcher", inputs);
  assert.deepEqual(got[1], { name: "jitter_seed", type: "INT", widget: { name: "jitter_seed" }, link: 4 });
  assert.equal(got[0], inputs[0]);
  assert.equal(renameSeedSockets("KSampler", inputs), inputs);
});
