"""Attention-entropy scaling for plain torch U-Nets (Jin et al., "Training-free Diffusion Model
Adaptation to Variable-Sized Text-to-Image Synthesis", NeurIPS 2023).

A softmax over n tokens has an entropy that grows with log n; at a larger image the same
self-attention layer sees more tokens and its attention spreads out.  Jin et al. keep the entropy
at its training level by multiplying the attention logits by sqrt(log_{n_train} n_test)
= sqrt(log n_test / log n_train), where n_test is the layer's token count now and n_train its
count at the training size.  Here n_train = n_test * (base_h * base_w) / (H * W) for a model input
of H x W and a base (training) size base_h x base_w (a layer's token count scales with the input
area), so the factor depends on the layer; the softmax scale becomes factor times the block's own
(1/sqrt(head_dim) by default).

Applies to every module with a ``scale`` attribute that ``AttentionBlock`` of reference_unet.py
reads (the softmax scale, None = 1/sqrt(head_dim)) and a ``heads`` attribute; the forward of each
such block is wrapped to set the scale from its own input size.  The step, the window and the
ways to apply the patch are sampling_window.py's; outside a step, outside the sigma window, or
when the input has the base area, the block's own forward runs (bit-identical output).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .sampling_window import BaseSizeWindow, PatchTarget, WindowedRuntime, tagged


@dataclass(frozen=True)
class EntropyScalingSettings(BaseSizeWindow):
    """Base (training) size in latent cells and the sampling window (sampling_window.py); the
    default window is every step, as in Jin et al."""

    WHAT = "attention-entropy scaling"


def entropy_factor(n_test: float, n_train: float) -> float:
    """sqrt(log_{n_train} n_test): the factor on the attention logits (1 when n_test = n_train)."""
    if n_train <= 1 or n_test <= 1:
        raise ValueError(f"token counts must be > 1 (got n_test={n_test}, n_train={n_train})")
    return math.sqrt(math.log(n_test) / math.log(n_train))


class EntropyScalingRuntime(WindowedRuntime):
    """The area ratio (H * W) / (base_h * base_w) of the current model call, or None when off."""

    label = "attention-entropy scaling"

    def activation(self, height: int, width: int, sigma: float) -> float | None:
        s = self.settings
        if (height, width) == (s.base_height, s.base_width):
            return None
        return height * width / (s.base_height * s.base_width)

    @staticmethod
    def find(module):
        return attention_blocks(module)

    def targets(self, module) -> list[PatchTarget]:
        blocks = attention_blocks(module)
        if not blocks:
            raise ValueError("attention-entropy scaling found no attention block with a settable scale")
        return [PatchTarget(name, block, "forward",
                            lambda fallback, block=block: self.forward(block, fallback))
                for name, block in blocks]

    def forward(self, block, fallback):
        """Replacement for an attention block's forward(x, emb=None)."""

        def _forward(x, *args, **kwargs):
            if self.active is None:
                return fallback(x, *args, **kwargs)
            n_test = x.shape[-2] * x.shape[-1]
            factor = entropy_factor(n_test, n_test / self.active)
            saved = block.scale
            base = saved if saved is not None else 1 / math.sqrt(x.shape[1] // block.heads)
            block.scale = factor * base
            try:
                return fallback(x, *args, **kwargs)
            finally:
                block.scale = saved

        return tagged(_forward, self)


def attention_blocks(module) -> list[tuple[str, object]]:
    """(name, block) of the self-attention blocks with a settable softmax ``scale``."""
    return [(name, sub) for name, sub in module.named_modules()
            if hasattr(sub, "scale") and hasattr(sub, "heads") and hasattr(sub, "qkv")]
