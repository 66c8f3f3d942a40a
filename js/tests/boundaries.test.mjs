// js/boundaries.js against the fixture generated from the Python geometry
// (tests/make_boundary_fixture.py), plus hand-computed cases.  Run: node --test js/tests/
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  AUTO_BOUNDARIES, MAX_BOUNDARIES, activeAxes, autoBoundaryCount, boundaryLambdas, hashInts, jitterDelta, levelSizes, nominalOffset,
  planBoundaries, splitmix64, virtualBoundaries,
} from "../boundaries.js";

const fixture = JSON.parse(readFileSync(
  fileURLToPath(new URL("../../tests/fixtures/boundary_geometry.json", import.meta.url)), "utf8"));

const sides = (b) => ({ top: b.top, bottom: b.bottom, left: b.left, right: b.right });

test("fixture is the generated one and not empty", () => {
  assert.equal(fixture.max_boundaries, MAX_BOUNDARIES);
  assert.ok(fixture.virtual_boundaries.length >= 40);
  assert.ok(fixture.plans.length >= 8);
});

test("splitmix64 matches Python bit for bit", () => {
  for (const c of fixture.splitmix64) assert.equal(splitmix64(BigInt(c.x)).toString(), c.out, `x=${c.x}`);
});

test("hash_ints chain matches Python (incl. 64-bit seeds and negative parts)", () => {
  for (const c of fixture.hash_ints) {
    assert.equal(hashInts(...c.parts.map((p) => BigInt(p))).toString(), c.out, `parts=${c.parts}`);
  }
});

test("lambdas and nominal offsets match Python", () => {
  for (const [n, lams] of Object.entries(fixture.lambdas)) assert.deepEqual(boundaryLambdas(Number(n)), lams);
  for (const c of fixture.nominal_offset) assert.equal(nominalOffset(c.lam, c.size), c.out, `lam=${c.lam} S=${c.size}`);
});

test("virtual_boundaries matches Python on every fixture case", () => {
  for (const c of fixture.virtual_boundaries) {
    const b = virtualBoundaries(c.height, c.width, c.n, {
      jitter: c.jitter, seed: BigInt(c.seed), key: BigInt(c.key), rows: c.rows, cols: c.cols,
    });
    const label = `${c.height}x${c.width} N=${c.n} r=${c.jitter} seed=${c.seed} key=${c.key}`;
    assert.deepEqual(sides(b), { top: c.top, bottom: c.bottom, left: c.left, right: c.right }, label);
  }
});

test("level sizes match Python", () => {
  for (const c of fixture.level_sizes) assert.deepEqual(levelSizes(c.height, c.width, c.levels), c.out);
});

test("plans (latent, per-axis activation, every level) match Python", () => {
  for (const c of fixture.plans) {
    const p = planBoundaries({
      width: c.width, height: c.height, baseResolution: c.base_resolution, n: c.n, jitter: c.jitter,
      seed: BigInt(c.seed), key: BigInt(c.key), levels: c.levels, latentDownscale: c.latent_downscale,
    });
    const label = `${c.width}x${c.height} base ${c.base_resolution}`;
    assert.equal(p.latentWidth, c.latent_width, label);
    assert.equal(p.latentHeight, c.latent_height, label);
    assert.equal(p.rows, c.rows, label);
    assert.equal(p.cols, c.cols, label);
    assert.equal(p.n, c.resolved_n, label);
    assert.equal(p.auto, c.auto, label);
    assert.equal(p.levels.length, c.level_maps.length, label);
    p.levels.forEach((lv, i) => {
      const e = c.level_maps[i];
      assert.equal(lv.height, e.height);
      assert.equal(lv.width, e.width);
      assert.deepEqual(sides(lv.boundaries), { top: e.top, bottom: e.bottom, left: e.left, right: e.right }, `${label} level ${i}`);
    });
  }
});

// ---- hand-computed cases (independent of the fixture) ----

test("hand: N=3 on a 16x16 map without jitter", () => {
  // lambda = 1/4, 2/4, 3/4; offsets floor(lambda*16/2 + 0.5) = 2, 4, 6 on every side
  const b = virtualBoundaries(16, 16, 3);
  for (const s of [b.top, b.bottom, b.left, b.right]) assert.deepEqual(s, [2, 4, 6]);
});

test("hand: rounding of halves and clamping to S//2", () => {
  assert.equal(nominalOffset(0.5, 6), 2);     // 1.5 + 0.5 = 2
  assert.equal(nominalOffset(0.5, 5), 1);     // 1.25 + 0.5 -> 1
  assert.equal(nominalOffset(0.25, 2), 0);    // 0.25 + 0.5 -> 0: on the real edge
  // N=1 on a 3x3 map: lambda 1/2, offset floor(0.75+0.5)=1 = 3//2
  assert.deepEqual(virtualBoundaries(3, 3, 1).top, [1]);
  // huge jitter is clamped to [0, S//2]
  const b = virtualBoundaries(4, 4, 8, { jitter: 100, seed: 3 });
  for (const s of [b.top, b.bottom, b.left, b.right]) for (const v of s) assert.ok(v >= 0 && v <= 2);
});

test("hand: splitmix64(0) is the published first output", () => {
  // splitmix64 seeded with 0: first output 0xe220a8397b1dcdaf (Vigna's reference implementation)
  assert.equal(splitmix64(0n), 0xe220a8397b1dcdafn);
  assert.equal(hashInts(0), 0xe220a8397b1dcdafn);
});

test("hand: jitter stays in [-r, r] and depends on seed, key, index and side", () => {
  const seen = new Set();
  for (let i = 1; i <= 50; i++) {
    const d = jitterDelta(7n, 0n, i, i % 4, 2);
    assert.ok(d >= -2 && d <= 2);
    seen.add(d);
  }
  assert.equal(seen.size, 5);
  assert.equal(jitterDelta(1, 2, 3, 0, 0), 0);
});

test("hand: per-axis activation, SDXL 3072x1024 gets vertical boundaries only", () => {
  assert.deepEqual(activeAxes(128, 384, 1024, 8), [false, true]);
  assert.deepEqual(activeAxes(64, 64, 512, 8), [false, false]);    // exactly the base: untouched
  const p = planBoundaries({ width: 3072, height: 1024, baseResolution: 1024, n: 4, levels: 3 });
  assert.equal(p.rows, false);
  assert.equal(p.cols, true);
  for (const lv of p.levels) {
    assert.deepEqual(lv.boundaries.top, [0, 0, 0, 0]);
    assert.ok(lv.boundaries.left.every((v) => v > 0));
  }
  assert.deepEqual(p.levels.map((l) => [l.height, l.width]), [[128, 384], [64, 192], [32, 96]]);
});

test("bad input throws a RangeError naming the input", () => {
  assert.throws(() => boundaryLambdas(0), /boundaries/);
  assert.throws(() => boundaryLambdas(257), /boundaries/);
  assert.throws(() => planBoundaries({ width: 0, height: 512, baseResolution: 512, n: 3 }), /width/);
  assert.throws(() => planBoundaries({ width: 512, height: 20000, baseResolution: 512, n: 3 }), /height/);
  assert.throws(() => planBoundaries({ width: 512, height: 512, baseResolution: 512, n: 3.5 }), /boundaries/);
  assert.throws(() => planBoundaries({ width: 4, height: 512, baseResolution: 512, n: 3 }), /at least 8/);
  assert.throws(() => virtualBoundaries(8, 8, 3, { jitter: -1 }), /jitter/);
});

test("hand: auto N is one boundary per base size of scale beyond the first", () => {
  // 2x -> 1, 3x -> 2, 4x -> 3, 2.5x -> floor(3.0) - 1 = 2, 1.4x -> max(1, 0) = 1
  assert.equal(autoBoundaryCount(128, 128, 64, 64), 1);
  assert.equal(autoBoundaryCount(96, 32, 32, 32), 2);
  assert.equal(autoBoundaryCount(256, 256, 64, 64), 3);
  assert.equal(autoBoundaryCount(160, 64, 64, 64), 2);
  assert.equal(autoBoundaryCount(90, 64, 64, 64), 1);
  const p = planBoundaries({ width: 2048, height: 2048, baseResolution: 512, n: AUTO_BOUNDARIES });
  assert.equal(p.n, 3);
  assert.equal(p.auto, true);
});
