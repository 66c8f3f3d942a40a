"""The RoPE tiny DiT (posenc/dit.py ``position_encoding="rope"``; docs/DESIGN.md sections 3 and 9):
2-D axial rotary embedding of q and k, its position modes (the arithmetic shared with the Flux
hook, posenc/position_modes.py), its checkpoints, train-dit and the DiT Position Mode node on it.

Expected values come from hand-written arithmetic (complex numbers, the formulas worked out in the
comments), never from the function under test."""
import cmath
import json
import math
import os

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from conftest import load_pack
from posenc import position_modes as pm
from posenc.dit import CheckpointError, DiT, DiTConfig, NotADiTError, load_dit

torch.set_num_threads(1)


def config(**kw):
    base = dict(in_channels=3, patch_size=2, hidden_size=32, depth=2, num_heads=2, mlp_hidden=64,
                num_classes=4, class_dropout=True, learn_sigma=False, grid=(4, 4),
                max_positions=(4, 4), position_encoding="rope")
    base.update(kw)
    return DiTConfig(**base)


def randomized(model, seed=0, scale=0.1):
    """The official init zeroes the output layers; random weights make every path count."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return model.eval()


def run(model, x, **kw):
    with torch.no_grad():
        return model(x, torch.tensor([300.0] * x.shape[0]), torch.tensor([1] * x.shape[0]), **kw)


def latent(h, w, seed=1, b=1):
    return torch.randn(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


# --- the rotation itself --------------------------------------------------------------------------

def complex_rope(x, rows, cols, theta=10000.0):
    """Hand-written 2-D axial RoPE with complex numbers, one head: x (T, d) numpy float64 for the
    row-major grid rows x cols.  Channel pair (2k, 2k+1) is z = x_2k + i x_2k+1; in the first half
    (k < d/4) it is multiplied by exp(i * row * omega_k), in the second half by
    exp(i * col * omega_k'), k' = k - d/4, with omega_k = theta^(-2k/(d/2)) (RoFormer eq. 34)."""
    T, d = x.shape
    half = d // 2
    out = np.empty_like(x)
    t = 0
    for r in rows:
        for c in cols:
            for k in range(d // 2):
                kk, p = (k, r) if 2 * k < half else (k - half // 2, c)
                omega = theta ** (-2.0 * kk / half)
                z = complex(x[t, 2 * k], x[t, 2 * k + 1]) * cmath.exp(1j * p * omega)
                out[t, 2 * k], out[t, 2 * k + 1] = z.real, z.imag
            t += 1
    return out


def test_rotation_matches_a_complex_number_implementation():
    rows, cols = [0.0, 2.0, 5.5], [1.0, 3.0]          # fractional too
    x = torch.randn(6, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rot = pm.rope_grid((3, 2), 8, rows=torch.tensor(rows), cols=torch.tensor(cols))
    assert rot.shape == (6, 4, 2, 2)
    got = pm.apply_rope(x.float(), rot).double().numpy()
    np.testing.assert_allclose(got, complex_rope(x.numpy(), rows, cols), atol=1e-5, rtol=0)


def test_attention_block_matches_a_hand_written_rope_attention():
    """One attention module of a RoPE DiT against numpy: qkv, each head's q and k rotated as
    complex numbers (not v), softmax(q k^T / sqrt(d)) v, the output projection."""
    model = randomized(DiT(config(hidden_size=16, num_heads=2, depth=1)))
    attn = model.blocks[0].attn
    x = torch.randn(1, 6, 16, generator=torch.Generator().manual_seed(2))
    rot = model.rope_rotations((2, 3), rows=torch.tensor([0.0, 4.0]), cols=torch.tensor([1.0, 2.0, 7.0]))
    with torch.no_grad():
        got = attn(x, rot[None, None]).numpy()[0]
    W, b = attn.qkv.weight.detach().double().numpy(), attn.qkv.bias.detach().double().numpy()
    qkv = x[0].double().numpy() @ W.T + b                    # (6, 48): q | k | v, heads inside
    heads = []
    for h in range(2):
        q, k, v = (qkv[:, i * 16 + h * 8:i * 16 + (h + 1) * 8] for i in range(3))
        q, k = complex_rope(q, [0.0, 4.0], [1.0, 2.0, 7.0]), complex_rope(k, [0.0, 4.0], [1.0, 2.0, 7.0])
        s = q @ k.T / math.sqrt(8)
        a = np.exp(s - s.max(1, keepdims=True))
        heads.append((a / a.sum(1, keepdims=True)) @ v)
    want = np.concatenate(heads, 1) @ attn.proj.weight.detach().double().numpy().T + attn.proj.bias.detach().double().numpy()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("shift", [(5, 0), (0, 11), (3, 7)])
def test_rope_dit_is_translation_invariant_and_sincos_is_not(shift):
    """q_i . k_j depends on the positions only through row_i - row_j and col_i - col_j: shifting
    every row (or column) position by a constant leaves the output unchanged.  A sin-cos DiT
    adds absolute positions to the tokens: its output moves."""
    x = latent(8, 12)
    rows, cols = torch.tensor([0.0, 1.0, 3.0, 4.0]), torch.tensor([0.0, 2.0, 3.0, 5.0, 6.0, 9.0])
    dr, dc = shift
    for enc in ("rope", "sincos"):
        model = randomized(DiT(config(position_encoding=enc)), scale=0.3)
        a = run(model, x, rows=rows, cols=cols)
        b = run(model, x, rows=rows + dr, cols=cols + dc)
        if enc == "rope":
            torch.testing.assert_close(b, a, atol=2e-5, rtol=1e-5)
        else:
            assert (b - a).abs().max() > 1e-2, shift


# --- position modes on the DiT ----------------------------------------------------------------------

ALL_MODES = ("first", "interpolate", "ntk", "yarn", "linspace", "random")


@pytest.mark.parametrize("mode", ALL_MODES)
def test_every_mode_is_bit_identical_to_first_at_the_base_grid(mode):
    model = randomized(DiT(config()))
    x = latent(8, 8)                                   # 4x4 patches = the trained grid, L = 4
    assert torch.equal(run(model, x, mode=mode, seed=3), run(model, x, mode="first"))
    # below the base on one axis too (vanilla modes only: linspace/random spread over [0, L))
    if mode in pm.VANILLA_MODES:
        x = latent(6, 8)
        assert torch.equal(run(model, x, mode=mode), run(model, x, mode="first"))


def test_interpolate_at_2x_is_the_hand_positions():
    """8x8 patches on L = 4: p_i = i (L-1)/(n-1) = 3i/7 on both axes, fed by hand."""
    model = randomized(DiT(config()))
    x = latent(16, 16)
    hand = torch.tensor([3.0 * i / 7.0 for i in range(8)], dtype=torch.float64)
    got = run(model, x, mode="interpolate")
    torch.testing.assert_close(got, run(model, x, rows=hand, cols=hand), atol=1e-5, rtol=1e-5)
    assert (got - run(model, x, mode="first")).abs().max() > 1e-3


def hand_rotations(positions, omegas, scale=1.0):
    """(n, len(omegas), 2, 2) float32: scale * [[cos, -sin], [sin, cos]] of p * omega."""
    out = torch.empty(len(positions), len(omegas), 2, 2, dtype=torch.float64)
    for i, p in enumerate(positions):
        for k, w in enumerate(omegas):
            c, s = math.cos(p * w), math.sin(p * w)
            out[i, k] = torch.tensor([[c, -s], [s, c]], dtype=torch.float64) * scale
    return out.float()


def with_rotations(model, rot):
    """The model with its rotation table replaced by ``rot`` (T, head_dim/2, 2, 2): the forward
    path from rotations to output, independent of how the modes build them."""
    model.rope_rotations = lambda *a, **k: rot
    return model


# head dim 8 (hidden 16, 2 heads): each axis d = 4 channels, omega = [1, 10000^(-1/2)] = [1, 0.01].
# Grid 8 rows x 4 columns with L = 4: rows s = 2, columns at the base.
#   ntk:  theta' = 10000 * 2^(4/2) = 40000: omega = [1, 40000^(-1/2)] = [1, 0.005];
#   yarn: r_k = L omega_k / (2 pi) = [0.64, 0.0064] < 1 rotation: gamma = 0, fully interpolated,
#         omega / s = [0.5, 0.005]; temperature 0.1 ln 2 + 1 on that axis's rotations.
HAND = {"ntk": ([1.0, 0.005], 1.0), "yarn": ([0.5, 0.005], 0.1 * math.log(2) + 1)}


@pytest.mark.parametrize("mode", ["ntk", "yarn"])
def test_ntk_and_yarn_rotations_by_hand_per_axis(mode):
    model = randomized(DiT(config(hidden_size=16, num_heads=2)))
    rot = model.rope_rotations((8, 4), mode=mode)
    assert rot.shape == (32, 4, 2, 2)
    omegas, m = HAND[mode]
    rows = hand_rotations(range(8), omegas, m)            # (8, 2, 2, 2), row half
    cols = hand_rotations(range(4), [1.0, 0.01])          # (4, 2, 2, 2), column half: as trained
    want = torch.cat([rows[:, None].expand(8, 4, 2, 2, 2), cols[None].expand(8, 4, 2, 2, 2)], 2)
    torch.testing.assert_close(rot, want.reshape(32, 4, 2, 2), atol=1e-6, rtol=0)
    # the column half is bit for bit the one of `first` (an axis at the base is left as it was)
    assert torch.equal(rot[:, 2:], model.rope_rotations((8, 4), mode="first")[:, 2:])
    # and the forward uses them: the same output from the hand table
    x = latent(16, 8)
    got = run(model, x, mode=mode)
    torch.testing.assert_close(got, run(with_rotations(model, want.reshape(32, 4, 2, 2)), x),
                               atol=1e-5, rtol=1e-5)


def test_per_axis_on_a_non_square_grid():
    """8 rows (above L = 4) x 4 columns (at L): `interpolate` squeezes the rows, keeps the columns."""
    model = randomized(DiT(config()))
    x = latent(16, 8)
    rows = torch.tensor([3.0 * i / 7.0 for i in range(8)], dtype=torch.float64)
    got = run(model, x, mode="interpolate")
    torch.testing.assert_close(got, run(model, x, rows=rows, cols=torch.arange(4.0)), atol=1e-5, rtol=1e-5)
    # (row_mode, col_mode) pairs: the adapter's per-axis rule (axis_modes) gives the same
    assert torch.equal(run(model, x, mode=("interpolate", "first")), got)
    # columns above L, rows not: transposed roles
    x = latent(8, 16)
    torch.testing.assert_close(run(model, x, mode="interpolate"),
                               run(model, x, rows=torch.arange(4.0), cols=rows), atol=1e-5, rtol=1e-5)


def test_linspace_and_random_positions_on_an_rpe2d_rope_dit():
    model = randomized(DiT(config(max_positions=(16, 16), position_sampling="rpe2d")))
    x = latent(16, 12)                                  # 8 x 6 patches, L = 16
    # linspace: round(linspace(0, 15, n)): rows 0, 2, 4, 6, 9, 11, 13, 15 (half to even: 4.29 -> 4,
    # 6.43 -> 6, 8.57 -> 9); columns 0, 3, 6, 9, 12, 15
    torch.testing.assert_close(
        run(model, x, mode="linspace"),
        run(model, x, rows=torch.tensor([0., 2, 4, 6, 9, 11, 13, 15]), cols=torch.tensor([0., 3, 6, 9, 12, 15])),
        atol=1e-5, rtol=1e-5)
    # random: one generator from the seed, rows drawn first (as the sin-cos DiT: grid_positions)
    g = torch.Generator().manual_seed(5)
    rows = torch.randperm(16, generator=g)[:8].sort().values
    cols = torch.randperm(16, generator=g)[:6].sort().values
    torch.testing.assert_close(run(model, x, mode="random", seed=5), run(model, x, rows=rows, cols=cols),
                               atol=1e-5, rtol=1e-5)
    # one mode per axis: rows linspace, columns 0..5
    torch.testing.assert_close(
        run(model, x, mode=("linspace", "first")),
        run(model, x, rows=torch.tensor([0., 2, 4, 6, 9, 11, 13, 15]), cols=torch.arange(6.0)),
        atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="needs 20 distinct positions"):
        run(model, latent(40, 8), mode="linspace")


def test_yarn_temperature_on_rope_not_on_sincos():
    """YaRN's temperature scales a RoPE axis's rotations by m = 0.1 ln s + 1 (so q and k of that
    axis); a sin-cos table added to the tokens has no such hook: its pairs stay on the unit circle."""
    m = 0.1 * math.log(2) + 1
    rope = DiT(config(hidden_size=16, num_heads=2))
    rot = rope.rope_rotations((8, 4), mode="yarn")               # rows s = 2, columns s = 1
    det = rot[..., 0, 0] * rot[..., 1, 1] - rot[..., 0, 1] * rot[..., 1, 0]   # = scale^2
    torch.testing.assert_close(det[:, :2], torch.full((32, 2), m * m), atol=1e-6, rtol=0)
    torch.testing.assert_close(det[:, 2:], torch.ones(32, 2), atol=1e-6, rtol=0)
    # the model's output differs from the same frequencies without the temperature
    model = randomized(DiT(config(hidden_size=16, num_heads=2)))
    x = latent(16, 8)
    no_temp = rot.clone()
    no_temp[:, :2] /= m
    assert (run(model, x, mode="yarn") - run(with_rotations(model, no_temp), x)).abs().max() > 1e-4
    # sin-cos: [sin(p w), cos(p w)] per frequency, sin^2 + cos^2 = 1 on every channel pair
    sincos = DiT(config(hidden_size=16, num_heads=2, position_encoding="sincos"))
    enc = sincos.encode_positions((8, 4), mode="yarn").double()          # (32, 16): cols | rows
    for part in (enc[:, :8], enc[:, 8:]):
        torch.testing.assert_close(part[:, :4] ** 2 + part[:, 4:] ** 2, torch.ones(32, 4, dtype=torch.float64),
                                   atol=1e-6, rtol=0)
    # and its yarn is the frequency blend only: rows at omega' = [(1-g) w/s + g w] with g = 0
    # for d = 8 channels per axis, omega = 10000^(-k/4): all r_k = 4 omega_k / (2 pi) < 1
    omega = 10000.0 ** (-np.arange(4) / 4.0) / 2.0
    row_part = np.concatenate([np.sin(np.outer(np.arange(8), omega)), np.cos(np.outer(np.arange(8), omega))], 1)
    np.testing.assert_allclose(enc[::4, 8:].numpy(), row_part, atol=1e-6)


def test_rope_needs_a_head_dim_divisible_by_4_and_takes_no_table():
    with pytest.raises(ValueError, match=r"head dim .*= 6\) must be divisible by 4"):
        DiT(config(hidden_size=24, num_heads=4, mlp_hidden=48))
    DiT(config(hidden_size=24, num_heads=4, mlp_hidden=48, position_encoding="sincos"))  # sin-cos: fine
    model = DiT(config())
    with pytest.raises(ValueError, match="uses RoPE.*not a pos_embed table"):
        run(model, latent(8, 8), pos_embed=torch.zeros(16, 32))
    with pytest.raises(ValueError, match="uses RoPE: nothing is added"):
        model.encode_positions((4, 4))
    with pytest.raises(ValueError, match="unknown position mode 'spiral'"):
        run(model, latent(8, 8), mode="spiral")


# --- checkpoints ------------------------------------------------------------------------------------

def save(model, path, metadata=None):
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path),
              metadata=model.config.to_metadata() if metadata is None else metadata)
    return str(path)


def test_rope_checkpoint_round_trip(tmp_path):
    cfg = config(max_positions=(12, 10), position_sampling="rpe2d", micro_conditioning=True,
                 rope_theta=500.0)
    model = randomized(DiT(cfg))
    path = save(model, tmp_path / "r.safetensors")
    with safe_open(path, framework="pt") as f:
        keys = set(f.keys())
        meta = f.metadata()
    assert "pos_embed" not in keys
    assert json.loads(meta["posenc.dit_config"])["position_encoding"] == "rope"
    loaded, info = load_dit(path)
    assert info["config"] == cfg and info["pos_embed_is_sincos"] is None
    assert set(loaded.state_dict()) == keys                      # strict: nothing missing, nothing extra
    x = latent(16, 12)
    assert torch.equal(run(loaded, x, mode="ntk"), run(model, x, mode="ntk"))
    # theta 500 is used: not the default's rotations
    assert not torch.equal(loaded.rope_rotations((4, 4)), DiT(config()).rope_rotations((4, 4)))


def test_rope_checkpoint_errors(tmp_path):
    model = DiT(config())
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    # a pos_embed in a file whose metadata says rope
    path = tmp_path / "stray.safetensors"
    save_file({**sd, "pos_embed": torch.zeros(1, 16, 32)}, str(path), metadata=model.config.to_metadata())
    with pytest.raises(NotADiTError, match="says position_encoding 'rope'.*has a pos_embed"):
        load_dit(str(path))
    # no metadata: nothing says it is RoPE, and there is no table
    path = tmp_path / "bare.safetensors"
    save_file(sd, str(path))
    with pytest.raises(NotADiTError, match="missing pos_embed.*RoPE DiT.*metadata"):
        load_dit(str(path))


def test_files_without_the_field_load_as_sincos(tmp_path):
    """Checkpoints written before position_encoding existed (the bundled DiTs' metadata format)."""
    cfg = config(position_encoding="sincos")
    model = DiT(cfg)
    meta = cfg.to_metadata()
    raw = json.loads(meta["posenc.dit_config"])
    del raw["position_encoding"], raw["rope_theta"]
    meta["posenc.dit_config"] = json.dumps(raw)
    _, info = load_dit(save(model, tmp_path / "old.safetensors", meta))
    assert info["config"].position_encoding == "sincos" and info["pos_embed_is_sincos"] is True


# --- train-dit --------------------------------------------------------------------------------------

def test_train_dit_rope_writes_a_loadable_file(tmp_path, monkeypatch):
    from posenc_lab import train_dit
    seen = []
    orig = DiT.rope_rotations

    def spy(self, grid, rows=None, cols=None, *a, **k):
        seen.append(None if rows is None else rows.clone())
        return orig(self, grid, rows, cols, *a, **k)
    monkeypatch.setattr(DiT, "rope_rotations", spy)
    for sampling in ("rpe2d", "fixed"):
        out = str(tmp_path / f"{sampling}.safetensors")
        seen.clear()
        assert train_dit.main(["--scenes", "6", "--out", out, "--grid", "4", "--patch-size", "2",
                               "--max-positions", "8", "--position-sampling", sampling,
                               "--position-encoding", "rope", "--hidden-size", "32", "--depth", "1",
                               "--num-heads", "2", "--steps", "2", "--batch-size", "2",
                               "--no-progress"]) == 0
        with safe_open(out, framework="pt") as f:
            assert "pos_embed" not in f.keys()
            meta = f.metadata()
        assert meta["posenc.position_encoding"] == "rope"
        assert json.loads(meta["posenc.train"])["position_encoding"] == "rope"
        model, info = load_dit(out)
        cfg = info["config"]
        assert cfg.position_encoding == "rope" and cfg.position_sampling == sampling
        assert cfg.max_positions == ((8, 8) if sampling == "rpe2d" else (4, 4))
        # training fed sampled positions (rpe2d: sorted draws from [0, 8)) or none (fixed: 0..3)
        if sampling == "rpe2d":
            assert len(seen) == 2 and all(r is not None and r.shape == (2, 4) and r.max() < 8 for r in seen)
        else:
            assert seen == [None, None]
        y = model(latent(16, 16), torch.tensor([5.0]), torch.tensor([1]), mode="yarn")
        assert y.shape == (1, 3, 16, 16) and torch.isfinite(y).all()


def test_train_dit_refuses_a_bad_rope_head_dim(tmp_path, capsys):
    from posenc_lab import train_dit
    assert train_dit.main(["--scenes", "4", "--out", str(tmp_path / "x.safetensors"), "--grid", "4",
                           "--position-encoding", "rope", "--hidden-size", "24", "--num-heads", "4",
                           "--steps", "1", "--no-progress"]) == 2
    assert "head dim (hidden size / heads) divisible by 4" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x.safetensors")


def test_resume_refuses_a_changed_position_encoding(tmp_path):
    from posenc_lab import train_dit

    def data():
        return torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(1)), torch.arange(6) % 2

    def cfg(**kw):
        base = dict(out=str(tmp_path / "m.safetensors"), grid=(4, 4), max_positions=(8, 8), hidden_size=32,
                    depth=1, num_heads=2, steps=4, batch_size=2, save_every=1, progress=False)
        return train_dit.TrainConfig(**{**base, **kw})
    train_dit.train(cfg(stop_after=1), data)
    with pytest.raises(ValueError, match=r"other settings.*'position_encoding': \('sincos', 'rope'\)"):
        train_dit.train(cfg(resume=True, position_encoding="rope"), data)
    # a state saved before the field existed was sin-cos: it resumes as such
    state = torch.load(train_dit.state_path(cfg().out), weights_only=False)
    del state["settings"]["position_encoding"]
    torch.save(state, train_dit.state_path(cfg().out))
    _, info = train_dit.train(cfg(resume=True, stop_after=1), data)
    assert info["steps_done"] == 2
    with pytest.raises(ValueError, match="position_encoding"):
        train_dit.train(cfg(resume=True, position_encoding="rope"), data)


# --- the loader's adapter and the DiT Position Mode node (stand-in ModelPatcher) -------------------

@pytest.fixture(scope="module")
def mods():
    pack = load_pack()
    return pack.nodes.dit_position_mode, pack.nodes.rpe2d_loader


def make_model(loader, **kw):
    from standin.model_patcher import BaseModelStandIn, ModelPatcher
    cfg = config(in_channels=4, hidden_size=32, depth=1, num_heads=2, num_classes=0,
                 class_dropout=False, **kw)
    dm = randomized(loader.ComfyDiT(cfg))
    dm.base_resolution = cfg.grid[0] * cfg.patch_size * 8
    mode = "linspace" if cfg.position_sampling == "rpe2d" else "first"
    return loader.set_position_mode(ModelPatcher(BaseModelStandIn(dm, "RPE2DDiTConfig")), mode), dm


SIGMAS = [14.6, 6.0, 2.0, 0.5, 0.0]


def latent4(h, w):
    return torch.randn(1, 4, h, w, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("mode", ALL_MODES)
def test_node_identity_at_the_base_on_a_rope_dit(mods, mode):
    node, loader = mods
    model, _ = make_model(loader)
    x = latent4(8, 8)
    before = model.sample(x, SIGMAS)
    assert torch.equal(node.DiTPositionMode.execute(model, mode, 0, 5).result[0].sample(x, SIGMAS), before)


@pytest.mark.parametrize("mode", ["interpolate", "ntk", "yarn"])
def test_node_on_a_rope_dit_at_2x_per_axis(mods, mode):
    """8 rows x 4 columns of patches on a 4x4 grid: the node's mode on the rows only, the
    columns as loaded; the same as the DiT given (mode, first) per axis; the original untouched."""
    node, loader = mods
    model, dm = make_model(loader)
    x = latent4(16, 8)
    before = model.sample(x, SIGMAS)
    patched = node.DiTPositionMode.execute(model, mode, 0, 0).result[0]
    assert (patched.sample(x, SIGMAS) - before).abs().max() > 1e-4
    t = torch.full((1,), 6.0)
    with torch.no_grad():
        want = DiT.forward(dm, x, t, None, mode=(mode, "first"))[:, :4]
    torch.testing.assert_close(patched.diffusion_call(x, 6.0), want)
    if mode == "interpolate":   # and that is the hand positions 3i/7 on the rows
        with torch.no_grad():
            hand = DiT.forward(dm, x, t, None, rows=torch.tensor([3.0 * i / 7 for i in range(8)]),
                               cols=torch.arange(4.0))[:, :4]
        torch.testing.assert_close(want, hand, atol=1e-5, rtol=1e-5)
    assert torch.equal(model.sample(x, SIGMAS), before)


def test_node_keeps_an_rpe2d_rope_dits_own_mode_at_the_base(mods):
    """An RPE-2D RoPE checkpoint samples with the loader's linspace at its grid; the node's mode
    (here random) goes to the axis above the grid only."""
    node, loader = mods
    model, dm = make_model(loader, max_positions=(16, 16), position_sampling="rpe2d")
    x = latent4(8, 16)                                  # 4 rows (base) x 8 columns (2x)
    patched = node.DiTPositionMode.execute(model, "random", 0, 3).result[0]
    g = torch.Generator().manual_seed(3)                 # linspace draws nothing: columns first
    cols = torch.randperm(16, generator=g)[:8].sort().values
    with torch.no_grad():
        want = DiT.forward(dm, x, torch.full((1,), 6.0), None,
                           rows=torch.tensor([0.0, 5.0, 10.0, 15.0]), cols=cols)[:, :4]
    # rows: round(linspace(0, 15, 4)) = 0, 5, 10, 15
    torch.testing.assert_close(patched.diffusion_call(x, 6.0), want, atol=1e-5, rtol=1e-5)
    assert not torch.equal(cols, torch.arange(8))
