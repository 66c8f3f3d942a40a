"""Direct, slow reference of PBC's valued-padding conv, written from the definition in docs/DESIGN.md
section 2 with plain loops and one unfold over the whole map.  Tests only; never used by the pack."""
import functools

import torch
import torch.nn.functional as F


@functools.lru_cache(maxsize=256)
def reference_factors(boundaries, kh, kw, sh, sw, dh, dw, merge="product"):
    """factor[i*kw + j, oy, ox] = prod of lambda_n with centre in R_n and tap outside R_n
    (taps that read real zero padding outside the image keep factor 1: they read 0 anyway).
    merge="strongest": the smallest such lambda instead of the product."""
    H, W = boundaries.height, boundaries.width
    ho, wo = (H - 1) // sh + 1, (W - 1) // sw + 1
    cy = torch.arange(ho).view(-1, 1) * sh
    cx = torch.arange(wo).view(1, -1) * sw

    def inside(rect, y, x):
        return (rect[0] <= y) & (y < rect[1]) & (rect[2] <= x) & (x < rect[3])

    f = torch.ones(kh * kw, ho, wo, dtype=torch.float64)
    for i in range(kh):
        for j in range(kw):
            qy, qx = cy + (i - (kh - 1) // 2) * dh, cx + (j - (kw - 1) // 2) * dw
            in_image = (qy >= 0) & (qy < H) & (qx >= 0) & (qx < W)
            for n, lam in enumerate(boundaries.lambdas):
                rect = boundaries.rect(n)
                crosses = inside(rect, cy, cx) & ~inside(rect, qy, qx) & in_image
                if merge == "product":
                    f[i * kw + j][crosses] *= lam
                else:
                    f[i * kw + j][crosses] = f[i * kw + j][crosses].clamp(max=lam)
    return f


def reference_conv(x, weight, bias, boundaries, stride=(1, 1), dilation=(1, 1), groups=1,
                   merge="product"):
    """Valued-padding conv in float64 via unfold: every tap multiplied by its factor."""
    kh, kw = weight.shape[-2:]
    sh, sw = stride
    dh, dw = dilation
    ph, pw = dh * (kh - 1) // 2, dw * (kw - 1) // 2
    B, C, H, W = x.shape
    ho, wo = (H - 1) // sh + 1, (W - 1) // sw + 1
    fac = reference_factors(boundaries, kh, kw, sh, sw, dh, dw, merge).reshape(kh * kw, ho * wo)
    assert (H, W) == (boundaries.height, boundaries.width)
    cols = F.unfold(x.double(), (kh, kw), dilation=dilation, padding=(ph, pw), stride=stride)
    cols = cols.view(B, C, kh * kw, ho * wo) * fac
    cols = cols.view(B, groups, C // groups * kh * kw, ho * wo)
    w = weight.double().view(groups, -1, C // groups * kh * kw)
    out = torch.einsum("gok,bgkl->bgol", w, cols).reshape(B, -1, ho, wo)
    if bias is not None:
        out = out + bias.double().view(1, -1, 1, 1)
    return out
