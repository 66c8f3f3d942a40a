"""The procedural scene data set: determinism, layout by construction, any size."""
import time

import pytest
import torch

from posenc_lab import scenes
from posenc_lab.scenes import CLASSES, PALETTES, render, render_scenes, sample_params, tile


def test_deterministic_by_seed():
    a, la, _ = render_scenes(16, 32, seed=7)
    b, lb, _ = render_scenes(16, 32, seed=7)
    c, _, _ = render_scenes(16, 32, seed=8)
    assert torch.equal(a, b) and torch.equal(la, lb)
    assert not torch.equal(a, c)


def test_layout_ranges():
    p = sample_params(2000, seed=3)
    assert ((p.horizon >= scenes.HORIZON_BAND[0]) & (p.horizon <= scenes.HORIZON_BAND[1])).all()
    # The sun disc lies wholly in the sky, below the top margin.
    assert (p.sun_y + p.sun_r <= p.horizon - scenes.SUN_HORIZON_MARGIN + 1e-6).all()
    assert (p.sun_y - p.sun_r >= scenes.SUN_TOP_MARGIN - 1e-6).all()
    assert set(p.label.tolist()) == set(range(len(CLASSES)))


@pytest.mark.parametrize("h,w", [(32, 32), (64, 64), (32, 128), (48, 20)])
def test_rendered_pixels_follow_the_layout(h, w):
    """Check each image against its parameters, pixel by pixel, without the metrics module."""
    imgs, labels, p = render_scenes(12, (h, w), seed=11)
    assert imgs.shape == (12, 3, h, w) and imgs.min() >= 0 and imgs.max() <= 1
    for i in range(12):
        pal = torch.tensor(PALETTES[CLASSES[int(labels[i])]])
        sun_col = pal[4].view(3, 1, 1)
        is_sun = (imgs[i] - sun_col).abs().amax(0) < 1e-6
        rows = torch.nonzero(is_sun)[:, 0]
        first_ground = int(((torch.arange(h) + 0.5) / h < p.horizon[i]).sum())
        # one sun: its pixels exist, all above the horizon row, area close to pi r^2
        assert rows.numel() > 0 and rows.max() < first_ground
        r = float(p.sun_r[i]) * min(h, w)
        assert abs(rows.numel() - torch.pi * r * r) < 2 * torch.pi * r + 4
        # below the horizon: only the ground gradient (top colour to bottom colour)
        ground = imgs[i][:, first_ground:]
        lo, hi = torch.minimum(pal[2], pal[3]), torch.maximum(pal[2], pal[3])
        assert ((ground >= lo.view(3, 1, 1) - 1e-5) & (ground <= hi.view(3, 1, 1) + 1e-5)).all()
        # each row is constant outside the sun (a horizontal horizon, a vertical gradient)
        sky = imgs[i][:, :first_ground]
        ref = sky[:, :, :1].expand_as(sky)
        assert (((sky - ref).abs().amax(0) < 1e-6) | is_sun[:first_ground]
                | is_sun[:first_ground, :1]).all()


def test_same_scene_at_any_size():
    p = sample_params(8, seed=5)
    small = render(p, 32)
    big = torch.nn.functional.avg_pool2d(render(p, 128), 4)
    # Equal away from the edges of the sun and the horizon.
    assert (small - big).abs().mean() < 0.01


def test_labels_and_errors():
    _, labels, _ = render_scenes(4, 32, seed=0, labels="night")
    assert labels.tolist() == [CLASSES.index("night")] * 4
    with pytest.raises(ValueError, match="unknown scene class"):
        render_scenes(4, 32, seed=0, labels="sunrise")
    with pytest.raises(ValueError, match="out of range"):
        render_scenes(4, 32, seed=0, labels=9)
    with pytest.raises(ValueError, match="too small"):
        render_scenes(1, 2, seed=0)


def test_tile_places_images():
    imgs, _, _ = render_scenes(8, 16, seed=1)
    t = tile(imgs, 2)
    assert t.shape == (2, 3, 32, 32)
    assert torch.equal(t[0, :, :16, 16:], imgs[1]) and torch.equal(t[1, :, 16:, :16], imgs[6])


def test_render_is_fast():
    render_scenes(64, 32, seed=0)
    t = time.perf_counter()
    render_scenes(64, 32, seed=1)
    assert time.perf_counter() - t < 0.25
