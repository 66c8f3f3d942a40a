// PBC virtual-boundary geometry, the JavaScript twin of posenc/boundaries.py (and of the per-axis
// activation in posenc/boundary_drawing.py).  A pure ES module: no DOM, no ComfyUI, so node's test
// runner and the browser import the same file.  tests/fixtures/boundary_geometry.json, generated
// from the Python code, holds the two together (js/tests/boundaries.test.mjs).
//
// Boundary n (1..N) has lambda_n = n / (N + 1) (Eq. 4 of Zhou et al., arXiv 2503.09830) and sits
// floor(lambda_n * S / 2 + 0.5) cells from each real edge of an axis of S cells, moved by an integer
// jitter in [-r, r] drawn from splitmix64(seed, key, n, side) and clamped to [0, S // 2].

export const MAX_BOUNDARIES = 256;
export const MAX_SIZE = 16384;
export const MAX_LEVELS = 8;
export const SIDES = ["top", "bottom", "left", "right"];

const MASK64 = (1n << 64n) - 1n;

/** Reduce a Number, BigInt or decimal string to an unsigned 64-bit BigInt (like Python's & MASK64). */
export function toU64(x) {
  if (typeof x === "bigint") return BigInt.asUintN(64, x);
  if (typeof x === "number") {
    if (!Number.isFinite(x)) throw new RangeError(`not a finite integer: ${x}`);
    return BigInt.asUintN(64, BigInt(Math.trunc(x)));
  }
  return BigInt.asUintN(64, BigInt(String(x)));
}

/** One step of the splitmix64 mixer on an unsigned 64-bit BigInt. */
export function splitmix64(x) {
  let z = (toU64(x) + 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** Chain splitmix64 over the parts: h = mix(h ^ part), starting from 0. */
export function hashInts(...parts) {
  let h = 0n;
  for (const p of parts) h = splitmix64(h ^ toU64(p));
  return h;
}

/** Integer jitter in [-jitter, jitter] for boundary `index` (1-based) and side (0 top .. 3 right). */
export function jitterDelta(seed, key, index, side, jitter) {
  if (jitter <= 0) return 0;
  const m = BigInt(2 * jitter + 1);
  return Number(hashInts(seed, key, index, side) % m) - jitter;
}

/** The nodes' "0 = auto" value of N (posenc/boundaries.py AUTO_BOUNDARIES). */
export const AUTO_BOUNDARIES = 0;

/** N of the auto setting: max(1, floor(s + 0.5) - 1), s = max(H / baseH, W / baseW) (boundaries.py). */
export function autoBoundaryCount(latentHeight, latentWidth, baseHeight, baseWidth) {
  const scale = Math.max(latentHeight / baseHeight, latentWidth / baseWidth);
  return Math.max(1, Math.floor(scale + 0.5) - 1);
}

export function checkBoundaryCount(n) {
  if (!Number.isInteger(n) || n < 1 || n > MAX_BOUNDARIES) {
    throw new RangeError(`boundaries must be an integer from 1 to ${MAX_BOUNDARIES} (got ${n})`);
  }
}

/** Eq. 4: lambda_n = n / (N + 1), n = 1..N (small lambda = near the edge = strong). */
export function boundaryLambdas(n) {
  checkBoundaryCount(n);
  const out = [];
  for (let i = 1; i <= n; i++) out.push(i / (n + 1));
  return out;
}

/** Distance of a boundary from the real edge in cells: floor(lambda * S / 2 + 0.5). */
export function nominalOffset(lam, size) {
  return Math.floor((lam * size) / 2 + 0.5);
}

/**
 * The N boundaries of an H x W map: {height, width, lambdas, top, bottom, left, right}, each side an
 * array of offsets from that real edge (0 = on the edge = no boundary).
 */
export function virtualBoundaries(height, width, n, { jitter = 0, seed = 0, key = 0, rows = true, cols = true } = {}) {
  checkBoundaryCount(n);
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new RangeError(`feature map size must be positive (got ${height}x${width})`);
  }
  if (!Number.isInteger(jitter) || jitter < 0) throw new RangeError(`jitter must be >= 0 (got ${jitter})`);
  const lambdas = boundaryLambdas(n);
  const sides = [[], [], [], []];
  const seedU = toU64(seed);
  const keyU = toU64(key);
  for (let side = 0; side < 4; side++) {
    const size = side < 2 ? height : width;
    const active = side < 2 ? rows : cols;
    const half = Math.floor(size / 2);
    for (let i = 1; i <= n; i++) {
      if (!active) {
        sides[side].push(0);
        continue;
      }
      const off = nominalOffset(lambdas[i - 1], size) + jitterDelta(seedU, keyU, i, side, jitter);
      sides[side].push(Math.min(Math.max(off, 0), half));
    }
  }
  return { height, width, lambdas, top: sides[0], bottom: sides[1], left: sides[2], right: sides[3] };
}

/** Feature-map sizes of a U-Net's levels: each stride-2 downsampling maps S to ceil(S / 2). */
export function levelSizes(height, width, levels) {
  const sizes = [[height, width]];
  for (let i = 1; i < levels; i++) {
    const [h, w] = sizes[sizes.length - 1];
    sizes.push([Math.floor((h + 1) / 2), Math.floor((w + 1) / 2)]);
  }
  return sizes;
}

/** [rows, cols]: an axis gets boundaries only where latent * downscale exceeds the base size. */
export function activeAxes(latentHeight, latentWidth, baseResolution, latentDownscale) {
  return [latentHeight * latentDownscale > baseResolution, latentWidth * latentDownscale > baseResolution];
}

function checkInt(name, v, lo, hi) {
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new RangeError(`${name} must be an integer from ${lo} to ${hi} (got ${v})`);
  }
}

/**
 * What the PBC patcher does at width x height pixels, per U-Net level (posenc/boundary_drawing.py
 * plan_boundaries): {width, height, baseResolution, latentDownscale, latentWidth, latentHeight,
 * rows, cols, active, n, jitter, levels: [{index, height, width, boundaries}]}.  Throws a RangeError
 * naming the input for values out of range.
 */
export function planBoundaries({ width, height, baseResolution, n, jitter = 0, seed = 0, key = 0, levels = 4, latentDownscale = 8 }) {
  checkInt("width", width, 1, MAX_SIZE);
  checkInt("height", height, 1, MAX_SIZE);
  checkInt("base_resolution", baseResolution, 1, MAX_SIZE);
  checkInt("levels", levels, 1, MAX_LEVELS);
  checkInt("latent_downscale", latentDownscale, 1, 64);
  checkInt("jitter", jitter, 0, MAX_SIZE);
  const auto = n === AUTO_BOUNDARIES;
  if (!auto) checkBoundaryCount(n);
  const latentWidth = Math.floor(width / latentDownscale);
  const latentHeight = Math.floor(height / latentDownscale);
  if (latentWidth < 1 || latentHeight < 1) {
    throw new RangeError(`width and height must be at least ${latentDownscale} pixels (got ${width}x${height})`);
  }
  if (auto) {
    const base = baseResolution / latentDownscale;
    n = autoBoundaryCount(latentHeight, latentWidth, base, base);
  }
  const [rows, cols] = activeAxes(latentHeight, latentWidth, baseResolution, latentDownscale);
  const out = levelSizes(latentHeight, latentWidth, levels).map(([h, w], index) => ({
    index,
    height: h,
    width: w,
    boundaries: virtualBoundaries(h, w, n, { jitter, seed, key, rows, cols }),
  }));
  return {
    width, height, baseResolution, latentDownscale, latentWidth, latentHeight,
    rows, cols, active: rows || cols, n, auto, jitter, levels: out,
  };
}
