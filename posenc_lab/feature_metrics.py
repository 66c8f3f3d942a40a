"""The PBC paper's two image measures at the reference models' scale: KID and Content Richness,
both on the features of one small fixed network (no model hub, no Inception weights).

**The feature network** (`FeatureNet`, `feature_net()`): four zero-padded 3x3 convolutions with
ReLU, 3 -> 32 -> 64 -> 128 -> 128 channels, the last three with stride 2, so a 32x32 RGB input
(scaled from [0, 1] to [-1, 1]) becomes a 128 x 4 x 4 map; its 2048 values, flattened, are the
features.  Its weights are *random and never trained*: drawn with ``torch.randn`` from a CPU
generator seeded ``FEATURE_SEED`` (0), He-scaled (std sqrt(2 / fan_in)), no biases.  Features
of randomly initialised CNNs are an established stand-in where no pretrained embedding fits the
data (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models", study
random embeddings for this reason); an MMD on them separates distributions that differ in the
statistics the features see, and tests/test_feature_metrics.py checks that they see what matters
here (repeats and noise read far from scenes).  They know nothing of the scenes, so the measure
cannot be tuned to flatter a method.  The 4 x 4 spatial
map is kept (no global pooling), so the features see *where* sky, ground and sun are, not only
their colours: a 2x2 tiling shrunk to 32x32 differs from a scene.  Post-ReLU random features share
a large positive component, so every feature is centred by a fixed vector: the mean feature of
``CENTRE_SCENES`` (256) rendered scenes of seed ``CENTRE_SEED`` (1000) at 32x32
(`feature_centre()`); without it all cosine similarities sit near 1.  The net, its seed and the
centre are fixed: the same image gives the same features on every run.

**KID** (kernel inception distance, Binkowski et al. 2018, "Demystifying MMD GANs", used by the
PBC paper at 2048^2 with Inception features): the unbiased estimate of the squared MMD between
two feature sets X (m) and Y (n) with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3,
d = the feature dimension (`kid`).  Here X = high-resolution outputs resized with area
averaging to the training size (32x32) (`resize_to`), Y = the model's 1x outputs of the same
seeds and classes.  One estimate over all samples (no subset averaging: we have 64, not 50 000).
Unbiased, so it can be slightly negative when the two sets come from one distribution.  Lower is
closer to what the model draws at its training size.

**Content Richness** (the PBC paper's measure of repeated content): the image is cut into a 3x3
grid of patches (row/column cuts at round(i * H / 3)), each patch is resized (bilinear,
antialiased) to 32x32 and embedded by the same network (centred), and the measure is the **mean**
of the 36 pairwise cosine similarities between the 9 patch features (`patch_similarity`; the
issue's *sum* is 36 times this mean).  **Lower similarity = richer content**: an image made of
repeats of one scene has patches that look alike (a 3x3 tiling of one scene reaches 1.0).  The
benchmark reports the mean over images.
"""
from __future__ import annotations

import functools

import torch
import torch.nn as nn
import torch.nn.functional as F

FEATURE_SEED = 0
FEATURE_SIZE = 32          # the network's input size: the reference models' training size
CENTRE_SEED = 1000
CENTRE_SCENES = 256
CHANNELS = (32, 64, 128, 128)
STRIDES = (1, 2, 2, 2)


class FeatureNet(nn.Module):
    """The fixed random conv net of the module docstring: (B, 3, 32, 32) in [0, 1] -> (B, 2048)."""

    def __init__(self, seed: int = FEATURE_SEED):
        super().__init__()
        g = torch.Generator().manual_seed(int(seed))
        convs, cin = [], 3
        for cout, stride in zip(CHANNELS, STRIDES):
            conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g)
                                  * (2.0 / (cin * 9)) ** 0.5)
            convs.append(conv)
            cin = cout
        self.convs = nn.ModuleList(convs)
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected RGB images (B, 3, H, W), got {tuple(images.shape)}")
        if tuple(images.shape[-2:]) != (FEATURE_SIZE, FEATURE_SIZE):
            raise ValueError(f"the feature network takes {FEATURE_SIZE}x{FEATURE_SIZE} images "
                             f"(got {tuple(images.shape[-2:])}); resize first")
        h = images.float() * 2 - 1
        for conv in self.convs:
            h = F.relu(conv(h))
        return h.flatten(1)


@functools.lru_cache(maxsize=2)
def feature_net(seed: int = FEATURE_SEED) -> FeatureNet:
    """The shared feature network (built once per process)."""
    return FeatureNet(seed)


@functools.lru_cache(maxsize=2)
def feature_centre(seed: int = FEATURE_SEED) -> torch.Tensor:
    """The fixed centring vector: mean raw feature of CENTRE_SCENES rendered scenes (seed
    CENTRE_SEED, classes drawn by the data set) at 32x32."""
    from .scenes import render_scenes
    images, _, _ = render_scenes(CENTRE_SCENES, FEATURE_SIZE, CENTRE_SEED)
    with torch.no_grad():
        return feature_net(seed)(images).mean(0)


def resize_to(images: torch.Tensor, height: int = FEATURE_SIZE, width: int | None = None) -> torch.Tensor:
    """Area-average resize to height x width (identity when the size already matches)."""
    width = height if width is None else width
    if tuple(images.shape[-2:]) == (height, width):
        return images.float()
    return F.interpolate(images.float(), size=(height, width), mode="area")


@torch.no_grad()
def features(images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """Centred features (B, 2048) of images (B, 3, H, W) in [0, 1], area-resized to 32x32."""
    net, centre = feature_net(), feature_centre()
    out = [net(resize_to(images[i:i + batch])) - centre for i in range(0, len(images), batch)]
    return torch.cat(out) if out else torch.zeros(0, centre.numel())


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """KID's kernel k(x, y) = (x.y / d + 1)^3, d = feature dimension; (m, d), (n, d) -> (m, n)."""
    d = x.shape[1]
    return (x.double() @ y.double().T / d + 1) ** 3


def kid_from_features(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 estimate with the cubic polynomial kernel (Binkowski et al. 2018, Eq. 4):

        1/(m(m-1)) sum_{i!=j} k(x_i,x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i,y_j) - 2/(mn) sum_{i,j} k(x_i,y_j)
    """
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"KID needs at least 2 samples per set (got {m} and {n})")
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kid(images: torch.Tensor, reference: torch.Tensor) -> float:
    """KID between images (any size; area-resized to 32x32) and reference images (32x32)."""
    return kid_from_features(features(images), features(reference))


def patch_grid(images: torch.Tensor, n: int = 3) -> torch.Tensor:
    """The n x n grid of patches of each image, each resized (bilinear, antialiased) to 32x32:
    (B, 3, H, W) -> (B, n*n, 3, 32, 32), row-major.  Cuts at round(i * H / n)."""
    b, c, h, w = images.shape
    if h < n or w < n:
        raise ValueError(f"image {h}x{w} too small for a {n}x{n} patch grid")
    ys = [round(i * h / n) for i in range(n + 1)]
    xs = [round(j * w / n) for j in range(n + 1)]
    patches = []
    for i in range(n):
        for j in range(n):
            p = images[:, :, ys[i]:ys[i + 1], xs[j]:xs[j + 1]].float()
            patches.append(F.interpolate(p, size=(FEATURE_SIZE, FEATURE_SIZE), mode="bilinear",
                                         align_corners=False, antialias=True))
    return torch.stack(patches, 1)


@torch.no_grad()
def patch_similarity(images: torch.Tensor, n: int = 3) -> torch.Tensor:
    """Content Richness per image (B,): the mean pairwise cosine similarity of the n x n patch
    features (n = 3: 36 pairs).  Lower = richer content; identical patches give 1."""
    b = images.shape[0]
    patches = patch_grid(images, n)                               # (B, P, 3, 32, 32)
    f = features(patches.flatten(0, 1)).view(b, n * n, -1).double()
    f = F.normalize(f, dim=-1)
    cos = f @ f.transpose(1, 2)                                   # (B, P, P)
    iu = torch.triu_indices(n * n, n * n, offset=1)
    return cos[:, iu[0], iu[1]].mean(1).float()
