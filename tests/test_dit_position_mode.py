"""The DiT Position Mode node and the mode arithmetic it shares with the pack's DiTs
(posenc/position_modes.py; docs/DESIGN.md section 9).  Expected numbers are worked out by hand in
the comments; the Flux and SD3 hooks run in real ComfyUI in tests/host/test_dit_position_mode_host.py."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from conftest import load_pack, registered_nodes
from posenc import position_modes as pm
from posenc.position_modes import POSITION_MODE_KEY


# --- positions --------------------------------------------------------------------------------

def test_interpolate_positions_by_hand():
    # n = 4 tokens, L = 2 trained: p * (L-1)/(n-1) = p / 3
    got = pm.remap_positions(torch.arange(4), 4, 2, "interpolate")
    assert got.tolist() == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0], abs=1e-15)
    # a Kontext-style offset position 5 on an axis of n = 6, L = 3: 5 * 2/5 = 2
    assert pm.remap_positions(torch.tensor([0.0, 5.0]), 6, 3, "interpolate").tolist() == [0.0, 2.0]
    for mode in ("first", "ntk", "yarn"):
        assert pm.remap_positions(torch.arange(4), 4, 2, mode).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("mode", pm.VANILLA_MODES)
def test_every_mode_is_the_identity_at_and_below_the_base(mode):
    for n, L in ((4, 4), (3, 4), (1, 4)):
        pos = torch.arange(n, dtype=torch.float64)
        assert torch.equal(pm.remap_positions(pos, n, L, mode), pos)
        assert torch.equal(pm.mode_frequencies(16, n, L, mode), pm.axis_frequencies(16))
        assert torch.equal(pm.table_positions(n, L, 10, mode), (10 - n) // 2 + pos)
    assert not pm.axis_active(4, 4) and pm.axis_active(5, 4)


def test_rpe2d_modes_are_refused_on_other_models():
    for f in (lambda: pm.remap_positions(torch.arange(4), 8, 4, "linspace"),
              lambda: pm.table_positions(8, 4, 16, "random")):
        with pytest.raises(ValueError, match="needs a model trained with RPE-2D.*first, interpolate, ntk, yarn"):
            f()


def test_table_positions_by_hand():
    # a table of 8 rows, trained centre L = 4 (rows 2..5), n = 6 tokens
    assert pm.table_positions(6, 4, 8, "interpolate").tolist() == pytest.approx(
        [2.0, 2.6, 3.2, 3.8, 4.4, 5.0])                    # 2 + i * 3/5
    assert pm.table_positions(6, 4, 8, "ntk").tolist() == [1, 2, 3, 4, 5, 6]   # centred crop, (8-6)//2 = 1
    assert pm.table_positions(10, 4, 8, "yarn").tolist() == list(range(-1, 9))  # past the table's ends


# --- frequencies --------------------------------------------------------------------------------

def test_ntk_frequencies_by_hand():
    # dim 4, base 10000: omega = [1, 10000^(-1/2)] = [1, 0.01]; n = 8, L = 4: s = 2,
    # base' = 10000 * 2^(4/2) = 40000, omega' = [1, 1/200]: the lowest halved, the highest kept
    assert pm.axis_frequencies(4).tolist() == pytest.approx([1.0, 0.01], rel=1e-15)
    assert pm.mode_frequencies(4, 8, 4, "ntk").tolist() == pytest.approx([1.0, 0.005], rel=1e-12)


def test_yarn_frequencies_by_hand():
    # dim 4: omega = [1, 0.01]; n = 200, L = 100: s = 2.
    # r_0 = 100 * 1 / (2 pi) = 15.915: gamma_0 = (15.9155 - 1) / 31 = 0.481145 -> 0.5 + 0.5 * 0.481145
    # r_1 = 100 * 0.01 / (2 pi) = 0.159 < 1: gamma_1 = 0 -> 0.01 / 2
    g0 = (100 / (2 * math.pi) - 1) / 31
    assert g0 == pytest.approx(0.481145, abs=1e-6)
    assert pm.mode_frequencies(4, 200, 100, "yarn").tolist() == pytest.approx([0.5 + 0.5 * g0, 0.005], rel=1e-12)
    # L = 300: r_0 = 47.7 > 32: gamma_0 = 1, the frequency kept
    assert pm.mode_frequencies(4, 600, 300, "yarn")[0].item() == 1.0
    # the ramp length may differ from L (a table whose positions step by c): r uses it, s does not
    got = pm.mode_frequencies(4, 200, 100, "yarn", length=50.0)
    g = (50 / (2 * math.pi) - 1) / 31
    assert got.tolist() == pytest.approx([0.5 + 0.5 * g, 0.005], rel=1e-12)


def test_yarn_temperature_by_hand():
    assert pm.yarn_mscale(4.0) == pytest.approx(1.1386294, abs=1e-7)   # 0.1 ln 4 + 1
    assert pm.yarn_mscale(1.0) == 1.0 and pm.yarn_mscale(0.5) == 1.0


def test_rope_axis_by_hand():
    # dim 2 (one frequency, omega = 1), positions [0, 3], n = 8, L = 4
    # interpolate: 3 -> 3 * 3/7 = 9/7; the rotation [[cos, -sin], [sin, cos]] of 9/7
    got = pm.rope_axis(torch.tensor([[0.0, 3.0]]), 2, 10000, 8, 4, "interpolate")
    assert got.shape == (1, 2, 1, 2, 2) and got.dtype == torch.float32
    c, s = math.cos(9 / 7), math.sin(9 / 7)
    assert got[0, 1, 0].flatten().tolist() == pytest.approx([c, -s, s, c], abs=1e-7)
    assert got[0, 0, 0].flatten().tolist() == [1.0, 0.0, 0.0, 1.0]
    # yarn: r = 4 / (2 pi) < 1 -> omega = 1/2 (s = 2); angle 1.5; scaled by 0.1 ln 2 + 1
    got = pm.rope_axis(torch.tensor([3.0]), 2, 10000, 8, 4, "yarn")
    m = 0.1 * math.log(2) + 1
    assert got[0, 0].flatten().tolist() == pytest.approx(
        [m * math.cos(1.5), -m * math.sin(1.5), m * math.sin(1.5), m * math.cos(1.5)], abs=1e-6)


def test_sincos_table_fit_and_axis_encoding():
    # an SD3-style table: 12 x 12, positions a + c * index with a = 0.25, c = 1/3, written out
    # with numpy (the MAE formula: column channels first)
    dim, size, a, c = 16, 12, 0.25, 1 / 3

    def one_d(d, pos):
        omega = 1.0 / 10000 ** (np.arange(d // 2) / (d / 2))
        out = np.outer(pos, omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)
    pos = a + c * np.arange(size)
    col = one_d(dim // 2, pos)
    table = np.concatenate([np.broadcast_to(col[None], (size, size, dim // 2)),
                            np.broadcast_to(col[:, None], (size, size, dim // 2))], axis=-1)
    fit = pm.fit_sincos_table(torch.tensor(table, dtype=torch.float16), dim)
    assert fit is not None and fit[0] == pytest.approx(a, abs=2e-3) and fit[1] == pytest.approx(c, abs=2e-3)
    assert pm.fit_sincos_table(torch.randn(size, size, dim), dim) is None
    bad = torch.tensor(table.copy())
    bad[5, :, dim // 2:] = bad[5, :, dim // 2:].roll(1, dims=-1)   # one row's row channels wrong
    assert pm.fit_sincos_table(bad, dim) is None
    # interpolate, n = 6 on L = 4 trained (centre rows 4..7): indices 4 + i * 3/5, in position units
    got = pm.table_axis_encoding(6, 4, size, a, c, dim // 2, "interpolate")
    want = one_d(dim // 2, a + c * (4 + np.arange(6) * 0.6))
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)
    # combine_axes: token (row 1, col 2) = [column part 2, row part 1]
    rows, cols = torch.randn(3, 4), torch.randn(5, 4)
    emb = pm.combine_axes(rows, cols)
    assert emb.shape == (15, 8) and torch.equal(emb[1 * 5 + 2], torch.cat([cols[2], rows[1]]))


def test_position_encoding_per_axis():
    # grid 8 rows x 4 columns, L = 4: rows interpolated, columns as trained
    got = pm.position_encoding((8, 4), 32, 4, ("interpolate", "first"))
    want = pm.sincos_2d(torch.linspace(0, 3, 8, dtype=torch.float64), torch.arange(4), 32).float()
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert pm.axis_modes((8, 4), (4, 4), "yarn", "linspace") == ("yarn", "linspace")
    assert pm.axis_modes((4, 4), 4, "yarn", "first") == ("first", "first")


# --- PixArt's own arithmetic (ComfyUI 0.3.64, PixArtMS.forward_orig) and its modes ---------------

def test_pixart_pe_args_by_hand():
    # 1024 px square, a fixed pe_interpolation 2: c_res = 128, base_size = round(2) * 64 // 2 = 64
    assert pm.pixart_pe_args(128, 128, 2, 2.0) == (2.0, 64)
    # 1024 x 3072 px: c_res = (128 + 384) // 2 = 256, base_size = 4 * 64 // 2 = 128 for both axes
    assert pm.pixart_pe_args(384, 128, 2, 2.0) == (2.0, 128)
    # no pe_interpolation (a checkpoint without pos_embed): round(c_res / 64) = 4 at 2048 px
    assert pm.pixart_pe_args(256, 256, 2, None) == (4, 128)
    # pe_precision 1 at c_res 96: pe = round(1.5, 1) = 1.5; base_size: round(1.5) = 2 (half to even)
    assert pm.pixart_pe_args(96, 96, 2, 2.0, 1) == (1.5, 64)
    # c_res 32: round(0.5) = 0 (half to even): base_size 0, every position 0
    assert pm.pixart_pe_args(32, 32, 2, 1.0)[1] == 0


def test_pixart_spacing_by_hand():
    # 1024 px (128 cells, L = 64 tokens), pe 2: 64 / (64 * 2) = 1/2; 512 px with pe 1: 1
    assert pm.pixart_spacing(128, 2, 2.0) == 0.5
    assert pm.pixart_spacing(64, 2, 1.0) == 1.0
    assert pm.pixart_spacing(128, 2, None) == 0.5            # pe from the size: round(128 / 64) = 2
    # 768 px (96 cells, L = 48), pe 2: base_size = round(1.5) * 64 // 2 = 64 -> 64 / (48 * 2) = 2/3
    assert pm.pixart_spacing(96, 2, 2.0) == pytest.approx(2 / 3, rel=1e-15)
    for cells, pe in ((32, 1.0), (64, 0)):                  # base_size 0; pe 0 (ComfyUI's guess at 256 px)
        with pytest.raises(ValueError, match="no usable positions"):
            pm.pixart_spacing(cells, 2, pe)


def test_spaced_axis_encoding_by_hand():
    # n = 4 tokens, L = 2 trained at spacing c = 1/2 (positions 0, 0.5), dim 4: omega = [1, 0.01]
    def enc(pos, omega):
        ang = torch.tensor(pos, dtype=torch.float64)[:, None] * torch.tensor(omega, dtype=torch.float64)
        return torch.cat([ang.sin(), ang.cos()], -1)
    # interpolate: 0.5 * i * (2 - 1) / (4 - 1) = i / 6, inside the trained [0, 0.5]
    torch.testing.assert_close(pm.spaced_axis_encoding(4, 2, 0.5, 4, "interpolate"),
                               enc([0, 1 / 6, 2 / 6, 3 / 6], [1.0, 0.01]), atol=1e-15, rtol=0)
    # first: 0.5 * i, extrapolated past 0.5
    torch.testing.assert_close(pm.spaced_axis_encoding(4, 2, 0.5, 4, "first"),
                               enc([0, 0.5, 1.0, 1.5], [1.0, 0.01]), atol=1e-15, rtol=0)
    # ntk: s = 2, base' = 10000 * 2^(4/2) = 40000: omega = [1, 1/200]
    torch.testing.assert_close(pm.spaced_axis_encoding(4, 2, 0.5, 4, "ntk"),
                               enc([0, 0.5, 1.0, 1.5], [1.0, 0.005]), atol=1e-12, rtol=0)
    # yarn: trained length c * L = 1, r = omega / (2 pi) < 1 rotation for both: fully interpolated
    torch.testing.assert_close(pm.spaced_axis_encoding(4, 2, 0.5, 4, "yarn"),
                               enc([0, 0.5, 1.0, 1.5], [0.5, 0.005]), atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="needs a model trained with RPE-2D"):
        pm.spaced_axis_encoding(4, 2, 0.5, 4, "linspace")


# --- the node on the pack's own DiT (stand-in ModelPatcher) -----------------------------------

@pytest.fixture(scope="module")
def mods():
    pack = load_pack()
    return pack.nodes.dit_position_mode, pack.nodes.rpe2d_loader


def make_model(loader, **kw):
    from posenc.dit import DiTConfig
    from standin.model_patcher import BaseModelStandIn, ModelPatcher
    cfg = dict(in_channels=4, patch_size=2, hidden_size=32, depth=1, num_heads=2, mlp_hidden=64,
               num_classes=0, class_dropout=False, learn_sigma=True, grid=(4, 4), max_positions=(4, 4))
    cfg.update(kw)
    dm = loader.ComfyDiT(DiTConfig(**cfg)).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in dm.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    dm.base_resolution = cfg["grid"][0] * cfg["patch_size"] * 8
    mode = "linspace" if cfg.get("position_sampling") == "rpe2d" else "first"
    return loader.set_position_mode(ModelPatcher(BaseModelStandIn(dm, "RPE2DDiTConfig")), mode), dm


SIGMAS = [14.6, 6.0, 2.0, 0.5, 0.0]


def noise(h, w):
    return torch.randn(1, 4, h, w, generator=torch.Generator().manual_seed(1))


def test_node_registered_with_tooltips(mods):
    node, _ = mods
    nodes = registered_nodes()
    assert nodes["DiTPositionMode"] == (node.DiTPositionMode, "DiT Position Mode (YaRN, NTK, interpolate)")
    required = node.DiTPositionMode.INPUT_TYPES()["required"]
    assert list(required) == ["model", "mode", "base_resolution", "position_seed"]
    assert set(required["mode"][1]["options"]) == {"first", "interpolate", "ntk", "yarn", "linspace", "random"}
    for name, spec in required.items():
        assert spec[1].get("tooltip"), name
    assert node.DiTPositionMode.CATEGORY == "model_patches"


@pytest.mark.parametrize("mode", ["first", "interpolate", "ntk", "yarn", "linspace", "random"])
def test_own_dit_identity_at_the_base(mods, mode):
    node, loader = mods
    model, _ = make_model(loader)
    x = noise(8, 8)                                   # 4x4 patches: the trained grid
    before = model.sample(x, SIGMAS)
    patched = node.DiTPositionMode.execute(model, mode, 0, 5).result[0]
    assert torch.equal(patched.sample(x, SIGMAS), before)


def test_own_dit_2x_and_per_axis(mods):
    node, loader = mods
    model, dm = make_model(loader)
    opts_before = {k: dict(v) for k, v in model.model_options["transformer_options"].items()}
    x = noise(16, 8)                                  # 8 rows x 4 columns of patches
    before = model.sample(x, SIGMAS)
    patched = node.DiTPositionMode.execute(model, "interpolate", 0, 0).result[0]
    after = patched.sample(x, SIGMAS)
    assert (after - before).abs().max() > 1e-3
    # rows squeezed onto 0..3 (i * 3/7), columns left at 0..3: the DiT with those positions
    t = torch.full((1,), 6.0)
    want = super(loader.ComfyDiT, dm).forward(
        x, t, None, rows=torch.arange(8) * 3 / 7, cols=torch.arange(4).float())[:, :4]
    torch.testing.assert_close(patched.diffusion_call(x, 6.0), want)
    assert model.model_options["transformer_options"] == opts_before   # the original untouched
    assert torch.equal(model.sample(x, SIGMAS), before)


def test_own_rpe2d_dit_keeps_its_mode_at_the_base(mods):
    """An RPE-2D checkpoint samples with the loader's linspace at its grid; the node changes only
    axes above the grid."""
    node, loader = mods
    model, dm = make_model(loader, max_positions=(8, 8), position_sampling="rpe2d")
    x = noise(8, 16)                                  # 4 rows (base) x 8 columns (2x)
    patched = node.DiTPositionMode.execute(model, "random", 0, 3).result[0]
    t = torch.full((1,), 6.0)
    g = torch.Generator().manual_seed(3)
    pm.inference_positions(4, 8, "linspace", 3, "rows", g)   # the row draw comes first
    cols = pm.inference_positions(8, 8, "random", 3, "columns", g)
    want = super(loader.ComfyDiT, dm).forward(
        x, t, None, rows=torch.linspace(0, 7, 4).round(), cols=cols)[:, :4]
    torch.testing.assert_close(patched.diffusion_call(x, 6.0), want)


def test_base_resolution_input(mods):
    node, loader = mods
    model, _ = make_model(loader)
    x = noise(16, 16)                                 # 8x8 patches
    before = model.sample(x, SIGMAS)
    # a base of 128 px = 8 patches: the size is at the base, nothing changes
    assert torch.equal(node.DiTPositionMode.execute(model, "ntk", 128, 0).result[0].sample(x, SIGMAS), before)
    with pytest.raises(ValueError, match="multiple of 8"):
        node.DiTPositionMode.execute(model, "ntk", 100, 0)


def test_unsupported_models_name_the_family(mods):
    node, _ = mods
    from standin.model_patcher import BaseModelStandIn, ModelPatcher
    unet = ModelPatcher(BaseModelStandIn(torch.nn.Conv2d(4, 4, 3), "SDXL"))
    with pytest.raises(ValueError, match=r"SDXL, is not a supported DiT; supported: Flux.*SD3 / SD3\.5"):
        node.DiTPositionMode.execute(unet, "interpolate", 0, 0)
    flux = ModelPatcher(BaseModelStandIn(SimpleNamespace(), "Flux"))
    with pytest.raises(ValueError, match="mode 'linspace' needs a DiT trained with RPE-2D"):
        node.DiTPositionMode.execute(flux, "linspace", 0, 0)
