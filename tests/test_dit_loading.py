"""Loading DiT checkpoints: official key layout, detection, safe loading, bad files."""
import argparse
import os

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from posenc import dit as ditmod
from posenc.dit import CheckpointError, NotADiTError, detect_config, load_dit, pos_embed_is_sincos

torch.set_num_threads(1)


def official_pos_embed_np(D, s):
    """facebookresearch/DiT get_2d_sincos_pos_embed, written out (independent of posenc)."""
    def one(d, pos):
        om = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1), om)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)
    g = np.stack(np.meshgrid(np.arange(s, dtype=np.float32), np.arange(s, dtype=np.float32)), 0)
    return np.concatenate([one(D // 2, g[0]), one(D // 2, g[1])], axis=1)


def official_state_dict(D=96, depth=2, p=2, C=4, classes=1000, grid=4, learn_sigma=True, seed=0):
    """Random tensors with the key names and shapes of facebookresearch DiT checkpoints."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g) * 0.05
    out_c = 2 * C if learn_sigma else C
    sd = {
        "x_embedder.proj.weight": r(D, C, p, p), "x_embedder.proj.bias": r(D),
        "t_embedder.mlp.0.weight": r(D, 256), "t_embedder.mlp.0.bias": r(D),
        "t_embedder.mlp.2.weight": r(D, D), "t_embedder.mlp.2.bias": r(D),
        "y_embedder.embedding_table.weight": r(classes + 1, D),
        "pos_embed": torch.from_numpy(official_pos_embed_np(D, grid)).float().unsqueeze(0),
        "final_layer.linear.weight": r(p * p * out_c, D), "final_layer.linear.bias": r(p * p * out_c),
        "final_layer.adaLN_modulation.1.weight": r(2 * D, D),
        "final_layer.adaLN_modulation.1.bias": r(2 * D),
    }
    for i in range(depth):
        b = f"blocks.{i}."
        sd.update({
            b + "attn.qkv.weight": r(3 * D, D), b + "attn.qkv.bias": r(3 * D),
            b + "attn.proj.weight": r(D, D), b + "attn.proj.bias": r(D),
            b + "mlp.fc1.weight": r(4 * D, D), b + "mlp.fc1.bias": r(4 * D),
            b + "mlp.fc2.weight": r(D, 4 * D), b + "mlp.fc2.bias": r(D),
            b + "adaLN_modulation.1.weight": r(6 * D, D), b + "adaLN_modulation.1.bias": r(6 * D),
        })
    return sd


def test_official_layout_loads_strictly_from_safetensors_and_pt(tmp_path):
    sd = official_state_dict()
    st, pt = tmp_path / "dit.safetensors", tmp_path / "DiT-tiny.pt"
    save_file(sd, str(st))
    torch.save(sd, str(pt))
    outs = []
    for path in (st, pt):
        model, info = load_dit(str(path))
        cfg = info["config"]
        assert (cfg.depth, cfg.hidden_size, cfg.patch_size, cfg.in_channels) == (2, 96, 2, 4)
        assert cfg.num_classes == 1000 and cfg.learn_sigma and not cfg.micro_conditioning
        assert cfg.grid == (4, 4) and cfg.max_positions == (4, 4)
        assert info["pos_embed_is_sincos"] and info["vanilla"]
        # every tensor of the file is in the model, unchanged
        msd = model.state_dict()
        assert set(msd) == set(sd)
        for k in sd:
            assert torch.equal(msd[k], sd[k]), k
        outs.append(model(torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1)),
                          torch.tensor([10.0]), torch.tensor([207])))
    torch.testing.assert_close(outs[0], outs[1])
    assert outs[0].shape == (1, 8, 8, 8)


def test_official_training_checkpoint_with_args_namespace(tmp_path):
    """facebookresearch/DiT train.py saves {"model", "ema", "opt", "args": Namespace}; the
    official sampler uses "ema"."""
    sd = official_state_dict(seed=1)
    ema = official_state_dict(seed=2)
    path = tmp_path / "0400000.pt"
    torch.save({"model": sd, "ema": ema, "opt": {}, "args": argparse.Namespace(model="DiT-XL/2")}, str(path))
    model, _ = load_dit(str(path))
    assert torch.equal(model.state_dict()["blocks.0.attn.qkv.weight"], ema["blocks.0.attn.qkv.weight"])


def test_extra_or_missing_keys_fail_strictly(tmp_path):
    sd = official_state_dict()
    sd["blocks.0.attn.q_norm.weight"] = torch.ones(24)
    save_file(sd, str(tmp_path / "x.safetensors"))
    with pytest.raises(NotADiTError, match="key layout does not match"):
        load_dit(str(tmp_path / "x.safetensors"))


def test_detect_heads_and_learned_sigma():
    assert ditmod.guess_heads(1152) == 16  # DiT-XL: head dim 72
    assert ditmod.guess_heads(1024) == 16 and ditmod.guess_heads(768) == 12
    assert ditmod.guess_heads(384) == 6
    cfg = detect_config(official_state_dict(D=384, depth=1, learn_sigma=False, classes=5))
    assert cfg.num_heads == 6 and not cfg.learn_sigma and cfg.num_classes == 5
    cfg = detect_config(official_state_dict(D=96, depth=3, p=4, C=3, grid=2))
    assert cfg.depth == 3 and cfg.patch_size == 4 and cfg.in_channels == 3 and cfg.learn_sigma
    assert cfg.grid == (2, 2) and cfg.num_heads == 3  # width 96: not a multiple of 64 -> head dim 32


def test_pos_embed_sincos_check_tells_vanilla_apart():
    sd = official_state_dict()
    assert pos_embed_is_sincos(sd)
    sd["pos_embed"] = sd["pos_embed"] + 0.01 * torch.randn_like(sd["pos_embed"])
    assert not pos_embed_is_sincos(sd)
    sd2 = official_state_dict()
    sd2["pos_embed"] = sd2["pos_embed"].reshape(1, 4, 4, -1).transpose(1, 2).reshape(1, 16, -1)
    assert not pos_embed_is_sincos(sd2)  # rows and columns swapped is not the official layout


class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + os.environ["EVIL_MARKER"],))


def test_malicious_pickle_is_refused(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("EVIL_MARKER", str(marker))
    path = tmp_path / "evil.ckpt"
    torch.save({"pos_embed": torch.zeros(1), "payload": Evil()}, str(path))
    with pytest.raises(CheckpointError, match="refusing to load.*arbitrary code"):
        load_dit(str(path))
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_truncated_file_fails_clearly(tmp_path, suffix):
    path = tmp_path / ("m" + suffix)
    sd = official_state_dict()
    save_file(sd, str(path)) if suffix == ".safetensors" else torch.save(sd, str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_dit(str(path))


def test_garbage_and_empty_files(tmp_path):
    (tmp_path / "g.safetensors").write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_dit(str(tmp_path / "g.safetensors"))
    (tmp_path / "e.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_dit(str(tmp_path / "e.pt"))
    with pytest.raises(CheckpointError, match="not found"):
        load_dit(str(tmp_path / "missing.safetensors"))


def test_not_a_dit(tmp_path):
    save_file({"conv_in.weight": torch.zeros(4, 4, 3, 3), "time_embed.0.weight": torch.zeros(8, 4)},
              str(tmp_path / "unet.safetensors"))
    with pytest.raises(NotADiTError, match="not a DiT checkpoint: missing x_embedder.proj.weight"):
        load_dit(str(tmp_path / "unet.safetensors"))
    torch.save([1, 2, 3], str(tmp_path / "list.pt"))
    with pytest.raises(NotADiTError, match="does not hold a state dict"):
        load_dit(str(tmp_path / "list.pt"))


def test_our_checkpoint_metadata_roundtrip(tmp_path):
    from posenc.dit import DiT, DiTConfig
    cfg = DiTConfig(in_channels=3, patch_size=2, hidden_size=64, depth=1, num_heads=2, mlp_hidden=96,
                    num_classes=3, learn_sigma=False, micro_conditioning=True, grid=(4, 6),
                    max_positions=(16, 24), position_sampling="rpe2d")
    m = DiT(cfg)
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(tmp_path / "o.safetensors"),
              metadata=cfg.to_metadata())
    m2, info = load_dit(str(tmp_path / "o.safetensors"))
    assert info["config"] == cfg  # heads (2, not the guess 1) and L come from the metadata
    assert not info["vanilla"] and info["pos_embed_is_sincos"]


@pytest.mark.parametrize("prefix", ["module.", "model.diffusion_model."])
def test_wrapper_prefixes_are_stripped(tmp_path, prefix):
    sd = {prefix + k: v for k, v in official_state_dict().items()}
    save_file(sd, str(tmp_path / "p.safetensors"))
    model, info = load_dit(str(tmp_path / "p.safetensors"))
    assert info["config"].depth == 2


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_low_precision_copy_of_the_sincos_table_is_still_sincos(dtype):
    """A float16 / bfloat16 checkpoint stores the sin-cos rounded to its format: that is not a
    trained table (the bundled float16 DiTs were warned about on every load)."""
    sd = official_state_dict(D=128, grid=8)
    sd["pos_embed"] = sd["pos_embed"].to(dtype)
    err = (sd["pos_embed"].float() - torch.from_numpy(official_pos_embed_np(128, 8)).float()).abs().max()
    assert err > 1e-5                          # the fixed 1e-5 tolerance called this "not sin-cos"
    assert err <= torch.finfo(dtype).eps / 2   # within half a spacing at 1: rounding, nothing else
    assert pos_embed_is_sincos(sd)
    # a trained table in the same dtype still fails
    sd["pos_embed"] = (sd["pos_embed"].float() + 0.02 * torch.randn(sd["pos_embed"].shape)).to(dtype)
    assert not pos_embed_is_sincos(sd)


def test_bundled_float16_dits_load_without_the_sincos_false_alarm():
    from posenc.checkpoint_files import BUNDLED_DIR
    paths = sorted(BUNDLED_DIR.glob("tiny_dit_*.safetensors"))
    assert len(paths) == 4
    for path in paths:
        _, info = load_dit(str(path))
        assert info["metadata"]["posenc.stored_dtype"] == "float16", path.name
        if info["config"].position_encoding == "rope":
            # no table stored, nothing to compare: the loader warns only on False
            assert info["pos_embed_is_sincos"] is None, path.name
        else:
            assert info["pos_embed_is_sincos"] is True, path.name
    assert sorted(p.name for p in paths if "rope" in p.name) == [
        "tiny_dit_rope.safetensors", "tiny_dit_rope_rpe2d.safetensors"]


def _with_config(tmp_path, **changes):
    from posenc.dit import DiTConfig
    cfg = DiTConfig(in_channels=3, patch_size=2, hidden_size=64, depth=1, num_heads=2, mlp_hidden=96,
                    num_classes=3, grid=(4, 4), max_positions=(8, 8))
    import json
    from posenc.dit import DiT
    sd = {k: v.contiguous() for k, v in DiT(cfg).state_dict().items()}
    meta = cfg.to_metadata()
    raw = json.loads(meta["posenc.dit_config"])
    raw.update(changes.pop("fields", {}))
    meta["posenc.dit_config"] = changes.pop("text", json.dumps(raw))
    path = tmp_path / "corrupt_meta.safetensors"
    save_file(sd, str(path), metadata=meta)
    return str(path)


@pytest.mark.parametrize("change, shown", [
    ({"text": "{not json"}, "not JSON"),
    ({"text": "[1, 2]"}, "a JSON list"),
    ({"fields": {"num_heads": 0}}, "num_heads = 0"),           # was ZeroDivisionError
    ({"fields": {"num_heads": 3}}, "hidden_size 64 with num_heads 3"),
    ({"fields": {"grid": ["a", 4]}}, "grid = ['a', 4]"),       # was a bare ValueError from int()
    ({"fields": {"max_positions": [0, 8]}}, "max_positions = [0, 8]"),
    ({"fields": {"learn_sigma": "no"}}, "learn_sigma = 'no'"),
    ({"fields": {"position_sampling": "spiral"}}, "position_sampling = 'spiral'"),
    ({"fields": {"position_encoding": "alibi"}}, "position_encoding = 'alibi'"),
    ({"fields": {"position_encoding": "rope", "rope_theta": "10000"}}, "rope_theta = '10000'"),
    ({"fields": {"rope_theta": 0.5}}, "rope_theta = 0.5"),
    ({"fields": {"rope_theta": True}}, "rope_theta = True"),
    ({"fields": {"position_encoding": "rope", "num_heads": 32}}, "position_encoding 'rope' with head dim 2"),
])
def test_corrupt_metadata_names_the_file(tmp_path, change, shown):
    path = _with_config(tmp_path, **change)
    with pytest.raises(CheckpointError) as e:
        load_dit(path)
    assert path in str(e.value) and "corrupt posenc metadata" in str(e.value) and shown in str(e.value)


def test_names_and_metadata_are_checked_before_any_tensor_is_read(tmp_path, monkeypatch):
    def no_tensors(path):
        raise AssertionError("tensors were read before the header was checked")
    monkeypatch.setattr(ditmod, "read_safetensors", no_tensors)
    save_file({"conv_in.weight": torch.zeros(4, 4, 3, 3)}, str(tmp_path / "unet.safetensors"))
    with pytest.raises(NotADiTError, match="missing x_embedder.proj.weight.*unet.safetensors"):
        load_dit(str(tmp_path / "unet.safetensors"))
    with pytest.raises(CheckpointError, match="corrupt posenc metadata"):
        load_dit(_with_config(tmp_path, fields={"num_heads": 0}))


# Files in the models folder that are not what they say (issue 34's soak): each is named as what it
# is, and a pickle that could run code or fill the memory is refused before torch.load unpickles it.

def _no_unpickling(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("torch.load was called: the file was unpickled before it was checked")
    monkeypatch.setattr(ditmod.torch, "load", refuse)


def test_renamed_formats_are_named(tmp_path):
    sd = official_state_dict()
    save_file(sd, str(tmp_path / "st.ckpt"))
    with pytest.raises(CheckpointError, match=r"st\.ckpt is named \.ckpt but is a safetensors file.*rename it to \.safetensors"):
        load_dit(str(tmp_path / "st.ckpt"))
    torch.save(sd, str(tmp_path / "pickle.safetensors"))
    with pytest.raises(CheckpointError, match=r"pickle\.safetensors is named \.safetensors but is a torch archive"):
        load_dit(str(tmp_path / "pickle.safetensors"))


def test_a_pickle_that_calls_code_is_refused_before_unpickling(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("EVIL_MARKER", str(marker))
    torch.save({"pos_embed": torch.zeros(1), "payload": Evil()}, str(tmp_path / "evil.pt"))
    _no_unpickling(monkeypatch)
    with pytest.raises(CheckpointError, match=r"^refusing to load \S*evil\.pt: it is a pickle that needs arbitrary code "
                                              r"to load \(it calls (posix|nt)\.system"):
        load_dit(str(tmp_path / "evil.pt"))
    assert not marker.exists()


def _rewrite_archive(src, dst, compress=None):
    import zipfile
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, "w") as b:
        for info in a.infolist():
            method = compress if compress and "/data/" in info.filename else zipfile.ZIP_STORED
            b.writestr(info.filename, a.read(info.filename), compress_type=method)


def test_a_compressed_archive_is_refused_before_unpickling(tmp_path, monkeypatch):
    """torch.load inflates compressed entries: a few MB could become many GB (a zip bomb)."""
    import zipfile
    sd = official_state_dict()
    torch.save(sd, str(tmp_path / "plain.pt"))
    _rewrite_archive(tmp_path / "plain.pt", tmp_path / "bomb.pt", zipfile.ZIP_DEFLATED)
    assert torch.equal(torch.load(str(tmp_path / "bomb.pt"), weights_only=True)["pos_embed"], sd["pos_embed"])
    load_dit(str(tmp_path / "plain.pt"))   # the same archive stored, as torch writes it, loads
    _no_unpickling(monkeypatch)
    n = sum("/data/" in e for e in zipfile.ZipFile(tmp_path / "bomb.pt").namelist())
    with pytest.raises(CheckpointError, match=rf"^refusing to load \S*bomb\.pt: {n} of its entries are compressed"):
        load_dit(str(tmp_path / "bomb.pt"))


def test_legacy_pickles_are_refused_before_unpickling(tmp_path, monkeypatch):
    torch.save(official_state_dict(), str(tmp_path / "old.pth"), _use_new_zipfile_serialization=False)
    _no_unpickling(monkeypatch)
    with pytest.raises(CheckpointError, match=r"old\.pth: it is a pickle in torch's legacy format"):
        load_dit(str(tmp_path / "old.pth"))


def test_a_tensor_stretched_over_one_stored_number_is_refused(tmp_path):
    sd = official_state_dict()
    sd["pos_embed"] = torch.zeros(1, 1, 1).expand(1, 16, 96)   # stride 0: 4 bytes stored, 1536 elements
    torch.save(sd, str(tmp_path / "stretched.pt"))
    with pytest.raises(CheckpointError, match=r"stretched\.pt: tensor pos_embed has 1536 elements"):
        load_dit(str(tmp_path / "stretched.pt"))


def test_parameters_load_and_protocol_4_globals_are_read(tmp_path, monkeypatch):
    """torch's parameter rebuilder is safe; STACK_GLOBAL (pickle protocol 4) is resolved, so a
    protocol-4 weights file passes the pre-check and one that calls code does not."""
    from posenc.checkpoint_files import check_torch_archive
    sd = official_state_dict()
    sd = {k: torch.nn.Parameter(v, requires_grad=False) if k.endswith("weight") else v for k, v in sd.items()}
    torch.save(sd, str(tmp_path / "params.pt"))
    model, _ = load_dit(str(tmp_path / "params.pt"))
    assert torch.equal(model.state_dict()["blocks.0.attn.qkv.weight"], sd["blocks.0.attn.qkv.weight"])
    torch.save(sd, str(tmp_path / "p4.pt"), pickle_protocol=4)
    check_torch_archive(tmp_path / "p4.pt")
    monkeypatch.setenv("EVIL_MARKER", str(tmp_path / "pwned"))
    torch.save({"x": Evil()}, str(tmp_path / "evil4.pt"), pickle_protocol=4)
    with pytest.raises(CheckpointError, match=r"calls (posix|nt)\.system"):
        check_torch_archive(tmp_path / "evil4.pt")


def test_a_fifo_or_a_broken_link_is_named_and_never_opened(tmp_path):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)                       # opening it for reading would block forever
    with pytest.raises(CheckpointError, match=r"pipe\.safetensors is a FIFO \(named pipe\), not a file"):
        load_dit(str(fifo))
    (tmp_path / "gone.pt").symlink_to(tmp_path / "nowhere.pt")
    with pytest.raises(CheckpointError, match=r"gone\.pt is a broken symbolic link \(to .*nowhere\.pt\)"):
        load_dit(str(tmp_path / "gone.pt"))
