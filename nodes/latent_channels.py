"""Latent formats that refuse a latent with the wrong number of channels, for the pack's models.

ComfyUI's samplers (KSampler, KSamplerAdvanced, SamplerCustom...) pass every latent through
``comfy.sample.fix_empty_latent_channels`` before the model sees it, and that function silently
reshapes an *all-zero* latent to the model's channel count: a 4-channel SD "Empty Latent Image" of
512x512 (64x64 cells) becomes a 3-channel 64x64 *pixel* latent for a pixel-space model, and the
user gets a 64x64 image with no error. After that call the model cannot tell the two apart, so
the check has to happen there: the one thing the function reads from the model is
``latent_format.latent_channels``, compared with ``!=`` against the latent's channel count.
``Channels`` is an int whose ``!=`` raises a clear error on a mismatch (Python tries a subclass's
reflected ``__ne__`` first, so either operand order works); everywhere else it is the plain int.
A non-empty latent with the wrong channels meets the same check. docs/DESIGN.md section 5.
"""
from __future__ import annotations


class LatentChannelsError(ValueError):
    """A latent with the wrong number of channels for the model; the message says what to use."""


class Channels(int):
    """The model's latent channel count; ``!=`` with another count raises LatentChannelsError."""

    def __new__(cls, value: int, model: str, fix: str):
        self = super().__new__(cls, value)
        self.model, self.fix = model, fix
        return self

    def __ne__(self, other):
        if isinstance(other, int) and int(other) != int(self):
            raise LatentChannelsError(f"{self.model} takes a {int(self)}-channel latent; this one has "
                                      f"{int(other)} channels. {self.fix}")
        return int.__ne__(self, other)

    __hash__ = int.__hash__


PIXEL_FIX = ("Start from a 3-channel empty latent at the pixel size, such as 'EmptyChromaRadianceLatentImage' "
             "(e.g. 128x128), not 'Empty Latent Image' (an SD latent: it would silently become an image "
             "8 times smaller), and decode with the 'pixel_space' VAE.")
SD_FIX = ("Start from 'Empty Latent Image' (4 channels, 1/8 of the pixel size) and decode with the SD VAE "
          "(vae-ft-mse / vae-ft-ema for official DiT).")


def strict_latent_format(base, model: str):
    """An instance of the ComfyUI latent format class ``base`` whose ``latent_channels`` refuses
    a mismatch; ``model`` names the model in the message."""
    channels = int(base.latent_channels)
    fix = PIXEL_FIX if channels == 3 else SD_FIX if channels == 4 else ""
    strict = type(f"Strict{base.__name__}", (base,), {"latent_channels": Channels(channels, model, fix)})
    return strict()
