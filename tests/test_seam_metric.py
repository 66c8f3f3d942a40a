"""The seam score reads high on scenes with faint rectangles drawn on PBC's boundaries, low on
rendered scenes, and counts only lines shared by the images."""
import torch

from posenc.boundaries import virtual_boundaries
from posenc_lab.scenes import render_scenes
from posenc_lab.seam_metric import image_profiles, seam_score


def _scenes(n=32, size=64, seed=7):
    images, _, _ = render_scenes(n, size, seed)
    assert images.min() >= 0 and images.max() <= 1
    return images


def _draw_rectangles(images, n_boundaries=3, strength=0.04):
    """Brighten the outline of PBC's N boundary rectangles (jitter 0) by `strength`."""
    h, w = images.shape[-2:]
    mask = torch.zeros(h, w)
    b = virtual_boundaries(h, w, n_boundaries)
    for i in range(n_boundaries):
        r0, r1, c0, c1 = b.rect(i)
        mask[r0, c0:c1] = mask[r1 - 1, c0:c1] = 1.0
        mask[r0:r1, c0] = mask[r0:r1, c1 - 1] = 1.0
    return (images + strength * mask).clamp(0, 1)


def test_profiles_by_hand():
    img = torch.zeros(1, 1, 4, 3)
    img[0, 0, 2:, :] = 1.0                      # one step between rows 1 and 2
    rows, cols = image_profiles(img)
    assert rows.tolist() == [[0.0, 1.0, 0.0]]
    assert cols.tolist() == [[0.0, 0.0]]


def test_score_by_hand():
    # Two images whose high-passed row profiles are identical and columns flat: correlation 1.
    img = torch.zeros(2, 1, 12, 6)
    img[:, :, 6:, :] = 1.0
    assert abs(seam_score(img) - 1.0) < 1e-9
    # The same step at rows far apart in the two images: the profiles do not overlap -> 0.
    img2 = torch.zeros(2, 1, 24, 6)
    img2[0, :, 4:, :] = 1.0
    img2[1, :, 16:, :] = 1.0
    assert abs(seam_score(img2)) < 1e-9


def test_rendered_scenes_read_about_zero():
    for seed in (7, 8, 9):
        assert abs(seam_score(_scenes(seed=seed))) < 0.01


def test_faint_rectangles_read_high():
    for seed in (7, 8):
        clean = _scenes(seed=seed)
        marked = _draw_rectangles(clean)
        # the rectangles are faint: a 4% step, far below the scenes' own edges
        assert (marked - clean).abs().max() <= 0.04 + 1e-6
        assert seam_score(marked) > 0.035 > 0.01 > abs(seam_score(clean))


def test_blocky_upscale_reads_high():
    small = _scenes(size=32)
    blocky = torch.nn.functional.interpolate(small, scale_factor=2, mode="nearest")
    assert seam_score(blocky) > 0.08


def test_a_line_in_one_image_only_counts_little():
    clean = _scenes()
    one = clean.clone()
    one[0, :, 20, :] = (one[0, :, 20, :] + 0.5).clamp(0, 1)   # a strong line, one image of 32
    every = clean.clone()
    every[:, :, 20, :] = (every[:, :, 20, :] + 0.5).clamp(0, 1)
    assert seam_score(every) > 0.2
    assert abs(seam_score(one) - seam_score(clean)) < 0.01


def test_needs_two_images():
    import pytest
    with pytest.raises(ValueError, match="at least two"):
        seam_score(torch.zeros(1, 3, 8, 8))
