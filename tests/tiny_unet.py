"""A tiny SD-shaped U-Net for node tests: 3x3 ResBlock convs, a stride-2 downsampling conv, a
nearest + conv upsampling, 1x1 skip projections; ComfyUI's call signature (_forward is what
DIFFUSION_MODEL wrappers wrap, as in ComfyUI's UNetModel)."""
import torch.nn as nn
import torch.nn.functional as F


class TinyUNet(nn.Module):
    def __init__(self, ch=8, cin=4, levels=3):
        super().__init__()
        self.channel_mult = (1,) * levels
        self.conv_in = nn.Conv2d(cin, ch, 3, padding=1)
        self.down = nn.ModuleList([nn.Conv2d(ch, ch, 3, stride=2, padding=1) for _ in range(levels - 1)])
        self.mid = nn.Conv2d(ch, ch, 3, padding=1)
        self.up = nn.ModuleList([nn.Conv2d(ch, ch, 3, padding=1) for _ in range(levels - 1)])
        self.skip = nn.Conv2d(ch, ch, 1)
        self.conv_out = nn.Conv2d(ch, cin, 3, padding=1)

    def _forward(self, x, timesteps=None, context=None, y=None, control=None, transformer_options={}, **kw):
        h = F.silu(self.conv_in(x))
        skips = []
        for d in self.down:
            skips.append(h)
            h = F.silu(d(h))
        h = F.silu(self.mid(h))
        for u in self.up:
            s = skips.pop()
            h = F.interpolate(h, size=s.shape[-2:], mode="nearest")
            h = F.silu(u(h) + self.skip(s))
        return self.conv_out(h)

    forward = _forward
