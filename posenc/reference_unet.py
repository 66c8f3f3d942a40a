"""Reference U-Net: a compact class-conditional pixel-space U-Net made of Stable Diffusion's parts.

Built from the same parts as SD's ``UNetModel`` so that the position-encoding story of PBC holds
for it: ResBlocks of zero-padded 3x3 convs (plain ``torch.nn.Conv2d(..., padding=1)``, so PBC's
patch on ``Conv2d._conv_forward`` applies) with GroupNorm and SiLU, stride-2 conv downsampling,
nearest + conv upsampling, skip connections, self-attention without any position embedding only
at the lowest level (and in the middle block), and a class embedding added to the time embedding.

Default shape: 3 channels in and out, channels (16, 32, 64) at 32x32, 16x16, 8x8 for a 32x32
input (about 0.69 M parameters; cheap at full resolution, so that it trains in under an hour on a
shared 2-core CPU); two downsamplings, so input sizes must be multiples of 4.  The network carries its
training size (``base_resolution = 32``), its latent downscale (``latent_downscale = 1``: it works
on pixels) and its ``config``; see schedule.py for the noise schedule (eps prediction, SD's
scaled-linear betas).  Called like SD's U-Net: ``model(x, timesteps, y)``.

Two optional config keys vary the architecture (absent = the defaults above, so older checkpoints
load unchanged): ``"attention"``: ``"lowest"`` (default: attention after every ResBlock of the
lowest level and in the middle block), ``"middle"`` (only in the middle block) or ``"none"`` (a
pure-conv U-Net); ``"downsample"``: ``"conv"`` (default: stride-2 3x3 conv) or ``"avgpool"``
(2x2 average pooling, then a zero-padded 3x3 conv).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoint_files import BUNDLED_UNET, CheckpointError, read_header, read_safetensors

DEFAULT_CONFIG = {
    "in_channels": 3,
    "out_channels": 3,
    "model_channels": 16,
    "channel_mult": [1, 2, 4],
    "num_res_blocks": 1,
    "num_heads": 4,
    "num_groups": 8,
    "num_classes": 4,
    "base_resolution": 32,
}


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """SD's sinusoidal timestep embedding (cos first, then sin) of (fractional) timesteps (B,)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32,
                                                           device=t.device) / half)
    args = t.float().reshape(-1, 1) * freqs.view(1, -1)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    """A zero-padded 3x3 convolution, exactly the kind PBC replaces the padding of."""
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class ResBlock(nn.Module):
    """GN-SiLU-conv, + projected embedding, GN-SiLU-conv (zero-initialised), residual."""

    def __init__(self, cin: int, cout: int, emb_dim: int, groups: int):
        super().__init__()
        self.in_layers = nn.Sequential(nn.GroupNorm(groups, cin), nn.SiLU(), conv3x3(cin, cout))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, cout))
        self.out_layers = nn.Sequential(nn.GroupNorm(groups, cout), nn.SiLU(), conv3x3(cout, cout))
        nn.init.zeros_(self.out_layers[-1].weight)
        nn.init.zeros_(self.out_layers[-1].bias)
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x) + self.emb_layers(emb)[:, :, None, None]
        return self.skip(x) + self.out_layers(h)


class AttentionBlock(nn.Module):
    """Multi-head self-attention over all positions, no position embedding (as SD's U-Net).

    ``scale`` is the softmax scale; None means 1/sqrt(head_dim).  It is an attribute so that a
    method such as attention-entropy scaling can change it without subclassing.
    """

    def __init__(self, channels: int, heads: int, groups: int):
        super().__init__()
        self.heads = heads
        self.scale = None
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w)
        # (3, B, heads, HW, d), contiguous in d: CPU SDPA then takes its fast fused kernel
        # instead of the math path (about 7x faster at 128x128 inputs).
        q, k, v = qkv.permute(1, 0, 2, 4, 3).contiguous().unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        out = out.permute(0, 1, 3, 2).reshape(b, c, h, w)
        return x + self.proj(out)


class Downsample(nn.Module):
    """Stride-2 zero-padded 3x3 conv (SD's ``Downsample`` with use_conv=True)."""

    def __init__(self, channels: int):
        super().__init__()
        self.op = conv3x3(channels, channels, stride=2)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        return self.op(x)


class AvgPoolDownsample(nn.Module):
    """2x2 average pooling, then a zero-padded 3x3 conv at the lower resolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = conv3x3(channels, channels)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv(F.avg_pool2d(x, 2))


ATTENTION_MODES = ("lowest", "middle", "none")
DOWNSAMPLE_MODES = {"conv": Downsample, "avgpool": AvgPoolDownsample}


class Upsample(nn.Module):
    """Nearest-neighbour 2x upsampling followed by a zero-padded 3x3 conv (SD's ``Upsample``)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = conv3x3(channels, channels)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Stage(nn.ModuleList):
    """A sequence of blocks; all but plain convolutions also take the embedding."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for block in self:
            x = block(x) if isinstance(block, nn.Conv2d) else block(x, emb)
        return x


class ReferenceUNet(nn.Module):
    """Class-conditional pixel-space eps-prediction U-Net; see the module docstring.

    Class labels are integers 0..num_classes-1; ``num_classes`` (or y=None) is the null label used
    for classifier-free guidance (the model is trained with label dropout).
    """

    def __init__(self, config: dict | None = None):
        super().__init__()
        cfg = dict(DEFAULT_CONFIG)
        cfg.update(config or {})
        self.config = cfg
        self.base_resolution = int(cfg["base_resolution"])
        self.latent_downscale = 1
        self.num_classes = int(cfg["num_classes"])
        self.in_channels = int(cfg["in_channels"])
        ch = int(cfg["model_channels"])
        mult = list(cfg["channel_mult"])
        nres = int(cfg["num_res_blocks"])
        heads, groups = int(cfg["num_heads"]), int(cfg["num_groups"])
        attention = cfg.get("attention", "lowest")
        downsample = cfg.get("downsample", "conv")
        if attention not in ATTENTION_MODES:
            raise ValueError(f"config attention={attention!r}: expected one of {ATTENTION_MODES}")
        if downsample not in DOWNSAMPLE_MODES:
            raise ValueError(f"config downsample={downsample!r}: expected one of "
                             f"{tuple(DOWNSAMPLE_MODES)}")
        self.downsample_factor = 2 ** (len(mult) - 1)
        emb_dim = 4 * ch
        self.model_channels = ch

        self.time_embed = nn.Sequential(nn.Linear(ch, emb_dim), nn.SiLU(),
                                        nn.Linear(emb_dim, emb_dim))
        self.label_emb = nn.Embedding(self.num_classes + 1, emb_dim)

        self.input_blocks = nn.ModuleList([Stage([conv3x3(self.in_channels, ch)])])
        skip_channels = [ch]
        cur = ch
        for level, m in enumerate(mult):
            lowest = level == len(mult) - 1
            attend = lowest and attention == "lowest"
            for _ in range(nres):
                blocks = [ResBlock(cur, m * ch, emb_dim, groups)]
                cur = m * ch
                if attend:
                    blocks.append(AttentionBlock(cur, heads, groups))
                self.input_blocks.append(Stage(blocks))
                skip_channels.append(cur)
            if not lowest:
                self.input_blocks.append(Stage([DOWNSAMPLE_MODES[downsample](cur)]))
                skip_channels.append(cur)

        middle = [ResBlock(cur, cur, emb_dim, groups)]
        if attention != "none":
            middle.append(AttentionBlock(cur, heads, groups))
        self.middle_block = Stage(middle + [ResBlock(cur, cur, emb_dim, groups)])

        self.output_blocks = nn.ModuleList()
        for level in reversed(range(len(mult))):
            attend = level == len(mult) - 1 and attention == "lowest"
            for i in range(nres + 1):
                blocks = [ResBlock(cur + skip_channels.pop(), mult[level] * ch, emb_dim, groups)]
                cur = mult[level] * ch
                if attend:
                    blocks.append(AttentionBlock(cur, heads, groups))
                if level > 0 and i == nres:
                    blocks.append(Upsample(cur))
                self.output_blocks.append(Stage(blocks))

        self.out = nn.Sequential(nn.GroupNorm(groups, cur), nn.SiLU(), conv3x3(cur, cfg["out_channels"]))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    @property
    def dtype(self) -> torch.dtype:
        """Weight dtype (hosts such as ComfyUI ask the diffusion model for it)."""
        return self.time_embed[0].weight.dtype

    def check_size(self, height: int, width: int) -> None:
        """Raise a ValueError naming the problem if the model cannot take this size."""
        f = self.downsample_factor
        if height % f or width % f or height < f or width < f:
            raise ValueError(
                f"image size {height}x{width} is not a positive multiple of {f} (the reference "
                f"U-Net downsamples {len(self.config['channel_mult']) - 1} times); use e.g. "
                f"{max(f, height // f * f)}x{max(f, width // f * f)}")

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, y: torch.Tensor | None = None,
                transformer_options: dict | None = None, **kwargs) -> torch.Tensor:
        """Predict eps of x_t (B, C, H, W) at (fractional) timesteps (B,) for class labels y (B,).

        y=None or y == num_classes is the unconditional (null) label.  Other keyword arguments
        (ComfyUI passes context and control) are accepted and ignored.

        ``transformer_options["patches"]`` may hold block patches with the calling convention of
        SD's U-Net in ComfyUI (docs/DESIGN.md section 7): ``input_block_patch`` and
        ``input_block_patch_after_skip`` (h, options) -> h around the skip of every input block,
        ``output_block_patch`` (h, skip, options) -> (h, skip) before every concatenation, with
        ``options["block"]`` = ("input", i) / ("output", i).  This is what ComfyUI core's
        PatchModelAddDownscale (Kohya Deep Shrink) attaches, so it works on this model too.
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        self.check_size(x.shape[2], x.shape[3])
        b = x.shape[0]
        t = torch.as_tensor(timesteps, device=x.device).reshape(-1)
        if t.numel() == 1:
            t = t.expand(b)
        if y is None:
            y = torch.full((b,), self.num_classes, dtype=torch.long, device=x.device)
        y = torch.as_tensor(y, device=x.device).reshape(-1)
        if y.is_floating_point():
            y = y.round()
        y = y.long()
        if y.numel() == 1:
            y = y.expand(b)
        if y.min() < 0 or y.max() > self.num_classes:
            raise ValueError(f"class label out of range 0..{self.num_classes} "
                             f"({self.num_classes} = unconditional)")
        dtype = self.time_embed[0].weight.dtype
        emb = self.time_embed(timestep_embedding(t, self.model_channels).to(dtype)) \
            + self.label_emb(y)
        h = x.to(dtype)
        options = transformer_options if transformer_options is not None else {}
        patches = options.get("patches", {})
        before_skip = patches.get("input_block_patch", ())
        after_skip = patches.get("input_block_patch_after_skip", ())
        at_output = patches.get("output_block_patch", ())
        skips = []
        for i, stage in enumerate(self.input_blocks):
            options["block"] = ("input", i)
            h = stage(h, emb)
            for patch in before_skip:
                h = patch(h, options)
            skips.append(h)
            for patch in after_skip:
                h = patch(h, options)
        options["block"] = ("middle", 0)
        h = self.middle_block(h, emb)
        for i, stage in enumerate(self.output_blocks):
            options["block"] = ("output", i)
            skip = skips.pop()
            for patch in at_output:
                h, skip = patch(h, skip, options)
            h = stage(torch.cat([h, skip], dim=1), emb)
        return self.out(h).to(x.dtype)


# --- checkpoints --------------------------------------------------------------------------------

FORMAT = "posenc.reference_unet"


def save_reference_unet(model: ReferenceUNet, path, classes, schedule_info: dict,
                        extra_metadata: dict | None = None) -> None:
    """Save weights as safetensors with JSON metadata: config, base resolution, the class names
    (what the ComfyUI class-label node offers) and the noise schedule."""
    from safetensors.torch import save_file

    meta = {
        "format": FORMAT,
        "config": json.dumps(model.config),
        "base_resolution": str(model.base_resolution),
        "latent_downscale": str(model.latent_downscale),
        "classes": json.dumps(list(classes)),
        "schedule": json.dumps(schedule_info),
    }
    for k, v in (extra_metadata or {}).items():
        meta[k] = v if isinstance(v, str) else json.dumps(v)
    state = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(path) + ".tmp")
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, path)


def read_metadata(path) -> dict:
    """The decoded metadata of a reference-U-Net checkpoint (JSON values parsed)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"reference U-Net weights not found: {path}")
    _, raw = read_header(path)
    if raw.get("format") != FORMAT:
        raise ValueError(f"{path} is not a posenc reference U-Net checkpoint "
                         f"(metadata format={raw.get('format')!r}, expected {FORMAT!r})")
    out = {}
    for k, v in raw.items():
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    # What the loader builds the model from must be there and be JSON of the right kind.
    for key, kind in (("config", dict), ("classes", list)):
        if not isinstance(out.get(key), kind):
            raise ValueError(f"{path}: corrupt reference U-Net metadata: {key!r} is "
                             f"{raw.get(key, 'missing')!r:.80}, not a JSON {kind.__name__}; "
                             f"the file is damaged: reinstall the pack")
    for key, v in out["config"].items():
        ok = (all(isinstance(i, int) and i > 0 for i in v) and v if isinstance(v, list)
              else isinstance(v, int) and not isinstance(v, bool) and v > 0)
        if key in DEFAULT_CONFIG and not ok:
            raise ValueError(f"{path}: corrupt reference U-Net metadata: config {key} = {v!r} "
                             f"(sizes must be positive integers); the file is damaged: reinstall the pack")
    return out


def load_reference_unet(path=None, device="cpu", model_class=None) -> ReferenceUNet:
    """Load a reference U-Net (the bundled one by default) in eval mode.

    model_class: a ReferenceUNet subclass to build (a host adapter); default ReferenceUNet.

    Clear errors for a missing file, a file that is not safetensors, a checkpoint of another
    kind, and weights that do not fit the stored config.
    """
    path = BUNDLED_UNET if path is None else Path(path)
    meta = read_metadata(path)
    try:
        model = (model_class or ReferenceUNet)(meta["config"])
    except (ValueError, TypeError, KeyError, ZeroDivisionError, RuntimeError) as e:
        raise ValueError(f"{path}: corrupt reference U-Net metadata: the stored config cannot "
                         f"build a model ({type(e).__name__}: {e}); reinstall the pack") from e
    try:
        state, _ = read_safetensors(path)
    except CheckpointError as e:
        raise ValueError(f"{path}: cannot read the weights ({e})") from e
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not match the stored config "
                         f"(missing {missing[:3]}..., unexpected {unexpected[:3]}...)")
    model.checkpoint_metadata = meta
    return model.to(device).eval()
