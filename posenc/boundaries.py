"""Virtual-boundary geometry of PBC (Progressive Boundary Complement).

Implements the boundary set of Zhou et al., "Exploring Position Encoding Mechanism in Diffusion
U-Net for Training-free High-resolution Image Generation" (arXiv 2503.09830, AAAI-26):

* Eq. 4: the N boundaries carry lambda_n = n / (N + 1), n = 1..N.
* Eq. 2 with lambda = 2l/s: boundary n sits at distance l_n = lambda_n * S / 2 from the real edge of
  an axis of length S; we round it to the nearest row/column, floor(lambda_n * S / 2 + 0.5).
* Eq. 3: each boundary position is perturbed, l~ = l + delta, delta ~ U(-r, r); here an integer
  delta in [-r, r], independently per boundary and per side, then clamped to [0, S // 2].

Boundary n is the rectangle R_n = rows [top_n, H - bottom_n) x cols [left_n, W - right_n).  An
offset of 0 puts that side on the real image edge, where it does nothing.

The jitter comes from a portable integer hash (splitmix64) of (seed, key, boundary index, side),
so that the JavaScript widget (js/boundaries.js) reproduces the offsets exactly; the patcher
derives `key` from the current sigma (`sigma_key`) so that cond and uncond of one step share
their boundaries and a run is reproducible.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from .limits import MAX_BOUNDARIES

MASK64 = (1 << 64) - 1
SIDES = ("top", "bottom", "left", "right")


def splitmix64(x: int) -> int:
    """One step of the splitmix64 mixer (Steele, Lea, Flood 2014) on a 64-bit unsigned int."""
    z = (x + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def hash_ints(*parts: int) -> int:
    """Chain splitmix64 over the parts (each reduced to 64 bits): h = mix(h ^ part)."""
    h = 0
    for p in parts:
        h = splitmix64(h ^ (int(p) & MASK64))
    return h


def sigma_key(sigma: float) -> int:
    """The IEEE-754 float32 bit pattern of sigma: the same step gives the same key everywhere."""
    return struct.unpack("<I", struct.pack("<f", float(sigma)))[0]


def jitter_delta(seed: int, key: int, index: int, side: int, jitter: int) -> int:
    """Integer jitter delta in [-jitter, jitter] of Eq. 3 for boundary `index` (1-based) and side
    (0 top, 1 bottom, 2 left, 3 right)."""
    if jitter <= 0:
        return 0
    return hash_ints(seed, key, index, side) % (2 * jitter + 1) - jitter


def boundary_lambdas(n: int) -> tuple[float, ...]:
    """Eq. 4: V_N = {lambda_n = n / (N + 1), n = 1..N}; small lambda = near the edge = strong."""
    check_boundary_count(n)
    return tuple(i / (n + 1) for i in range(1, n + 1))


AUTO_BOUNDARIES = 0    # the nodes' "0 = auto" value of N


def auto_boundary_count(latent_h: float, latent_w: float, base_h: float, base_w: float) -> int:
    """N of the auto setting: max(1, floor(s + 0.5) - 1), s = max(H / base_h, W / base_w), the
    scale of the model input over the training size (1 at 2x, 2 at 3x, 3 at 4x).  One boundary
    per base-size step of the scale beyond the first: the rule the layout benchmark chose on two
    reference U-Nets (docs/benchmarks_unet.md, "Is it worth using?"); js/boundaries.js has its twin."""
    scale = max(latent_h / base_h, latent_w / base_w)
    return max(1, math.floor(scale + 0.5) - 1)


def resolve_boundary_count(n: int, latent_h: float, latent_w: float, base_h: float,
                           base_w: float) -> int:
    """N itself, or the auto count for n == AUTO_BOUNDARIES."""
    if n == AUTO_BOUNDARIES:
        return auto_boundary_count(latent_h, latent_w, base_h, base_w)
    check_boundary_count(n)
    return n


def check_boundary_count(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1 or n > MAX_BOUNDARIES:
        raise ValueError(f"boundaries must be an integer from 1 to {MAX_BOUNDARIES} (got {n!r}); "
                         "the paper uses 31")


def nominal_offset(lam: float, size: int) -> int:
    """Distance of a boundary from the real edge in rows/columns: floor(lambda * S / 2 + 0.5)."""
    return math.floor(lam * size / 2 + 0.5)


@dataclass(frozen=True)
class Boundaries:
    """N virtual boundaries on an H x W feature map (offsets from each real edge, 0 = none)."""

    height: int
    width: int
    lambdas: tuple[float, ...]
    top: tuple[int, ...]
    bottom: tuple[int, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]

    @property
    def is_empty(self) -> bool:
        return not any(self.top) and not any(self.bottom) and not any(self.left) and not any(self.right)

    def rect(self, n: int) -> tuple[int, int, int, int]:
        """R_n (0-based index) as (row_start, row_stop, col_start, col_stop), half-open."""
        return (self.top[n], self.height - self.bottom[n], self.left[n], self.width - self.right[n])


def virtual_boundaries(height: int, width: int, n: int, jitter: int = 0, seed: int = 0,
                       key: int = 0, rows: bool = True, cols: bool = True) -> Boundaries:
    """The N progressive boundaries of an H x W map (docs/DESIGN.md section 2).

    rows / cols say whether the horizontal (top/bottom) and vertical (left/right) boundaries are
    active; the patcher activates an axis only where the model input exceeds the base size.
    """
    check_boundary_count(n)
    if height < 1 or width < 1:
        raise ValueError(f"feature map size must be positive (got {height}x{width})")
    if jitter < 0:
        raise ValueError(f"jitter must be >= 0 (got {jitter})")
    lambdas = boundary_lambdas(n)
    sides: list[list[int]] = [[], [], [], []]
    for side in range(4):
        size = height if side < 2 else width
        active = rows if side < 2 else cols
        for i, lam in enumerate(lambdas, start=1):
            if not active:
                sides[side].append(0)
                continue
            off = nominal_offset(lam, size) + jitter_delta(seed, key, i, side, jitter)
            sides[side].append(min(max(off, 0), size // 2))
    return Boundaries(height, width, lambdas, *(tuple(s) for s in sides))


def active_axes(height: float, width: float, base_height: float, base_width: float) -> tuple[bool, bool]:
    """(rows, cols): an axis gets boundaries only where the model input is larger than the base
    (training) size along it, both in latent cells (docs/DESIGN.md section 2).  The one rule used
    by the patch (pbc.py) and the drawing (boundary_drawing.py); js/boundaries.js has its twin."""
    return height > base_height, width > base_width


def level_sizes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """Feature-map sizes of a U-Net's levels for an H x W input: each stride-2, padding-1, 3x3
    downsampling conv maps S to ceil(S / 2) (SD's U-Net and the reference U-Net alike)."""
    sizes = [(height, width)]
    for _ in range(levels - 1):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes
