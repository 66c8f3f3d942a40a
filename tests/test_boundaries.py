"""Boundary geometry (docs/DESIGN.md section 2) on hand-computed cases."""
import pytest

from posenc.boundaries import (boundary_lambdas, hash_ints, jitter_delta, level_sizes, sigma_key,
                               splitmix64, virtual_boundaries)


def test_lambdas_eq4():
    assert boundary_lambdas(3) == (0.25, 0.5, 0.75)
    assert boundary_lambdas(31)[0] == 1 / 32 and boundary_lambdas(31)[-1] == 31 / 32


def test_offsets_without_jitter():
    # N=3 on 16: floor(lambda*8 + 0.5) = 2, 4, 6
    b = virtual_boundaries(16, 16, 3)
    assert b.top == b.bottom == b.left == b.right == (2, 4, 6)
    assert b.rect(0) == (2, 14, 2, 14)
    # non-square 10 x 30, N=1: floor(0.5*5+0.5)=3 rows, floor(0.5*15+0.5)=8 cols
    b = virtual_boundaries(10, 30, 1)
    assert (b.top, b.left) == ((3,), (8,))
    # N=31 on 64: offsets 1..31 (lambda_n * 32 = n)
    assert virtual_boundaries(64, 64, 31).top == tuple(range(1, 32))
    # rounding half up: N=31 on 32 -> floor(n/2 + 0.5)
    assert virtual_boundaries(32, 32, 31).top[:4] == (1, 1, 2, 2)


def test_axis_activation():
    b = virtual_boundaries(16, 48, 3, rows=False, cols=True)
    assert b.top == b.bottom == (0, 0, 0) and b.left == (6, 12, 18)
    assert virtual_boundaries(16, 16, 3, rows=False, cols=False).is_empty


def test_jitter_is_bounded_clamped_and_reproducible():
    seen = set()
    for key in range(50):
        b = virtual_boundaries(20, 20, 9, jitter=2, seed=123, key=key)
        nominal = virtual_boundaries(20, 20, 9)
        for side in ("top", "bottom", "left", "right"):
            for got, nom in zip(getattr(b, side), getattr(nominal, side)):
                assert 0 <= got <= 10 and abs(got - nom) <= 2 or got in (0, 10)
                seen.add(got - nom)
    assert seen == {-2, -1, 0, 1, 2}
    assert virtual_boundaries(20, 20, 9, 2, 5, 77) == virtual_boundaries(20, 20, 9, 2, 5, 77)
    assert virtual_boundaries(20, 20, 9, 2, 5, 77) != virtual_boundaries(20, 20, 9, 2, 6, 77)


def test_clamp_to_half():
    # N=1, jitter 3 on a 4-row map: nominal 1, clamped into [0, 2]
    for key in range(30):
        b = virtual_boundaries(4, 4, 1, jitter=3, seed=0, key=key)
        assert all(0 <= v <= 2 for v in b.top + b.bottom + b.left + b.right)


def test_splitmix64_known_values():
    # Reference outputs of splitmix64 seeded with 0 (Vigna's splitmix64.c: next() from state 0)
    assert splitmix64(0) == 0xE220A8397B1DCDAF
    assert hash_ints(0) == splitmix64(0)
    assert jitter_delta(1, 2, 3, 0, 0) == 0


def test_sigma_key_is_float32_bits():
    assert sigma_key(1.0) == 0x3F800000
    assert sigma_key(14.614642) == sigma_key(14.6146421)


def test_level_sizes():
    assert level_sizes(128, 97, 4) == [(128, 97), (64, 49), (32, 25), (16, 13)]


@pytest.mark.parametrize("n", [0, -1, 257, 3.5, True])
def test_bad_counts(n):
    with pytest.raises(ValueError, match="boundaries must be"):
        virtual_boundaries(16, 16, n)


def test_bad_sizes():
    with pytest.raises(ValueError, match="positive"):
        virtual_boundaries(0, 16, 3)
    with pytest.raises(ValueError, match="jitter"):
        virtual_boundaries(16, 16, 3, jitter=-1)
