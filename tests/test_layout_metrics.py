"""Layout metrics: valid on rendered data, tilings and broken images caught, components exact."""
import random

import pytest
import torch

from posenc_lab.layout_metrics import MIN_SUN_AREA, connected_components, layout_metrics
from posenc_lab.scenes import CLASSES, PALETTES, render, render_scenes, sample_params, tile


@pytest.mark.parametrize("size", [32, 64, (32, 128)])
def test_rendered_scenes_are_valid(size):
    imgs, labels, _ = render_scenes(128 if size == 32 else 32, size, seed=123)
    for lab in (None, labels):
        r = layout_metrics(imgs, lab)
        assert r.valid.float().mean() >= 0.99
        assert r.palette_outside.max() == 0


@pytest.mark.parametrize("tile_size,n", [(32, 2), (32, 4), (64, 2)])
def test_tiling_reads_n2_suns_and_n_horizons(tile_size, n):
    """n x n tilings of valid scenes at 2x and 4x the training size (and of 2x scenes)."""
    imgs, _, _ = render_scenes(4 * n * n, tile_size, seed=n)
    r = layout_metrics(tile(imgs, n))
    assert r.suns.tolist() == [n * n] * 4
    assert r.horizons.tolist() == [n] * 4
    assert not r.valid.any()


def test_same_class_tiling_with_labels():
    imgs, labels, _ = render_scenes(16, 32, seed=4, labels="dusk")
    r = layout_metrics(tile(imgs, 2), labels=CLASSES.index("dusk"))
    assert r.suns.tolist() == [4] * 4 and r.horizons.tolist() == [2] * 4


def test_mirrored_side_by_side_has_two_suns():
    imgs, _, _ = render_scenes(8, 32, seed=9)
    r = layout_metrics(torch.cat([imgs, imgs.flip(3)], dim=3))
    assert r.suns.tolist() == [2] * 8 and r.horizons.tolist() == [1] * 8
    assert not r.valid.any()


def _paint_disc(img, cy, cx, r, colour):
    h, w = img.shape[1:]
    yy, xx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    img[:, disc] = torch.tensor(colour).view(3, 1)
    return img


def test_broken_images_fail():
    p = sample_params(4, seed=2, labels="day")
    imgs = render(p, 32)
    sun = PALETTES["day"][4]
    sky = PALETTES["day"][1]
    upside_down = imgs.flip(2)
    two_suns = imgs.clone()
    no_sun = imgs.clone()
    sun_in_ground = render(p, 32)
    for i in range(4):
        # a second sun at the other side, in the sky
        x2 = 32 * (1 - float(p.sun_x[i]))
        x2 = x2 if abs(x2 - 32 * float(p.sun_x[i])) > 9 else (x2 + 12) % 32
        _paint_disc(two_suns[i], 32 * float(p.sun_y[i]), x2, 3.0, sun)
        _paint_disc(no_sun[i], 32 * float(p.sun_y[i]), 32 * float(p.sun_x[i]), 5.0, sky)
        _paint_disc(sun_in_ground[i], 29.0, 32 * float(p.sun_x[i]), 3.0, sun)
        _paint_disc(sun_in_ground[i], 32 * float(p.sun_y[i]), 32 * float(p.sun_x[i]), 5.0, sky)
    r = layout_metrics(upside_down)
    assert (r.horizons == 0).all() and not r.valid.any()
    r = layout_metrics(two_suns)
    assert (r.suns == 2).all() and not r.valid.any()
    r = layout_metrics(no_sun)
    assert (r.suns == 0).all() and not r.valid.any()
    r = layout_metrics(sun_in_ground)
    assert (r.suns == 1).all() and r.sun_below_horizon.all() and not r.valid.any()
    noise = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    r = layout_metrics(noise)
    assert not r.valid.any() and (r.palette_outside > 0.5).all()


def test_small_specks_are_not_suns():
    """Sun-coloured specks below the training-scale size threshold are not counted."""
    imgs, _, p = render_scenes(4, 128, seed=3, labels="night")
    sun = PALETTES["night"][4]
    for i in range(4):
        imgs[i, :, 2:4, 2:4] = torch.tensor(sun).view(3, 1, 1)      # 4 px < MIN_SUN_AREA
    assert 4 < MIN_SUN_AREA
    assert layout_metrics(imgs).suns.tolist() == [1] * 4


def test_palette_share_counts_a_seam():
    imgs, _, _ = render_scenes(4, 32, seed=6)
    imgs[:, :, :, 16] = torch.tensor([1.0, 0.0, 1.0]).view(1, 3, 1)   # magenta seam column
    r = layout_metrics(imgs)
    assert torch.allclose(r.palette_outside, torch.full((4,), 1 / 32))


def _flood_fill_count(mask):
    h, w = len(mask), len(mask[0])
    seen = [[False] * w for _ in range(h)]
    sizes = []
    for i in range(h):
        for j in range(w):
            if mask[i][j] and not seen[i][j]:
                stack, size = [(i, j)], 0
                seen[i][j] = True
                while stack:
                    a, b = stack.pop()
                    size += 1
                    for da in (-1, 0, 1):
                        for db in (-1, 0, 1):
                            y, x = a + da, b + db
                            if 0 <= y < h and 0 <= x < w and mask[y][x] and not seen[y][x]:
                                seen[y][x] = True
                                stack.append((y, x))
                sizes.append(size)
    return sorted(sizes)


def test_connected_components_match_flood_fill():
    rng = random.Random(0)
    masks = torch.tensor([[[rng.random() < d for _ in range(23)] for _ in range(17)]
                          for d in (0.1, 0.3, 0.45, 0.6)])
    lab = connected_components(masks)
    for m, l in zip(masks, lab):
        ids, counts = l[l > 0].unique(return_counts=True)
        assert sorted(counts.tolist()) == _flood_fill_count(m.tolist())
        assert ((l > 0) == m).all()
