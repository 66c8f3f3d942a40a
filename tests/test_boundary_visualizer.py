"""Boundary Visualizer: the node called directly with tensors (no ComfyUI), and the drawing core.

Expected ring positions are computed here from posenc.boundaries.virtual_boundaries with latent and
level sizes worked out by hand, then looked up as pixels in the node's output.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import registered_nodes  # noqa: E402
from make_boundary_fixture import load_pack  # noqa: E402

load_pack()
B = importlib.import_module("posenc_pack_under_test.posenc.boundaries")
D = importlib.import_module("posenc_pack_under_test.posenc.boundary_drawing")
V = importlib.import_module("posenc_pack_under_test.nodes.boundary_visualizer")
PACK = sys.modules["posenc_pack_under_test"]

PANEL = torch.tensor(D.PANEL)


def run(**kw):
    args = dict(width=1024, height=1024, base_resolution=512, boundaries=3, jitter=0, jitter_seed=0, levels=0)
    args.update(kw)
    (img,) = V.BoundaryVisualizer.execute(**args).result
    return img


def layout_for(width, height, base, n, levels=4, frame=None, **kw):
    plan = D.plan_boundaries(width, height, base, n, levels=levels, **kw)
    return D.boundary_layout(plan, image_size=frame)


def is_line(px) -> bool:
    """A ring pixel: clearly redder than the grey panel (rings are red to yellow)."""
    return bool(px[0] - PANEL[0] > 0.12 and px[0] > px[2] + 0.1)


def is_panel(px, tol=0.09) -> bool:
    return bool((px - PANEL).abs().max() <= tol)


# ---------------------------------------------------------------------------------------------
# The IMAGE output


def test_output_is_a_comfy_image():
    img = run()
    assert img.ndim == 4 and img.shape[0] == 1 and img.shape[3] == 3
    assert img.dtype == torch.float32
    assert img.min() >= 0 and img.max() <= 1
    lay = layout_for(1024, 1024, 512, 3)
    assert (img.shape[1], img.shape[2]) == (lay.height, lay.width)
    assert len(lay.panels) == 4          # no MODEL: 4 levels, SD 1.5-like


@pytest.mark.parametrize("jitter,seed", [(0, 0), (1, 5), (2, 123456789)])
def test_rings_are_drawn_where_the_geometry_says(jitter, seed):
    img = run(width=2048, height=2048, boundaries=3, jitter=jitter, jitter_seed=seed)[0]
    lay = layout_for(2048, 2048, 512, 3)
    # 2048 px / 8 = 256 latent cells; levels 256, 128, 64, 32; both axes above the 512 base.
    for box, cells in zip(lay.panels, [256, 128, 64, 32]):
        b = B.virtual_boundaries(cells, cells, 3, jitter=jitter, seed=seed, key=0)
        assert box.width == box.height == 512
        px_per_cell = box.width / cells
        for n in range(3):
            r0, r1, c0, c1 = b.rect(n)
            # a point on each side, a third of the way along it (away from corners and other rings)
            cx = box.x + round((c0 + (c1 - c0) / 3) * px_per_cell)
            cy = box.y + round((r0 + (r1 - r0) / 3) * px_per_cell)
            for off, (y, x) in [(b.top[n], (box.y + round(r0 * px_per_cell), cx)),
                                (b.bottom[n], (box.y + round(r1 * px_per_cell) - 1, cx)),
                                (b.left[n], (cy, box.x + round(c0 * px_per_cell))),
                                (b.right[n], (cy, box.x + round(c1 * px_per_cell) - 1))]:
                assert off > 0
                assert is_line(img[y, x]), (cells, n, off, y, x, img[y, x])
        # the panel centre (inside the innermost ring) and a point between the outer two rings
        # are plain panel
        assert is_panel(img[box.y + box.height // 2 + 1, box.x + box.width // 2 + 1])
        mid = (b.left[0] + b.left[1]) / 2 * px_per_cell
        if b.left[1] - b.left[0] >= 3:
            assert is_panel(img[box.y + box.height // 2 + 1, box.x + round(mid)])


def test_strong_outer_rings_stand_out_from_faint_inner_ones():
    img = run(width=2048, height=2048, boundaries=7)[0]
    box = layout_for(2048, 2048, 512, 7).panels[0]
    b = B.virtual_boundaries(256, 256, 7)
    y = box.y + box.height // 2 + 1
    outer = img[y, box.x + round(b.left[0] * 2)]
    inner = img[y, box.x + round(b.left[6] * 2)]
    # distance from the panel colour: the outer (lambda 1/8) ring is much stronger than the inner
    assert (outer - PANEL).abs().sum() > 1.5 * (inner - PANEL).abs().sum() > 0
    rgb0, a0 = D.lambda_color(0.1)
    rgb1, a1 = D.lambda_color(0.9)
    assert a0 > a1 and rgb0[1] < rgb1[1]


def count_line_runs(row) -> int:
    runs, inside = 0, False
    for px in row:
        line = is_line(px)
        runs += line and not inside
        inside = line
    return runs


def test_n_changes_the_picture():
    a = run(width=2048, height=2048, boundaries=3)
    b = run(width=2048, height=2048, boundaries=5)
    assert a.shape == b.shape and not torch.equal(a, b)
    box = layout_for(2048, 2048, 512, 3).panels[0]
    y = box.y + box.height // 2 + 1
    # a horizontal scan through the middle of level 0 crosses 2N vertical lines
    assert count_line_runs(a[0, y, box.x:box.x + box.width]) == 6
    assert count_line_runs(b[0, y, box.x:box.x + box.width]) == 10


def panels_only(img, lay):
    return img[:, lay.header_height:]


def test_seed_and_jitter_change_the_rings_but_not_without_jitter():
    lay = layout_for(2048, 2048, 512, 8)
    base = run(width=2048, height=2048, boundaries=8, jitter=0, jitter_seed=1)
    same = run(width=2048, height=2048, boundaries=8, jitter=0, jitter_seed=2)
    assert torch.equal(panels_only(base, lay), panels_only(same, lay))
    j1 = run(width=2048, height=2048, boundaries=8, jitter=2, jitter_seed=1)
    j2 = run(width=2048, height=2048, boundaries=8, jitter=2, jitter_seed=2)
    assert not torch.equal(panels_only(j1, lay), panels_only(j2, lay))


def test_non_square_draws_the_long_axis_only():
    img = run(width=3072, height=1024, base_resolution=1024, boundaries=4, levels=3)[0]
    lay = layout_for(3072, 1024, 1024, 4, levels=3)
    assert len(lay.panels) == 3
    for box, (h, w) in zip(lay.panels, [(128, 384), (64, 192), (32, 96)]):
        assert box.width == 512 and box.height == round(512 / 3)
        b = B.virtual_boundaries(h, w, 4, rows=False, cols=True)
        assert b.top == b.bottom == (0, 0, 0, 0)
        # vertical lines where the geometry puts them, the full height of the panel
        for off in b.left:
            x = box.x + round(off * box.width / w)
            assert all(is_line(img[y, x]) for y in range(box.y + 1, box.y + box.height - 1))
        # no horizontal line: a column between the 2nd and 3rd vertical line is plain top to bottom
        x = box.x + round((b.left[1] + b.left[2]) / 2 * box.width / w)
        assert all(is_panel(img[y, x]) for y in range(box.y, box.y + box.height))
    # and the tall case gets horizontal lines only
    img = run(width=1024, height=3072, base_resolution=1024, boundaries=4, levels=3)[0]
    box = layout_for(1024, 3072, 1024, 4, levels=3).panels[0]
    b = B.virtual_boundaries(384, 128, 4, rows=True, cols=False)
    y = box.y + round((b.top[1] + b.top[2]) / 2 * box.height / 384)
    assert all(is_panel(img[y, x]) for x in range(box.x, box.x + box.width))
    y = box.y + round(b.top[0] * box.height / 384)
    assert all(is_line(img[y, x]) for x in range(box.x + 1, box.x + box.width - 1))


def notice_pixels(img, box) -> int:
    """Pixels of the orange-yellow notice text in a box around the panel centre."""
    cx, cy = box.x + box.width // 2, box.y + box.height // 2
    region = img[cy - 30:cy + 30, cx - 100:cx + 100]
    return int(((region[..., 0] > 0.6) & (region[..., 1] > 0.45) & (region[..., 2] < 0.45)).sum())


def test_at_or_below_base_says_so_in_the_picture():
    at = run(width=512, height=512, base_resolution=512, boundaries=1)[0]
    below = run(width=256, height=384, base_resolution=512, boundaries=1)[0]
    above = run(width=1024, height=1024, base_resolution=512, boundaries=1)[0]
    for img, w, h in [(at, 512, 512), (below, 256, 384)]:
        lay = layout_for(w, h, 512, 1)
        for box in lay.panels:
            assert notice_pixels(img, box) > 50
            # no ring anywhere in the panel
            panel = img[box.y:box.y + box.height, box.x:box.x + box.width]
            assert not ((panel[..., 0] > 0.5) & (panel[..., 2] < 0.2)).any()
    for box in layout_for(1024, 1024, 512, 1).panels:
        assert notice_pixels(above, box) == 0
    lines, notice = D.header_lines(D.plan_boundaries(512, 512, 512, 1))
    assert notice and "At or below the base" in notice
    assert D.header_lines(D.plan_boundaries(1024, 1024, 512, 1))[1] is None


def test_image_of_the_same_size_is_drawn_under_the_rings():
    blue = torch.zeros(2, 1024, 1024, 3)
    blue[..., 2] = 1.0
    blue[1, ..., 1] = 1.0                     # second image of the batch is cyan
    img = run(width=1024, height=1024, boundaries=2, image=blue)
    assert img.shape[0] == 2
    box = layout_for(1024, 1024, 512, 2).panels[0]
    c = img[:, box.y + box.height // 2, box.x + box.width // 2]
    assert torch.allclose(c[0], torch.tensor([0.0, 0.0, 1.0]), atol=1e-4)
    assert torch.allclose(c[1], torch.tensor([0.0, 1.0, 1.0]), atol=1e-4)
    # rings are still there, over the image
    b = B.virtual_boundaries(128, 128, 2)
    px = img[0, box.y + box.height // 2, box.x + round(b.left[0] * box.width / 128)]
    assert px[0] > 0.5
    lines, _ = D.header_lines(D.plan_boundaries(1024, 1024, 512, 2), image_size=(1024, 1024))
    assert not any("scaled" in s for s in lines)


def test_image_of_another_size_gets_the_drawing_scaled_onto_it():
    image = torch.full((1, 256, 512, 3), 0.5)              # 2:1, for a 1024x1024 request
    img = run(width=1024, height=1024, boundaries=2, image=image)[0]
    lay = layout_for(1024, 1024, 512, 2, frame=(512, 256))
    box = lay.panels[0]
    assert (box.width, box.height) == (512, 256)            # panels take the IMAGE's aspect
    assert (img.shape[0], img.shape[1]) == (lay.height, lay.width)
    b = B.virtual_boundaries(128, 128, 2)                   # the geometry of 1024x1024
    y = box.y + box.height // 2 + 1
    x = box.x + round(b.left[0] * 512 / 128)
    assert img[y, x, 0] > 0.7                               # x scaled by 512/128 cells
    y2 = box.y + round(b.top[0] * 256 / 128)                # y scaled by 256/128 cells
    assert img[y2, box.x + box.width // 2, 0] > 0.7
    lines, _ = D.header_lines(D.plan_boundaries(1024, 1024, 512, 2), image_size=(512, 256))
    note = [s for s in lines if "scaled" in s]
    assert note and "512x256" in note[0] and "stretched" in note[0]
    # same aspect, other size: scaled, not stretched
    lines, _ = D.header_lines(D.plan_boundaries(1024, 1024, 512, 2), image_size=(512, 512))
    note = [s for s in lines if "scaled" in s]
    assert note and "stretched" not in note[0]


# ---------------------------------------------------------------------------------------------
# MODEL input


def fake_model(base=None, downscale=None, channel_mult=(1, 2, 4, 4), conv=True):
    """A MODEL whose diffusion model has one zero-padded 3x3 conv (a U-Net, as far as PBC
    cares), or none (conv=False: a transformer's patch embedding and a linear layer)."""
    dm = torch.nn.Module()
    dm.channel_mult = channel_mult
    if conv:
        dm.conv = torch.nn.Conv2d(4, 4, 3, padding=1)
    else:
        dm.patch_embed, dm.linear = torch.nn.Conv2d(4, 8, 2, stride=2), torch.nn.Linear(8, 8)
    if base is not None:
        dm.base_resolution = base
    if downscale is not None:
        dm.latent_downscale = downscale
    return SimpleNamespace(model=SimpleNamespace(diffusion_model=dm))


def test_model_gives_base_downscale_and_levels():
    model = fake_model(base=64, downscale=1, channel_mult=(1, 2, 2))
    img = run(width=128, height=96, base_resolution=0, boundaries=3, model=model)[0]
    lay = layout_for(128, 96, 64, 3, levels=3, latent_downscale=1)
    assert len(lay.panels) == 3 and (img.shape[0], img.shape[1]) == (lay.height, lay.width)
    box = lay.panels[0]                                    # 128x96 latent cells: pixel space
    b = B.virtual_boundaries(96, 128, 3)
    assert is_line(img[box.y + box.height // 2 + 1, box.x + round(b.left[0] * box.width / 128)])
    # at the model's own base: the notice
    img = run(width=64, height=64, base_resolution=0, boundaries=3, model=model)[0]
    for box in layout_for(64, 64, 64, 3, levels=3, latent_downscale=1).panels:
        assert notice_pixels(img, box) > 50
    # an explicit base_resolution wins over the model's own
    img = run(width=128, height=96, base_resolution=128, boundaries=3, model=model)[0]
    assert notice_pixels(img, layout_for(128, 96, 128, 3, levels=3, latent_downscale=1).panels[0]) > 50


def test_model_of_unknown_kind_needs_base_resolution():
    with pytest.raises(ValueError, match="base_resolution"):
        run(base_resolution=0, model=fake_model())
    # with base_resolution set it works, with SD's latent downscale 8 and len(channel_mult) levels
    img = run(base_resolution=512, model=fake_model(channel_mult=(1, 2, 4)))
    assert len(layout_for(1024, 1024, 512, 3, levels=3).panels) == 3
    assert (img.shape[1], img.shape[2]) == (layout_for(1024, 1024, 512, 3, levels=3).height,
                                            layout_for(1024, 1024, 512, 3, levels=3).width)


def test_no_model_and_auto_base_assumes_sd15_and_says_so():
    auto = run(width=1024, height=1024, base_resolution=0, boundaries=3)
    explicit = run(width=1024, height=1024, base_resolution=512, boundaries=3)
    lay = layout_for(1024, 1024, 512, 3)
    k = lay.height - lay.header_height
    # identical panels (same geometry), a longer header (the "assumed" note)
    assert auto.shape[2] == explicit.shape[2] and auto.shape[1] > explicit.shape[1]
    assert torch.equal(auto[:, -k:], explicit[:, -k:])


def test_not_a_model_is_a_clear_error():
    with pytest.raises(ValueError, match="MODEL"):
        run(model=SimpleNamespace())


# ---------------------------------------------------------------------------------------------
# Bad input and the node's declaration


@pytest.mark.parametrize("kw,name", [
    ({"width": 0}, "width"), ({"width": -8}, "width"), ({"width": 16392}, "width"),
    ({"height": 0}, "height"), ({"height": 10**9}, "height"),
    ({"boundaries": -1}, "boundaries"), ({"boundaries": 257}, "boundaries"),
    ({"jitter": -1}, "jitter"), ({"jitter_seed": -1}, "jitter_seed"), ({"levels": 9}, "levels"),
    ({"base_resolution": -8}, "base_resolution"), ({"base_resolution": 500}, "base_resolution"),
    ({"width": 512.0}, "width"), ({"boundaries": True}, "boundaries"),
    ({"image": torch.zeros(8, 8)}, "image"), ({"image": torch.zeros(1, 0, 8, 3)}, "image"),
])
def test_bad_input_is_a_clear_error_naming_the_input(kw, name):
    with pytest.raises(ValueError, match=name):
        run(**kw)


def test_largest_size_works_quickly():
    img = run(width=16384, height=16384, boundaries=256, jitter=3)
    assert img.shape[0] == 1 and img.isfinite().all()


def test_input_declaration():
    spec = V.BoundaryVisualizer.INPUT_TYPES()
    inputs = {**spec["required"], **spec["optional"]}
    assert list(spec["required"]) == ["width", "height", "base_resolution", "boundaries", "jitter",
                                      "jitter_seed", "levels"]
    assert set(spec["optional"]) == {"image", "model"}
    for name, (kind, opts) in inputs.items():
        assert opts.get("tooltip"), f"{name} has no tooltip"
    for name in ("width", "height"):
        opts = spec["required"][name][1]
        assert opts["step"] == 8 and opts["max"] == 16384 and opts["min"] >= 8
    assert spec["required"]["boundaries"][1]["min"] == 0     # 0 = auto
    assert spec["required"]["boundaries"][1]["max"] == B.MAX_BOUNDARIES
    assert V.BoundaryVisualizer.RETURN_TYPES == ["IMAGE"] and V.BoundaryVisualizer.RETURN_NAMES == ["image"]
    assert V.BoundaryVisualizer.CATEGORY == "image"
    assert registered_nodes(PACK)["BoundaryVisualizer"] == (V.BoundaryVisualizer, "Boundary Visualizer")


# ---------------------------------------------------------------------------------------------
# Core helpers


def test_plan_follows_the_patcher_semantics():
    p = D.plan_boundaries(1024, 1536, 1024, 4, levels=3)
    assert (p.latent_width, p.latent_height) == (128, 192)
    assert (p.rows, p.cols) == (True, False)                     # only the height is above 1024
    assert [(lv.height, lv.width) for lv in p.levels] == [(192, 128), (96, 64), (48, 32)]
    assert B.active_axes(64, 64, 512 / 8, 512 / 8) == (False, False)       # exactly the base: untouched
    assert B.active_axes(65, 64, 512 / 8, 512 / 8) == (True, False)
    p = D.plan_boundaries(97, 131, 64, 5, latent_downscale=1, levels=2)
    assert [(lv.height, lv.width) for lv in p.levels] == [(131, 97), (66, 49)]


def test_boundary_layout_is_the_rendered_one():
    plan = D.plan_boundaries(1024, 768, 512, 3)
    image = torch.zeros(1, 300, 500, 3)
    for img, size in [(None, None), (image, (500, 300))]:
        picture, layout = D.render_boundaries(plan, image=img)
        assert D.boundary_layout(plan, image_size=size) == layout
        assert (picture.shape[1], picture.shape[2]) == (layout.height, layout.width)


def test_line_pixel():
    assert D.line_pixel(0, 256, 512) == 0
    assert D.line_pixel(16, 256, 512) == 32
    assert D.line_pixel(1, 3, 100) == 33
    assert D.line_pixel(3, 3, 100) == 99                         # clamped inside the panel


def test_a_model_pbc_refuses_is_refused_with_what_to_connect():
    """Drawing PBC rings for a DiT would show boundaries PBC itself never adds."""
    with pytest.raises(ValueError, match="Boundary Visualizer: PBC applies to convolutional U-Nets.*"
                                         "Connect the U-Net MODEL you will patch with PBC, or no MODEL"):
        run(base_resolution=512, model=fake_model(base=256, conv=False))


# ---------------------------------------------------------------------------------------------
# Panel labels, read back from the pixels (issue #33: at 1024x3072 they ran together, "3 ringslevel 1")

def _text_columns(img, y0: int, y1: int) -> torch.Tensor:
    """Columns of the band y0..y1 holding label text: light grey pixels (the labels are TEXT on the
    dark background; rings are red or yellow, panels darker)."""
    band = img[0, y0:y1]
    grey = (band.max(dim=-1).values - band.min(dim=-1).values) < 0.12
    light = band.min(dim=-1).values > 0.45
    return (grey & light).any(dim=0)


def _clusters(cols: torch.Tensor, min_gap: int) -> list[tuple[int, int]]:
    """Runs of text columns, merging runs closer than min_gap (the spaces inside one label)."""
    xs = torch.nonzero(cols).flatten().tolist()
    runs: list[list[int]] = []
    for x in xs:
        if runs and x - runs[-1][1] <= min_gap:
            runs[-1][1] = x
        else:
            runs.append([x, x])
    return [tuple(r) for r in runs]


@pytest.mark.parametrize("width,height,base,levels,n", [
    (1024, 3072, 1024, 3, 3),        # workflow 03's tall SDXL panel: the labels used to run together
    (1024, 3072, 1024, 3, 31),
    (1024, 2048, 512, 4, 31),        # aspect 1:2, four panels in a row
    (512, 16384, 512, 4, 31),        # 1:32: panels a few pixels wide
    (768, 16384, 512, 8, 256),       # eight levels, the longest ring count
    (16384, 512, 512, 4, 31),        # 32:1: panels stacked
    (3072, 1024, 1024, 3, 3),
    (1536, 1024, 512, 4, 3),         # two columns
    (2048, 2048, 512, 4, 31),
    (1024, 3072, 4096, 3, 3),        # at or below the base: no ring count in the label
])
def test_panel_labels_never_run_together(width, height, base, levels, n):
    plan = D.plan_boundaries(width, height, base, n, levels=levels)
    img, lay = D.render_boundaries(plan)
    W = img.shape[2]
    rows: dict[int, list] = {}
    for box in lay.panels:
        rows.setdefault(box.y, []).append(box)
    top = lay.header_height
    for y, boxes in sorted(rows.items()):
        boxes.sort(key=lambda b: b.x)
        # a gap wider than the spaces inside a label (about 4 px per space at the 14 px font)
        found = _clusters(_text_columns(img, top, y), min_gap=10)
        assert len(found) == len(boxes), (f"{width}x{height}: {len(boxes)} labels expected in the row at "
                                          f"y={y}, the pixels show {len(found)} runs of text {found}")
        for k, ((x0, x1), box) in enumerate(zip(found, boxes)):
            assert box.x <= x0 <= box.x + 3, f"label {k} does not start at its panel: {(x0, x1)} vs {box}"
            if k + 1 < len(boxes):
                assert x1 < boxes[k + 1].x - 4, f"label {k} runs into the next one: {(x0, x1)}"
            assert x1 < W - 2, f"label {k} cut at the right edge ({W} px): {(x0, x1)}"
        top = y + boxes[0].height
