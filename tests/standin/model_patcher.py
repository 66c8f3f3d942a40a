"""A small stand-in for ComfyUI's ModelPatcher that honours the contract the nodes rely on:
clone() shares the torch module and copies the patch lists; object patches are applied on
patch_model() and removed on unpatch_model(), with one backup shared by all clones;
get_model_object() sees pending patches first, then the backup (the original); wrappers are
kept per clone; DIFFUSION_MODEL wrappers run around the diffusion model's _forward, OUTER_SAMPLE
wrappers around a whole sampling run with CFGGuider.outer_sample's arguments (noise,
latent_image, sampler, sigmas, denoise_mask, callback, disable_pbar, seed); the diffusion model
gets model_options["transformer_options"] with "sigmas" (the call's sigma, per batch element, as
_calc_cond_batch adds it) and, inside a run, "sample_sigmas" (the run's sigmas, as
CFGGuider.inner_sample adds them).
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

    def _wrappers(self, kind):
        return [w for ws in self.wrappers.get(kind, {}).values() for w in ws]

    def diffusion_call(self, x, sigma, sample_sigmas=None):
        """One diffusion-model call as ComfyUI makes it during sampling (with the wrappers);
        `sample_sigmas`: the sigmas of the run the call belongs to (None = outside a run)."""
        dm = self.model.diffusion_model
        opts = {**self.model_options.get("transformer_options", {}),
                "sigmas": torch.full((x.shape[0],), float(sigma))}
        if sample_sigmas is not None:
            opts["sample_sigmas"] = torch.as_tensor(sample_sigmas, dtype=torch.float32)
        t = torch.full((x.shape[0],), float(sigma))
        return _run_wrapped(dm._forward, self._wrappers(WrappersMP.DIFFUSION_MODEL), x, t, None, None, None, opts)

    def sample(self, x, sigmas, sampler="euler"):
        """A toy sampling run over `sigmas` (KSampler's for denoise < 1 are the tail of a longer
        schedule) with the model loaded (patched) and the OUTER_SAMPLE wrappers around it.
        sampler "euler": one call per step at sigmas[i]; "heun": a second call at sigmas[i+1]
        (none in the last step to sigma 0); "dpm_2": a second call between sigmas[i] and
        sigmas[i+1], at their geometric mean."""
        sigmas = torch.as_tensor(sigmas, dtype=torch.float32)
        if sigmas.shape[-1] == 0:
            return x

        def outer_sample(noise, latent_image, sampler_, sigmas_, denoise_mask=None, callback=None,
                         disable_pbar=False, seed=None):
            self.patch_model()
            try:
                return self._run(noise, sigmas_, sampler_)
            finally:
                self.unpatch_model()
        return _run_wrapped(outer_sample, self._wrappers(WrappersMP.OUTER_SAMPLE), x, torch.zeros_like(x),
                            sampler, sigmas, None, None, True, 0)

    def _run(self, x, sigmas, sampler):
        run = [float(s) for s in sigmas]

        def d(x, s):
            return (x - (x - s * self.diffusion_call(x, s, sigmas))) / s
        for s0, s1 in zip(run[:-1], run[1:]):
            d0 = d(x, s0)
            if sampler == "euler" or s1 == 0:
                x = x + d0 * (s1 - s0)
            elif sampler == "heun":
                x = x + (d0 + d(x + d0 * (s1 - s0), s1)) / 2 * (s1 - s0)
            elif sampler == "dpm_2":
                mid = (s0 * s1) ** 0.5
                x = x + d(x + d0 * (mid - s0), mid) * (s1 - s0)
            else:
                raise ValueError(f"stand-in sampler {sampler!r}: use euler, heun or dpm_2")
        return x
