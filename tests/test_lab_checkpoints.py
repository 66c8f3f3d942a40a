"""The in-training tiny DiTs kept under posenc_lab/checkpoints/: they load, carry the settings their
card states, and are the float16 weights the next continuation starts from.

The card (posenc_lab/checkpoints/README.md) gives each pair's steps and settings; these tests read
the files' own metadata and hold it to the card's numbers, so a file swapped without updating the
card (or the reverse) fails here."""
import json
import re
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from posenc_lab.rpe2d_bench import DEFAULT_MODE, MODELS, load_tiny_dits, sample_dit
from posenc_lab.train_dit import steps_trained

ROOT = Path(__file__).resolve().parents[1] / "posenc_lab" / "checkpoints"
#: Each pair's folder -> (position encoding, (fixed-position model, RPE-2D model)), by the names
#: `bench-rpe2d --weights-dir` loads (posenc_lab.rpe2d_bench.MODELS).
PAIRS = {"sincos_patch2": ("sincos", ("vanilla", "rpe2d")),
         "rope_patch2": ("rope", ("rope", "rope_rpe2d"))}
STORED = sorted(name for name in PAIRS if (ROOT / name).is_dir())


def _files(pair):
    return {key: ROOT / pair / MODELS[key] for key in PAIRS[pair][1]}


def _metadata(path):
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}
    return meta, dtypes


def _card_sections() -> dict:
    """The card's sections, one per stored pair: {folder: text under its "## `folder/`" heading}."""
    text = (ROOT / "README.md").read_text()
    parts = re.split(r"^## `([\w.-]+)/`", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def _card_steps(pair) -> int:
    """The total steps the card says `pair` has had."""
    m = re.search(r"Steps so far: \*\*(\d+)\*\*", _card_sections()[pair])
    assert m, f"the card's section on {pair}/ must say 'Steps so far: **N**'"
    return int(m.group(1))


def test_every_stored_pair_has_a_card_section_and_every_section_a_pair():
    assert "sincos_patch2" in STORED
    folders = {p.name for p in ROOT.iterdir() if p.is_dir()}
    assert folders <= set(PAIRS), f"unknown folders {folders - set(PAIRS)}: add them to PAIRS"
    assert set(_card_sections()) == folders


@pytest.mark.parametrize("pair", STORED)
def test_the_pair_has_the_settings_its_card_states(pair):
    encoding, (fixed, rpe2d) = PAIRS[pair]
    files = _files(pair)
    steps = _card_steps(pair)
    for key, path in files.items():
        meta, dtypes = _metadata(path)
        assert dtypes == {torch.float16}, (key, dtypes)
        # The last chunk's own step count plus the chunks it was initialised from.
        assert steps_trained(meta) == steps, (key, steps_trained(meta), steps)
        assert meta["posenc.train_grid"] == "16x16"
        assert meta["posenc.position_encoding"] == encoding
    v, _ = _metadata(files[fixed])
    r, _ = _metadata(files[rpe2d])
    assert v["posenc.position_sampling"] == "fixed" and v["posenc.max_positions"] == "16x16"
    assert r["posenc.position_sampling"] == "rpe2d" and r["posenc.max_positions"] == "64x64"
    # Same budget for both: every setting but the position ones is the same.
    tv, tr = json.loads(v["posenc.train"]), json.loads(r["posenc.train"])
    differ = {k for k in tv.keys() | tr.keys() if tv.get(k) != tr.get(k)}
    assert differ <= {"position_sampling", "max_positions", "micro_conditioning", "crop_prob",
                      "init", "seconds", "final_loss", "mean_loss_last_50"}, differ


@pytest.mark.parametrize("pair", STORED)
def test_the_pair_samples_a_scene_at_its_training_size(pair):
    fixed, rpe2d = PAIRS[pair][1]
    models = load_tiny_dits(ROOT / pair, (fixed, rpe2d))
    assert models[fixed].config.patch_size == models[rpe2d].config.patch_size == 2
    labels = torch.tensor([0, 1, 2, 3])
    for key in (fixed, rpe2d):
        x = sample_dit(models[key], DEFAULT_MODE[key], labels, 32, 32, [5000, 5001, 5002, 5003], 10)
        assert x.shape == (4, 3, 32, 32) and torch.isfinite(x).all()
        # Trained weights draw a sky brighter at the top than the ground at the bottom for the
        # day class; noise from untrained weights has no such order.
        assert x[0, :, :8].mean() > x[0, :, -8:].mean(), key


@pytest.mark.parametrize("pair", STORED)
def test_the_files_are_small_enough_to_keep_in_the_repository(pair):
    for path in _files(pair).values():
        assert path.stat().st_size < 2 * 2 ** 20, path
