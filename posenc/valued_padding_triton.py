"""The valued-padding conv as one fused Triton kernel that scales each tap as it loads it
(Eq. 2 of Zhou et al., arXiv 2503.09830: the padding at a virtual boundary is p = lambda * F;
docs/DESIGN.md section 8).

With the multipliers m_d(o) of valued_padding.py (`tap_multipliers`, one per tap d = (i, j) and
output position o = (y, x)), the conv is

    out[n, co, y, x] = bias[co] + sum_(i, j) m_ij(y, x) * sum_ci W[co, ci, i, j]
                       * x[n, ci, y*sh + (i - (kh-1)//2)*dh, x*sw + (j - (kw-1)//2)*dw]

with x read as 0 outside the image (the real zero padding).  The kernel is an implicit-GEMM
direct conv: one program per block of BLOCK_M output positions (batch, y, x flattened) and
BLOCK_N output channels; it loops over the taps and, inside each tap, over blocks of BLOCK_K
input channels.  It loads the (BLOCK_M, BLOCK_K) tile of x that the tap reads (masked where the
tap falls into the real zero padding), multiplies each row by that tap's multiplier at the row's
output position, and accumulates tl.dot(tile, weight tile) in float32; then adds the bias and
stores in the input dtype.  The map is read in place with its own strides (NCHW or channels-last),
and no k*k-times copy of it is made; the multiplier table (kh*kw, Ho, Wo) float32 is the plan's,
cast to the device once and cached with the plan's other tensors.

Triton is optional.  Nothing here imports it until a kernel is wanted; the pack works without it
(the per-tap and strip forms of valued_padding.py are the fallback).  `unsupported_reason` names
what the kernel does not do (grouped convs, dtypes other than float16 / float32, inputs that need
gradients, tensors of 2**31 elements or more, CPU tensors outside Triton's interpreter); the
caller then runs the pure-torch form, so a call is never silently wrong.  bfloat16 is left to the
pure-torch forms because it cannot be checked here: Triton 3.9's interpreter multiplies the raw
bit patterns of bfloat16 tiles in tl.dot.  float32 inputs use tl.dot's "ieee" precision (no
TF32), to match the pure-torch forms.
The tests run the kernel in Triton's interpreter (TRITON_INTERPRET=1) on CPU tensors; no GPU
has run or timed it.
"""
from __future__ import annotations

import torch

INSTALL_HINT = ("pip install triton (Linux with an NVIDIA or AMD GPU; CUDA builds of torch on "
                "Linux usually bring it)")
DTYPES = (torch.float16, torch.float32)        # not bfloat16: see the module docstring
MAX_ELEMENTS = 2 ** 31 - 1          # offsets are 32-bit in the kernel
BLOCK_M = 64

_available: bool | None = None
_kernels: dict = {}


def triton_available() -> bool:
    """Whether `import triton` works (tried once, on first ask)."""
    global _available
    if _available is None:
        try:
            import triton  # noqa: F401
            import triton.language  # noqa: F401
            _available = True
        except Exception:           # ImportError, or a broken install failing on import
            _available = False
    return _available


def require_triton() -> None:
    """Raise ImportError, saying how to install it, unless Triton can be imported."""
    if not triton_available():
        raise ImportError("valued-padding method 'fused' needs Triton, which is not installed "
                          f"(or does not import): {INSTALL_HINT}.  Or use method 'auto', 'per_tap' "
                          "or 'strips' (plain PyTorch).")


def interpreting() -> bool:
    """Whether Triton runs kernels in its interpreter (TRITON_INTERPRET=1: on CPU tensors), as
    Triton itself reads the setting; False without Triton."""
    if not triton_available():
        return False
    import triton
    return bool(triton.knobs.runtime.interpret)


def unsupported_reason(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                       groups: int) -> str | None:
    """Why the fused kernel cannot run this call (the caller then runs a pure-torch form), or None."""
    if not triton_available():
        return "Triton is not installed"
    if groups != 1:
        return f"groups={groups} (the kernel does groups=1 only)"
    if x.dtype not in DTYPES:
        return f"dtype {x.dtype} (the kernel does float16 and float32)"
    if weight.dtype != x.dtype or (bias is not None and bias.dtype != x.dtype):
        return "weight, bias and input differ in dtype"
    if x.device.type != "cuda" and not (x.device.type == "cpu" and interpreting()):
        return f"device {x.device} (CUDA, or the CPU in Triton's interpreter)"
    if weight.device != x.device or (bias is not None and bias.device != x.device):
        return "weight, bias and input are on different devices"
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                    or (bias is not None and bias.requires_grad)):
        return "gradients are wanted (the kernel has no backward)"
    if x.dim() != 4 or weight.dim() != 4 or weight.shape[1] != x.shape[1]:
        return "shapes are not (B, C, H, W) and (C_out, C, kh, kw)"
    if max(_span(x), _span(weight), x.shape[0] * weight.shape[0] * x.shape[2] * x.shape[3]) > MAX_ELEMENTS:
        return "a tensor that spans 2**31 elements or more (the kernel's offsets are 32-bit)"
    return None


def _span(t: torch.Tensor) -> int:
    """The largest element offset a tensor's strides reach (its numel - 1 when dense)."""
    return sum((size - 1) * abs(stride) for size, stride in zip(t.shape, t.stride()))


def _kernel():
    """The jitted kernel, built on first use (after TRITON_INTERPRET is read: Triton decides
    interpreter or compiler when it decorates a function)."""
    key = interpreting()
    if key in _kernels:
        return _kernels[key]
    import triton
    import triton.language as tl

    @triton.jit
    def valued_padding_conv_kernel(
            x_ptr, w_ptr, b_ptr, m_ptr, out_ptr,
            C, H, W, CO, HO, WO, M,
            sxn, sxc, sxh, sxw, swo, swc, swh, sww, son, soc, soh, sow,
            KH: tl.constexpr, KW: tl.constexpr, SH: tl.constexpr, SW: tl.constexpr,
            DH: tl.constexpr, DW: tl.constexpr, HAS_BIAS: tl.constexpr, PRECISION: tl.constexpr,
            BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
        offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)      # output positions
        offs_n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)      # output channels
        offs_k = tl.arange(0, BLOCK_K)
        m_ok = offs_m < M
        n_ok = offs_n < CO
        ox = offs_m % WO
        oy = (offs_m // WO) % HO
        nb = offs_m // (WO * HO)
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for i in tl.static_range(KH):
            iy = oy * SH + (i - (KH - 1) // 2) * DH
            for j in tl.static_range(KW):
                ix = ox * SW + (j - (KW - 1) // 2) * DW
                inside = m_ok & (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
                scale = tl.load(m_ptr + (i * KW + j) * HO * WO + oy * WO + ox, mask=m_ok, other=0.0)
                x_row = x_ptr + nb * sxn + iy * sxh + ix * sxw
                w_tap = w_ptr + i * swh + j * sww
                for c0 in range(0, C, BLOCK_K):
                    ck = c0 + offs_k
                    c_ok = ck < C
                    xt = tl.load(x_row[:, None] + ck[None, :] * sxc,
                                 mask=inside[:, None] & c_ok[None, :], other=0.0)
                    xt = (xt.to(tl.float32) * scale[:, None]).to(x_ptr.dtype.element_ty)
                    wt = tl.load(w_tap + ck[:, None] * swc + offs_n[None, :] * swo,
                                 mask=c_ok[:, None] & n_ok[None, :], other=0.0)
                    acc = tl.dot(xt, wt, acc, input_precision=PRECISION)
        if HAS_BIAS:
            acc += tl.load(b_ptr + offs_n, mask=n_ok, other=0.0).to(tl.float32)[None, :]
        out = out_ptr + (nb * son + oy * soh + ox * sow)[:, None] + offs_n[None, :] * soc
        tl.store(out, acc.to(out_ptr.dtype.element_ty), mask=m_ok[:, None] & n_ok[None, :])

    _kernels[key] = valued_padding_conv_kernel
    return valued_padding_conv_kernel


def _block(n: int, cap: int) -> int:
    """A power of two >= 16 (tl.dot's smallest tile) covering n, at most cap."""
    b = 16
    while b < n and b < cap:
        b *= 2
    return b


def fused_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                 multipliers: torch.Tensor, stride: tuple[int, int] = (1, 1),
                 dilation: tuple[int, int] = (1, 1)) -> torch.Tensor:
    """The conv with multipliers (kh*kw, Ho, Wo) on its taps (module docstring), for odd kernels
    with "same" zero padding d (k - 1) / 2; groups=1.  Raises ValueError where
    `unsupported_reason` gives one.  The output has x's dtype and memory format."""
    reason = unsupported_reason(x, weight, bias, 1)
    if reason is not None:
        raise ValueError(f"the fused valued-padding kernel cannot run this call: {reason}")
    n, c, h, w = x.shape
    co, _, kh, kw = weight.shape
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"the fused kernel needs an odd kernel, got {kh}x{kw}")
    (sh, sw), (dh, dw) = stride, dilation
    ho, wo = (h - 1) // sh + 1, (w - 1) // sw + 1
    if tuple(multipliers.shape) != (kh * kw, ho, wo):
        raise ValueError(f"multipliers {tuple(multipliers.shape)} do not fit a {kh}x{kw} kernel "
                         f"and a {ho}x{wo} output")
    mult = multipliers.to(device=x.device, dtype=torch.float32).contiguous()
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    out = torch.empty((n, co, ho, wo), device=x.device, dtype=x.dtype,
                      memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    m = n * ho * wo
    block_n, block_k = _block(co, 64), _block(c, 32)
    grid = ((m + BLOCK_M - 1) // BLOCK_M, (co + block_n - 1) // block_n)
    _kernel()[grid](
        x, weight, bias if bias is not None else mult, mult, out,
        c, h, w, co, ho, wo, m,
        *x.stride(), *weight.stride(), *out.stride(),
        KH=kh, KW=kw, SH=sh, SW=sw, DH=dh, DW=dw, HAS_BIAS=bias is not None,
        PRECISION="ieee" if x.dtype == torch.float32 else None,
        BLOCK_M=BLOCK_M, BLOCK_N=block_n, BLOCK_K=block_k)
    return out
