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

Encodings for inference are cached per (grid, mode, seed, L, dim, base, device, dtype).
"""
from __future__ import annotations

import functools
from typing import Sequence

import torch

DEFAULT_BASE = 10000.0
POSITION_MODES = ("linspace", "random", "first", "interpolate", "ntk")
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

def sincos_1d(pos: torch.Tensor, dim: int, base: float = DEFAULT_BASE) -> torch.Tensor:
    """DiT/MAE ``get_1d_sincos_pos_embed_from_grid`` at arbitrary positions.

    ``pos``: any shape (...,), integer or fractional.  Returns (..., dim) in float64:
    ``[sin(pos * omega), cos(pos * omega)]`` with ``omega_k = base ** (-k / (dim / 2))``.
    """
    if dim % 2:
        raise ValueError(f"sin-cos dimension must be even, got {dim}")
    half = dim // 2
    omega = torch.arange(half, dtype=torch.float64, device=pos.device) / (dim / 2.0)
    omega = 1.0 / (float(base) ** omega)
    out = pos.to(torch.float64).unsqueeze(-1) * omega
    return torch.cat([torch.sin(out), torch.cos(out)], dim=-1)


def sincos_2d(rows: torch.Tensor, cols: torch.Tensor, dim: int,
              base: float | Sequence[float] = DEFAULT_BASE) -> torch.Tensor:
    """DiT's 2-D sin-cos encoding at the grid ``rows x cols`` (row-major tokens).

    ``rows`` (n_h,) or (B, n_h) and ``cols`` (n_w,) or (B, n_w): positions along each axis.
    ``base``: one base, or (row_base, col_base).  Returns (n_h*n_w, dim) or (B, n_h*n_w, dim) in
    float64; channels [0, dim/2) encode the column, [dim/2, dim) the row (official ordering).
    """
    if dim % 4:
        raise ValueError(f"2-D sin-cos needs a width divisible by 4, got {dim}")
    row_base, col_base = (base, base) if not isinstance(base, (tuple, list)) else base
    er = sincos_1d(rows, dim // 2, row_base)  # (..., n_h, dim/2)
    ec = sincos_1d(cols, dim // 2, col_base)  # (..., n_w, dim/2)
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
            f"'first' or 'ntk' (a model trained with RPE-2D on a larger L extrapolates further)")


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
    if mode in ("first", "ntk"):
        return torch.arange(n, dtype=torch.float64)
    # interpolate
    if n == 1:
        return torch.zeros(1, dtype=torch.float64)
    return torch.linspace(0, L - 1, n, dtype=torch.float64)


def grid_positions(grid, max_positions, mode: str = "linspace", seed: int = 0):
    """(rows, cols) float64 positions for a grid (n_h, n_w) with L = max_positions (int or pair)."""
    n_h, n_w = _pair(grid)
    L_h, L_w = _pair(max_positions)
    g = torch.Generator().manual_seed(int(seed))
    rows = inference_positions(n_h, L_h, mode, seed, "rows", g)
    cols = inference_positions(n_w, L_w, mode, seed, "columns", g)
    return rows, cols


@functools.lru_cache(maxsize=64)
def _cached_encoding(n_h, n_w, mode, seed, L_h, L_w, dim, base, device, dtype):
    rows, cols = grid_positions((n_h, n_w), (L_h, L_w), mode, seed)
    if mode == "ntk":
        bases = (ntk_base(n_h, L_h, dim // 2, base), ntk_base(n_w, L_w, dim // 2, base))
    else:
        bases = (base, base)
    emb = sincos_2d(rows, cols, dim, bases).to(device=device, dtype=dtype)
    emb.requires_grad_(False)
    return emb


def position_encoding(grid, dim: int, max_positions=None, mode: str = "first", seed: int = 0,
                      device=None, dtype=torch.float32, base: float = DEFAULT_BASE) -> torch.Tensor:
    """Cached (n_h*n_w, dim) encoding of a grid (n_h, n_w) under a position mode.

    ``max_positions`` (L, int or pair) defaults to the grid itself.  The returned tensor is shared
    by every caller with the same key: treat it as read-only.
    """
    n_h, n_w = _pair(grid)
    L_h, L_w = _pair(max_positions if max_positions is not None else (n_h, n_w))
    seed = int(seed) if mode == "random" else 0  # the seed only matters for `random`
    device = torch.device(device) if device is not None else torch.device("cpu")
    return _cached_encoding(n_h, n_w, mode, seed, L_h, L_w, int(dim), float(base), device, dtype)


def official_pos_embed(dim: int, grid) -> torch.Tensor:
    """The ``pos_embed`` the official DiT stores for a grid: sin-cos at arange, float32 (n, dim)."""
    n_h, n_w = _pair(grid)
    return sincos_2d(torch.arange(n_h), torch.arange(n_w), dim).float()


def clear_cache() -> None:
    _cached_encoding.cache_clear()
