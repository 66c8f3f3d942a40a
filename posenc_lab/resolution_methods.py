"""The high-resolution sampling methods that the layout benchmark and the demo compare, applied
around posenc_lab/unet_sampling.py's DDIM sampler on a plain torch model (no ComfyUI).

Method names:

* ``direct``: the model as it is, sampled at the target size.
* ``pbc<N>`` (``pbc1``, ``pbc3``, ``pbc31``): PBC (pbc.py, docs/DESIGN.md section 2) with N boundaries,
  jitter 1, seed 0, during the first half of the DDIM steps (the paper: 25 of 50).
* ``pbc-auto``: PBC with N = max(1, round(s) - 1), s = the larger of (H / base_h, W / base_w): one
  boundary per base-size step of the scale factor beyond the first (2x -> N 1, 4x -> N 3).  This is
  our rule for the "dynamic boundary adjustment" the paper mentions without a formula.
* ``redilate``: re-dilation in the style of ScaleCrafter (redilation.py), same window.
* ``unidirectional``: the PBC paper's motivating experiment, as we read it (docs/DESIGN.md and the
  paper's abstract-level description; its exact setup is not in our sources): the model keeps
  its real zero padding and gets one more, *virtual* edge: unidirectional zero padding (lambda 0)
  around the central base-size region of every feature map, so the centre sees exactly the
  boundary it saw in training while the outside is left as it is (taps from outside into the
  region are untouched).  Same window as PBC; pbc.py, ``layout="central"``.
* ``entropy``: attention-entropy scaling (attention_scaling.py, Jin et al. 2023): self-attention
  logits times sqrt(log_{n_train} n_test), during every step.

What ComfyUI users do instead (docs/DESIGN.md section 7):

* ``hires``: the two-pass "hires fix" (two_pass.py): sample at the first-pass size (1x), upscale,
  img2img at the target size.  Knobs ``up=nearest|bilinear`` (default nearest: LatentUpscaleBy's
  nearest-exact; bilinear: the pixel route) and ``denoise=D`` (default 0.5).
* ``progressive``: 1x -> half the target -> target, two img2img passes (two_pass.py); same knobs.
* ``deepshrink``: Kohya Deep Shrink as ComfyUI core's PatchModelAddDownscale (deep_shrink.py): the
  features after the first downsampling block shrunk by the scale s = min(H, W) / base while
  sigma is in the node's default window (0-0.35 of the schedule).
* ``:pbc=N`` (or ``pbc=auto``) on any of the three: PBC with N boundaries (jitter 1, seed 0) in
  the img2img pass(es), or in Deep Shrink's one pass, on the first half of that pass's steps (the
  node's window, run-relative: posenc/sampling_window.py); ``window=A-B`` changes it.

Knobs, appended as ``:key=value`` (any order, several allowed), e.g. ``pbc3:minsize=16``,
``pbc31:merge=strongest``, ``pbc3:window=0-0.3``, ``pbc-auto:merge=strongest:minsize=16``:

* ``window=A-B`` (every method but direct): the sampling window as fractions of the steps; the
  method is on for the model calls with index i, A <= i / n < B (ceil(A * n) <= i < ceil(B * n)),
  of n steps: posenc.sampling_window.window_steps, the rule of the nodes' start/end_percent.
  Default 0-0.5 (the first ceil(n / 2) calls: 13 of 25), entropy 0-1.
* ``minsize=S`` (PBC and unidirectional): an axis of a feature map gets boundaries only if the
  map has at least S rows/columns along it (default 0 = every U-Net level).
* ``merge=product|strongest`` (PBC): where a tap leaves several boundaries at once (boundaries
  on the same row), multiply their lambdas (default, the definition) or keep the strongest
  (smallest) lambda only.

Windows are sigmas of the trailing DDIM schedule (unet_sampling.py): sigma_start = the sigma of call
ceil(A * n) (inf for A = 0), sigma_end = the sigma of call ceil(B * n) - 1.
"""
from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, replace

from posenc import schedule
from posenc.boundaries import auto_boundary_count
from posenc.attention_scaling import EntropyScalingRuntime, EntropyScalingSettings
from posenc.pbc import PBCRuntime, PBCSettings
from posenc.sampling_window import patched_module, window_steps
from posenc.redilation import RedilationRuntime, RedilationSettings
from .deep_shrink import DeepShrinkModel, DeepShrinkSettings, first_downsample_block
from .two_pass import UPSCALES, parse_denoise, pass_sizes, scale_of, upscale
from .unet_sampling import ddim_sample, pass_sigmas, timesteps_for
from posenc.valued_padding import MERGES

METHODS = ("direct", "pbc1", "pbc3", "pbc31", "pbc-auto", "redilate", "unidirectional", "entropy",
           "hires", "progressive", "deepshrink")
LABELS = {"direct": "direct", "pbc1": "PBC N=1", "pbc3": "PBC N=3", "pbc31": "PBC N=31",
          "pbc-auto": "PBC N=auto", "redilate": "re-dilation",
          "unidirectional": "unidirectional centre", "entropy": "attention-entropy scaling",
          "hires": "hires fix", "progressive": "progressive", "deepshrink": "Deep Shrink"}
PEERS = ("hires", "progressive", "deepshrink")      # the methods users pick instead
DEFAULT_DENOISE = 0.5
DEFAULT_WINDOW = (0.0, 0.5)


@dataclass(frozen=True)
class MethodSpec:
    """A parsed method name: kind ("direct", "pbc", "pbc-auto", "redilate", "unidirectional",
    "entropy"), N for "pbc", and the knobs (None = the method's default)."""

    kind: str
    boundaries: int | None = None
    window: tuple[float, float] | None = None
    min_size: int | None = None
    merge: str | None = None
    up: str | None = None           # hires / progressive: "nearest" or "bilinear"
    denoise: float | None = None    # hires / progressive
    pbc: int | str | None = None    # peers: N or "auto" of PBC inside their pass(es)

    @property
    def base_name(self) -> str:
        return f"pbc{self.boundaries}" if self.kind == "pbc" else self.kind

    def knobs(self) -> list[tuple[str, str]]:
        out = []
        if self.up is not None:
            out.append(("up", self.up))
        if self.denoise is not None:
            out.append(("denoise", f"{self.denoise:g}"))
        if self.pbc is not None:
            out.append(("pbc", str(self.pbc)))
        if self.merge is not None:
            out.append(("merge", self.merge))
        if self.min_size is not None:
            out.append(("minsize", str(self.min_size)))
        if self.window is not None:
            out.append(("window", f"{self.window[0]:g}-{self.window[1]:g}"))
        return out

    def __str__(self) -> str:
        return self.base_name + "".join(f":{k}={v}" for k, v in self.knobs())

    def effective_window(self) -> tuple[float, float]:
        if self.window is not None:
            return self.window
        return (0.0, 1.0) if self.kind == "entropy" else DEFAULT_WINDOW


def _parse_window(text: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in text.split("-"))
    except ValueError:
        raise ValueError(f"window must look like 0-0.5 (got {text!r})") from None
    if not 0.0 <= a < b <= 1.0:
        raise ValueError(f"window A-B needs 0 <= A < B <= 1 (got {text!r})")
    return a, b


def parse_method(method: str) -> MethodSpec:
    """Parse ``name[:key=value...]`` (module docstring); a ValueError names the problem."""
    known = f"known: {', '.join(METHODS)}, or pbc<N>; knobs :window=A-B, :minsize=S, :merge=" \
            + "|".join(MERGES)
    name, *parts = method.strip().split(":")
    if name in ("direct", "pbc-auto", "redilate", "unidirectional", "entropy") + PEERS:
        spec = MethodSpec(name)
    elif name.startswith("pbc") and name[3:].isdigit() and 1 <= int(name[3:]) <= 256:
        spec = MethodSpec("pbc", int(name[3:]))
    else:
        raise ValueError(f"unknown method {method!r} ({known})")
    seen = set()
    for part in parts:
        key, eq, value = part.partition("=")
        if not eq or not value:
            raise ValueError(f"knob {part!r} of {method!r} must look like key=value ({known})")
        if key in seen:
            raise ValueError(f"knob {key!r} given twice in {method!r}")
        seen.add(key)
        if key == "window" and spec.kind != "direct":
            spec = replace(spec, window=_parse_window(value))
        elif key == "minsize" and spec.kind in ("pbc", "pbc-auto", "unidirectional"):
            if not value.isdigit():
                raise ValueError(f"minsize must be a non-negative integer (got {value!r})")
            spec = replace(spec, min_size=int(value))
        elif key == "merge" and spec.kind in ("pbc", "pbc-auto"):
            if value not in MERGES:
                raise ValueError(f"merge must be one of {', '.join(MERGES)} (got {value!r})")
            spec = replace(spec, merge=value)
        elif key == "up" and spec.kind in ("hires", "progressive"):
            if value not in UPSCALES:
                raise ValueError(f"up must be one of {', '.join(UPSCALES)} (got {value!r})")
            spec = replace(spec, up=value)
        elif key == "denoise" and spec.kind in ("hires", "progressive"):
            spec = replace(spec, denoise=parse_denoise(value))
        elif key == "pbc" and spec.kind in PEERS:
            if value != "auto" and not (value.isdigit() and 1 <= int(value) <= 256):
                raise ValueError(f"pbc must be auto or N in 1..256 (got {value!r})")
            spec = replace(spec, pbc=value if value == "auto" else int(value))
        else:
            raise ValueError(f"knob {key!r} does not apply to {name!r} ({known}; "
                             f"window: every method but direct, minsize: pbc and unidirectional, "
                             "merge: pbc; up, denoise: hires and progressive; pbc: hires, "
                             "progressive and deepshrink)")
    if spec.kind in PEERS and spec.pbc is None and spec.window is not None:
        raise ValueError(f"{method!r}: window applies to the PBC inside {name}; add :pbc=N")
    return spec


def check_method(method: str) -> str:
    """The canonical name of a method (knobs in a fixed order); ValueError if unknown."""
    return str(parse_method(method))


def method_label(method: str) -> str:
    """Human-readable name for tables, e.g. "PBC N=3 (merge strongest, maps >= 16)"."""
    spec = parse_method(method)
    label = LABELS.get(spec.base_name, f"PBC N={spec.boundaries}" if spec.kind == "pbc"
                       else spec.base_name)
    knobs = []
    if spec.kind in ("hires", "progressive"):
        knobs.append("nearest-exact" if (spec.up or "nearest") == "nearest" else "bilinear")
        knobs.append(f"denoise {spec.denoise if spec.denoise is not None else DEFAULT_DENOISE:g}")
    if spec.pbc is not None:
        label += f" + PBC N={spec.pbc}"
    if spec.merge is not None:
        knobs.append(f"merge {spec.merge}")
    if spec.min_size is not None:
        knobs.append(f"maps >= {spec.min_size}")
    if spec.window is not None:
        knobs.append(f"window {spec.window[0]:g}-{spec.window[1]:g}")
    return label + (f" ({', '.join(knobs)})" if knobs else "")


def window_sigmas(steps: int, window: tuple[float, float]) -> tuple[float, float]:
    """(sigma_start, sigma_end) of a step-fraction window (module docstring)."""
    ts = timesteps_for(steps)
    sig = schedule.sigmas()
    inside = window_steps(steps, *window)
    if not inside:
        return -1.0, 0.0          # empty: no sigma lies in it
    start = math.inf if inside.start == 0 else float(sig[int(ts[inside.start])])
    return start, float(sig[int(ts[inside.stop - 1])])


def half_window_sigma_end(steps: int) -> float:
    """sigma_end such that the window [sigma_end, inf] covers the first ceil(steps / 2) calls."""
    return window_sigmas(steps, DEFAULT_WINDOW)[1]


def auto_boundaries(height: int, width: int, base_h: int, base_w: int) -> int:
    """N of ``pbc-auto``: the nodes' auto rule, posenc.boundaries.auto_boundary_count
    (max(1, floor(s + 0.5) - 1), s = max(H / base_h, W / base_w))."""
    return auto_boundary_count(height, width, base_h, base_w)


def resolve(method: str, height: int, width: int, base_h: int, base_w: int) -> str:
    """The concrete method a name stands for at this size (``pbc-auto`` -> ``pbc<N>``, knobs
    kept); canonical."""
    spec = parse_method(method)
    if spec.kind == "pbc-auto":
        spec = replace(spec, kind="pbc", boundaries=auto_boundaries(height, width, base_h, base_w))
    if spec.kind in PEERS and spec.pbc == "auto":
        spec = replace(spec, pbc=auto_boundaries(height, width, base_h, base_w))
    return str(spec)


class _SteppedModel:
    """Calls the model inside ``runtime.step(H, W, sigma)``, sigma set by the sampler's hook."""

    def __init__(self, model, runtime):
        self.model, self.runtime, self.sigma = model, runtime, math.inf
        self.num_classes = getattr(model, "num_classes", None)

    def hook(self, index, num_steps, t, sigma):
        self.sigma = sigma

    def check_size(self, height, width):
        if hasattr(self.model, "check_size"):
            self.model.check_size(height, width)

    def __call__(self, x, t, y):
        with self.runtime.step(x.shape[-2], x.shape[-1], self.sigma):
            return self.model(x, t, y)


def method_runtime(model, method: str, height: int, width: int, steps: int, seed: int = 0,
                   jitter: int = 1):
    """(runtime, patch context) of a method at a size, or (None, nullcontext()) for direct."""
    base = int(getattr(model, "base_resolution", 32))
    spec = parse_method(resolve(method, height, width, base, base))
    if spec.kind == "direct":
        return None, nullcontext()
    start, end = window_sigmas(steps, spec.effective_window())
    if spec.kind == "redilate":
        runtime = RedilationRuntime(RedilationSettings(base, base, start, end))
        return runtime, patched_module(model, runtime)
    if spec.kind == "entropy":
        runtime = EntropyScalingRuntime(EntropyScalingSettings(base, base, start, end))
        return runtime, patched_module(model, runtime)
    central = spec.kind == "unidirectional"
    settings = PBCSettings(boundaries=1 if central else spec.boundaries,
                           jitter=0 if central else jitter, seed=seed,
                           base_height=base, base_width=base, sigma_start=start, sigma_end=end,
                           min_size=spec.min_size or 0, merge=spec.merge or "product",
                           layout="central" if central else "progressive")
    runtime = PBCRuntime(settings)
    return runtime, patched_module(model, runtime)


class _PassModel:
    """The model of one pass of a peer method: PBC (a run-relative step window, so the pass's own
    sigmas are given) and/or Deep Shrink's block patches around it."""

    def __init__(self, model, runtime, run_sigmas, deep_shrink: DeepShrinkSettings | None):
        self.model, self.runtime, self.run_sigmas = model, runtime, run_sigmas
        self.inner = DeepShrinkModel(model, deep_shrink) if deep_shrink else model
        self.num_classes = getattr(model, "num_classes", None)
        self.sigma = math.inf

    def check_size(self, height, width):
        self.model.check_size(height, width)

    def hook(self, index, num_steps, t, sigma):
        self.sigma = sigma
        if isinstance(self.inner, DeepShrinkModel):
            self.inner.hook(index, num_steps, t, sigma)

    def __call__(self, x, t, y):
        if self.runtime is None:
            return self.inner(x, t, y)
        with self.runtime.step(x.shape[-2], x.shape[-1], self.sigma, self.run_sigmas):
            return self.inner(x, t, y)


def _pass_runtime(model, spec: MethodSpec, height: int, width: int, seed: int, jitter: int):
    """(PBC runtime or None, patch context) of a peer's pass at its size: PBC with N = spec.pbc
    on spec's step window of that pass (default its first half)."""
    if spec.pbc is None:
        return None, nullcontext()
    base = int(getattr(model, "base_resolution", 32))
    n = auto_boundaries(height, width, base, base) if spec.pbc == "auto" else spec.pbc
    a, b = spec.window if spec.window is not None else DEFAULT_WINDOW
    runtime = PBCRuntime(PBCSettings(boundaries=n, jitter=jitter, seed=seed, base_height=base,
                                     base_width=base, start_percent=a, end_percent=b))
    return runtime, patched_module(model, runtime)


def _sample_peer(model, spec: MethodSpec, labels, height, width, seeds, steps, guidance, seed,
                 jitter, batch_size):
    base = int(getattr(model, "base_resolution", 32))
    multiple = int(getattr(model, "downsample_factor", 1))
    if scale_of(height, width, base) <= 1:
        # At (or below) the training size on the smaller side there is nothing to upscale or
        # shrink: every method is off there and equals direct.
        return ddim_sample(model, labels, height, width, seeds, steps, guidance,
                           batch_size=batch_size)
    if spec.kind == "deepshrink":
        settings = DeepShrinkSettings(block=first_downsample_block(model),
                                      factor=scale_of(height, width, base))
        runtime, patch = _pass_runtime(model, spec, height, width, seed, jitter)
        with patch:
            wrapped = _PassModel(model, runtime, pass_sigmas(steps), settings)
            return ddim_sample(wrapped, labels, height, width, seeds, steps, guidance,
                               step_hook=wrapped.hook, batch_size=batch_size)
    sizes = pass_sizes(spec.kind, height, width, base, multiple)
    denoise = spec.denoise if spec.denoise is not None else DEFAULT_DENOISE
    images = ddim_sample(model, labels, *sizes[0], seeds, steps, guidance, batch_size=batch_size)
    for h, w in sizes[1:]:
        init = upscale(images, h, w, spec.up or "nearest").clamp(0, 1)
        runtime, patch = _pass_runtime(model, spec, h, w, seed, jitter)
        with patch:
            wrapped = _PassModel(model, runtime, pass_sigmas(steps, denoise), None)
            images = ddim_sample(wrapped, labels, h, w, seeds, steps, guidance,
                                 step_hook=wrapped.hook, batch_size=batch_size, init=init,
                                 denoise=denoise)
    return images


def sample_with_method(model, method: str, labels, height: int, width: int, seeds, steps: int = 25,
                       guidance: float = 1.0, seed: int = 0, jitter: int = 1,
                       batch_size: int = 16):
    """DDIM samples (B, 3, H, W) in [0, 1] of one method; same seeds -> same initial noise."""
    spec = parse_method(method)
    if spec.kind in PEERS:
        return _sample_peer(model, spec, labels, height, width, seeds, steps, guidance, seed,
                            jitter, batch_size)
    runtime, patch = method_runtime(model, method, height, width, steps, seed, jitter)
    with patch:
        if runtime is None:
            return ddim_sample(model, labels, height, width, seeds, steps, guidance,
                               batch_size=batch_size)
        wrapped = _SteppedModel(model, runtime)
        return ddim_sample(wrapped, labels, height, width, seeds, steps, guidance,
                           step_hook=wrapped.hook, batch_size=batch_size)
