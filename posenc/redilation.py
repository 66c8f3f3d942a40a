"""Re-dilation in the style of ScaleCrafter (He et al., ICLR 2024), for plain torch U-Nets.

At a size s times the training size, the 3x3 convs inside the U-Net are dilated by s (per axis:
``round(H / base_h)`` rows and ``round(W / base_w)`` columns, at least 1) with the padding grown to
match (``dilation * (k - 1) / 2``), so each conv sees the same *relative* receptive field as at
training size.  As in ScaleCrafter this is done only during the early, layout-forming steps (a
sigma window like PBC's); later steps use the plain convs to draw detail.

Which convs: every stride-1 zero-padded Conv2d with an odd kernel > 1, except the model's input
and output convs (ScaleCrafter keeps the outermost layers undilated; they only map pixels to and
from features).  Strided (downsampling) convs are left alone.  Integer factors only (ScaleCrafter
interpolates for fractional ones; our sizes are integer multiples).

The step, the window and the ways to apply the patch are sampling_window.py's; outside a step,
outside the window or at the base size the conv's own forward runs (bit-identical output).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .sampling_window import BaseSizeWindow, PatchTarget, WindowedRuntime, tagged


@dataclass(frozen=True)
class RedilationSettings(BaseSizeWindow):
    """Base (training) size in latent cells and the sampling window (sampling_window.py)."""

    WHAT = "Re-dilation"

    def factors(self, height: int, width: int) -> tuple[int, int]:
        """Dilation factors (rows, cols) for a model input of height x width."""
        return (max(1, round(height / self.base_height)), max(1, round(width / self.base_width)))


class RedilationRuntime(WindowedRuntime):
    """The active dilation factors (or None) of the current model call."""

    label = "Re-dilation Patcher"

    def activation(self, height: int, width: int, sigma: float) -> tuple[int, int] | None:
        f = self.settings.factors(height, width)
        return None if f == (1, 1) else f

    def size_note(self, height: int, width: int) -> str:
        return (f"it dilates each axis by round(size / base), which is 1 at {height}x{width}; "
                "re-dilation starts at 1.5 times the base")

    @staticmethod
    def find(module):
        return dilatable_convs(module)

    def targets(self, module) -> list[PatchTarget]:
        return [PatchTarget(name, conv, "_conv_forward",
                            lambda fallback, conv=conv: self.conv_forward(conv, fallback))
                for name, conv in dilatable_convs(module)]

    def conv_forward(self, conv: torch.nn.Conv2d, fallback):
        """Replacement for ``conv._conv_forward``: dilated while a step is active."""

        def _conv_forward(input, weight, bias):
            if self.active is None:
                return fallback(input, weight, bias)
            fh, fw = self.active
            (kh, kw), (dh, dw) = conv.kernel_size, conv.dilation
            dil = (dh * fh, dw * fw)
            pad = (dil[0] * (kh - 1) // 2, dil[1] * (kw - 1) // 2)
            return F.conv2d(input, weight, bias, conv.stride, pad, dil, conv.groups)

        return tagged(_conv_forward, self)


def dilatable_convs(module) -> list[tuple[str, torch.nn.Conv2d]]:
    """(name, conv) of the convs re-dilation changes: stride-1 "same" zero-padded odd-kernel
    Conv2d (kernel > 1), without the first (input) and last (output) such conv of the module."""
    found = []
    for name, sub in module.named_modules():
        if not isinstance(sub, torch.nn.Conv2d) or sub.padding_mode != "zeros":
            continue
        if isinstance(sub.padding, str) or tuple(sub.stride) != (1, 1):
            continue
        (kh, kw), (dh, dw), (ph, pw) = sub.kernel_size, sub.dilation, sub.padding
        if kh % 2 == 0 or kw % 2 == 0 or (kh == 1 and kw == 1):
            continue
        if ph != dh * (kh - 1) // 2 or pw != dw * (kw - 1) // 2:
            continue
        found.append((name, sub))
    return found[1:-1]
