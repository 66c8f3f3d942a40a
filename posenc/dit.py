"""A Diffusion Transformer that takes explicit row and column positions.

The architecture and parameter names follow facebookresearch/DiT ``models.py`` (Peebles & Xie,
ICCV 2023), so that the official DiT-XL/2 256 and 512 checkpoints load with strict key matching:
``x_embedder.proj``, ``t_embedder.mlp.{0,2}``, ``y_embedder.embedding_table``,
``blocks.N.attn.{qkv,proj}``, ``blocks.N.mlp.{fc1,fc2}``, ``blocks.N.adaLN_modulation.1``,
``final_layer.{linear,adaLN_modulation.1}`` and the buffer ``pos_embed`` (the fixed sin-cos of the
training grid; kept in the state dict for compatibility and as a check, never trained).

Differences from the official module, none of which changes its output at the trained grid:

* positions are an input: the sin-cos encoding (posenc/position_modes.py) is evaluated at the given row
  and column positions (default 0..n-1, which reproduces the stored ``pos_embed``);
* any grid of h x w patches, non-square unpatchify;
* optional micro-conditioning on a random resize-and-crop (docs/DESIGN.md section 3): crop offset and
  pre-crop size, each value embedded with sin-cos features, each pair through its own MLP
  (``crop_embedder.mlp``, ``size_embedder.mlp``), added to the timestep + class embedding.  The
  four numbers are relative to the crop size h x w (in latent pixels): ``(top / h, left / w,
  H' / h - 1, W' / w - 1)`` where H' x W' is the resized image before cropping.  All zeros means
  "no crop", the default at inference; relative values keep that meaning at any resolution.

**Two position encodings** (``DiTConfig.position_encoding``, docs/DESIGN.md sections 3 and 9):

* ``"sincos"`` (default, the official DiT): the 2-D sin-cos at the row and column positions is
  added to the patch tokens once, before the blocks.
* ``"rope"``: nothing is added to the tokens and there is no ``pos_embed`` (neither buffer nor
  checkpoint tensor); in every attention block q and k of every head are rotated by 2-D axial
  rotary position embedding, as Flux does (ComfyUI comfy/ldm/flux/math.py ``rope`` /
  ``apply_rope``): the head dim d_h is split in halves, channels [0, d_h/2) rotated by the
  **row** position, [d_h/2, d_h) by the **column** position; within a half, the channel pair
  (2k, 2k+1) turns by the angle p * omega_k with omega_k = theta^(-2k/(d_h/2)),
  theta = ``rope_theta`` (10000), by the matrix [[cos, -sin], [sin, cos]] (RoFormer, Su et al.,
  arXiv 2104.09864, eq. 34, applied per axis).  So q_i . k_j depends on the positions only
  through the differences row_i - row_j and col_i - col_j (RoFormer eq. 16).  Positions come in
  as for sin-cos (``rows``/``cols``, or a ``mode``); the modes are ``position_modes.rope_grid``,
  YaRN's temperature included.  The head dim must be divisible by 4.

Loading (``load_dit``): safetensors, or ``torch.load(weights_only=True)`` for .pt/.pth/.ckpt/.bin.
A pickle that needs arbitrary code, a compressed (zip-bomb) archive and torch's legacy pickle
format are refused before anything is unpickled, a tensor stretched over one stored element after;
a file whose content is not what its suffix says is named as renamed; truncated/corrupt files and
state dicts that are not a DiT fail at once with a message naming the problem.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pickle
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import position_modes
from .checkpoint_files import (LEGACY_PICKLE, SAFETENSORS, TORCH_ARCHIVE, CheckpointError, check_tensors,
                               check_torch_archive, file_format, read_safetensors, read_shapes)

MICRO_SCALE = 1000.0  # relative micro-conditioning values are scaled like timesteps before sin-cos
METADATA_FORMAT = "posenc.dit.v1"


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """GLIDE/DiT sinusoidal embedding [cos, sin] of (possibly fractional) scalars (N,) -> (N, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32,
                                                           device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class PatchEmbed(nn.Module):
    """timm PatchEmbed as DiT uses it (conv p x p, stride p; tokens row-major), any h x w."""

    def __init__(self, patch_size, in_channels, hidden_size):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, hidden_size, patch_size, stride=patch_size, bias=True)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden_size, frequency_embedding_size=256):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(frequency_embedding_size, hidden_size), nn.SiLU(),
                                 nn.Linear(hidden_size, hidden_size))
        self.frequency_embedding_size = frequency_embedding_size

    def forward(self, t):
        emb = timestep_embedding(t, self.frequency_embedding_size)
        return self.mlp(emb.to(self.mlp[0].weight.dtype))


class PairEmbedder(nn.Module):
    """Two scalars -> sin-cos features (each ``freq // 2``) -> MLP.  Micro-conditioning."""

    def __init__(self, hidden_size, frequency_embedding_size=256):
        super().__init__()
        self.frequency_embedding_size = frequency_embedding_size
        self.mlp = nn.Sequential(nn.Linear(frequency_embedding_size, hidden_size), nn.SiLU(),
                                 nn.Linear(hidden_size, hidden_size))

    def forward(self, v):  # v: (N, 2) relative values
        half = self.frequency_embedding_size // 2
        emb = torch.cat([timestep_embedding(v[:, 0] * MICRO_SCALE, half),
                         timestep_embedding(v[:, 1] * MICRO_SCALE, half)], dim=-1)
        return self.mlp(emb.to(self.mlp[0].weight.dtype))


class Attention(nn.Module):
    """timm Attention (qkv with bias, no q/k norm) as in DiT, with PyTorch SDPA."""

    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, rope=None):
        """``rope``: None, or rotations (B or 1, 1, N, head_dim/2, 2, 2) applied to q and k
        (``position_modes.apply_rope``)."""
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k = qkv[0], qkv[1]
        if rope is not None:
            q, k = position_modes.apply_rope(q, rope), position_modes.apply_rope(k, rope)
        x = F.scaled_dot_product_attention(q, k, qkv[2])
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class DiTBlock(nn.Module):
    def __init__(self, hidden_size, num_heads, mlp_hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(hidden_size, mlp_hidden)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size))

    def forward(self, x, c, rope=None):
        sh1, sc1, g1, sh2, sc2, g2 = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + g1.unsqueeze(1) * self.attn(modulate(self.norm1(x), sh1, sc1), rope)
        x = x + g2.unsqueeze(1) * self.mlp(modulate(self.norm2(x), sh2, sc2))
        return x


class FinalLayer(nn.Module):
    def __init__(self, hidden_size, patch_size, out_channels):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, patch_size * patch_size * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


#: The values a string field of DiTConfig may take (checked when a checkpoint's metadata is read).
STRING_CHOICES = {"position_sampling": ("fixed", "rpe2d"), "position_encoding": ("sincos", "rope")}
POSITION_ENCODINGS = STRING_CHOICES["position_encoding"]


@dataclass
class DiTConfig:
    """Everything needed to build a DiT.  ``grid`` is the training grid in patches (rows, cols),
    the shape of ``pos_embed``; ``max_positions`` is RPE-2D's L per axis (vanilla: the grid).
    ``position_encoding``: "sincos" (added to the tokens) or "rope" (2-D axial rotary on q and k,
    base ``rope_theta``; module docstring); files written before it existed are sin-cos."""
    in_channels: int = 4
    patch_size: int = 2
    hidden_size: int = 1152
    depth: int = 28
    num_heads: int = 16
    mlp_hidden: int = 4608
    num_classes: int = 1000       # 0: unconditional
    class_dropout: bool = True    # the embedding table has the extra "null" row for CFG
    learn_sigma: bool = True
    micro_conditioning: bool = False
    grid: tuple = (16, 16)
    max_positions: tuple = (16, 16)
    position_sampling: str = "fixed"   # "fixed" (vanilla sin-cos of arange) or "rpe2d"
    frequency_embedding_size: int = 256
    position_encoding: str = "sincos"  # "sincos" or "rope"
    rope_theta: float = 10000.0

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def out_channels(self) -> int:
        return self.in_channels * (2 if self.learn_sigma else 1)

    def to_metadata(self) -> dict:
        d = asdict(self)
        d["grid"] = list(self.grid)
        d["max_positions"] = list(self.max_positions)
        return {"posenc.format": METADATA_FORMAT, "posenc.dit_config": json.dumps(d)}

    @classmethod
    def from_metadata(cls, metadata: dict | None, source: str = "checkpoint"):
        """The config stored by ``to_metadata``, or None for files without one (official DiT).
        Corrupt metadata (not JSON, wrong types, zero or negative sizes, heads that do not divide
        the width) raises a CheckpointError naming ``source`` (the file)."""
        if not metadata or "posenc.dit_config" not in metadata:
            return None

        def corrupt(why):
            return CheckpointError(f"{source}: corrupt posenc metadata 'posenc.dit_config' ({why}); "
                                   f"the file is damaged or was not written by this pack: re-export it")
        try:
            raw = json.loads(metadata["posenc.dit_config"])
        except ValueError as e:
            raise corrupt(f"not JSON: {e}") from e
        if not isinstance(raw, dict):
            raise corrupt(f"a JSON {type(raw).__name__}, not an object")
        defaults = cls()
        out = {}
        for f in fields(cls):
            if f.name not in raw:
                continue
            v, default = raw[f.name], getattr(defaults, f.name)
            if isinstance(default, tuple):
                ok = (isinstance(v, list) and len(v) == 2
                      and all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in v))
                v = tuple(v) if ok else v
            elif isinstance(default, bool):
                ok = isinstance(v, bool)
            elif isinstance(default, int):
                ok = (isinstance(v, int) and not isinstance(v, bool)
                      and (v >= 0 if f.name == "num_classes" else v > 0))
            elif isinstance(default, float):
                ok = (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                      and v > 1)   # rope_theta: frequencies theta^(-2k/d) must fall with k
                v = float(v) if ok else v
            else:
                ok = v in STRING_CHOICES[f.name]
            if not ok:
                raise corrupt(f"{f.name} = {raw[f.name]!r}")
            out[f.name] = v
        cfg = cls(**out)
        if cfg.hidden_size % cfg.num_heads or cfg.hidden_size % 4:
            raise corrupt(f"hidden_size {cfg.hidden_size} with num_heads {cfg.num_heads}")
        if cfg.position_encoding == "rope" and cfg.head_dim % 4:
            raise corrupt(f"position_encoding 'rope' with head dim {cfg.head_dim} (hidden_size "
                          f"{cfg.hidden_size} / num_heads {cfg.num_heads}), not divisible by 4")
        return cfg


class DiT(nn.Module):
    """DiT with explicit positions.  ``forward(x, t, y, rows=, cols=, pos_embed=, micro=)``."""

    def __init__(self, config: DiTConfig):
        super().__init__()
        cfg = self.config = config
        if cfg.hidden_size % cfg.num_heads:
            raise ValueError(f"hidden size {cfg.hidden_size} is not divisible by {cfg.num_heads} heads")
        if cfg.hidden_size % 4:
            raise ValueError(f"hidden size {cfg.hidden_size} must be divisible by 4 (2-D sin-cos)")
        if cfg.position_encoding not in POSITION_ENCODINGS:
            raise ValueError(f"position_encoding must be one of {', '.join(POSITION_ENCODINGS)}, "
                             f"got {cfg.position_encoding!r}")
        if cfg.position_encoding == "rope" and cfg.head_dim % 4:
            raise ValueError(f"2-D RoPE rotates channel pairs of each head by the row (first half) "
                             f"and the column (second half): the head dim (hidden size "
                             f"{cfg.hidden_size} / {cfg.num_heads} heads = {cfg.head_dim}) must be "
                             f"divisible by 4")
        if cfg.position_encoding == "rope" and not cfg.rope_theta > 1:
            raise ValueError(f"rope_theta must be > 1, got {cfg.rope_theta}")
        D, p = cfg.hidden_size, cfg.patch_size
        self.patch_size = p
        self.in_channels = cfg.in_channels
        self.out_channels = cfg.out_channels
        self.x_embedder = PatchEmbed(p, cfg.in_channels, D)
        self.t_embedder = TimestepEmbedder(D, cfg.frequency_embedding_size)
        if cfg.num_classes > 0:
            self.y_embedder = nn.Module()
            self.y_embedder.embedding_table = nn.Embedding(cfg.num_classes + int(cfg.class_dropout), D)
        else:
            self.y_embedder = None
        if cfg.micro_conditioning:
            self.crop_embedder = PairEmbedder(D, cfg.frequency_embedding_size)
            self.size_embedder = PairEmbedder(D, cfg.frequency_embedding_size)
        # RoPE: a None buffer, so that model.pos_embed exists but no table is stored or loaded.
        self.register_buffer("pos_embed", None if cfg.position_encoding == "rope" else
                             position_modes.official_pos_embed(D, cfg.grid).unsqueeze(0))
        self.blocks = nn.ModuleList([DiTBlock(D, cfg.num_heads, cfg.mlp_hidden) for _ in range(cfg.depth)])
        self.final_layer = FinalLayer(D, p, self.out_channels)
        self.initialize_weights()

    def initialize_weights(self):
        """As the official ``initialize_weights`` (adaLN-Zero); micro-conditioning MLPs end in
        zeros so that adding them to a pre-trained model changes nothing at first."""
        def _basic_init(m):
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        self.apply(_basic_init)
        w = self.x_embedder.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj.bias)
        if self.y_embedder is not None:
            nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for emb in (getattr(self, "crop_embedder", None), getattr(self, "size_embedder", None)):
            if emb is not None:
                nn.init.normal_(emb.mlp[0].weight, std=0.02)
                nn.init.zeros_(emb.mlp[2].weight)
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        for lin in (self.final_layer.adaLN_modulation[-1], self.final_layer.linear):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    # ---------------------------------------------------------------------------------------
    def grid_of(self, x: torch.Tensor) -> tuple[int, int]:
        """Patch grid (rows, cols) of a latent; refuses sizes that are not a multiple of p."""
        H, W = x.shape[-2:]
        p = self.patch_size
        if H % p or W % p:
            raise ValueError(f"latent size {H}x{W} is not a multiple of the patch size {p} "
                             f"(in pixels: a multiple of {p} x the VAE factor, e.g. {8 * p} for an "
                             f"8x VAE)")
        return H // p, W // p

    def unpatchify(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """(N, h*w, p*p*C) -> (N, C, h*p, w*p); non-square grids allowed."""
        c, p = self.out_channels, self.patch_size
        x = x.reshape(x.shape[0], h, w, p, p, c)
        x = torch.einsum("nhwpqc->nchpwq", x)
        return x.reshape(x.shape[0], c, h * p, w * p)

    def encode_positions(self, grid, rows=None, cols=None, mode="first", seed=0,
                         max_positions=None, device=None, dtype=torch.float32):
        """Position encoding (T, D) or (B, T, D).  With ``rows``/``cols`` (n,) or (B, n): sin-cos
        at those positions (not cached); otherwise the cached encoding of ``mode``.  Sin-cos only:
        a RoPE DiT adds nothing to its tokens (``rope_rotations``)."""
        if self.config.position_encoding == "rope":
            raise ValueError("this DiT uses RoPE: nothing is added to its tokens; its positions are "
                             "rotations of q and k (rope_rotations)")
        D = self.config.hidden_size
        if rows is not None or cols is not None:
            h, w = grid
            rows = torch.arange(h, device=device) if rows is None else rows
            cols = torch.arange(w, device=device) if cols is None else cols
            if rows.shape[-1] != h or cols.shape[-1] != w:
                raise ValueError(f"got {rows.shape[-1]} row / {cols.shape[-1]} column positions for "
                                 f"a grid of {h}x{w} patches")
            return position_modes.sincos_2d(rows, cols, D).to(device=device, dtype=dtype)
        L = max_positions if max_positions is not None else self.config.max_positions
        return position_modes.position_encoding(grid, D, L, mode, seed, device, dtype)

    def rope_rotations(self, grid, rows=None, cols=None, mode="first", seed=0, max_positions=None,
                       device=None) -> torch.Tensor:
        """RoPE rotations of a grid, (T, head_dim/2, 2, 2) or (B, T, head_dim/2, 2, 2) float32:
        at ``rows``/``cols`` if given (not cached), else the cached rotations of ``mode`` (one,
        or (row_mode, col_mode)) with L = ``max_positions`` (default: the config's)
        (``position_modes.rope_grid`` / ``rope_encoding``)."""
        cfg = self.config
        if cfg.position_encoding != "rope":
            raise ValueError("this DiT adds sin-cos positions to its tokens; it has no RoPE "
                             "rotations (encode_positions)")
        if rows is not None or cols is not None:
            rows = rows.to(device) if rows is not None else None
            cols = cols.to(device) if cols is not None else None
            return position_modes.rope_grid(grid, cfg.head_dim, theta=cfg.rope_theta,
                                            rows=rows, cols=cols).to(device)
        L = max_positions if max_positions is not None else cfg.max_positions
        return position_modes.rope_encoding(grid, cfg.head_dim, L, mode, seed, device, cfg.rope_theta)

    def embed_condition(self, t, y=None, micro=None):
        """Timestep + class (+ micro-conditioning) embedding c, (N, D)."""
        N = t.shape[0]
        c = self.t_embedder(t)
        cfg = self.config
        if self.y_embedder is not None:
            null = cfg.num_classes if cfg.class_dropout else None
            if y is None:
                if null is None:
                    raise ValueError("this DiT is class-conditional and has no null class: pass labels y")
                y = torch.full((N,), null, dtype=torch.long, device=t.device)
            y = torch.as_tensor(y, device=t.device).long().reshape(-1)
            if y.numel() == 1 and N > 1:
                y = y.expand(N)
            hi = cfg.num_classes + (1 if cfg.class_dropout else 0)
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= hi):
                raise ValueError(f"class label out of range: got {y.tolist()}, this DiT has "
                                 f"{cfg.num_classes} classes (0..{cfg.num_classes - 1}"
                                 f"{f', {cfg.num_classes} = unconditional' if cfg.class_dropout else ''})")
            c = c + self.y_embedder.embedding_table(y)
        if cfg.micro_conditioning:
            if micro is None:
                micro = torch.zeros(N, 4, device=t.device)
            micro = torch.as_tensor(micro, device=t.device, dtype=torch.float32).reshape(-1, 4)
            if micro.shape[0] == 1 and N > 1:
                micro = micro.expand(N, 4)
            c = c + self.crop_embedder(micro[:, :2]) + self.size_embedder(micro[:, 2:])
        return c

    def forward(self, x, t, y=None, rows=None, cols=None, pos_embed=None, micro=None,
                mode="first", seed=0, max_positions=None):
        """x (N, C, H, W) latent; t (N,) timesteps (fractional allowed); y (N,) class labels
        (None: the null class).  Positions: ``pos_embed`` (T, D) / (N, T, D) if given (sin-cos
        only), else ``rows``/``cols`` (n,) or (N, n), else the cached encoding of ``mode`` (one,
        or (row_mode, col_mode); default ``first``: 0..n-1, the official behaviour); a RoPE DiT
        turns the same positions into rotations of q and k instead of a table added to the
        tokens.  ``micro`` (N, 4) micro-conditioning (None: no crop).
        Returns (N, out_channels, H, W); with learned sigma the first C channels are the noise."""
        h, w = self.grid_of(x)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"latent has {x.shape[1]} channels, this DiT expects {self.in_channels}")
        tokens = self.x_embedder(x)
        rope = None
        if self.config.position_encoding == "rope":
            if pos_embed is not None:
                raise ValueError("this DiT uses RoPE: it takes positions (rows/cols or a mode), "
                                 "not a pos_embed table")
            rope = self.rope_rotations((h, w), rows, cols, mode, seed, max_positions, tokens.device)
            rope = rope[None, None] if rope.ndim == 4 else rope[:, None]   # (B|1, heads=1, T, ...)
        else:
            if pos_embed is None:
                pos_embed = self.encode_positions((h, w), rows, cols, mode, seed, max_positions,
                                                  tokens.device, tokens.dtype)
            tokens = tokens + pos_embed.to(tokens.dtype)
        t = torch.as_tensor(t, device=x.device).reshape(-1)
        if t.numel() == 1 and x.shape[0] > 1:
            t = t.expand(x.shape[0])
        c = self.embed_condition(t, y, micro).to(tokens.dtype)
        for block in self.blocks:
            tokens = block(tokens, c, rope)
        out = self.final_layer(tokens, c)
        return self.unpatchify(out, h, w)


def forward_memory_bytes(config: DiTConfig, batch: int, height: int, width: int,
                         element_size: int = 4, attention_scores: bool = True) -> int:
    """Peak memory of the activations of one no-grad forward on a (batch, C, height, width)
    latent, in bytes (weights not counted), for ComfyUI's memory planning (docs/DESIGN.md
    section 8).  T tokens of width D and MLP width M; blocks run one after another, so the peak
    is one block's: the residual, the modulated input, qkv and the copies SDPA makes (8 T D),
    the MLP's hidden layer and its activation (2 T M), and the latent in and out (4 C H W).
    ``attention_scores``: SDPA's math path also holds the scores and their softmax
    (2 heads T^2); its flash and memory-efficient kernels do not.  A RoPE DiT's rotated q and k
    (and its rotation table, T head_dim/2 x 4 floats) stay within the same bound.  Checked
    against measured peaks of live tensors with each kernel, sin-cos and RoPE, in
    tests/test_dit.py."""
    c = config
    tokens = -(-height // c.patch_size) * -(-width // c.patch_size)
    per_sample = tokens * (8 * c.hidden_size + 2 * c.mlp_hidden) + 4 * c.in_channels * height * width
    if attention_scores:
        per_sample += 2 * c.num_heads * tokens ** 2
    return int(batch * element_size * per_sample)


# ---------------------------------------------------------------------------------------------
# Detection from a state dict
# ---------------------------------------------------------------------------------------------

class NotADiTError(ValueError):
    """The state dict is not a (facebookresearch-layout) DiT."""


#: Official DiT widths -> heads (models.py configs: XL 1152/16, L 1024/16, B 768/12, S 384/6).
#: Heads are not visible in the tensors; for other widths we assume head dim 64 (the official
#: choice for L, B and S; XL uses 72), else the largest head count with a head dim >= 32.
#: Our own checkpoints store ``num_heads`` in the safetensors metadata, which wins.
OFFICIAL_HEADS = {1152: 16, 1024: 16, 768: 12, 384: 6}

_REQUIRED = ("x_embedder.proj.weight", "x_embedder.proj.bias", "t_embedder.mlp.0.weight",
             "t_embedder.mlp.2.weight", "final_layer.linear.weight", "final_layer.linear.bias",
             "final_layer.adaLN_modulation.1.weight", "pos_embed")


def guess_heads(hidden: int) -> int:
    if hidden in OFFICIAL_HEADS:
        return OFFICIAL_HEADS[hidden]
    if hidden % 64 == 0:
        return hidden // 64
    for hd in range(32, hidden + 1):
        if hidden % hd == 0:
            return hidden // hd
    return 1


def strip_prefix(sd: dict) -> dict:
    """Drop a common wrapper prefix ("module." from DDP, "model." from some savers,
    "model.diffusion_model." from a ComfyUI model save)."""
    for prefix in ("model.diffusion_model.", "diffusion_model.", "module.", "model."):
        if sd and all(k.startswith(prefix) for k in sd):
            return {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def is_dit_state_dict(sd: dict) -> bool:
    """The official key layout (a RoPE DiT of this pack, which has no ``pos_embed``, included)."""
    return all(k in sd for k in _REQUIRED if k != "pos_embed") and "blocks.0.attn.qkv.weight" in sd


def detect_config(sd: dict, metadata: dict | None = None, source: str | None = None) -> DiTConfig:
    """Depth, width, heads, patch size, channels, classes, learned sigma, micro-conditioning and
    the training grid from the tensors (metadata of our checkpoints adds heads, L and the position
    encoding: a RoPE DiT has no ``pos_embed``, so its grid comes from the metadata alone).
    ``sd`` may map names to anything with a ``.shape`` (the header check of ``load_dit`` passes
    shapes before any tensor is read); ``source`` (the file) is named in every error."""
    def bad(msg):
        return NotADiTError(f"{msg} (file: {source})" if source else msg)

    missing = [k for k in _REQUIRED if k not in sd and k != "pos_embed"]
    if missing or "blocks.0.attn.qkv.weight" not in sd:
        shown = ", ".join((missing or ["blocks.0.attn.qkv.weight"])[:4])
        some = ", ".join(list(sd)[:3]) or "(empty)"
        raise bad(f"not a DiT checkpoint: missing {shown} (it has e.g. {some})")
    pw = sd["x_embedder.proj.weight"]
    if pw.ndim != 4 or pw.shape[2] != pw.shape[3]:
        raise bad(f"not a DiT checkpoint: x_embedder.proj.weight has shape {tuple(pw.shape)}")
    hidden, in_ch, p = int(pw.shape[0]), int(pw.shape[1]), int(pw.shape[2])
    depth = 0
    while f"blocks.{depth}.attn.qkv.weight" in sd:
        depth += 1
    out = int(sd["final_layer.linear.weight"].shape[0])
    if out % (p * p):
        raise bad(f"final_layer.linear has {out} outputs, not a multiple of p*p={p * p}")
    out_ch = out // (p * p)
    if out_ch not in (in_ch, 2 * in_ch):
        raise bad(f"final layer predicts {out_ch} channels for {in_ch} input channels")
    mlp_hidden = int(sd["blocks.0.mlp.fc1.weight"].shape[0]) if "blocks.0.mlp.fc1.weight" in sd else 4 * hidden
    meta_cfg = DiTConfig.from_metadata(metadata, source or "state dict")
    rope = meta_cfg is not None and meta_cfg.position_encoding == "rope"
    if rope:
        if "pos_embed" in sd:
            raise bad("the posenc metadata says position_encoding 'rope' (no position table) but "
                      "the file has a pos_embed: it was not written by this pack's RoPE DiT")
        if hidden % meta_cfg.num_heads or (hidden // meta_cfg.num_heads) % 4:
            raise bad(f"a RoPE DiT needs a head dim divisible by 4; width {hidden} with "
                      f"{meta_cfg.num_heads} heads")
        grid = tuple(meta_cfg.grid)
    else:
        if "pos_embed" not in sd:
            some = ", ".join(list(sd)[:3])
            raise bad(f"not a DiT checkpoint: missing pos_embed (it has e.g. {some}); a RoPE DiT "
                      f"of this pack has none but says position_encoding 'rope' in its posenc "
                      f"metadata, and this file "
                      f"{'has no posenc metadata' if meta_cfg is None else 'says sincos'}")
        pe = sd["pos_embed"]
        T = int(pe.shape[-2])
        if meta_cfg is not None:
            grid = tuple(meta_cfg.grid)
        else:
            s = int(round(math.sqrt(T)))
            if s * s != T:
                raise bad(f"pos_embed has {T} tokens, not a square grid, and the file has no "
                                   f"posenc metadata with the grid")
            grid = (s, s)
        if grid[0] * grid[1] != T or int(pe.shape[-1]) != hidden:
            raise bad(f"pos_embed shape {tuple(pe.shape)} does not match grid {grid} x width {hidden}")
    if "y_embedder.embedding_table.weight" in sd:
        rows = int(sd["y_embedder.embedding_table.weight"].shape[0])
        class_dropout = meta_cfg.class_dropout if meta_cfg is not None else True
        num_classes = rows - int(class_dropout)
    else:
        num_classes, class_dropout = 0, False
    cfg = DiTConfig(
        in_channels=in_ch, patch_size=p, hidden_size=hidden, depth=depth,
        num_heads=meta_cfg.num_heads if meta_cfg is not None else guess_heads(hidden),
        mlp_hidden=mlp_hidden, num_classes=num_classes, class_dropout=class_dropout,
        learn_sigma=out_ch == 2 * in_ch,
        micro_conditioning="crop_embedder.mlp.0.weight" in sd,
        grid=grid,
        max_positions=tuple(meta_cfg.max_positions) if meta_cfg is not None else grid,
        position_sampling=meta_cfg.position_sampling if meta_cfg is not None else "fixed",
        frequency_embedding_size=int(sd["t_embedder.mlp.0.weight"].shape[1]),
        position_encoding="rope" if rope else "sincos",
        rope_theta=meta_cfg.rope_theta if meta_cfg is not None else DiTConfig.rope_theta,
    )
    return cfg


def sincos_tolerance(dtype: torch.dtype) -> float:
    """How far a stored sin-cos table may be from the exact one and still be "the sin-cos".
    Its values lie in [-1, 1], where a float format rounds to within half its spacing at 1
    (``finfo.eps / 2``: 4.9e-4 for float16, 3.9e-3 for bfloat16); we allow one full spacing,
    ``eps``, and never less than 1e-5 (float32 tables computed in float64 by numpy differ from
    ours by about 1e-7).  A trained or replaced table is off by far more."""
    eps = torch.finfo(dtype).eps if dtype.is_floating_point else 0.0
    return max(1e-5, float(eps))


def pos_embed_is_sincos(sd: dict, grid=None, atol: float | None = None) -> bool:
    """True if the stored ``pos_embed`` equals DiT's sin-cos at arange of its grid, within the
    rounding of the stored dtype (``sincos_tolerance``; ``atol`` overrides it).  Official vanilla
    checkpoints and float16 copies of them pass; anything that trained or replaced its position
    table fails."""
    if atol is None:
        atol = sincos_tolerance(sd["pos_embed"].dtype)
    pe = sd["pos_embed"].float().reshape(-1, sd["pos_embed"].shape[-1])
    if grid is None:
        s = int(round(math.sqrt(pe.shape[0])))
        grid = (s, s)
    if grid[0] * grid[1] != pe.shape[0]:
        return False
    ref = position_modes.official_pos_embed(pe.shape[1], grid)
    return bool(torch.allclose(pe, ref, atol=atol, rtol=0))


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------

TORCH_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")
SAFETENSORS_SUFFIXES = (".safetensors", ".sft")


def checkpoint_kind(path: str) -> str:
    """"safetensors" or "torch": how to read a DiT checkpoint, after checking it is a regular,
    non-empty file whose content is what its name says (a renamed file is named as such), and,
    for a torch pickle, that it can be unpickled safely (checkpoint_files.check_torch_archive)."""
    path = os.fspath(path)
    if not os.path.lexists(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    kind = file_format(path)        # (a FIFO, a broken link or an empty file: CheckpointError)
    lower, ext = path.lower(), os.path.splitext(path)[1]
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"checkpoint is empty (0 bytes): {path}")
    if lower.endswith(SAFETENSORS_SUFFIXES):
        if kind in (TORCH_ARCHIVE, LEGACY_PICKLE):
            raise CheckpointError(
                f"{path} is named {ext} but is {kind}, not a safetensors file: a renamed file. A "
                f"pickle can run code when it is loaded, so it is not read under a safetensors name; "
                f"give it its real suffix (.pt) only if you trust where it came from")
        return "safetensors"
    if lower.endswith(TORCH_SUFFIXES):
        if kind == SAFETENSORS:
            raise CheckpointError(f"{path} is named {ext} but is {kind}: a renamed file; rename it to "
                                  f".safetensors")
        check_torch_archive(path)
        return "torch"
    raise CheckpointError(f"unsupported checkpoint type {ext!r}: {path} "
                          f"(expected .safetensors, .pt, .pth, .ckpt or .bin)")


def read_state_dict(path: str) -> tuple[dict, dict]:
    """(state dict, metadata) from a .safetensors file or a weights-only torch pickle, checked
    first by ``checkpoint_kind``."""
    path = os.fspath(path)
    if checkpoint_kind(path) == "safetensors":
        return read_safetensors(path)
    size = os.path.getsize(path)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
        if "Weights only load failed" in str(e) or "Unsupported" in str(e) or "global" in str(e).lower():
            raise CheckpointError(
                f"refusing to load {path}: it is a pickle that needs arbitrary code to load "
                f"(weights-only loading rejected it: {first}). Convert it to .safetensors from "
                f"a trusted source.") from e
        raise CheckpointError(f"checkpoint is truncated or corrupt: {path}: {first}") from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint is truncated or corrupt ({size} bytes): {path}: "
                              f"{str(e).strip().splitlines()[0] if str(e).strip() else repr(e)}") from e
    sd = _unwrap(obj, path)
    check_tensors(sd, path)
    return sd, {}


def _unwrap(obj, path) -> dict:
    """Official DiT files are a bare state dict; its training checkpoints are {"model", "ema",
    "opt", "args"} (the official sampler prefers "ema")."""
    if isinstance(obj, dict):
        for key in ("ema", "state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise NotADiTError(f"not a DiT checkpoint: {path} does not hold a state dict of tensors")
    return obj


def load_dit(path: str, device="cpu", dtype=None, cls=None) -> tuple[DiT, dict]:
    """Build a DiT from a file; strict key matching.  Returns (model in eval mode, info) where
    info holds the config, the metadata and whether pos_embed is the sin-cos of arange.
    ``cls``: a DiT subclass to build (the ComfyUI adapter uses one with ComfyUI's call signature)."""
    if checkpoint_kind(path) == "safetensors":
        # The names, shapes and metadata first: a file that is not a DiT, or whose metadata is
        # corrupt, fails before gigabytes of tensors are read.
        shapes, metadata = read_shapes(path)
        detect_config(strip_prefix(shapes), metadata, source=path)
    sd, metadata = read_state_dict(path)
    sd = strip_prefix(sd)
    return build_from_state_dict(sd, metadata, device, dtype, source=path, cls=cls)


def default_position_mode(config: DiTConfig) -> str:
    """``auto``: ``linspace`` for RPE-2D checkpoints (docs/DESIGN.md section 3), ``first`` (0..n-1, the
    official behaviour, exact at the trained grid) for vanilla ones."""
    return "linspace" if config.position_sampling == "rpe2d" else "first"


def build_from_state_dict(sd, metadata=None, device="cpu", dtype=None, source="state dict", cls=None):
    """A DiT from a state dict (strict keys).  ``info["pos_embed_is_sincos"]``: whether the stored
    table is DiT's sin-cos; None for a RoPE DiT, which stores none."""
    cfg = detect_config(sd, metadata, source=source)
    sincos = pos_embed_is_sincos(sd, cfg.grid) if cfg.position_encoding == "sincos" else None
    with torch.device("meta"):  # no init work or memory for weights that are replaced anyway
        model = (cls or DiT)(cfg)
    try:
        model.load_state_dict(sd, strict=True, assign=True)
    except RuntimeError as e:
        raise NotADiTError(f"{source}: DiT key layout does not match: {str(e).splitlines()[0]} "
                           f"{' '.join(str(e).split())[:400]}") from e
    model.to(device=device, dtype=dtype).eval()
    info = {"config": cfg, "metadata": dict(metadata or {}), "pos_embed_is_sincos": sincos,
            "vanilla": cfg.position_sampling != "rpe2d"}
    return model, info
