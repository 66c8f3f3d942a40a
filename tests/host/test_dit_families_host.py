"""Host test (opt-in): the DiT Position Mode node on every RoPE family it supports, each on a toy-width
model built by this ComfyUI's own config class (tests/host/dit_toys.py), sampled by ComfyUI's sampler.
A family runs in each ComfyUI that has its config class (Flux.2, Z-Image and HunyuanVideo 1.5: 0.33.0,
not 0.3.64).

Checks, per family: bit-identical at the base size; changed above it; per axis at a tall size (the
column channels of every token as the unpatched model's); the original MODEL untouched after
sampling; text, caption and padding tokens, reference images (Kontext's uxo/uno at index 0 too, Z-Image's
SigLIP features and omni reference latents, WAN's in-context references) and the time axis keep the
rotations the model gives them (under yarn's temperature too, where the text sits at id 0 like the
image's first token, which does get it); every layer of Qwen-Image-Layered gets the mode as frame 0 does; the row
positions under `interpolate` equal ComfyUI's own `rope` at p * (L-1)/(n-1); composes with a
LoRA-style weight patch; the auto base in latent cells read from the model's latent format
(Flux.2: 16 px per cell); core ScaleROPE and this node are never both applied; the variants the
node cannot serve (HiDream E1 edits, the HunyuanImage 2.1 refiner) are refused by name.

Run:  COMFYUI_PATH=/path/to/ComfyUI <ComfyUI's python> -m pytest tests/host/test_dit_families_host.py -q
"""
import os

import pytest
import torch

from conftest import load_pack
from host import dit_toys as toys

pytestmark = pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"), reason="host test: set COMFYUI_PATH")

KINDS = ["Flux", "Chroma", "Flux2", "QwenImage", "Lumina2", "ZImage", "WAN21_T2V", "HiDream", "HunyuanVideo",
         "HunyuanImage21", "HunyuanVideo15"]
#: Pixels per position step of each toy (latent cell x patch): 16 unless said (HunyuanImage 2.1: 32 px
#: cells, patch 1).  The tests' base is 8 steps per axis for every toy.
PX_PER_STEP = {"HunyuanImage21": 32}
#: The id columns of the image's rows and columns (HunyuanImage 2.1's ids have only those two).
SPATIAL = {"HunyuanImage21": (0, 1)}
#: The (object-patch path of the embedder, the family's auto base in px, its position steps per axis at the
#: auto base).  Written from the models' own papers / cards, not from the node's tables.
EXPECTED = {"Flux": ("diffusion_model.pe_embedder", 1024, 1024 // 16),
            "Chroma": ("diffusion_model.pe_embedder", 1024, 1024 // 16),
            "Flux2": ("diffusion_model.pe_embedder", 1024, 1024 // 16),     # 16 px per cell, patch 1
            "QwenImage": ("diffusion_model.pe_embedder", 1328, 1328 // 16),
            "QwenImageLayered": ("diffusion_model.pe_embedder", 1328, 1328 // 16),
            "Lumina2": ("diffusion_model.rope_embedder", 1024, 1024 // 16),
            "ZImage": ("diffusion_model.rope_embedder", 1024, 1024 // 16),
            "ZImageOmni": ("diffusion_model.rope_embedder", 1024, 1024 // 16),
            "WAN21_T2V": ("diffusion_model.rope_embedder", 832, 832 // 16),   # the toy's width is 1.3B's side
            "HiDream": ("diffusion_model.pe_embedder", 1024, 1024 // 16),
            "HunyuanVideo": ("diffusion_model.pe_embedder", 1280, 1280 // 16),  # 720p's long side
            "HunyuanImage21": ("diffusion_model.pe_embedder", 2048, 2048 // 32),  # 2K, 32 px per cell, patch 1
            "HunyuanVideo15": ("diffusion_model.pe_embedder", 1280, 1280 // 16)}  # 16 px per cell, patch 1
def base(kind):
    return 8 * PX_PER_STEP.get(kind, 16)


def spatial(kind):
    return SPATIAL.get(kind, (1, 2))


def per_token(out, kind):
    """Batch 0 of an embedder's output as (tokens, channel pairs, 2, 2): ComfyUI's EmbedND puts the
    head axis at dim 1, HiDream's own EmbedND at dim 2 (comfy/ldm/hidream/model.py)."""
    return out[0, :, 0] if kind == "HiDream" else out[0, 0]


@pytest.fixture(scope="module")
def pack():
    return load_pack()


def need(kind):
    reason = toys.missing(kind)
    if reason:
        pytest.skip(reason)


def node(pack, model, mode, base):
    return pack.nodes.dit_position_mode.DiTPositionMode.execute(model, mode, base, 0).result[0]


def embedder(model, kind):
    return model.get_model_object(EXPECTED[kind][0])


def record(model, kind, *size, extra=None):
    """(ids, output) of every call of the (patched) embedder while sampling ``model``."""
    calls = []
    mod = embedder(model, kind)
    h = mod.register_forward_hook(lambda m, args, out: calls.append((args[0].detach().clone(), out.detach().clone())))
    try:
        toys.sample(model, kind, *size, extra=extra)
    finally:
        h.remove()
    return calls


@pytest.mark.parametrize("kind", KINDS)
def test_identity_at_base_changed_above_original_untouched(pack, kind):
    need(kind)
    model = toys.build(kind)
    b = base(kind)
    one = toys.sample(model, kind, b, b)
    two = toys.sample(model, kind, 2 * b, 2 * b)
    tall = toys.sample(model, kind, b, 3 * b)
    for mode in ("interpolate", "ntk", "yarn"):
        patched = node(pack, model, mode, b)
        assert torch.equal(toys.sample(patched, kind, b, b), one), (kind, mode)
        assert (toys.sample(patched, kind, 2 * b, 2 * b) - two).abs().max() > 1e-3, (kind, mode)
        assert (toys.sample(patched, kind, b, 3 * b) - tall).abs().max() > 1e-3, (kind, mode)
    assert torch.equal(toys.sample(node(pack, model, "first", b), kind, 2 * b, 2 * b), two)
    assert not model.object_patches and torch.equal(toys.sample(model, kind, 2 * b, 2 * b), two)


def spatial_channels(emb, axis):
    """The slice of EmbedND's output (its dim -3, channel pairs) that one id axis fills."""
    start = sum(emb.axes_dim[:axis]) // 2
    return slice(start, start + emb.axes_dim[axis] // 2)


@pytest.mark.parametrize("kind", KINDS)
def test_rows_interpolated_columns_text_and_time_as_the_model_gives_them(pack, kind):
    """8 steps wide x 24 tall: rows 24 steps > L = 8, columns 8.  Every call of the patched embedder
    against the unpatched one on the same ids: the column channels and any non-spatial axis
    (Flux's index, Flux.2's text axis, WAN's and HunyuanVideo's time, HiDream's first axis) equal
    everywhere; tokens that are not the image (text, the caption's own call) equal in full; the
    image's row channels are ComfyUI's `rope` at the row position p * 7/23 about 0 (Qwen-Image's rows
    are centred on 0; text at id 0 is there too, at rope(0))."""
    need(kind)
    from comfy.ldm.flux.math import rope
    model = toys.build(kind)
    b = base(kind)
    row_axis, col_axis = spatial(kind)
    patched = node(pack, model, "interpolate", b)
    orig = embedder(model, kind)
    calls = record(patched, kind, b, 3 * b)
    assert calls
    image_calls = 0
    for ids, out in calls:
        want = orig(ids)
        assert out.shape == want.shape
        cols = spatial_channels(orig, col_axis)
        torch.testing.assert_close(out[..., cols, :, :], want[..., cols, :, :], atol=0, rtol=0)
        for axis in range(ids.shape[-1]):
            if axis not in (row_axis, col_axis):
                ch = spatial_channels(orig, axis)
                torch.testing.assert_close(out[..., ch, :, :], want[..., ch, :, :], atol=0, rtol=0)
        rows = ids[0, :, row_axis]
        # the image's tokens span 24 rows (a call whose tokens do not, the caption's, is all text)
        image = torch.full_like(rows, bool(rows.max() - rows.min() >= 23), dtype=torch.bool)
        if kind in ("Flux", "Chroma", "QwenImage"):
            image &= ids[0, :, 0] == 0
        elif kind == "Flux2":
            image &= (ids[0, :, 0] == 0) & (ids[0, :, 3] == 0)
        if not bool(image.any()):
            torch.testing.assert_close(out, want, atol=0, rtol=0)
            continue
        image_calls += 1
        rch = spatial_channels(orig, row_axis)
        expect = rope((rows[image] * 7 / 23)[None], orig.axes_dim[row_axis], orig.theta)[0]
        got, had = per_token(out, kind), per_token(want, kind)
        torch.testing.assert_close(got[image, rch], expect, atol=1e-5, rtol=0)
        torch.testing.assert_close(got[~image], had[~image], atol=0, rtol=0)   # text as before
    assert image_calls >= 1


#: Frames of each video toy's latent (its time patch is 1): the image being drawn is frames x rows x columns.
FRAMES = {"HunyuanVideo": 3, "HunyuanVideo15": 3}
#: The id column of the time axis (video) and the columns that stay constant over the image's tokens.
TIME_AXIS = {"HunyuanVideo": 0, "HunyuanVideo15": 0}


def image_run(ids, kind, rows, cols):
    """Where the image being drawn sits among one embedder call's tokens, found without the pack's
    code: its first token is the one just before the first token that is one column further on
    (same row, every other id equal); from there frames x rows x cols tokens must be the image's
    row-major grid relative to that first token (asserted).  None: a call without the image (a
    caption's own call)."""
    row_axis, col_axis = spatial(kind)
    step = ids[1:] - ids[:-1]
    one_col = (step[:, col_axis] == 1) & (torch.cat([step[:, :col_axis], step[:, col_axis + 1:]], -1) == 0).all(-1)
    hits = torch.nonzero(one_col).flatten()
    if not len(hits):
        return None
    first = int(hits[0])
    frames = FRAMES.get(kind, 1)
    n = frames * rows * cols
    k = torch.arange(n)
    want = ids[first].repeat(n, 1)
    want[:, row_axis] += (k // cols) % rows
    want[:, col_axis] += k % cols
    if kind in TIME_AXIS:
        want[:, TIME_AXIS[kind]] += k // (rows * cols)
    assert first + n <= ids.shape[0] and torch.equal(ids[first:first + n], want), (kind, first)
    return first, n


#: The families whose text (or caption) tokens go through the RoPE embedder (WAN's text enters by
#: cross-attention, SD3 and PixArt add sin-cos tables).  Text ids per family: Flux.1 / Chroma (0, 0, 0)
#: (0.33 also Ovis-style diagonals, not built here); Flux.2 (0, 0, 0, i): its first text token is all 0;
#: Qwen-Image (k, k, k) from about max(rows, cols) / 2; Lumina 2 on 0.3.64 (i, 0, 0) in the image's own
#: call (i = 0 all 0), on 0.33 and Z-Image (1 + i, 0, 0) in a call of their own, and Z-Image pads the
#: image's call with tokens at (0, 0, 0); HiDream and Hunyuan (0, 0, 0).
TEXT_KINDS = ["Flux", "Chroma", "Flux2", "QwenImage", "Lumina2", "ZImage", "HiDream", "HunyuanVideo",
              "HunyuanImage21", "HunyuanVideo15"]


@pytest.mark.parametrize("kind", TEXT_KINDS)
def test_text_keeps_the_model_rotations_under_yarn_and_the_image_origin_gets_the_temperature(pack, kind):
    """Issue #31: text tokens are never rescaled.  yarn at 16 x 17 steps over a base of 8 (s = 2 on
    rows, 17/8 on columns; 17 columns also make Z-Image pad the image's call), the ids captured as
    the model passes them to its embedder while ComfyUI samples: in every call, every token that is
    not the image being drawn (text, caption, padding; found by ``image_run``, not by the pack) gets
    the unpatched embedder's rows bit for bit, and the image's token at row = column = 0 (its first
    token; Qwen-Image's centre), where every mode's rotation is the identity as at text at id 0, gets
    the temperature 0.1 ln s + 1 of each spatial axis times the unpatched rows there and the
    unpatched rows on every other axis."""
    import math
    need(kind)
    model = toys.build(kind)
    b = base(kind)
    step = PX_PER_STEP.get(kind, 16)
    rows, cols = 16, 17
    calls = record(node(pack, model, "yarn", b), kind, cols * step, rows * step)
    orig = embedder(model, kind)
    temperature = {spatial(kind)[0]: 0.1 * math.log(rows / 8) + 1.0, spatial(kind)[1]: 0.1 * math.log(cols / 8) + 1.0}
    others, image_calls = 0, 0
    assert calls
    for ids, out in calls:                      # every model call of the run (cond, uncond, each step)
        got, had = per_token(out, kind), per_token(orig(ids), kind)
        run = image_run(ids[0], kind, rows, cols)
        rest = torch.ones(ids.shape[1], dtype=torch.bool)
        if run is not None:
            first, n = run
            rest[first:first + n] = False
            image_calls += 1
            at_zero = (ids[0, first:first + n][:, list(spatial(kind))] == 0).all(-1)
            origin = first + int(torch.nonzero(at_zero).flatten()[0])
            for axis in range(ids.shape[-1]):
                ch = spatial_channels(orig, axis)
                torch.testing.assert_close(got[origin, ch], temperature.get(axis, 1.0) * had[origin, ch],
                                           atol=1e-6, rtol=0)
        torch.testing.assert_close(got[rest], had[rest], atol=0, rtol=0)
        others += int(rest.sum())
    assert image_calls >= 1 and others >= 6, (image_calls, others)


@pytest.mark.parametrize("kind", ["QwenImage", "Flux2", "Flux"])
def test_reference_images_keep_their_rotations(pack, kind):
    """An edit reference (Qwen-Image Edit, Flux.2, Kontext) at 2x beside an image at 2x: the
    reference's tokens get the unpatched embedder's rows, the image's tokens the mode's."""
    need(kind)
    model = toys.build(kind)
    b = base(kind)
    patched = node(pack, model, "yarn", b)
    ref = torch.randn(toys.latent(kind, 2 * b, 2 * b).shape, generator=torch.Generator().manual_seed(5))
    calls = record(patched, kind, 2 * b, 2 * b, extra={"reference_latents": [ref]})
    ids, out = max(calls, key=lambda c: c[0].shape[1])
    want = embedder(model, kind)(ids)
    index = ids[0, :, 0]
    refs = (index != 0) & ((ids[0, :, 1] != 0) | (ids[0, :, 2] != 0))      # reference tokens, not text
    image = index == 0
    assert bool(refs.any()) and bool(image.any())
    torch.testing.assert_close(out[0, 0, refs], want[0, 0, refs], atol=0, rtol=0)
    assert (out[0, 0, image] - want[0, 0, image]).abs().max() > 1e-3


@pytest.mark.parametrize("kind", ["Flux", "Flux2"])
def test_uxo_reference_at_index_zero_keeps_its_rotations(pack, kind):
    """Kontext's "uxo/uno" reference method (core's FluxKontextMultiReferenceLatentMethod) puts the
    reference at index 0 like the image, diagonally after it (rows from the image's height, columns
    from its width).  At 2x under yarn the reference's tokens and the text get the unpatched rows bit
    for bit; the image's tokens change."""
    need(kind)
    model = toys.build(kind)
    b = base(kind)
    ref = torch.randn(toys.latent(kind, 2 * b, 2 * b).shape, generator=torch.Generator().manual_seed(5))
    calls = record(node(pack, model, "yarn", b), kind, 2 * b, 2 * b,
                   extra={"reference_latents": [ref], "reference_latents_method": "uxo"})
    ids, out = max(calls, key=lambda c: c[0].shape[1])
    want = embedder(model, kind)(ids)
    first, n = image_run(ids[0], kind, 16, 16)
    image = torch.zeros(ids.shape[1], dtype=torch.bool)
    image[first:first + n] = True
    refs = (ids[0, :, 0] == 0) & (ids[0, :, 1] >= 16) & (ids[0, :, 2] >= 16)
    assert int(refs.sum()) == 16 * 16
    torch.testing.assert_close(out[0, 0, ~image], want[0, 0, ~image], atol=0, rtol=0)
    assert (out[0, 0, image] - want[0, 0, image]).abs().amax(dim=(-1, -2, -3)).min() > 0   # every image token


def test_zimage_siglip_features_keep_their_rotations(pack):
    """Z-Image omni (edit) embeds a reference's SigLIP features in a call of their own, at positions
    floor(linspace(0, 8 side - 1, side)) (comfy/ldm/lumina/model.py ``embed_all``): 24 x 24 features
    spread over 192 positions, no image being drawn.  Under yarn they keep the unpatched rows bit for
    bit, so sampling at the base size is bit-identical; at 2x the image's call changes."""
    import types
    need("ZImageOmni")
    model = toys.build("ZImageOmni")
    if getattr(model.model.diffusion_model, "siglip_embedder", None) is None:
        pytest.skip("this ComfyUI's NextDiT has no SigLIP projection")
    b = base("ZImageOmni")
    g = torch.Generator().manual_seed(3)
    features = types.SimpleNamespace(image_sizes=[(3, 384, 384)], last_hidden_state=torch.randn(1, 24 * 24, 32, generator=g))
    extra = {"reference_latents": [torch.randn(toys.latent("ZImageOmni", b, b).shape, generator=g)],
             "clip_vision_outputs": [features]}
    patched = node(pack, model, "yarn", b)
    assert torch.equal(toys.sample(patched, "ZImageOmni", b, b, extra=extra),
                       toys.sample(model, "ZImageOmni", b, b, extra=extra))
    calls = record(patched, "ZImageOmni", 2 * b, 2 * b, extra=extra)
    orig = embedder(model, "ZImageOmni")
    siglip = [(ids, out) for ids, out in calls if ids.shape[1] == 24 * 24]
    image = [(ids, out) for ids, out in calls if ids.shape[1] == 16 * 16]      # the 8 x 8 reference's call is 64
    assert siglip and image
    assert all(image_run(ids[0], "ZImageOmni", 16, 16) == (0, 256) for ids, _ in image)
    for ids, out in siglip:
        assert float(ids[0, :, 1].max()) == 191
        torch.testing.assert_close(out, orig(ids), atol=0, rtol=0)
    assert all((out - orig(ids)).abs().max() > 1e-3 for ids, out in image)


@pytest.mark.parametrize("method", [None, "index"])
def test_qwen_image_layered_every_layer_gets_the_mode_references_keep_theirs(pack, method):
    """Qwen-Image-Layered draws the image and its layers as frames of one latent, which
    comfy/ldm/qwen_image/model.py ``process_img`` puts at index 0, 1, 2 (t_len > 1), each frame the
    same centred grid, after the text and before the references (at index -1, ``negative_index``,
    Layered's default; or at index 1 with ``index``, the very ids of a frame).  Under yarn at 2x with
    a 2x reference: every frame's tokens get the same rows as frame 0's on the row and column channels
    (and differ from the unpatched rows at every token), the index channels and the text and the
    reference keep the unpatched rows bit for bit; at the base size sampling is bit-identical."""
    kind = "QwenImageLayered"
    need(kind)
    model = toys.build(kind)
    b = base(kind)
    g = torch.Generator().manual_seed(5)
    extra = {"reference_latents": [torch.randn(toys.latent(kind, 2 * b, 2 * b)[:, :, :1].shape, generator=g)]}
    if method:
        extra["reference_latents_method"] = method
    patched = node(pack, model, "yarn", b)
    assert torch.equal(toys.sample(patched, kind, b, b, extra=extra), toys.sample(model, kind, b, b, extra=extra))
    calls = record(patched, kind, 2 * b, 2 * b, extra=extra)
    orig = embedder(model, kind)
    assert calls
    for ids, out in calls:
        got, had = per_token(out, kind), per_token(orig(ids), kind)
        assert ids.shape[1] == 6 + 3 * 256 + 256         # text, 3 frames of 16 x 16, the reference
        assert torch.equal(ids[0, :6], (8 + torch.arange(6.0))[:, None].repeat(1, 3))    # (k, k, k) from 16 / 2
        frames = [torch.arange(6 + 256 * f, 6 + 256 * (f + 1)) for f in range(3)]
        assert torch.equal(ids[0, 6 + 768:, 0], torch.full((256,), -1.0 if method is None else 1.0))
        image = torch.zeros(ids.shape[1], dtype=torch.bool)
        for f, tokens in enumerate(frames):
            image[tokens] = True
            assert bool((ids[0, tokens, 0] == f).all())
            assert torch.equal(ids[0, tokens, 1:], ids[0, frames[0], 1:])        # the same grid in every frame
        torch.testing.assert_close(got[~image], had[~image], atol=0, rtol=0)    # text and the reference
        space = slice(spatial_channels(orig, 1).start, spatial_channels(orig, 2).stop)
        index_ch = spatial_channels(orig, 0)
        for tokens in frames:
            torch.testing.assert_close(got[tokens][:, space], got[frames[0]][:, space], atol=0, rtol=0)
            torch.testing.assert_close(got[tokens][:, index_ch], had[tokens][:, index_ch], atol=0, rtol=0)
            assert (got[tokens] - had[tokens]).abs().amax(dim=(-1, -2, -3)).min() > 0    # every token of every frame


def in_context_wan():
    """Skip unless this ComfyUI's WAN embeds in-context ``context_latents`` (rope_encode's source_id)."""
    import inspect
    from comfy.ldm.wan.model import WanModel
    if "source_id" not in inspect.signature(WanModel.rope_encode).parameters:
        pytest.skip("this ComfyUI's WanModel has no in-context context_latents (rope_encode source_id)")


def test_wan_in_context_latents_keep_their_rotations(pack):
    """WAN's in-context references (``context_latents``, comfy/ldm/wan/model.py ``_forward``): after
    the video's own ``rope_encode`` call, one call per reference with its own grid from 0, in order.
    One reference is the video's size (3 frames, 2x: ids identical to the video's call), one a
    single tall frame (3x by 1x).  Under yarn at 2x, every reference call gets the unpatched rows bit
    for bit; the video's calls change.  At the base size (references above it) sampling is
    bit-identical."""
    kind = "WAN21_T2V"
    need(kind)
    in_context_wan()
    model = toys.build(kind)
    b = base(kind)
    g = torch.Generator().manual_seed(5)
    same = torch.randn(toys.latent(kind, 2 * b, 2 * b).shape, generator=g)
    tall = torch.randn(toys.latent(kind, b, 3 * b).shape[:2] + (1, 3 * b // 8, b // 8), generator=g)
    extra = {"context_latents": [same, tall]}
    patched = node(pack, model, "yarn", b)
    assert torch.equal(toys.sample(patched, kind, b, b, extra=extra), toys.sample(model, kind, b, b, extra=extra))
    calls = record(patched, kind, 2 * b, 2 * b, extra=extra)
    orig = embedder(model, kind)
    assert calls and len(calls) % 3 == 0
    for k, (ids, out) in enumerate(calls):       # per model call: the video, then each reference in order
        want = orig(ids)
        rows, cols = int(ids[0, :, 1].max()) + 1, int(ids[0, :, 2].max()) + 1
        if k % 3 == 2:
            assert (rows, cols, ids.shape[1]) == (24, 8, 24 * 8)
        else:
            assert (rows, cols, ids.shape[1]) == (16, 16, 3 * 16 * 16)
        if k % 3 == 0:
            assert (out - want).abs().max() > 1e-3, k
        else:
            torch.testing.assert_close(out, want, atol=0, rtol=0)


def test_zimage_omni_reference_latents_keep_their_rotations(pack):
    """Z-Image omni (edit) embeds each reference latent in a call of its own before the image's
    (comfy/ldm/lumina/model.py ``patchify_and_embed``: per reference caption, SigLIP and latent grid,
    then the image's), each reference grid from 0.  Two references above the base (2x like the image,
    and 3x by 1x) under yarn at 2x: their grid calls get the unpatched rows bit for bit, the image's
    call changes; at the base size (references above it) sampling is bit-identical."""
    kind = "ZImageOmni"
    need(kind)
    model = toys.build(kind)
    b = base(kind)
    g = torch.Generator().manual_seed(5)
    extra = {"reference_latents": [torch.randn(toys.latent(kind, 2 * b, 2 * b).shape, generator=g),
                                   torch.randn(toys.latent(kind, b, 3 * b).shape, generator=g)]}
    patched = node(pack, model, "yarn", b)
    assert torch.equal(toys.sample(patched, kind, b, b, extra=extra), toys.sample(model, kind, b, b, extra=extra))
    calls = record(patched, kind, 2 * b, 2 * b, extra=extra)
    orig = embedder(model, kind)
    grids = []
    for ids, out in calls:
        want = orig(ids)
        step = ids[0, 1:, 2] - ids[0, :-1, 2]
        if not bool((step == 1).any()):                 # caption and SigLIP calls: no grid
            torch.testing.assert_close(out, want, atol=0, rtol=0)
            continue
        real = (ids[0, :, 1:] != 0).any(-1) | (torch.arange(ids.shape[1]) == 0)     # not the (0, 0, 0) padding
        grids.append((int(ids[0, real, 1].max()) + 1, int(ids[0, real, 2].max()) + 1, ids, out, want))
    assert grids and len(grids) % 3 == 0
    for k, (rows, cols, ids, out, want) in enumerate(grids):     # per model call: reference 1, 2, the image
        assert (rows, cols) == [(16, 16), (24, 8), (16, 16)][k % 3]
        if k % 3 == 2:
            assert (out - want).abs().max() > 1e-3, k
        else:
            torch.testing.assert_close(out, want, atol=0, rtol=0)


@pytest.mark.parametrize("kind", ["ZImageOmni", "WAN21_T2V", "QwenImageLayered"])
def test_two_nodes_in_a_row_the_later_mode_alone(pack, kind):
    """Two DiT Position Mode nodes in a row on a model whose references or layers the node routes by
    the model call's inputs (Z-Image omni references, WAN in-context references, Qwen-Image-Layered
    frames): the samples at 2x are exactly those of the later node alone (ntk, then yarn), and differ
    from the earlier one's."""
    need(kind)
    if kind == "WAN21_T2V":
        in_context_wan()
    model = toys.build(kind)
    b = base(kind)
    g = torch.Generator().manual_seed(5)
    lat = toys.latent(kind, 2 * b, 2 * b)
    extra = ({"context_latents": [torch.randn(lat.shape, generator=g)]} if kind == "WAN21_T2V" else
             {"reference_latents": [torch.randn(lat[:, :, :1].shape if lat.ndim == 5 else lat.shape, generator=g)]})
    both = toys.sample(node(pack, node(pack, model, "ntk", b), "yarn", b), kind, 2 * b, 2 * b, extra=extra)
    assert torch.equal(both, toys.sample(node(pack, model, "yarn", b), kind, 2 * b, 2 * b, extra=extra))
    assert (both - toys.sample(node(pack, model, "ntk", b), kind, 2 * b, 2 * b, extra=extra)).abs().max() > 1e-3


@pytest.mark.parametrize("text_first", [True, False])
def test_hunyuan_video_reference_latent_keeps_its_rotations(pack, text_first):
    """HunyuanVideo's image-to-video "custom" reference latent: forward_orig gives it the ids of its
    own grid at time -1 with the columns shifted by the width, before the image's.  ComfyUI cannot
    sample it (0.3.64 and 0.33.0 both stop writing into the ids einops.repeat returns, unpatched
    too), so the patched embedder gets the ids forward_orig makes, from the model's own img_ids, in
    both text orders (0.33.0: text first; 0.3.64: text last): the reference's and the text's
    tokens keep the unpatched rows bit for bit, the image's change."""
    need("HunyuanVideo")
    model = toys.build("HunyuanVideo")
    b = base("HunyuanVideo")
    dm = model.model.diffusion_model
    x = toys.latent("HunyuanVideo", 2 * b, 2 * b)
    img = dm.img_ids(x)
    ref = dm.img_ids(x[:, :, :1]).clone()
    ref[..., 0] = -1
    ref[..., 2] += x.shape[-1] // 2
    txt = torch.zeros(1, 6, 3)
    ids = torch.cat([txt, ref, img] if text_first else [ref, img, txt], dim=1)
    out = node(pack, model, "yarn", b).get_model_object("diffusion_model.pe_embedder")(ids)
    want = embedder(model, "HunyuanVideo")(ids)
    refs = ids[0, :, 0] < 0
    text = (ids[0] == 0).all(-1)
    text[6 + ref.shape[1] if text_first else ref.shape[1]] = False      # the image's first token
    image = ~refs & ~text
    assert int(refs.sum()) == ref.shape[1] and int(text.sum()) == 6 and int(image.sum()) == img.shape[1]
    torch.testing.assert_close(out[0, 0, refs | text], want[0, 0, refs | text], atol=0, rtol=0)
    assert (out[0, 0, image] - want[0, 0, image]).abs().amax(dim=(-1, -2, -3)).min() > 0   # every image token


def test_hidream_edit_reference_is_refused_by_name(pack):
    """HiDream E1 joins its reference (image_cond) to the image along the width, in the same position
    grid: refused when sampled with the mode, with a message; without the node it samples."""
    need("HiDream")
    model = toys.build("HiDream")
    b = base("HiDream")
    ref = {"concat_latent_image": torch.randn(toys.latent("HiDream", b, b).shape,
                                              generator=torch.Generator().manual_seed(5))}
    plain = toys.sample(model, "HiDream", b, b, extra=ref)
    assert plain.shape == toys.latent("HiDream", b, b).shape
    with pytest.raises(ValueError, match=r"HiDream with an edit reference \(image_cond, HiDream E1\)"):
        toys.sample(node(pack, model, "yarn", b), "HiDream", b, b, extra=ref)
    assert torch.equal(toys.sample(node(pack, model, "first", b), "HiDream", b, b, extra=ref), plain)


@pytest.mark.parametrize("kind", KINDS)
def test_composes_with_a_lora_weight_patch(pack, kind):
    need(kind)
    model = toys.build(kind)
    b = base(kind)
    key = next(f"diffusion_model.{n}" for n, p in model.model.diffusion_model.named_parameters()
               if p.dim() == 2 and any(s in n for s in ("qkv", "to_q", "attention.qkv", ".q.")) and n.endswith("weight"))
    lora = model.clone()
    lora.add_patches({key: (torch.randn_like(model.get_model_object(key)) * 0.5,)}, 1.0)
    size = (2 * b, 2 * b)
    both = toys.sample(node(pack, lora, "yarn", b), kind, *size)
    assert (both - toys.sample(node(pack, model, "yarn", b), kind, *size)).abs().max() > 1e-3, "the LoRA patch was lost"
    assert (both - toys.sample(lora, kind, *size)).abs().max() > 1e-3, "the position mode was lost under the LoRA"
    assert torch.equal(toys.sample(node(pack, lora, "yarn", b), kind, b, b), toys.sample(lora, kind, b, b))


@pytest.mark.parametrize("kind", KINDS)
def test_auto_base_counts_the_latent_format_cells(pack, kind):
    """base_resolution 0: the family's training size, in position steps through this model's latent
    format (Flux.2: 16 px per cell, so 1024 px = 64 steps, not 128)."""
    need(kind)
    model = toys.build(kind)
    patched = node(pack, model, "yarn", 0)
    _, _, steps = EXPECTED[kind]
    assert patched.object_patches[EXPECTED[kind][0]].L == steps


def test_flux2_at_2x_is_changed_not_identity(pack):
    """The report of issue #31: Flux.2 at 2x its base was bit-identical under every mode (L counted
    at 8 px per cell).  At base 256 px (16 steps) a 512 px image is 32 steps: changed."""
    need("Flux2")
    model = toys.build("Flux2")
    plain = toys.sample(model, "Flux2", 512, 512)
    for mode in ("interpolate", "yarn"):
        assert (toys.sample(node(pack, model, mode, 256), "Flux2", 512, 512) - plain).abs().max() > 1e-3, mode


def test_scale_rope_and_this_node_are_never_both_applied(pack):
    """Core ScaleROPE (where this ComfyUI has it) before the node: refused at the node; after it:
    refused at the first model call.  Identity ScaleROPE settings are not a conflict."""
    need("Flux")
    model = toys.build("Flux")
    b = base("Flux")
    if not hasattr(model, "set_model_rope_options"):
        pytest.skip("this ComfyUI has no ScaleROPE (ModelPatcher.set_model_rope_options)")
    scaled = model.clone()
    scaled.set_model_rope_options(0.5, 0.0, 0.5, 0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match=r"core ScaleROPE settings \(scale_x=0.5, scale_y=0.5\).*Keep one"):
        node(pack, scaled, "yarn", b)
    after = node(pack, model, "yarn", b).clone()
    after.set_model_rope_options(0.5, 0.0, 0.5, 0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="Keep one"):
        toys.sample(after, "Flux", 2 * b, 2 * b)
    identity = model.clone()
    identity.set_model_rope_options(1.0, 0.0, 1.0, 0.0, 1.0, 0.0)
    assert torch.equal(toys.sample(node(pack, identity, "yarn", b), "Flux", b, b),
                       toys.sample(identity, "Flux", b, b))


@pytest.mark.parametrize("kind", ["QwenImage", "HiDream", "HunyuanVideo", "HunyuanImage21"])
def test_scale_rope_on_a_family_that_ignores_it_is_no_conflict(pack, kind):
    """Qwen-Image, HiDream and Hunyuan do not read rope_options: ScaleROPE changes nothing there, so
    nothing is refused."""
    need(kind)
    model = toys.build(kind)
    b = base(kind)
    if not hasattr(model, "set_model_rope_options"):
        pytest.skip("this ComfyUI has no ScaleROPE (ModelPatcher.set_model_rope_options)")
    scaled = model.clone()
    scaled.set_model_rope_options(0.5, 0.0, 0.5, 0.0, 1.0, 0.0)
    out = toys.sample(node(pack, scaled, "yarn", b), kind, 2 * b, 2 * b)
    assert torch.equal(out, toys.sample(node(pack, model, "yarn", b), kind, 2 * b, 2 * b))


def test_unsupported_variants_are_named(pack):
    from host.comfy_models import build as build_unet
    with pytest.raises(ValueError, match=r"SD15, is not a supported DiT; supported: Flux.*Qwen-Image.*Z-Image.*WAN"
                                         r".*HiDream.*HunyuanImage 2\.1.*HunyuanVideo"):
        node(pack, build_unet("SD15"), "yarn", 0)


def test_hunyuan_image_refiner_is_refused_by_name(pack):
    """The HunyuanImage 2.1 refiner derives from HunyuanVideo's config but is not served: named."""
    need("HunyuanImage21Refiner")
    with pytest.raises(ValueError, match=r"HunyuanImage21Refiner, is not a supported DiT; supported: .*"
                                         r"HunyuanImage 2\.1.*The HunyuanImage 2\.1 refiner is not supported"):
        node(pack, toys.build("HunyuanImage21Refiner"), "yarn", 0)


@pytest.mark.parametrize("kind", KINDS)
def test_rotations_are_built_once_per_size_not_per_step(pack, kind):
    """A run of 3 steps (cond and uncond each step) builds the image's rotations once; a second
    size builds them once more; the result equals building them at every call."""
    need(kind)
    model = toys.build(kind)
    b = base(kind)
    patched = node(pack, model, "yarn", b)
    emb = embedder(patched, kind)
    built = []
    compute = emb.compute
    emb.compute = lambda ids: built.append(tuple(ids.shape)) or compute(ids)
    try:
        once = toys.sample(patched, kind, 2 * b, 2 * b, steps=3)
        image_builds = [s for s in built if s[1] >= 256]             # the image's call: >= 16 x 16 tokens
        assert len(image_builds) == 1, built
        toys.sample(patched, kind, 2 * b, 3 * b, steps=3)
        assert len([s for s in built if s[1] >= 256]) == 2, built
        emb._cache.clear()
        emb.forward = lambda ids: compute(ids)                        # no reuse: the same samples
        assert torch.equal(toys.sample(patched, kind, 2 * b, 2 * b, steps=3), once)
    finally:
        del emb.compute
        emb.__dict__.pop("forward", None)
