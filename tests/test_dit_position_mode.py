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


def test_mode_acts_at_every_step_of_any_pass(mods):
    """The mode tooltip's contract: at a size above the base the mode acts on every model call,
    whatever the run: a full pass, a hires fix's second pass (denoise 0.5: the run starts at a
    middle sigma), img2img, custom sigmas; each call equals the DiT at the mode's positions."""
    node, loader = mods
    model, dm = make_model(loader)
    patched = node.DiTPositionMode.execute(model, "interpolate", 0, 0).result[0]
    x = noise(16, 8)                                  # 8 rows (2x) x 4 columns (the base)
    runs = {"full pass": SIGMAS, "hires-fix second pass / img2img, denoise 0.5": [2.0, 0.5, 0.0],
            "custom sigmas": [9.0, 3.3, 1.1, 0.2, 0.0]}
    for name, run in runs.items():
        for sigma in run[:-1]:
            t = torch.full((1,), sigma)
            want = super(loader.ComfyDiT, dm).forward(
                x, t, None, rows=torch.arange(8) * 3 / 7, cols=torch.arange(4).float())[:, :4]
            torch.testing.assert_close(patched.diffusion_call(x, sigma, run), want, msg=f"{name}, sigma {sigma}")
        assert (patched.sample(x, run) - model.sample(x, run)).abs().max() > 1e-3, name


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


def _grid(*sides):
    return torch.stack(torch.meshgrid(*[torch.arange(k, dtype=torch.float32) for k in sides], indexing="ij"),
                       dim=-1).reshape(-1, len(sides))


@pytest.mark.parametrize("layout", ["image, text", "text, image", "text, reference, image", "reference, image, text"])
def test_grid_block_finds_the_image_beside_text_at_zero(layout):
    """HiDream / Hunyuan: text tokens all 0, the image a row-major grid whose first token is also all 0,
    a reference at time -1.  The mask is exactly the image's 2 x 3 x 4 = 24 tokens, by hand."""
    grid_block = load_pack().nodes.families.base.grid_block
    parts = {"image": _grid(2, 3, 4), "text": torch.zeros(5, 3),
             "reference": _grid(1, 3, 4) + torch.tensor([-1.0, 0.0, 4.0])}
    order = layout.split(", ")
    ids = torch.cat([parts[p] for p in order])[None].repeat(2, 1, 1)
    start = sum(len(parts[p]) for p in order[:order.index("image")])
    want = torch.zeros(2, ids.shape[1], dtype=torch.bool)
    want[:, start:start + 24] = True
    assert torch.equal(grid_block(ids), want)


def _with(grid, before=(), after=()):
    """A grid's ids (k columns) with constant columns put before and after it: _with(_grid(2, 3),
    before=[0]) -> (0, row, col)."""
    n = grid.shape[0]
    return torch.cat([torch.full((n, 1), float(v)) for v in before] + [grid]
                     + [torch.full((n, 1), float(v)) for v in after], -1)


def _mask(total, start, n):
    m = torch.zeros(1, total, dtype=torch.bool)
    m[0, start:start + n] = True
    return m


def test_flux_image_is_found_among_text_at_zero_and_references():
    """Flux.1 / Chroma: 5 text tokens at (0, 0, 0) before a 3 x 4 image at index 0 whose first token is
    (0, 0, 0) too, then a Kontext reference of the same size at index 1 and one placed "uxo" (index 0,
    diagonally after the image: rows from 3, columns from 4).  The mask is exactly tokens 5..16."""
    families = load_pack().nodes.families
    image = _with(_grid(3, 4), before=[0])
    kontext = _with(_grid(3, 4), before=[1])
    uxo = _with(_grid(3, 4) + torch.tensor([3.0, 4.0]), before=[0])
    ids = torch.cat([torch.zeros(5, 3), image, kontext, uxo])[None]
    assert torch.equal(families.flux.flux_image(ids), _mask(ids.shape[1], 5, 12))
    # without restricting to index 0, the Kontext reference is a second grid as long as the image: refused
    with pytest.raises(RuntimeError, match="not an image grid"):
        families.base.grid_block(ids, axes=(1, 2))


def test_flux2_image_beside_its_counting_text_axis():
    """Flux.2: text (0, 0, 0, i) for i = 0..6 (its first token all 0, like the image's first), then a
    2 x 5 image (0, row, col, 0), then a reference at index 10.  Mask: tokens 7..16."""
    flux = load_pack().nodes.families.flux
    text = torch.zeros(7, 4)
    text[:, 3] = torch.arange(7.0)
    image = _with(_grid(2, 5), before=[0], after=[0])
    ref = _with(_grid(2, 5), before=[10], after=[0])
    ids = torch.cat([text, image, ref])[None]
    assert torch.equal(flux.flux_image(ids), _mask(ids.shape[1], 7, 10))


def test_text_after_the_image_and_diagonal_text_before_it():
    """The text's place does not matter: after the image (HiDream, 0.3.64's Hunyuan), or a diagonal
    (0, i, i) longer than the image before it (Flux-architecture models with txt_ids_dims [1, 2]:
    its (0, 0, 0) is an origin, its steps are no row-major successors)."""
    flux = load_pack().nodes.families.flux
    image = _with(_grid(4, 3), before=[0])
    ids = torch.cat([image, torch.zeros(6, 3)])[None]
    assert torch.equal(flux.flux_image(ids), _mask(ids.shape[1], 0, 12))
    diagonal = torch.arange(9.0)[:, None].repeat(1, 3)
    diagonal[:, 0] = 0
    ids = torch.cat([diagonal, image])[None]
    assert torch.equal(flux.flux_image(ids), _mask(ids.shape[1], 9, 12))


def test_nextdit_image_beside_its_caption_and_padding():
    """Lumina 2 on ComfyUI 0.3.64: caption (i, 0, 0), i = 0..5, then the image (6, row, col) in one
    call.  0.33 / Z-Image: the image's call (7, row, col) padded with (0, 0, 0) tokens; the caption's
    own call (1 + i, 0, 0) has no image (empty mask); a SigLIP call (positions 8 apart) neither."""
    lumina = load_pack().nodes.families.lumina
    caption = torch.zeros(6, 3)
    caption[:, 0] = torch.arange(6.0)
    ids = torch.cat([caption, _with(_grid(3, 4), before=[6])])[None]
    assert torch.equal(lumina.nextdit_image(ids), _mask(ids.shape[1], 6, 12))
    ids = torch.cat([_with(_grid(3, 4), before=[7]), torch.zeros(4, 3)])[None]
    assert torch.equal(lumina.nextdit_image(ids), _mask(ids.shape[1], 0, 12))
    assert not lumina.nextdit_image((caption + torch.tensor([1.0, 0, 0]))[None]).any()
    siglip = _with(_grid(3, 4) * 8, before=[9])
    assert not lumina.nextdit_image(siglip[None]).any()


def test_one_token_image_beside_text_is_no_grid_and_no_error():
    """A 1-token image beside text, all at 0: no run of two, an empty mask (the call is left to the
    original embedder, as any mode leaves an axis of 1 token)."""
    grid_block = load_pack().nodes.families.base.grid_block
    assert not grid_block(torch.zeros(1, 6, 3)).any()


def test_grid_block_refuses_ids_it_does_not_recognise():
    """Ids that are no grid beside zeros (a layout a future ComfyUI might make) are an error, not a guess:
    the grid backwards, a grid with a token missing, two grids of the same size from 0; and ids that
    spread over the axes with no run at all, unless the family allows calls without an image."""
    grid_block = load_pack().nodes.families.base.grid_block
    zeros = torch.zeros(5, 2)
    holed = torch.cat([_grid(3, 4)[:5], _grid(3, 4)[6:]])
    for ids in (torch.cat([_grid(3, 4).flip(0), zeros]), torch.cat([zeros, holed]),
                torch.cat([_grid(3, 4), zeros, _grid(3, 4)]), _grid(3, 4) * 2):
        with pytest.raises(RuntimeError, match="not an image grid"):
            grid_block(ids[None])
    assert not grid_block((_grid(3, 4) * 2)[None], required=False).any()


def _qwen_frames(frames, rows, cols, text=4, after=()):
    """Qwen-Image's ids by hand: text (k, k, k) from max(rows, cols) // 2, then ``frames`` frames of the
    centred rows x cols grid at index 0..frames - 1, then ``after`` (references)."""
    k = max(rows, cols) // 2
    txt = (k + torch.arange(float(text)))[:, None].repeat(1, 3)
    grid = _grid(rows, cols) - torch.tensor([rows // 2, cols // 2], dtype=torch.float32)
    image = torch.cat([_with(grid, before=[f]) for f in range(frames)])
    return torch.cat([txt, image, *after])[None]


def test_qwen_image_layered_takes_every_frame_not_the_references():
    """Qwen-Image-Layered: 3 frames of a 2 x 3 grid at index 0, 1, 2 after 4 text tokens: the mask is
    tokens 4..21; a reference of the same size at index 1 ("index") or -1 ("negative_index") after them,
    and one with 2 frames of its own (index 0, 1), are not taken.  One frame: index 0 alone, so the same
    ids read as 1 frame + a same-size reference at index 1 take only the first grid."""
    qwen = load_pack().nodes.families.qwen_image
    grid = _grid(2, 3) - torch.tensor([1.0, 1.0])
    refs = [_with(grid, before=[1]), _with(grid, before=[-1]), _with(grid, before=[0]), _with(grid, before=[1])]
    ids = _qwen_frames(3, 2, 3, after=refs)
    assert torch.equal(qwen.qwen_image(ids, frames=3), _mask(ids.shape[1], 4, 18))
    two = _qwen_frames(2, 2, 3)
    assert torch.equal(qwen.qwen_image(two, frames=2), _mask(two.shape[1], 4, 12))
    assert torch.equal(qwen.qwen_image(two), _mask(two.shape[1], 4, 6))
    # 1 x 1 tokens per frame: the text's first token is (0, 0, 0) too, but it is not followed by frames
    tiny = _qwen_frames(3, 1, 1)
    assert torch.equal(qwen.qwen_image(tiny, frames=3), _mask(tiny.shape[1], 4, 3))


def test_qwen_image_layered_refuses_frames_it_does_not_recognise():
    """Frames that do not repeat frame 0's grid, or fewer frames than the latent has: an error naming
    the frame count, not a guess."""
    qwen = load_pack().nodes.families.qwen_image
    ids = _qwen_frames(3, 2, 3)
    shifted = ids.clone()
    shifted[0, -6:, 2] += 1
    for bad, frames in ((shifted, 3), (ids, 4)):
        with pytest.raises(RuntimeError, match=f"latent has {frames} frames.*Remove DiT Position Mode"):
            qwen.qwen_image(bad, frames=frames)


def _scope(grids):
    base = load_pack().nodes.families.base
    return base.Scope("Toy", [base.Grid(*g) for g in grids])


def test_scope_routes_grid_calls_in_order_and_refuses_what_its_inputs_do_not_say():
    """A scope of [image 4x4, reference 4x4, reference 2x6 of 12 tokens]: calls without a grid (n None)
    are not counted; the grids are taken in order (the same-size reference after the image is a
    reference); a grid of another size, a grid too many, or too few grids are refused with the family
    named and the expected grids listed."""
    axes = (1, 2)
    ids12, ids16 = torch.zeros(1, 12, 3), torch.zeros(1, 16, 3)
    s = _scope([(False, 4, 4), (True, 4, 4), (True, 2, 6, 12)])
    assert not s.is_reference(ids16, None, axes)
    assert [s.is_reference(ids16, {1: 4, 2: 4}, axes), s.is_reference(ids16, {1: 4, 2: 4}, axes),
            s.is_reference(ids12, {1: 2, 2: 6}, axes)] == [False, True, True]
    s.finish()
    with pytest.raises(RuntimeError, match=r"this Toy model embedded one more grid \(4x4\).*image 4x4, reference 4x4"):
        s.is_reference(ids16, {1: 4, 2: 4}, axes)
    s = _scope([(False, 4, 4), (True, 2, 6, 12)])
    s.is_reference(ids16, {1: 4, 2: 4}, axes)
    with pytest.raises(RuntimeError, match="a 2x6 grid of 16 tokens as grid 2"):
        s.is_reference(ids16, {1: 2, 2: 6}, axes)
    s = _scope([(True, 3, 3), (False, 4, 4)])
    with pytest.raises(RuntimeError, match="a 4x4 grid of 16 tokens as grid 1"):
        s.is_reference(ids16, {1: 4, 2: 4}, axes)
    s = _scope([(True, 3, 3), (False, 4, 4)])
    s.is_reference(ids16, {1: 3, 2: 3}, axes)
    with pytest.raises(RuntimeError, match=r"embedded 1 grid\(s\).*Remove DiT Position Mode"):
        s.finish()


def test_scoped_wrapper_holds_the_scope_only_while_the_model_runs():
    """The DIFFUSION_MODEL wrapper gives the embedder the scope its maker reads from (model, x, kwargs),
    during the call only (also when the model raises), checks it after, and passes calls with nothing
    to route (maker returns None), or whose model holds another embedder, through untouched."""
    base = load_pack().nodes.families.base
    emb = SimpleNamespace(scope=None)
    seen = []

    def make(dm, x, kwargs):
        return base.Scope("Toy", [base.Grid(True, 2, 2)]) if kwargs.get("refs") else None

    class Executor:
        class_obj = SimpleNamespace(rope_embedder=emb)

        def __call__(self, x, *args, **kwargs):
            seen.append(emb.scope)
            if emb.scope is not None and not kwargs.get("skip"):
                emb.scope.is_reference(torch.zeros(1, 4, 3), {1: 2, 2: 2}, (1, 2))
            if kwargs.get("boom"):
                raise ValueError("boom")
            return x + 1

    wrapper = base.scoped(emb, make, "rope_embedder")
    assert wrapper(Executor(), 1, "t") == 2 and seen == [None]
    assert wrapper(Executor(), 1, refs=True) == 2 and seen[-1].seen == 1 and emb.scope is None
    with pytest.raises(ValueError, match="boom"):
        wrapper(Executor(), 1, refs=True, boom=True)
    assert emb.scope is None
    with pytest.raises(RuntimeError, match="embedded 0 grid"):
        wrapper(Executor(), 1, refs=True, skip=True)
    assert emb.scope is None
    # a later DiT Position Mode node put its own embedder in the model: this one's wrapper stands aside
    assert base.scoped(SimpleNamespace(scope=None), make, "rope_embedder")(Executor(), 1, refs=True, skip=True) == 2
    assert seen[-1] is None
