"""A small stand-in for ComfyUI's ModelPatcher that honours the contract the nodes rely on:
clone() shares the torch module and copies the patch lists; object patches are applied on
patch_model() and removed on unpatch_model(), with one backup shared by all clones;
get_model_object() sees pending patches first, then the backup (the original); wrappers are
kept per clone and run around the diffusion model's _forward; the diffusion model gets
model_options["transformer_options"] with "sigmas" added, as ComfyUI's _calc_cond_batch does.
It is not the truth: the host tests (COMFYUI_PATH) run the same nodes in real ComfyUI."""
import copy

import torch

from comfy.patcher_extension import WrappersMP


def _run_wrapped(original, wrappers, *args, **kwargs):
    """ComfyUI's WrapperExecutor: wrappers outermost first, each gets a callable continuation."""
    if not wrappers:
        return original(*args, **kwargs)
    return wrappers[0](lambda *a, **k: _run_wrapped(original, wrappers[1:], *a, **k), *args, **kwargs)


def _set_attr(obj, path, value):
    *parents, last = path.split(".")
    for p in parents:
        obj = getattr(obj, p)
    prev = getattr(obj, last)
    setattr(obj, last, value)
    return prev


def _get_attr(obj, path):
    for p in path.split("."):
        obj = getattr(obj, p)
    return obj


class ModelSampling:
    """Sigmas from 14.6 down to 0.03 (SD-like), percent_to_sigma as ComfyUI's discrete sampling."""

    def __init__(self, sigmas):
        self.sigmas = torch.as_tensor(sigmas, dtype=torch.float32)

    def percent_to_sigma(self, percent):
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        idx = min(int(round((1.0 - percent) * (len(self.sigmas) - 1))), len(self.sigmas) - 1)
        return float(self.sigmas.flip(0)[len(self.sigmas) - 1 - idx])


class BaseModelStandIn(torch.nn.Module):
    def __init__(self, diffusion_model, config_name="SD15", model_type="EPS"):
        super().__init__()
        self.diffusion_model = diffusion_model
        self.model_sampling = ModelSampling(torch.linspace(14.6, 0.03, 1000).flip(0))
        self.model_config = type(config_name, (), {})()
        self.model_type = type("ModelType", (), {"name": model_type})()


class ModelPatcher:
    def __init__(self, model):
        self.model = model
        self.object_patches = {}
        self.object_patches_backup = {}
        self.wrappers = {}
        self.model_options = {"transformer_options": {}}

    def clone(self):
        n = ModelPatcher(self.model)
        n.object_patches = self.object_patches.copy()
        n.object_patches_backup = self.object_patches_backup
        n.wrappers = {k: {k1: list(v1) for k1, v1 in v.items()} for k, v in self.wrappers.items()}
        n.model_options = copy.deepcopy(self.model_options)
        return n

    def add_object_patch(self, name, obj):
        self.object_patches[name] = obj

    def get_model_object(self, name):
        if name in self.object_patches:
            return self.object_patches[name]
        if name in self.object_patches_backup:
            return self.object_patches_backup[name]
        return _get_attr(self.model, name)

    def add_wrapper_with_key(self, wrapper_type, key, wrapper):
        self.wrappers.setdefault(wrapper_type, {}).setdefault(key, []).append(wrapper)

    def patch_model(self):
        for k, v in self.object_patches.items():
            old = _set_attr(self.model, k, v)
            self.object_patches_backup.setdefault(k, old)

    def unpatch_model(self):
        for k, v in self.object_patches_backup.items():
            _set_attr(self.model, k, v)
        self.object_patches_backup.clear()

    def diffusion_call(self, x, sigma):
        """One diffusion-model call as ComfyUI makes it during sampling (with the wrappers)."""
        dm = self.model.diffusion_model
        opts = {**self.model_options.get("transformer_options", {}),
                "sigmas": torch.full((x.shape[0],), float(sigma))}
        wrappers = [w for ws in self.wrappers.get(WrappersMP.DIFFUSION_MODEL, {}).values() for w in ws]
        t = torch.full((x.shape[0],), float(sigma))
        return _run_wrapped(dm._forward, wrappers, x, t, None, None, None, opts)

    def sample(self, x, sigmas):
        """A toy Euler loop over `sigmas` with the model loaded (patched) for its duration."""
        self.patch_model()
        try:
            for s0, s1 in zip(sigmas[:-1], sigmas[1:]):
                denoised = x - s0 * self.diffusion_call(x, s0)
                x = x + (x - denoised) / s0 * (s1 - s0)
            return x
        finally:
            self.unpatch_model()
