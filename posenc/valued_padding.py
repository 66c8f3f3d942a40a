"""Convolution with PBC's valued padding at virtual boundaries (Eq. 2 of Zhou et al., arXiv
2503.09830: the padding at a virtual boundary is p = lambda * F, F the feature on the far side).

A conv with kernel k, stride s, dilation d and "same" zero padding p = d (k - 1) / 2 computes each
output o from the taps around its centre c = o * s.  For a tap d that reads input q = c + d:

    factor(c, q) = prod of lambda_n over all n with c inside R_n and q outside R_n

and the tap reads factor * x[q] (docs/DESIGN.md section 2).  Taps that stay inside a boundary, or that
go inward, are untouched: a virtual boundary is unidirectional.  Real zero padding stays zero.

Because the multiplier m_d(o) = factor(c(o), c(o) + d) depends only on the output position and
the tap, the conv is exactly

    out = bias + sum_d m_d * (W_d applied to x shifted by d)                            (per-tap form)

For a 2-D tap d = (a, b) write m_ab = m_a0 + m_0b - 1 + e_ab.  m_a0 differs from 1 only on the
output rows Y_a next to a horizontal boundary, m_0b only on the columns X_b next to a vertical one,
and e_ab only on Y_a x X_b (where one boundary meets a tap that leaves it through a corner).  So

    out = conv(x) + sum_{a != 0} (m_a0 - 1) * sum_b Z_ab |rows Y_a
                  + sum_{b != 0} (m_0b - 1) * sum_a Z_ab |cols X_b
                  + sum_{a, b != 0} e_ab * Z_ab |Y_a x X_b                                (strip form)

with Z_ab = W_ab applied to x shifted by (a, b).  For each tap row a != 0 the rows Y_a of every
boundary are gathered into one batch and corrected by one 1 x k conv scaled by the factor map
(m_a0 - 1) on Y_a x all columns; each tap column likewise by one k x 1 conv, each corner tap by one
1x1 conv on Y_a x X_b.  So a call runs a fixed number of ops set by the kernel, whatever the number
of boundaries (docs/DESIGN.md section 8).  The per-tap form (k*k 1x1 convs) is also exact and
N-independent; `make_plan` picks the one of lower estimated cost (`estimate_costs`), a model, not
a timing of the user's input.  Neither materialises a k*k-times copy of the feature map.

A third form, "fused" (valued_padding_triton.py), is the per-tap sum in one Triton kernel that
scales each tap as it loads it.  It is optional and opt-in: it runs only when asked for by name
("fused", which needs Triton), never under "auto" (no GPU has timed it yet), and wherever it cannot
run (valued_padding_triton.unsupported_reason) the plan's pure-torch form runs.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from . import valued_padding_triton as fused
from .boundaries import Boundaries
from .limits import MAX_PLAN_TABLE_BYTES

log = logging.getLogger(__name__)

# Cost model of make_plan(method="auto"): the per-tap form against a plain conv, and the price of
# the strip corrections' multiply-adds relative to the plain conv's (CPU, tools/bench_pbc.py).
PER_TAP_COST = 1.6
STRIP_OVERHEAD = 2.3


@dataclass(frozen=True)
class ConvSpec:
    """Geometry of a zero-padded "same" conv: kernel, stride, dilation, padding, groups."""

    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    groups: int

    @property
    def ph(self) -> int:
        return self.dh * (self.kh - 1) // 2

    @property
    def pw(self) -> int:
        return self.dw * (self.kw - 1) // 2

    def out_size(self, height: int, width: int) -> tuple[int, int]:
        return (height - 1) // self.sh + 1, (width - 1) // self.sw + 1

    def row_offsets(self) -> list[int]:
        return [(i - (self.kh - 1) // 2) * self.dh for i in range(self.kh)]

    def col_offsets(self) -> list[int]:
        return [(j - (self.kw - 1) // 2) * self.dw for j in range(self.kw)]


def conv_spec(conv: torch.nn.Module) -> ConvSpec | None:
    """The ConvSpec of a Conv2d that valued padding applies to, else None.

    Applies to every torch.nn.Conv2d (ComfyUI's ops classes subclass it) with an odd kernel larger
    than 1 on some axis, zero padding_mode and "same" padding d (k - 1) / 2.  1x1 convs, other
    padding modes and unpadded convs (patch embeddings) are left alone.
    """
    if not isinstance(conv, torch.nn.Conv2d) or conv.padding_mode != "zeros":
        return None
    if isinstance(conv.padding, str):
        return None
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = conv.kernel_size, conv.stride, conv.dilation, conv.padding
    if kh % 2 == 0 or kw % 2 == 0 or (kh == 1 and kw == 1):
        return None
    if ph != dh * (kh - 1) // 2 or pw != dw * (kw - 1) // 2:
        return None
    return ConvSpec(kh, kw, sh, sw, dh, dw, conv.groups)


def _inside(starts: list[int], stops: list[int], positions: torch.Tensor) -> torch.Tensor:
    """(..., N, P) float64 indicator of positions (..., P) inside [start_n, stop_n)."""
    lo = torch.tensor(starts, dtype=torch.float64).unsqueeze(1)
    hi = torch.tensor(stops, dtype=torch.float64).unsqueeze(1)
    p = positions.to(torch.float64).unsqueeze(-2)
    return ((p >= lo) & (p < hi)).to(torch.float64)


MERGES = ("product", "strongest")
METHODS = ("auto", "per_tap", "strips", "fused")


def check_method(method: str) -> str:
    """method, if make_plan knows it (and, for "fused", Triton imports); else a ValueError
    (ImportError for "fused" without Triton, saying how to install it)."""
    if method not in METHODS:
        raise ValueError(f"unknown valued-padding method {method!r} (known: {', '.join(METHODS)})")
    if method == "fused":
        fused.require_triton()
    return method


def check_merge(merge: str) -> str:
    if merge not in MERGES:
        raise ValueError(f"unknown merge rule {merge!r} (known: {', '.join(MERGES)})")
    return merge


def plan_table_bytes(spec: ConvSpec, height: int, width: int) -> int:
    """Bytes of the dense multiplier table of one conv on an H x W map: kh*kw float64 values per
    output position (72 per position for a 3x3 conv).  make_plan refuses a table above
    limits.MAX_PLAN_TABLE_BYTES (docs/reliability.md)."""
    ho, wo = spec.out_size(height, width)
    return spec.kh * spec.kw * ho * wo * 8


def check_plan_size(spec: ConvSpec, height: int, width: int) -> None:
    """A ValueError naming the map size when its multiplier table is above the budget."""
    need = plan_table_bytes(spec, height, width)
    if need > MAX_PLAN_TABLE_BYTES:
        raise ValueError(
            f"valued padding on a {width}x{height} feature map needs a {need / 2**30:.1f} GiB "
            f"multiplier table for its {spec.kh}x{spec.kw} convs, above the budget of "
            f"{MAX_PLAN_TABLE_BYTES / 2**30:.0f} GiB (posenc/limits.py MAX_PLAN_TABLE_BYTES, "
            f"docs/reliability.md): use a smaller size")


def tap_multipliers(boundaries: Boundaries, spec: ConvSpec, merge: str = "product") -> torch.Tensor:
    """m_d(o) for every tap d (row-major over the kernel) and output o: (kh*kw, Ho, Wo) float64.

    merge says what a tap that crosses several boundaries at once reads (where boundaries land on
    the same row or column, or a corner tap leaves two): "product" (the definition, docs/DESIGN.md
    section 2) multiplies their lambdas; "strongest" keeps only the boundary with the smallest
    lambda (the strongest position signal), as if coinciding boundaries were one.  A lambda of 0
    (pure zero padding, the unidirectional baseline) is allowed.

    Product with all lambdas > 0 uses the separability of R_n: with r_n(y) = [c_y in rows of R_n]
    and r_n^a(y) = r_n(y) r_n(y+a) (columns likewise), the count of boundaries with c in R_n and q
    outside is sum_n r_n c_n - r_n^a c_n^b, and log m_d is the same sum weighted by log lambda_n.
    The other cases reduce the crossing indicator boundary by boundary.

    Memory: the result plus a few (Ho, Wo) maps, whatever N (one tap, one boundary at a time).
    """
    check_merge(merge)
    b = boundaries
    if merge != "product" or min(b.lambdas) <= 0:
        return _tap_multipliers_by_boundary(b, spec, merge)
    ho, wo = spec.out_size(b.height, b.width)
    cy = torch.arange(ho) * spec.sh
    cx = torch.arange(wo) * spec.sw
    row_lo, row_hi = list(b.top), [b.height - v for v in b.bottom]
    col_lo, col_hi = list(b.left), [b.width - v for v in b.right]
    # qy (kh, Ho) and qx (kw, Wo) are the rows / columns the taps read.
    qy = cy + torch.tensor(spec.row_offsets()).unsqueeze(1)
    qx = cx + torch.tensor(spec.col_offsets()).unsqueeze(1)
    r0 = _inside(row_lo, row_hi, cy)                               # (N, Ho)
    c0 = _inside(col_lo, col_hi, cx)                               # (N, Wo)
    ra = r0 * _inside(row_lo, row_hi, qy)                          # (kh, N, Ho)
    cb = c0 * _inside(col_lo, col_hi, qx)                          # (kw, N, Wo)
    log_lam = torch.tensor([math.log(v) for v in b.lambdas], dtype=torch.float64).unsqueeze(1)
    ra_log = ra * log_lam
    count0 = r0.T @ c0                                             # (Ho, Wo)
    log0 = (r0 * log_lam).T @ c0
    # A tap that reads real zero padding outside the image reads 0 whatever its factor: keep it 1.
    in_y = ((qy >= 0) & (qy < b.height)).to(torch.float64)       # (kh, Ho)
    in_x = ((qx >= 0) & (qx < b.width)).to(torch.float64)        # (kw, Wo)
    maps = torch.empty(spec.kh, spec.kw, ho, wo, dtype=torch.float64)
    for i in range(spec.kh):     # one tap row at a time: kw maps of temporaries
        m = maps[i]
        torch.sub(log0, torch.einsum("nh,bnw->bhw", ra_log[i], cb), out=m).exp_()
        count = torch.einsum("nh,bnw->bhw", ra[i], cb).neg_().add_(count0)
        count.mul_(in_y[i].view(1, -1, 1)).mul_(in_x.unsqueeze(1))
        m.masked_fill_(count <= 0.5, 1.0)
        del count
    return maps.reshape(spec.kh * spec.kw, ho, wo)


def _tap_multipliers_by_boundary(b: Boundaries, spec: ConvSpec, merge: str) -> torch.Tensor:
    """tap_multipliers with an explicit crossing indicator per boundary (any lambda >= 0),
    reduced one boundary at a time so that no (N, Ho, Wo) stack is built."""
    ho, wo = spec.out_size(b.height, b.width)
    cy = torch.arange(ho) * spec.sh
    cx = torch.arange(wo) * spec.sw
    row_lo, row_hi = list(b.top), [b.height - v for v in b.bottom]
    col_lo, col_hi = list(b.left), [b.width - v for v in b.right]
    r0 = _inside(row_lo, row_hi, cy)                               # (N, Ho)
    c0 = _inside(col_lo, col_hi, cx)                               # (N, Wo)
    maps = torch.ones(spec.kh, spec.kw, ho, wo, dtype=torch.float64)
    crossed = torch.empty(ho, wo, dtype=torch.float64)
    for i, a in enumerate(spec.row_offsets()):
        ra = r0 * _inside(row_lo, row_hi, cy + a)
        in_y = ((cy + a >= 0) & (cy + a < b.height)).to(torch.float64)
        for j, bb in enumerate(spec.col_offsets()):
            cb = c0 * _inside(col_lo, col_hi, cx + bb)
            in_x = ((cx + bb >= 0) & (cx + bb < b.width)).to(torch.float64)
            m = maps[i, j]
            for n, lam in enumerate(b.lambdas):
                # crossed: centre inside R_n, tap outside it, tap not in the real zero padding
                torch.outer(r0[n], c0[n], out=crossed).sub_(torch.outer(ra[n], cb[n]))
                crossed.mul_(in_y.unsqueeze(1)).mul_(in_x)
                hit = crossed > 0.5
                if merge == "product":
                    m[hit] *= lam
                else:
                    m.masked_fill_(hit & (m > lam), lam)
    return maps.reshape(spec.kh * spec.kw, ho, wo)


@dataclass
class ConvPlan:
    """How to run one conv at one map size for one boundary set; built by `make_plan`.

    The strip form holds one entry per tap row / tap column / corner tap of the kernel, whatever
    the number of boundaries: the rows (columns) that need a correction for that tap are gathered
    into one batch, with a per-position factor map, so a call runs a fixed number of ops
    (docs/DESIGN.md section 8)."""

    method: str  # "identity", "per_tap" or "strips": the pure-torch form (see `fused`)
    spec: ConvSpec
    in_size: tuple[int, int]
    boundaries: Boundaries | None = None
    tap_maps: list = field(default_factory=list)   # per_tap: (Ho, Wo) float64 or None per tap
    # strips, per tap row i / tap column j / corner tap (i, j): the input rows (columns) to gather,
    # the flat index of each corrected position's k taps in the padded gather, position-major
    # (corners: of its one tap in the padded row gather of tap row i), the flat output index of each position, its factor (P,)
    rows: list = field(default_factory=list)       # (i, in_rows, taps, out_index, scale)
    cols: list = field(default_factory=list)       # (j, in_cols, taps, out_index, scale)
    corners: list = field(default_factory=list)    # (i, j, in_index, out_index, scale)
    cost: dict = field(default_factory=dict)       # estimated cost of each form (plain conv = 1)
    # The fused Triton kernel: "always" (method "fused": wherever it can run) or "never"; with
    # the dense (kh*kw, Ho, Wo) multiplier table it reads.  Where it does not run, `method` runs.
    fused: str = "never"
    multipliers: torch.Tensor | None = None
    _cast: dict = field(default_factory=dict, repr=False)

    def tensors(self, device: torch.device, dtype: torch.dtype) -> "ConvPlan":
        """A copy of the plan with its index and scale tensors on `device` in `dtype` (cached)."""
        key = (device, dtype)
        if key not in self._cast:
            def mv(t):
                if t is None:
                    return None
                return t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)
            self._cast[key] = ConvPlan(
                self.method, self.spec, self.in_size, self.boundaries,
                [mv(m) for m in self.tap_maps],
                [(i, mv(g), mv(t), mv(o), mv(s)) for i, g, t, o, s in self.rows],
                [(j, mv(g), mv(t), mv(o), mv(s)) for j, g, t, o, s in self.cols],
                [(i, j, mv(t), mv(o), mv(s)) for i, j, t, o, s in self.corners],
                dict(self.cost), self.fused,
            )
        return self._cast[key]

    def multiplier_table(self, device: torch.device) -> torch.Tensor:
        """The dense multipliers (kh*kw, Ho, Wo) as float32 on `device`, for the fused kernel
        (cached, like `tensors`)."""
        key = (device, "fused")
        if key not in self._cast:
            self._cast[key] = self.multipliers.to(device=device, dtype=torch.float32).contiguous()
        return self._cast[key]


def make_plan(boundaries: Boundaries, spec: ConvSpec, method: str = "auto",
              merge: str = "product") -> ConvPlan:
    """Precompute the multipliers of one conv for one boundary set and choose the cheaper form.

    method: "auto" (the pure-torch form of lower estimated cost, see `estimate_costs`; never the
    fused kernel, which no GPU has timed yet), "per_tap", "strips" or "fused" (the Triton kernel
    wherever it can run, else the form "auto" would pick; ImportError without Triton).
    "identity" is returned when no multiplier differs from 1 (the conv is then exactly the plain
    conv).  merge: see `tap_multipliers`.
    """
    check_method(method)
    size = (boundaries.height, boundaries.width)
    check_plan_size(spec, *size)
    maps = tap_multipliers(boundaries, spec, merge)
    nontrivial = [(m != 1).any().item() for m in maps]
    if not any(nontrivial):
        return ConvPlan("identity", spec, size, boundaries)
    kh, kw = spec.kh, spec.kw
    ci, cj = (kh - 1) // 2, (kw - 1) // 2
    ho, wo = maps.shape[1:]
    m = maps.view(kh, kw, ho, wo)

    # The positions where tap row a needs a correction (m_a0 != 1), gathered as (y, x) pairs:
    # the rows Y_a they lie on are gathered once, padded along their length, and the k taps of
    # each position read from them (flat indices); tap columns likewise, corner taps directly.
    # Their counts price the strip form first; its index tensors are built only if it is chosen.
    row_sets = {i: torch.nonzero((m[i, cj] != 1).any(dim=1)).flatten() for i in range(kh) if i != ci}
    col_sets = {j: torch.nonzero((m[ci, j] != 1).any(dim=0)).flatten() for j in range(kw) if j != cj}
    # The factors minus 1 only on those rows (columns; corners: on Y_a x X_b), not on the whole
    # map: a small map has a boundary on most rows, but a large one on few, and these stay small.
    row_scales = {i: m[i, cj][row_sets[i]] - 1 for i in row_sets if len(row_sets[i])}
    col_scales = {j: m[ci, j][:, col_sets[j]] - 1 for j in col_sets if len(col_sets[j])}
    corner_scales = {}
    for i in row_scales:
        for j in col_scales:
            # e_ab is 0 off Y_a x X_b except where the tap reads the real zero padding (Z_ab = 0)
            on = (row_sets[i].unsqueeze(1), col_sets[j].unsqueeze(0))
            corner_scales[(i, j)] = m[i, j][on] - m[i, cj][on] - m[ci, j][on] + 1
    corrected_taps = (kw * sum(int(torch.count_nonzero(v)) for v in row_scales.values())
                      + kh * sum(int(torch.count_nonzero(v)) for v in col_scales.values())
                      + sum(int(torch.count_nonzero(v)) for v in corner_scales.values()))
    cost = estimate_costs(spec, ho, wo, corrected_taps)
    use_fused = "always" if method == "fused" else "never"
    table = maps if use_fused != "never" else None
    if method == "per_tap" or (method in ("auto", "fused") and cost["per_tap"] < cost["strips"]):
        tap_maps = [mp if nt else None for mp, nt in zip(maps, nontrivial)]
        return ConvPlan("per_tap", spec, size, boundaries, tap_maps=tap_maps, cost=cost,
                        fused=use_fused, multipliers=table)

    rows, cols, corners = [], [], []
    taps_w = torch.arange(kw) * spec.dw
    taps_h = torch.arange(kh) * spec.dh
    row_offsets, col_offsets = spec.row_offsets(), spec.col_offsets()
    for i, scale in row_scales.items():
        r, x = torch.nonzero(scale, as_tuple=True)                      # r: row within the gather
        y = row_sets[i][r]
        nbr = (r * (boundaries.width + 2 * spec.pw) + x * spec.sw).unsqueeze(1) + taps_w.unsqueeze(0)
        rows.append((i, row_sets[i] * spec.sh + row_offsets[i], nbr.flatten(), y * wo + x, scale[r, x]))
    for j, scale in col_scales.items():
        y, c = torch.nonzero(scale, as_tuple=True)                      # c: column within the gather
        x = col_sets[j][c]
        ncol = len(col_sets[j])
        nbr = ((y * spec.sh).unsqueeze(1) + taps_h.unsqueeze(0)) * ncol + c.unsqueeze(1)
        cols.append((j, col_sets[j] * spec.sw + col_offsets[j], nbr.flatten(), y * wo + x, scale[y, c]))
    for (i, j), e in corner_scales.items():
        r, c = torch.nonzero(e, as_tuple=True)
        if len(r):   # the tap, read from the padded row gather of tap row i
            y, x = row_sets[i][r], col_sets[j][c]
            flat_in = r * (boundaries.width + 2 * spec.pw) + x * spec.sw + col_offsets[j] + spec.pw
            corners.append((i, j, flat_in, y * wo + x, e[r, c]))
    return ConvPlan("strips", spec, size, boundaries, rows=rows, cols=cols, corners=corners, cost=cost,
                    fused=use_fused, multipliers=table)


def estimate_costs(spec: ConvSpec, ho: int, wo: int, corrected_taps: int) -> dict:
    """Cost of each exact form in units of the plain conv: "per_tap" a constant (k*k 1x1 convs
    and their multiply-adds over the whole map), "strips" the plain conv plus its corrections'
    multiply-adds (corrected_taps: the taps read by the row, column and corner corrections, as a
    share of the conv's k*k*Ho*Wo) times STRIP_OVERHEAD, the price of a multiply-add in a
    gathered 1xk / kx1 conv plus the gather and scatter relative to one in the plain conv.
    A model, not a measurement: the choice never depends on timing the user's input."""
    work = corrected_taps / (spec.kh * spec.kw * ho * wo)
    return {"per_tap": PER_TAP_COST, "strips": 1.0 + STRIP_OVERHEAD * work}


def _per_tap(x, weight, bias, plan: ConvPlan):
    s = plan.spec
    ho, wo = s.out_size(*plan.in_size)
    xp = F.pad(x, (s.pw, s.pw, s.ph, s.ph))
    out = None
    for i in range(s.kh):
        for j in range(s.kw):
            xs = xp[:, :, i * s.dh: i * s.dh + s.sh * (ho - 1) + 1: s.sh,
                    j * s.dw: j * s.dw + s.sw * (wo - 1) + 1: s.sw]
            z = F.conv2d(xs, weight[:, :, i:i + 1, j:j + 1], None, 1, 0, 1, s.groups)
            scale = plan.tap_maps[i * s.kw + j]
            if scale is not None:
                z = z.mul_(scale)
            out = z if out is None else out.add_(z)
    if bias is not None:
        out = out.add_(bias.view(1, -1, 1, 1))
    return out


def _lengthwise(strip):
    """(B, C, A, L) gathered rows or columns -> (B, A * L, C), positions row-major, channels last."""
    return strip.flatten(2).transpose(1, 2).contiguous()


def _strips(x, weight, bias, plan: ConvPlan):
    # Positions with a multiplier != 1 read their corrected taps inside the image along the
    # crossing axis (a tap into the real zero padding keeps factor 1), so the rows (columns) are
    # gathered from x itself; only the gathered rows are padded along their length, for the taps
    # of a row term that reach past the left or right edge.  The taps are gathered from the
    # strips laid out channels-last (each tap one contiguous run of channels).  Per tap row, tap column and corner tap: one
    # gather, one matmul over exactly the corrected positions, one scale, one scatter.  The op
    # count depends on the kernel only, not on the number of boundaries; no copy of the whole
    # map is made.
    s = plan.spec
    out = F.conv2d(x, weight, bias, (s.sh, s.sw), (s.ph, s.pw), (s.dh, s.dw), s.groups)
    if not (out.is_contiguous() or out.is_contiguous(memory_format=torch.channels_last)):
        out = out.contiguous()
    n, c = x.shape[:2]
    g_ = s.groups
    cg = c // g_
    flat_out = out.view(out.shape[0], out.shape[1], -1)   # (H, W) merge in both layouts

    def correct(strip, w, taps, out_index, scale):
        # strip (B, L, C); taps position-major (P * k); w (C_out, C_in / groups, k)
        p = len(out_index)
        k = w.shape[-1]
        gath = strip.index_select(1, taps).view(n, p, k, g_, cg).permute(0, 3, 1, 2, 4)
        wt = w.view(g_, -1, cg, k).permute(0, 1, 3, 2).reshape(g_, -1, k * cg)
        z = torch.matmul(wt, gath.reshape(n, g_, p, k * cg).transpose(2, 3))   # (B, groups, C_out / groups, P)
        flat_out.index_add_(2, out_index, z.view(n, -1, p).mul_(scale))

    row_strips = {}
    for i, in_rows, taps, out_index, scale in plan.rows:
        strip = _lengthwise(F.pad(x.index_select(2, in_rows), (s.pw, s.pw)))
        row_strips[i] = strip
        correct(strip, weight[:, :, i, :], taps, out_index, scale)
    for j, in_cols, taps, out_index, scale in plan.cols:
        strip = _lengthwise(F.pad(x.index_select(3, in_cols), (0, 0, s.ph, s.ph)))
        correct(strip, weight[:, :, :, j], taps, out_index, scale)
    for i, j, in_index, out_index, scale in plan.corners:
        correct(row_strips[i], weight[:, :, i, j:j + 1], in_index, out_index, scale)
    return out


def valued_padding_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                          plan: ConvPlan) -> torch.Tensor:
    """The conv of `plan.spec` on x with PBC's valued padding (module docstring, Eq. 2).

    weight and bias are used as given (already cast by the caller, as ComfyUI's ops do); x is
    (B, C, H, W) in any float dtype and memory format, H x W equal to the plan's input size.
    The fused kernel runs where `runs_fused` says so; elsewhere the plan's pure-torch form.
    """
    if tuple(x.shape[-2:]) != plan.in_size:
        raise ValueError(f"plan was made for a {plan.in_size} map, got {tuple(x.shape[-2:])}")
    s = plan.spec
    if plan.method == "identity":
        return F.conv2d(x, weight, bias, (s.sh, s.sw), (s.ph, s.pw), (s.dh, s.dw), s.groups)
    if runs_fused(plan, x, weight, bias):
        return fused.fused_conv2d(x, weight, bias, plan.multiplier_table(x.device),
                                  (s.sh, s.sw), (s.dh, s.dw))
    p = plan.tensors(x.device, x.dtype)
    return _per_tap(x, weight, bias, p) if p.method == "per_tap" else _strips(x, weight, bias, p)


def runs_fused(plan: ConvPlan, x: torch.Tensor, weight: torch.Tensor,
               bias: torch.Tensor | None) -> bool:
    """Whether `valued_padding_conv2d` runs the fused Triton kernel for this call: the plan asks
    for it (method "fused"; "auto" never does, and never imports Triton) and the kernel can run
    it (valued_padding_triton.unsupported_reason)."""
    if plan.method == "identity" or plan.fused == "never":
        return False
    reason = fused.unsupported_reason(x, weight, bias, plan.spec.groups)
    if reason is not None and plan.fused == "always" and reason not in _told:
        _told.add(reason)
        log.info("valued padding: method 'fused' runs the %s form here: %s", plan.method, reason)
    return reason is None


_told: set = set()   # fallback reasons already logged
