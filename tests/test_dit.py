"""The DiT with explicit positions (posenc/dit.py)."""
import pytest
import torch

from posenc import position_modes
from posenc.dit import DiT, DiTConfig

torch.set_num_threads(1)


def small_config(**kw):
    base = dict(in_channels=4, patch_size=2, hidden_size=64, depth=2, num_heads=4, mlp_hidden=128,
                num_classes=10, class_dropout=True, learn_sigma=True, micro_conditioning=False,
                grid=(4, 4), max_positions=(16, 16))
    base.update(kw)
    return DiTConfig(**base)


def randomized(model, seed=0):
    """Official init zeroes the output layers; randomize so outputs depend on everything."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return model.eval()


def reference_forward(model, x, t, y):
    """The official DiT forward, written out: stored pos_embed, square unpatchify."""
    tok = model.x_embedder.proj(x).flatten(2).transpose(1, 2) + model.pos_embed
    c = model.t_embedder(t) + model.y_embedder.embedding_table(y)
    for blk in model.blocks:
        tok = blk(tok, c)
    out = model.final_layer(tok, c)
    n, T, _ = out.shape
    h = w = int(T ** 0.5)
    p, C = model.patch_size, model.out_channels
    out = out.reshape(n, h, w, p, p, C).permute(0, 5, 1, 3, 2, 4)
    return out.reshape(n, C, h * p, w * p)


def test_forward_at_1x_matches_official_forward():
    m = randomized(DiT(small_config()))
    x = torch.randn(2, 4, 8, 8)
    t = torch.tensor([3.0, 700.0])
    y = torch.tensor([1, 9])
    out = m(x, t, y)
    assert out.shape == (2, 8, 8, 8)  # learned sigma: 2*C channels
    torch.testing.assert_close(out, reference_forward(m, x, t, y), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("hw", [(16, 16), (8, 24), (12, 6)])
def test_forward_any_size(hw):
    m = randomized(DiT(small_config()))
    x = torch.randn(1, 4, *hw)
    for mode in ("linspace", "random", "first", "interpolate", "ntk"):
        out = m(x, torch.tensor([10.0]), torch.tensor([2]), mode=mode, seed=1)
        assert out.shape == (1, 8, *hw)
        assert torch.isfinite(out).all()


def test_non_square_unpatchify_places_patches():
    m = DiT(small_config(learn_sigma=False))
    h, w, p, C = 2, 3, 2, 4
    tokens = torch.arange(h * w * p * p * C, dtype=torch.float32).reshape(1, h * w, p * p * C)
    img = m.unpatchify(tokens, h, w)
    assert img.shape == (1, C, h * p, w * p)
    # token (row 1, col 2), sub-pixel (py=1, px=0), channel 3 -> image (3, 2*2+0) = (3, 4)
    tok = 1 * w + 2
    assert img[0, 3, 1 * p + 1, 2 * p + 0] == tokens[0, tok, (1 * p + 0) * C + 3]


def test_positions_change_output_and_explicit_rows_cols_match_modes():
    m = randomized(DiT(small_config()))
    x = torch.randn(1, 4, 8, 12)
    t, y = torch.tensor([50.0]), torch.tensor([0])
    a = m(x, t, y, mode="linspace")
    rows, cols = position_modes.grid_positions((4, 6), 16, "linspace")
    b = m(x, t, y, rows=rows, cols=cols)
    torch.testing.assert_close(a, b)
    c = m(x, t, y, mode="first")
    assert not torch.allclose(a, c)
    # batched per-sample positions
    r2 = torch.stack([rows, rows + 1])
    out = m(x.expand(2, -1, -1, -1), t.expand(2), y.expand(2), rows=r2, cols=cols.expand(2, -1))
    torch.testing.assert_close(out[0:1], b)
    assert not torch.allclose(out[1:2], b)


def test_bad_sizes_and_labels_fail_clearly():
    m = DiT(small_config())
    with pytest.raises(ValueError, match="not a multiple of the patch size 2"):
        m(torch.randn(1, 4, 9, 8), torch.tensor([1.0]), torch.tensor([0]))
    with pytest.raises(ValueError, match="class label out of range"):
        m(torch.randn(1, 4, 8, 8), torch.tensor([1.0]), torch.tensor([11]))
    with pytest.raises(ValueError, match="channels"):
        m(torch.randn(1, 3, 8, 8), torch.tensor([1.0]), torch.tensor([0]))
    with pytest.raises(ValueError, match="distinct positions"):
        m(torch.randn(1, 4, 40, 8), torch.tensor([1.0]), torch.tensor([0]), mode="linspace")


def test_null_class_is_default_label():
    m = randomized(DiT(small_config()))
    x, t = torch.randn(1, 4, 8, 8), torch.tensor([5.0])
    torch.testing.assert_close(m(x, t, None), m(x, t, torch.tensor([10])))


def test_unconditional_model_has_no_label_table():
    m = DiT(small_config(num_classes=0, class_dropout=False, learn_sigma=False))
    assert not any(k.startswith("y_embedder") for k in m.state_dict())
    assert m(torch.randn(1, 4, 8, 8), torch.tensor([5.0])).shape == (1, 4, 8, 8)


def test_micro_conditioning_zero_is_no_crop():
    m = randomized(DiT(small_config(micro_conditioning=True)))
    x, t, y = torch.randn(2, 4, 8, 8), torch.tensor([5.0, 9.0]), torch.tensor([1, 2])
    no_crop = m(x, t, y)
    torch.testing.assert_close(no_crop, m(x, t, y, micro=torch.zeros(2, 4)))
    cropped = m(x, t, y, micro=torch.tensor([[0.1, 0.2, 0.3, 0.3]] * 2))
    assert not torch.allclose(no_crop, cropped)
    # each half of the micro-conditioning has its own effect
    assert not torch.allclose(cropped, m(x, t, y, micro=torch.tensor([[0.1, 0.2, 0.0, 0.0]] * 2)))


def test_fresh_micro_embedders_start_as_identity():
    """Zero-initialised output layers: a new micro-conditioning branch changes nothing at first
    (so fine-tuning an official checkpoint starts from its behaviour)."""
    m = DiT(small_config(micro_conditioning=True))
    t = torch.tensor([5.0])
    base = m.t_embedder(t) + m.y_embedder.embedding_table(torch.tensor([1]))
    c = m.embed_condition(t, torch.tensor([1]), torch.tensor([[0.3, 0.1, 0.5, 0.2]]))
    torch.testing.assert_close(c, base)


class LivePeak(torch.utils._python_dispatch.TorchDispatchMode):
    """Peak bytes of tensor storages alive at once among those ops create (storages present
    before, such as weights and the input, excluded): an independent measure of activation
    memory on the CPU, where torch keeps no allocator statistics."""

    def __init__(self, exclude=()):
        super().__init__()
        self.live = self.peak = 0
        self.seen = {t.untyped_storage().data_ptr() for t in exclude}

    def _free(self, key, n):
        self.seen.discard(key)
        self.live -= n

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        import weakref
        out = func(*args, **(kwargs or {}))
        for t in torch.utils._pytree.tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                st = t.untyped_storage()
                key, n = st.data_ptr(), st.nbytes()
                if n and key not in self.seen:
                    self.seen.add(key)
                    self.live += n
                    self.peak = max(self.peak, self.live)
                    weakref.finalize(st, self._free, key, n)
        return out


def _measured_peak(model, b, h, w, backend):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    x, t = torch.randn(b, model.in_channels, h, w), torch.full((b,), 500.0)
    y = torch.zeros(b, dtype=torch.long)
    with torch.no_grad(), sdpa_kernel(backend), \
            LivePeak(list(model.parameters()) + list(model.buffers()) + [x, t, y]) as peak:
        model(x, t, y)
    return peak.peak


def test_live_peak_measures_what_is_alive_at_once():
    a = torch.randn(256, 256)
    with LivePeak([a]) as peak:
        b = a @ a
        c = b @ b
        del b
        d = c + 1
        del c
    assert peak.peak == 2 * a.nbytes and peak.live == d.nbytes


@pytest.mark.parametrize("cfg, sizes", [
    # a pixel-space patch-4 DiT (the first bundled tiny DiTs' shape), and a DiT-S-like width (patch 2)
    (small_config(in_channels=3, patch_size=4, hidden_size=128, depth=2, num_heads=4, mlp_hidden=512,
                  num_classes=4, learn_sigma=False), [(2, 32, 32), (2, 128, 128), (1, 96, 192)]),
    (small_config(hidden_size=384, depth=1, num_heads=6, mlp_hidden=1536), [(2, 32, 32), (1, 64, 64)]),
    # RoPE: rotated copies of q and k, and the rotation table
    (small_config(in_channels=3, patch_size=4, hidden_size=128, depth=2, num_heads=4, mlp_hidden=512,
                  num_classes=4, learn_sigma=False, position_encoding="rope"),
     [(2, 32, 32), (2, 128, 128), (1, 96, 192)]),
    (small_config(hidden_size=384, depth=1, num_heads=6, mlp_hidden=1536, position_encoding="rope"),
     [(1, 64, 64)]),
])
def test_forward_memory_estimate_bounds_the_measured_peak(cfg, sizes):
    """ComfyUI plans memory from this estimate: with each SDPA kernel it must not be below the
    real peak, nor far above it."""
    from torch.nn.attention import SDPBackend
    from posenc.dit import forward_memory_bytes
    model = DiT(cfg).eval()
    for b, h, w in sizes:
        math_est = forward_memory_bytes(cfg, b, h, w, element_size=4, attention_scores=True)
        lean_est = forward_memory_bytes(cfg, b, h, w, element_size=4, attention_scores=False)
        math_peak = _measured_peak(model, b, h, w, SDPBackend.MATH)
        lean_peak = _measured_peak(model, b, h, w, [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION])
        assert math_peak <= math_est <= 3 * math_peak, (b, h, w, math_est, math_peak)
        assert lean_peak <= lean_est <= 3 * lean_peak, (b, h, w, lean_est, lean_peak)
