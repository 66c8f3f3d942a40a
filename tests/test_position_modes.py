"""RPE-2D positions and DiT's 2-D sin-cos (posenc/position_modes.py)."""
import numpy as np
import pytest
import torch

from posenc import position_modes


# --- the official formula, written out independently (facebookresearch/DiT models.py) ---------
def official_1d(embed_dim, pos):
    omega = np.arange(embed_dim // 2, dtype=np.float64)
    omega /= embed_dim / 2.0
    omega = 1.0 / 10000 ** omega
    out = np.einsum("m,d->md", pos.reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def official_2d(embed_dim, grid_size):
    grid_h = np.arange(grid_size, dtype=np.float32)
    grid_w = np.arange(grid_size, dtype=np.float32)
    grid = np.stack(np.meshgrid(grid_w, grid_h), axis=0).reshape([2, 1, grid_size, grid_size])
    emb_h = official_1d(embed_dim // 2, grid[0])
    emb_w = official_1d(embed_dim // 2, grid[1])
    return np.concatenate([emb_h, emb_w], axis=1)


@pytest.mark.parametrize("dim,grid", [(64, 4), (1152, 16), (96, 7)])
def test_sincos_at_arange_equals_official(dim, grid):
    ours = position_modes.official_pos_embed(dim, grid).numpy()
    ref = official_2d(dim, grid).astype(np.float32)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0)


def test_first_half_encodes_columns():
    dim = 32
    emb = position_modes.sincos_2d(torch.tensor([0.0, 5.0]), torch.tensor([0.0, 3.0, 7.0]), dim)
    # token (row 1, col 2) = index 1*3+2: first half = column 7, second half = row 5
    col = position_modes.sincos_1d(torch.tensor([7.0]), dim // 2)[0]
    row = position_modes.sincos_1d(torch.tensor([5.0]), dim // 2)[0]
    torch.testing.assert_close(emb[5], torch.cat([col, row]))


def test_fractional_positions_and_batch():
    rows = torch.tensor([[0.5, 2.25], [1.0, 3.0]])
    cols = torch.tensor([[0.0, 1.5, 4.0], [2.0, 3.0, 9.0]])
    emb = position_modes.sincos_2d(rows, cols, 16)
    assert emb.shape == (2, 6, 16)
    for b in range(2):
        torch.testing.assert_close(emb[b], position_modes.sincos_2d(rows[b], cols[b], 16))
    ref = official_1d(8, np.array([1.5]))[0]
    np.testing.assert_allclose(emb[0, 1, :8].numpy(), ref, atol=1e-12)


@pytest.mark.parametrize("mode", ["linspace", "random", "first"])
def test_modes_sorted_distinct_in_range(mode):
    for n, L in [(1, 1), (5, 5), (7, 32), (32, 64), (31, 32)]:
        pos = position_modes.inference_positions(n, L, mode, seed=3)
        assert pos.shape == (n,)
        assert torch.all(pos[1:] > pos[:-1]), (mode, n, L, pos)
        assert torch.all(pos == pos.round())
        if mode != "first":
            assert pos.min() >= 0 and pos.max() <= L - 1


def test_linspace_endpoints_and_values():
    pos = position_modes.inference_positions(5, 64, "linspace")
    assert pos[0] == 0 and pos[-1] == 63
    assert pos.tolist() == [0, 16, 32, 47, 63]  # round(15.75)=16, round(31.5)=32 (half to even), round(47.25)=47
    assert position_modes.inference_positions(8, 8, "linspace").tolist() == list(range(8))


def test_interpolate_is_fractional_onto_trained_grid():
    pos = position_modes.inference_positions(32, 16, "interpolate")
    assert pos[0] == 0 and pos[-1] == 15
    assert torch.allclose(pos[1:] - pos[:-1], torch.full((31,), 15 / 31, dtype=torch.float64))
    assert position_modes.inference_positions(16, 16, "interpolate").tolist() == list(range(16))


def test_random_is_seeded():
    a = position_modes.grid_positions((6, 9), 40, "random", seed=11)
    b = position_modes.grid_positions((6, 9), 40, "random", seed=11)
    c = position_modes.grid_positions((6, 9), 40, "random", seed=12)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[1], c[1])
    # rows and columns are different draws
    r, cc = position_modes.grid_positions((9, 9), 40, "random", seed=11)
    assert not torch.equal(r, cc)


@pytest.mark.parametrize("mode", ["linspace", "random"])
def test_too_many_positions_is_a_clear_error(mode):
    with pytest.raises(ValueError, match=r"needs 20 distinct positions.*L=16"):
        position_modes.inference_positions(20, 16, mode)
    # modes that do not need distinct positions accept n > L
    assert position_modes.inference_positions(20, 16, "first").shape == (20,)
    assert position_modes.inference_positions(20, 16, "interpolate").max() == 15


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown position mode"):
        position_modes.inference_positions(4, 8, "nearest")


def test_training_positions():
    g = torch.Generator().manual_seed(0)
    pos = position_modes.sample_training_positions(500, 8, 20, g)
    assert pos.shape == (500, 8) and pos.dtype == torch.int64
    assert torch.all(pos[:, 1:] > pos[:, :-1])
    assert pos.min() == 0 and pos.max() == 19  # covers the whole range [0, L)
    counts = torch.bincount(pos.flatten(), minlength=20).float()
    assert counts.min() > 0.6 * counts.mean()  # roughly uniform over [0, L)
    g2 = torch.Generator().manual_seed(0)
    assert torch.equal(pos, position_modes.sample_training_positions(500, 8, 20, g2))
    with pytest.raises(ValueError):
        position_modes.sample_training_positions(1, 21, 20)


def test_ntk_base_scales_lowest_frequency_by_s():
    d = 64  # channels of one axis
    b = position_modes.ntk_base(32, 16, d)
    k = d // 2 - 1
    low = b ** (-k / (d / 2))
    assert low == pytest.approx(10000.0 ** (-k / (d / 2)) / 2.0)
    assert position_modes.ntk_base(16, 16, d) == 10000.0  # no scaling at or below the trained grid
    e_ntk = position_modes.position_encoding((32, 16), 4 * 32, 16, "ntk")
    e_first = position_modes.position_encoding((32, 16), 4 * 32, 16, "first")
    # the column axis (first half) is not stretched (n_w = L), the row axis is
    torch.testing.assert_close(e_ntk[:, :64], e_first[:, :64])
    assert not torch.allclose(e_ntk[:, 64:], e_first[:, 64:])


def test_encoding_cache():
    position_modes.clear_cache()
    a = position_modes.position_encoding((8, 12), 64, 32, "linspace")
    b = position_modes.position_encoding((8, 12), 64, 32, "linspace")
    assert a is b
    c = position_modes.position_encoding((8, 12), 64, 32, "random", seed=1)
    d = position_modes.position_encoding((8, 12), 64, 32, "random", seed=2)
    assert c is not d and not torch.equal(c, d)
    e = position_modes.position_encoding((8, 12), 64, 32, "linspace", dtype=torch.float64)
    assert e.dtype == torch.float64 and e is not a
    rows, cols = position_modes.grid_positions((8, 12), 32, "linspace")
    torch.testing.assert_close(a, position_modes.sincos_2d(rows, cols, 64).float())
