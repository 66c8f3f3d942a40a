"""Positions and 2-D sin-cos encodings for Diffusion Transformers (RPE-2D).

What this file implements, and where it comes from:

* **DiT's fixed 2-D sin-cos encoding** (Peebles & Xie, "Scalable Diffusion Models with
  Transformers", ICCV 2023; facebookresearch/DiT ``models.py``, ``get_2d_sincos_pos_embed``, itself
  from MAE).  For a model width D, each axis gets D/2 channels; within an axis the first D/4
  channels are ``sin(pos * omega_k)`` and the last D/4 are ``cos(pos * omega_k)`` with
  ``omega_k = 1 / base ** (k / (D/4))``, k = 0..D/4-1, base = 10000.  Tokens are row-major
  (token index = row * width + col).  **Ordering (checked against the official code):** the
  official code builds ``np.meshgrid(grid_w, grid_h)`` so ``grid[0]`` holds the *column* index,
  and encodes ``grid[0]`` into the first half -- the first D/2 channels encode the **column**
  (x) position and the last D/2 the **row** (y) position, despite the variable being named
  ``emb_h``.  We evaluate exactly that formula (in float64, then cast) at arbitrary, possibly
  fractional, row and column positions, so that at ``arange`` it reproduces the ``pos_embed``
  stored in the official checkpoints.
* **RPE-2D training positions** (Liu, Hou et al., arXiv 2503.18719; randomized positional
  encodings of Ruoss et al., ACL 2023, applied per axis): for a grid of n_h x n_w patches, sample
  n_h sorted distinct integers from [0, L) for the rows and, independently, n_w for the columns.
  The model learns the *order* of patches; at a larger test grid every position is one it saw.
* **Inference position modes** (our choices, docs/DESIGN.md section 3):
  ``linspace`` round(linspace(0, L-1, n)) (default; rounding as ``torch.round``, half to even),
  ``random`` a seeded sorted subset of [0, L) (as Ruoss et al.),
  ``first`` 0..n-1 (plain extrapolation, what a vanilla DiT does),
  ``interpolate`` linspace(0, L-1, n) without rounding (positional interpolation onto the trained
  grid, Chen et al. 2023 "Extending context window ... via positional interpolation", here keeping
  both end points on the trained grid), for models trained without RPE-2D,
  ``ntk`` positions 0..n-1 with the sin-cos base scaled per axis, NTK-aware scaling
  (bloc97, 2023; "YaRN", Peng et al. 2023, section 3.1): base' = base * s ** (d / (d - 2)) with
  s = max(1, n / L) and d = D/2 the channels of one axis, which divides the lowest frequency by
  exactly s (interpolates it) and leaves the highest one unchanged (extrapolates it).
* ``yarn`` positions 0..n-1 with each frequency blended between interpolation and extrapolation
  by its wavelength ("YaRN", Peng et al. 2023, section 3.2 "NTK-by-parts", per axis as in FiT's
  VisionYaRN, Lu et al., arXiv 2402.12376): with r_k = L * omega_k / (2 pi) the number of
  rotations of frequency k over the trained length, gamma_k = clamp((r_k - alpha) / (beta - alpha),
  0, 1), alpha = 1, beta = 32, omega'_k = (1 - gamma_k) * omega_k / s + gamma_k * omega_k; and an
  attention temperature sqrt(1/t) = 0.1 ln s + 1 (section 3.4) that RoPE models apply by scaling
  the rotation (q and k of that axis) -- sin-cos tables added to the tokens have no such hook.

One definition of the modes serves both ways a DiT meets positions: sin-cos tables added to the
tokens (DiT, SD3's ``pos_embed``, PixArt's table, ``spaced_axis_encoding``) and rotary embeddings
(Flux's 3-axis RoPE, the pack's RoPE DiT): per axis the positions (``inference_positions``,
``remap_positions``) and the frequencies (``mode_frequencies``); ``rope_axis`` builds Flux's
rotation matrices from them, ``rope_grid`` the 2-D axial RoPE of the pack's RoPE DiT (row half,
column half of each head; RoFormer, Su et al., arXiv 2104.09864, eq. 34 per channel pair,
``apply_rope``). Axes are handled one by one, and an axis with n <= L (``axis_active``) is left
exactly as it was (docs/DESIGN.md section 9).

Encodings for inference are cached per (grid, mode, seed, L, dim, base, device, dtype), RoPE
rotations per (grid, mode, seed, L, head dim, theta, device).
"""
from __future__ import annotations

import functools
import math
from typing import Sequence

import torch

DEFAULT_BASE = 10000.0
POSITION_MODES = ("linspace", "random", "first", "interpolate", "ntk", "yarn")
#: The modes of the RPE-2D DiT Loader's combo (its saved workflows keep their values); yarn came
#: with the DiT Position Mode node.
LOADER_MODES = ("linspace", "random", "first", "interpolate", "ntk")
#: YaRN's ramp ends: frequencies with fewer than ALPHA rotations over the trained length are
#: interpolated, those with more than BETA extrapolated (Peng et al. 2023, section 3.2).
YARN_ALPHA = 1.0
YARN_BETA = 32.0
#: Where a ComfyUI MODEL carries its position mode: model_options["transformer_options"][KEY] =
#: {"mode": one of POSITION_MODES, "seed": int}, set by the RPE-2D DiT Loader and read by the DiT
#: adapter (nodes/rpe2d_loader.py) from the transformer_options the sampler passes it.
POSITION_MODE_KEY = "posenc_position_mode"
#: Modes that need n distinct integer positions inside [0, L), so n <= L.
DISTINCT_MODES = ("linspace", "random")


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"expected an int or a pair (rows, cols), got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


# --------------------------------------------------------------------------------------------
# Sin-cos encodings
# --------------------------------------------------------------------------------------------

def axis_frequencies(dim: int, base: float = DEFAULT_BASE, device=None) -> torch.Tensor:
    """The dim/2 frequencies of one axis, float64: omega_k = base ** (-k / (dim / 2)), k = 0..dim/2-1
    (DiT's sin-cos and Flux's RoPE share this form: Flux writes the exponent as 2k/dim)."""
    if dim % 2:
        raise ValueError(f"sin-cos dimension must be even, got {dim}")
    omega = torch.arange(dim // 2, dtype=torch.float64, device=device) / (dim / 2.0)
    return 1.0 / (float(base) ** omega)


def axis_scale(n: int, L: float) -> float:
    """s = n / L, the axis's scale factor, at least 1 (at or below the trained length: 1)."""
    return max(1.0, n / float(L))


def axis_active(n: int, L: float) -> bool:
    """Whether a position mode changes an axis of n tokens with L trained positions: only above L."""
    return n > L


def yarn_ramp(omega: torch.Tensor, L: float, alpha: float = YARN_ALPHA,
              beta: float = YARN_BETA) -> torch.Tensor:
    """YaRN's gamma per frequency: 0 (interpolate) below alpha rotations over the trained length L,
    1 (extrapolate) above beta, linear in between; r = L * omega / (2 pi)."""
    r = float(L) * omega / (2.0 * math.pi)
    return ((r - alpha) / (beta - alpha)).clamp(0.0, 1.0)


def yarn_mscale(s: float) -> float:
    """YaRN's attention temperature as a q/k scale: sqrt(1/t) = 0.1 ln s + 1 (1 for s <= 1)."""
    return 1.0 if s <= 1.0 else 0.1 * math.log(s) + 1.0


def mode_frequencies(dim: int, n: int, L: float, mode: str, base: float = DEFAULT_BASE,
                     device=None, length: float | None = None) -> torch.Tensor:
    """An axis's frequencies under a mode (float64, dim/2), s = max(1, n / L): ``ntk`` takes the
    base base * s ** (dim / (dim - 2)); ``yarn`` blends omega / s and omega by ``yarn_ramp`` over
    the trained length ``length`` in position units (default L: one unit per token); every other
    mode, and every mode with n <= L, keeps them."""
    if mode == "ntk":
        return axis_frequencies(dim, ntk_base(n, L, dim, base), device)
    omega = axis_frequencies(dim, base, device)
    s = axis_scale(n, L)
    if mode == "yarn" and s > 1.0:
        gamma = yarn_ramp(omega, L if length is None else length)
        omega = (1.0 - gamma) * omega / s + gamma * omega
    return omega


def sincos_1d(pos: torch.Tensor, dim: int, base: float = DEFAULT_BASE,
              omega: torch.Tensor | None = None) -> torch.Tensor:
    """DiT/MAE ``get_1d_sincos_pos_embed_from_grid`` at arbitrary positions.

    ``pos``: any shape (...,), integer or fractional.  Returns (..., dim) in float64:
    ``[sin(pos * omega), cos(pos * omega)]`` with ``omega_k = base ** (-k / (dim / 2))``, or the
    given ``omega`` (dim/2 frequencies, e.g. from ``mode_frequencies``).
    """
    if omega is None:
        omega = axis_frequencies(dim, base, pos.device)
    elif omega.shape[-1] * 2 != dim:
        raise ValueError(f"{omega.shape[-1]} frequencies for a sin-cos dimension of {dim}")
    out = pos.to(torch.float64).unsqueeze(-1) * omega
    return torch.cat([torch.sin(out), torch.cos(out)], dim=-1)


def sincos_2d(rows: torch.Tensor, cols: torch.Tensor, dim: int,
              base: float | Sequence[float] = DEFAULT_BASE, omegas=None) -> torch.Tensor:
    """DiT's 2-D sin-cos encoding at the grid ``rows x cols`` (row-major tokens).

    ``rows`` (n_h,) or (B, n_h) and ``cols`` (n_w,) or (B, n_w): positions along each axis.
    ``base``: one base, or (row_base, col_base).  Returns (n_h*n_w, dim) or (B, n_h*n_w, dim) in
    float64; channels [0, dim/2) encode the column, [dim/2, dim) the row (official ordering).
    """
    if dim % 4:
        raise ValueError(f"2-D sin-cos needs a width divisible by 4, got {dim}")
    row_base, col_base = (base, base) if not isinstance(base, (tuple, list)) else base
    row_omega, col_omega = omegas if omegas is not None else (None, None)
    er = sincos_1d(rows, dim // 2, row_base, row_omega)  # (..., n_h, dim/2)
    ec = sincos_1d(cols, dim // 2, col_base, col_omega)  # (..., n_w, dim/2)
    n_h, n_w = er.shape[-2], ec.shape[-2]
    lead = torch.broadcast_shapes(er.shape[:-2], ec.shape[:-2])
    er = er.unsqueeze(-2).expand(*lead, n_h, n_w, dim // 2)
    ec = ec.unsqueeze(-3).expand(*lead, n_h, n_w, dim // 2)
    return torch.cat([ec, er], dim=-1).reshape(*lead, n_h * n_w, dim)


def ntk_base(n: int, L: int, axis_dim: int, base: float = DEFAULT_BASE) -> float:
    """NTK-aware base for one axis: base * s ** (d / (d - 2)), s = max(1, n / L), d = axis_dim."""
    s = max(1.0, n / float(L))
    if axis_dim <= 2 or s == 1.0:
        return float(base)
    return float(base) * s ** (axis_dim / (axis_dim - 2.0))


# --------------------------------------------------------------------------------------------
# Positions
# --------------------------------------------------------------------------------------------

def _check_distinct(n: int, L: int, mode: str, axis: str = "") -> None:
    if n < 1:
        raise ValueError(f"grid size along {axis or 'an axis'} must be >= 1, got {n}")
    if L < 1:
        raise ValueError(f"max_positions L must be >= 1, got {L}")
    if n > L:
        raise ValueError(
            f"position mode '{mode}' needs {n} distinct positions{' for the ' + axis if axis else ''}"
            f" but the model only knows L={L}; use a smaller size, or mode 'interpolate', "
            f"'first', 'ntk' or 'yarn' (a model trained with RPE-2D on a larger L extrapolates further)")


def sample_training_positions(batch: int, n: int, L: int,
                              generator: torch.Generator | None = None,
                              device: torch.device | str | None = None) -> torch.Tensor:
    """RPE-2D training positions for one axis: (batch, n) int64, each row n sorted distinct
    integers drawn uniformly without replacement from [0, L) (Ruoss et al. 2023, per axis)."""
    _check_distinct(n, L, "rpe2d training")
    keys = torch.rand(batch, L, generator=generator)
    pos = keys.argsort(dim=1)[:, :n].sort(dim=1).values
    return pos.to(device) if device is not None else pos


def inference_positions(n: int, L: int, mode: str = "linspace", seed: int = 0,
                        axis: str = "", generator: torch.Generator | None = None) -> torch.Tensor:
    """Positions (n,) float64 for one axis at inference.  See the module docstring for modes.

    ``generator`` is used for ``random`` (so rows and columns of one grid draw different subsets
    from one seed); without it a generator seeded with ``seed`` is made.
    """
    if mode not in POSITION_MODES:
        raise ValueError(f"unknown position mode {mode!r}; choose one of {', '.join(POSITION_MODES)}")
    if mode in DISTINCT_MODES:
        _check_distinct(n, L, mode, axis)
    elif n < 1:
        raise ValueError(f"grid size must be >= 1, got {n}")
    if mode == "linspace":
        return torch.linspace(0, L - 1, n, dtype=torch.float64).round()
    if mode == "random":
        g = generator if generator is not None else torch.Generator().manual_seed(int(seed))
        return torch.randperm(L, generator=g)[:n].sort().values.to(torch.float64)
    if mode in ("first", "ntk", "yarn"):
        return torch.arange(n, dtype=torch.float64)
    # interpolate
    if n == 1:
        return torch.zeros(1, dtype=torch.float64)
    return torch.linspace(0, L - 1, n, dtype=torch.float64)


def _mode_pair(mode) -> tuple[str, str]:
    """A mode for both axes, or (row_mode, col_mode)."""
    if isinstance(mode, str):
        return mode, mode
    row_mode, col_mode = mode
    return str(row_mode), str(col_mode)


def grid_positions(grid, max_positions, mode="linspace", seed: int = 0):
    """(rows, cols) float64 positions for a grid (n_h, n_w) with L = max_positions (int or pair);
    ``mode``: one mode or (row_mode, col_mode)."""
    n_h, n_w = _pair(grid)
    L_h, L_w = _pair(max_positions)
    row_mode, col_mode = _mode_pair(mode)
    g = torch.Generator().manual_seed(int(seed))
    rows = inference_positions(n_h, L_h, row_mode, seed, "rows", g)
    cols = inference_positions(n_w, L_w, col_mode, seed, "columns", g)
    return rows, cols


@functools.lru_cache(maxsize=64)
def _cached_encoding(n_h, n_w, modes, seed, L_h, L_w, dim, base, device, dtype):
    rows, cols = grid_positions((n_h, n_w), (L_h, L_w), modes, seed)
    omegas = (mode_frequencies(dim // 2, n_h, L_h, modes[0], base),
              mode_frequencies(dim // 2, n_w, L_w, modes[1], base))
    emb = sincos_2d(rows, cols, dim, base, omegas).to(device=device, dtype=dtype)
    emb.requires_grad_(False)
    return emb


def position_encoding(grid, dim: int, max_positions=None, mode="first", seed: int = 0,
                      device=None, dtype=torch.float32, base: float = DEFAULT_BASE) -> torch.Tensor:
    """Cached (n_h*n_w, dim) encoding of a grid (n_h, n_w) under a position mode (one, or
    (row_mode, col_mode)).

    ``max_positions`` (L, int or pair) defaults to the grid itself.  The returned tensor is shared
    by every caller with the same key: treat it as read-only.
    """
    n_h, n_w = _pair(grid)
    L_h, L_w = _pair(max_positions if max_positions is not None else (n_h, n_w))
    modes = _mode_pair(mode)
    seed = int(seed) if "random" in modes else 0  # the seed only matters for `random`
    device = torch.device(device) if device is not None else torch.device("cpu")
    return _cached_encoding(n_h, n_w, modes, seed, L_h, L_w, int(dim), float(base), device, dtype)


def axis_modes(grid, base_grid, mode: str, default: str):
    """(row_mode, col_mode) for a grid (n_h, n_w): ``mode`` on an axis larger than the base grid,
    ``default`` (the model's own mode) on an axis at or below it -- the node's per-axis rule."""
    n_h, n_w = _pair(grid)
    b_h, b_w = _pair(base_grid)
    return (mode if axis_active(n_h, b_h) else default,
            mode if axis_active(n_w, b_w) else default)


# --------------------------------------------------------------------------------------------
# Modes at given positions: rotary embeddings (Flux) and sin-cos tables (SD3)
# --------------------------------------------------------------------------------------------

#: Modes that work on any model's positions (no RPE-2D training needed).
VANILLA_MODES = ("first", "interpolate", "ntk", "yarn")


def remap_positions(pos: torch.Tensor, n: int, L: float, mode: str) -> torch.Tensor:
    """Positions of one axis under a mode, for a model whose positions are ``pos`` (n tokens along
    the axis, L trained): ``interpolate`` p * (L - 1) / (n - 1) (0 stays 0: the first row and the
    last, n - 1 -> L - 1, land on the trained grid's ends); ``first``, ``ntk``, ``yarn`` keep them.
    At n <= L every mode keeps them.  float64."""
    if mode not in VANILLA_MODES:
        raise ValueError(f"position mode {mode!r} needs a model trained with RPE-2D positions; "
                         f"use one of {', '.join(VANILLA_MODES)}")
    pos = pos.to(torch.float64)
    if mode == "interpolate" and axis_active(n, L) and n > 1:
        return pos * ((float(L) - 1.0) / (n - 1.0))
    return pos


def rope_axis(pos: torch.Tensor, dim: int, theta: float, n: int, L: float, mode: str) -> torch.Tensor:
    """Flux's RoPE rotations for one axis under a mode: (..., dim/2, 2, 2) float32 holding
    [[cos, -sin], [sin, cos]] of p_i * omega_k (the layout of Flux's ``rope``), with the mode's
    positions (``remap_positions``) and frequencies (``mode_frequencies``, base theta); ``yarn``
    also scales the rotations by ``yarn_mscale(s)``, which multiplies this axis's part of q and k."""
    pos = remap_positions(pos, n, L, mode)
    omega = mode_frequencies(dim, n, L, mode, theta, pos.device)
    ang = pos.unsqueeze(-1) * omega
    cos, sin = torch.cos(ang), torch.sin(ang)
    out = torch.stack([cos, -sin, sin, cos], dim=-1).reshape(*ang.shape, 2, 2)
    if mode == "yarn":
        out = out * yarn_mscale(axis_scale(n, L))
    return out.to(torch.float32)


def rope_combine(row_rot: torch.Tensor, col_rot: torch.Tensor) -> torch.Tensor:
    """2-D axial RoPE from the axes' rotations: row (..., n_h, d/2, 2, 2) and column
    (..., n_w, d/2, 2, 2) (``rope_axis``) -> (..., n_h*n_w, d, 2, 2) for row-major tokens (token
    index = row * n_w + col).  The **row** rotations come first: head channels [0, d) turn by the
    row position, [d, 2d) by the column position (the order of Flux's ``EmbedND``, which
    concatenates its axes in the order of its ids)."""
    n_h, n_w = row_rot.shape[-4], col_rot.shape[-4]
    lead = torch.broadcast_shapes(row_rot.shape[:-4], col_rot.shape[:-4])
    r = row_rot.unsqueeze(-4).expand(*lead, n_h, n_w, *row_rot.shape[-3:])
    c = col_rot.unsqueeze(-5).expand(*lead, n_h, n_w, *col_rot.shape[-3:])
    return torch.cat([r, c], dim=-3).reshape(*lead, n_h * n_w, r.shape[-3] + c.shape[-3], 2, 2)


def rope_grid(grid, head_dim: int, max_positions=None, mode="first", seed: int = 0,
              theta: float = DEFAULT_BASE, rows: torch.Tensor | None = None,
              cols: torch.Tensor | None = None) -> torch.Tensor:
    """The 2-D axial RoPE of a grid (n_h, n_w) for one attention head of ``head_dim`` channels:
    (..., n_h*n_w, head_dim/2, 2, 2) float32 rotations [[cos, -sin], [sin, cos]] (Flux's layout,
    applied to channel pairs (2j, 2j+1)); the first head_dim/2 channels turn by the row position,
    the last head_dim/2 by the column position (``rope_combine``), each axis with ``rope_axis``
    over d = head_dim/2 channels: omega_k = theta^(-2k/d), k = 0..d/2-1.

    With ``rows`` / ``cols`` ((n,) or (B, n)): rotations at those positions, as they are (the
    training positions; a missing axis: 0..n-1).  Otherwise the positions of ``mode`` (one, or
    (row_mode, col_mode)) per axis, L = ``max_positions`` (default: the grid):
    ``linspace`` / ``random`` the RPE-2D positions of ``inference_positions`` (one generator from
    ``seed`` for rows, then columns, as ``grid_positions``) at the trained frequencies;
    ``first``, ``interpolate``, ``ntk``, ``yarn`` ``rope_axis`` of 0..n-1 (``remap_positions``:
    position interpolation, Chen et al. 2023; ``mode_frequencies``: NTK-aware, "YaRN" Peng et al.
    2023 section 3.1, and NTK-by-parts, section 3.2; ``yarn_mscale``: YaRN's temperature,
    section 3.4, a scale of this axis's rotations, so of q and k): an axis with n <= L exactly as
    ``first``."""
    if head_dim % 4:
        raise ValueError(f"2-D RoPE needs a head dimension divisible by 4 (two axes of channel "
                         f"pairs), got {head_dim}")
    d = head_dim // 2
    n_h, n_w = _pair(grid)
    if rows is not None or cols is not None:
        rows = torch.arange(n_h) if rows is None else rows
        cols = torch.arange(n_w) if cols is None else cols
        if rows.shape[-1] != n_h or cols.shape[-1] != n_w:
            raise ValueError(f"got {rows.shape[-1]} row / {cols.shape[-1]} column positions for "
                             f"a grid of {n_h}x{n_w} patches")
        return rope_combine(rope_axis(rows, d, theta, n_h, n_h, "first"),
                            rope_axis(cols, d, theta, n_w, n_w, "first"))
    L_h, L_w = _pair(max_positions if max_positions is not None else (n_h, n_w))
    modes = _mode_pair(mode)
    for m in modes:
        if m not in POSITION_MODES:
            raise ValueError(f"unknown position mode {m!r}; choose one of {', '.join(POSITION_MODES)}")
    g = torch.Generator().manual_seed(int(seed))
    parts = []
    for n, L, m, axis in ((n_h, L_h, modes[0], "rows"), (n_w, L_w, modes[1], "columns")):
        if m in DISTINCT_MODES:
            pos, m = inference_positions(n, L, m, seed, axis, g), "first"
        else:
            if n < 1:
                raise ValueError(f"grid size must be >= 1, got {n}")
            pos = torch.arange(n, dtype=torch.float64)
        parts.append(rope_axis(pos, d, theta, n, L, m))
    return rope_combine(*parts)


@functools.lru_cache(maxsize=64)
def _cached_rope(n_h, n_w, modes, seed, L_h, L_w, head_dim, theta, device):
    out = rope_grid((n_h, n_w), head_dim, (L_h, L_w), modes, seed, theta).to(device)
    out.requires_grad_(False)
    return out


def rope_encoding(grid, head_dim: int, max_positions=None, mode="first", seed: int = 0,
                  device=None, theta: float = DEFAULT_BASE) -> torch.Tensor:
    """Cached ``rope_grid`` of a position mode (n_h*n_w, head_dim/2, 2, 2) float32, the RoPE
    counterpart of ``position_encoding``: shared by every caller with the same key, read-only."""
    n_h, n_w = _pair(grid)
    L_h, L_w = _pair(max_positions if max_positions is not None else (n_h, n_w))
    modes = _mode_pair(mode)
    seed = int(seed) if "random" in modes else 0
    device = torch.device(device) if device is not None else torch.device("cpu")
    return _cached_rope(n_h, n_w, modes, seed, L_h, L_w, int(head_dim), float(theta), device)


def apply_rope(x: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """Rotate the channel pairs (x_2j, x_2j+1) of q or k (..., T, head_dim) by ``rot``
    (..., T, head_dim/2, 2, 2): x' = R x, i.e. (x_2j cos - x_2j+1 sin, x_2j sin + x_2j+1 cos),
    RoFormer's eq. 34 (Su et al., arXiv 2104.09864); Flux's ``apply_rope1`` (ComfyUI
    comfy/ldm/flux/math.py), in float32 like it, back to x's dtype."""
    x_ = x.to(rot.dtype).reshape(*x.shape[:-1], -1, 1, 2)
    out = rot[..., 0] * x_[..., 0] + rot[..., 1] * x_[..., 1]
    return out.reshape(*x.shape).type_as(x)


def table_positions(n: int, L: int, size: int, mode: str) -> torch.Tensor:
    """Table indices (float64, n) one axis of a centre-cropped table of ``size`` rows reads under
    a mode (SD3's ``cropped_pos_embed``): ``first``/``ntk``/``yarn`` the centred crop
    (size - n) // 2 + i (beyond the table's ends when n > size, evaluated from the sin-cos
    formula); ``interpolate`` top + i (L - 1) / (n - 1) with top = (size - L) // 2, inside the
    trained centre L rows.  At n <= L: the centred crop, as the unpatched model."""
    if mode not in VANILLA_MODES:
        raise ValueError(f"position mode {mode!r} needs a model trained with RPE-2D positions; "
                         f"use one of {', '.join(VANILLA_MODES)}")
    if mode == "interpolate" and axis_active(n, L):
        top = (size - L) // 2
        return top + remap_positions(torch.arange(n, dtype=torch.float64), n, L, mode)
    return (size - n) // 2 + torch.arange(n, dtype=torch.float64)


def fit_sincos_table(table: torch.Tensor, dim: int, tol: float = 2e-2):
    """(offset a, step c) such that a 2-D sin-cos table (size, size, dim) (DiT/MAE layout: column
    channels first) is sincos_2d at positions a + c * index along both axes, read off channel 0
    (sin(p), omega_0 = 1) and channel dim/4 (cos(p)) of the first row; None if the table does not
    match within ``tol`` (a learned or otherwise different table).  Checked on the first row, the
    first column and the diagonal (a sin-cos table is separable), so a 192 x 192 x 2432 SD3.5
    table costs O(size * dim), not O(size^2 * dim)."""
    size = table.shape[0]
    if size < 2:
        return None
    t = table.to(torch.float64)
    q = dim // 4
    a = math.atan2(float(t[0, 0, 0]), float(t[0, 0, q]))
    c = math.atan2(float(t[0, 1, 0]), float(t[0, 1, q])) - a
    c = (c + math.pi) % (2 * math.pi) - math.pi
    idx = a + c * torch.arange(size, dtype=torch.float64)
    first = idx[:1]
    checks = ((sincos_2d(first, idx, dim), t[0]),          # first row: all columns
              (sincos_2d(idx, first, dim), t[:, 0]),       # first column: all rows
              (torch.cat([sincos_1d(idx, dim // 2), sincos_1d(idx, dim // 2)], -1),
               t[torch.arange(size), torch.arange(size)]))   # the diagonal
    if not all(torch.allclose(ref, got, atol=tol, rtol=0) for ref, got in checks):
        return None
    return a, c


def table_axis_encoding(n: int, L: int, size: int, a: float, c: float, dim: int, mode: str,
                        base: float = DEFAULT_BASE) -> torch.Tensor:
    """One axis of a centre-cropped sin-cos table (positions a + c * index, ``fit_sincos_table``)
    under a mode: (n, dim) float64 sin-cos at the table indices ``table_positions`` with the mode's
    frequencies (trained length |c| * L in position units)."""
    idx = table_positions(n, L, size, mode)
    omega = mode_frequencies(dim, n, L, mode, base, length=abs(c) * L)
    return sincos_1d(a + c * idx, dim, omega=omega)


def spaced_axis_encoding(n: int, L: int, c: float, dim: int, mode: str,
                         base: float = DEFAULT_BASE) -> torch.Tensor:
    """One axis of a sin-cos table whose trained positions are c * i, i = 0..L-1 (PixArt: c = 1/2 at
    1024 px), under a mode: (n, dim) float64 sin-cos at c * ``remap_positions(arange(n))`` with the
    mode's frequencies (trained length c * L in position units).  ``first``/``ntk``/``yarn``: c * i;
    ``interpolate``: c * i (L - 1) / (n - 1), inside the trained c * [0, L - 1]."""
    pos = float(c) * remap_positions(torch.arange(n, dtype=torch.float64), n, L, mode)
    omega = mode_frequencies(dim, n, L, mode, base, length=float(c) * L)
    return sincos_1d(pos, dim, omega=omega)


def pixart_pe_args(h: int, w: int, patch: int, pe_interpolation=None, pe_precision=None):
    """(pe_interpolation, base_size) that PixArt's forward in ComfyUI 0.3.64 (comfy/ldm/pixart/
    pixartms.py, ``PixArtMS.forward_orig``) passes to its sin-cos table for a latent of h x w cells:
    c_res = (h + w) // 2; the model's ``pe_interpolation``, or round(c_res / 64, pe_precision or 0)
    when it has none or has a ``pe_precision``; base_size = round(c_res / 64) * 64 // patch (Python's
    round, half to even, as there).  Along an axis of n tokens its positions are then
    i * base_size / (n * pe_interpolation): both axes span the same range, set by the mean side."""
    c_res = (int(h) + int(w)) // 2
    pe = pe_interpolation
    if pe is None or pe_precision is not None:
        pe = round(c_res / (512 / 8.0), pe_precision or 0)
    return pe, (round(c_res / 64) * 64) // int(patch)


def pixart_spacing(base_cells: int, patch: int, pe_interpolation=None, pe_precision=None) -> float:
    """c, the step between neighbouring positions of PixArt at its base size (a square latent of
    ``base_cells`` per side, L = base_cells // patch tokens): base_size / (L * pe_interpolation) from
    ``pixart_pe_args`` (1/2 for the 1024 px checkpoints: positions 0, 0.5, .. 31.5)."""
    pe, base_size = pixart_pe_args(base_cells, base_cells, patch, pe_interpolation, pe_precision)
    L = int(base_cells) // int(patch)
    if not pe or pe <= 0 or base_size <= 0 or L < 1:
        raise ValueError(f"PixArt has no usable positions at a base of {base_cells} latent cells "
                         f"(pe_interpolation {pe!r}, base_size {base_size}: its base_size rounds to 0 "
                         f"below 33 cells, and a pe_interpolation of 0 divides by 0)")
    return base_size / (L * float(pe))


def combine_axes(row_part: torch.Tensor, col_part: torch.Tensor) -> torch.Tensor:
    """(n_h*n_w, D) row-major tokens from per-axis parts (n_h, D/2) and (n_w, D/2): column channels
    first, as DiT/MAE/SD3 tables."""
    n_h, n_w = row_part.shape[0], col_part.shape[0]
    return torch.cat([col_part.unsqueeze(0).expand(n_h, n_w, -1),
                      row_part.unsqueeze(1).expand(n_h, n_w, -1)], dim=-1).reshape(n_h * n_w, -1)


def official_pos_embed(dim: int, grid) -> torch.Tensor:
    """The ``pos_embed`` the official DiT stores for a grid: sin-cos at arange, float32 (n, dim)."""
    n_h, n_w = _pair(grid)
    return sincos_2d(torch.arange(n_h), torch.arange(n_w), dim).float()


def clear_cache() -> None:
    _cached_encoding.cache_clear()
    _cached_rope.cache_clear()
