"""KID and Content Richness (posenc_lab/feature_metrics.py): the estimator against a loop written from
its formula, and both measures on data where the right answer is known (they must be able to fail:
repeats and noise must read far from scenes)."""
import itertools

import pytest
import torch

from posenc_lab import feature_metrics as fm
from posenc_lab.scenes import render_scenes, tile


def test_kid_matches_the_unbiased_formula_by_loops():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 7, generator=g, dtype=torch.float64)
    y = torch.randn(4, 7, generator=g, dtype=torch.float64) + 0.5
    k = lambda a, b: (float(a @ b) / 7 + 1) ** 3
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(5), 2)) / 20
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(4), 2)) / 12
    xy = sum(k(a, b) for a in x for b in y) / 20
    assert fm.kid_from_features(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-9)
    assert fm.kid_from_features(x, y) == pytest.approx(fm.kid_from_features(y, x), rel=1e-9)
    with pytest.raises(ValueError):
        fm.kid_from_features(x[:1], y)


def test_feature_network_is_fixed_by_its_seed():
    a, b, c = fm.FeatureNet(0), fm.FeatureNet(0), fm.FeatureNet(1)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    assert not any(p.requires_grad for p in a.parameters())
    img = torch.rand(2, 3, 32, 32)
    assert fm.features(img).shape == (2, 2048)
    with pytest.raises(ValueError):
        a(torch.rand(1, 3, 64, 64))


def test_resize_is_area_average():
    img = torch.arange(16.0).view(1, 1, 4, 4).expand(1, 3, 4, 4)
    small = fm.resize_to(img, 2)
    assert small[0, 0].tolist() == [[2.5, 4.5], [10.5, 12.5]]   # means of the 2x2 blocks


def test_kid_separates_scenes_from_repeats_and_noise():
    a, _, _ = render_scenes(48, 32, seed=1)
    b, _, _ = render_scenes(48, 32, seed=2)
    big, _, _ = render_scenes(48, 128, seed=3)                   # same scenes drawn at 4x
    tiles, _, _ = render_scenes(4 * 48, 32, seed=4)
    tiled = tile(tiles, 2)                                        # 2x2 repeats, resized to 32
    noise = torch.rand(48, 3, 32, 32)
    same = fm.kid(b, a)
    assert abs(same) < 1e-3
    assert fm.kid(big, a) < 0.2 * fm.kid(tiled, a)
    assert fm.kid(tiled, a) > 20 * max(abs(same), 1e-4)
    assert fm.kid(noise, a) > 20 * max(abs(same), 1e-4)


def test_patch_grid_cuts_at_thirds():
    h = w = 32
    cuts = [0, 11, 21, 32]                                        # round(i * 32 / 3)
    img = torch.zeros(1, 3, h, w)
    for i in range(3):
        for j in range(3):
            img[:, :, cuts[i]:cuts[i + 1], cuts[j]:cuts[j + 1]] = (3 * i + j) / 8
    patches = fm.patch_grid(img)
    assert patches.shape == (1, 9, 3, 32, 32)
    for p in range(9):
        torch.testing.assert_close(patches[0, p], torch.full((3, 32, 32), p / 8))


def test_content_richness_reads_repeats_as_poorer():
    """Lower patch similarity = richer.  A 3x3 tiling of one scene has nine identical patches
    (similarity 1); tilings of scenes of the image's class are less rich than single scenes."""
    single, _, _ = render_scenes(16, 96, seed=1, labels="day")
    one, _, _ = render_scenes(4, 32, seed=7, labels="day")
    same9 = tile(one.repeat_interleave(9, 0), 3)
    t3, _, _ = render_scenes(16 * 9, 32, seed=5, labels="day")
    t2, _, _ = render_scenes(16 * 4, 48, seed=5, labels="day")
    s_single = fm.patch_similarity(single)
    assert s_single.shape == (16,) and (s_single < 0.9).all()
    torch.testing.assert_close(fm.patch_similarity(same9), torch.ones(4), atol=1e-5, rtol=0)
    assert s_single.mean() < fm.patch_similarity(tile(t2, 2)).mean()
    assert s_single.mean() < fm.patch_similarity(tile(t3, 3)).mean()
