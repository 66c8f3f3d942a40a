"""Where the pack's bundled weights live, and the one reader of safetensors files.

Every checkpoint the runtime opens (reference U-Nets, DiTs) goes through ``read_header`` (tensor
names and metadata, no tensor data), ``read_shapes`` (names, shapes and metadata, no tensor data)
or ``read_safetensors`` (tensors and metadata); all raise a ``CheckpointError`` that names the
file for anything unreadable.
"""
from __future__ import annotations

import os
from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "models"
BUNDLED_UNET = BUNDLED_DIR / "reference_unet.safetensors"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read safely (missing, truncated, corrupt, unsafe pickle)."""


def _check_file(path) -> str:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"checkpoint is empty (0 bytes): {path}")
    return path


def read_header(path) -> tuple[list[str], dict]:
    """(tensor names, metadata as stored: str -> str) of a .safetensors file."""
    from safetensors import safe_open

    path = _check_file(path)
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            return list(f.keys()), dict(f.metadata() or {})
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise CheckpointError(f"{path} is not a readable safetensors file ({e})") from e


def read_shapes(path) -> tuple[dict, dict]:
    """({name: meta tensor of the stored shape}, metadata) of a .safetensors file: enough to check
    names, shapes and metadata before any tensor data is read (the meta tensors hold no memory;
    their dtype is not the stored one)."""
    import torch
    from safetensors import safe_open

    path = _check_file(path)
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            shapes = {k: torch.empty(f.get_slice(k).get_shape(), device="meta") for k in f.keys()}
            return shapes, dict(f.metadata() or {})
    except Exception as e:
        raise CheckpointError(f"safetensors file is truncated or corrupt "
                              f"({os.path.getsize(path)} bytes): {path}: {e}") from e


def read_safetensors(path) -> tuple[dict, dict]:
    """(state dict, metadata) of a .safetensors file, on the CPU."""
    from safetensors import safe_open

    path = _check_file(path)
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            return {k: f.get_tensor(k) for k in f.keys()}, metadata
    except Exception as e:
        raise CheckpointError(f"safetensors file is truncated or corrupt "
                              f"({os.path.getsize(path)} bytes): {path}: {e}") from e


def is_bundled(path) -> bool:
    """True if path lies in the pack's models/ folder."""
    try:
        Path(path).resolve().relative_to(BUNDLED_DIR.resolve())
        return True
    except ValueError:
        return False
