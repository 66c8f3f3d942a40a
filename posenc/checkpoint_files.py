"""Where the pack's bundled weights live, and the one reader of safetensors files.

Every checkpoint the runtime opens (reference U-Nets, DiTs) goes through ``read_header`` (tensor
names and metadata, no tensor data), ``read_shapes`` (names, shapes and metadata, no tensor data)
or ``read_safetensors`` (tensors and metadata); all raise a ``CheckpointError`` that names the
file for anything unreadable.  None of them opens what is not a regular file (a FIFO would block
the server forever; a broken symbolic link is named as one).

Torch pickles (the DiT loader's .pt/.pth/.ckpt/.bin) are checked by ``check_torch_archive`` before
anything is unpickled: a zip archive as torch writes it (entries stored, not compressed: no zip
bomb), whose pickle calls only what a weights file needs (no code).  ``file_format`` tells a
safetensors file from a torch archive by its first bytes, so a renamed file is named as such.
"""
from __future__ import annotations

import os
import pickletools
import stat
import zipfile
from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "models"
BUNDLED_UNET = BUNDLED_DIR / "reference_unet.safetensors"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read safely (missing, truncated, corrupt, unsafe pickle)."""


def not_a_regular_file(path) -> str | None:
    """What `path` is when it exists but is not a regular file ("a FIFO (named pipe)", "a broken
    symbolic link to ..."), else None (a regular file, a link to one, or nothing there)."""
    path = os.fspath(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return f"a broken symbolic link (to {os.readlink(path)})"
        return None
    except OSError as e:
        return f"unreadable ({e.strerror})"
    if stat.S_ISREG(mode):
        return None
    for test, what in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what
    return "not a regular file"


def _check_file(path) -> str:
    path = os.fspath(path)
    odd = not_a_regular_file(path)
    if odd:
        raise CheckpointError(f"checkpoint {path} is {odd}, not a file")
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


SAFETENSORS = "a safetensors file"
TORCH_ARCHIVE = "a torch archive (zip pickle)"
LEGACY_PICKLE = "a pickle (legacy torch format)"


def file_format(path) -> str | None:
    """SAFETENSORS, TORCH_ARCHIVE or LEGACY_PICKLE from the first bytes of a regular file, or None
    (none of them, or too short to tell)."""
    path = _check_file(path)
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:4] == b"PK\x03\x04":
        return TORCH_ARCHIVE
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") <= os.path.getsize(path) - 8:
        return SAFETENSORS      # an 8-byte header length, then the JSON header
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return LEGACY_PICKLE   # a pickle protocol mark: torch.save(_use_new_zipfile_serialization=False)
    return None


# What the pickle of a weights file may call (module, name): torch's tensor and storage rebuilders,
# dtypes, the containers a state dict or a training checkpoint uses, and argparse.Namespace
# (facebookresearch/DiT's training checkpoints store their arguments).  Anything else is code.
MAX_PICKLE_BYTES = 64 << 20
_SAFE_GLOBALS = {("collections", "OrderedDict"), ("argparse", "Namespace"), ("torch", "Size"),
                 ("torch", "device"), ("builtins", "set"), ("builtins", "frozenset")}


def _safe_global(module: str, name: str) -> bool:
    if (module, name) in _SAFE_GLOBALS:
        return True
    if module in ("torch._utils", "torch._tensor"):
        return name.startswith("_rebuild_")
    if module == "torch":
        return name.endswith("Storage") or name in _TORCH_DTYPES
    return False


_TORCH_DTYPES = {"float16", "float32", "float64", "bfloat16", "half", "float", "double", "int8", "uint8",
                 "int16", "int32", "int64", "long", "int", "bool", "complex64", "complex128",
                 "float8_e4m3fn", "float8_e5m2"}


def _pickle_globals(data: bytes):
    """(module, name) of every GLOBAL / STACK_GLOBAL of a pickle, read without unpickling it
    (pickletools); STACK_GLOBAL's two strings are the strings pushed or recalled from the memo just
    before it, or (None, None) when that cannot be told."""
    string_ops = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING",
                  "BINSTRING", "STRING"}
    memo_size, strings, recent = 0, {}, []
    for op, arg, _ in pickletools.genops(data):
        name = op.name
        if name == "GLOBAL":
            module, _, attr = arg.partition(" ")
            yield module, attr
            recent = []
        elif name == "STACK_GLOBAL":
            yield (recent[-2], recent[-1]) if len(recent) >= 2 else (None, None)
            recent = []
        elif name in string_ops:
            recent.append(str(arg))
        elif name in ("MEMOIZE", "BINPUT", "LONG_BINPUT", "PUT"):
            index = memo_size if name == "MEMOIZE" else int(arg)
            memo_size = max(memo_size, index + 1)
            if recent:            # the memo entry is the string just pushed
                strings[index] = recent[-1]
            else:
                strings.pop(index, None)
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            recent = recent + [strings[int(arg)]] if int(arg) in strings else []
        else:
            recent = []


def check_torch_archive(path) -> None:
    """Refuse, before anything is unpickled, a torch checkpoint that could run code or inflate
    far beyond its size: it must be a zip archive whose entries are stored uncompressed (as
    torch.save writes them) and whose pickle calls only the torch rebuilders and containers of
    a weights file.  (Storage sizes are held to the stored records by torch.load itself; tensors
    that reuse one stored element many times are refused after loading: ``check_tensors``.)"""
    path = _check_file(path)
    size = os.path.getsize(path)
    kind = file_format(path)
    if kind == LEGACY_PICKLE:
        raise CheckpointError(f"refusing to load {path}: it is a pickle in torch's legacy format (before "
                              f"torch 1.6), whose storage sizes cannot be checked before it is unpickled; "
                              f"re-save it with a current torch.save, or convert it to .safetensors")
    if kind != TORCH_ARCHIVE:
        raise CheckpointError(f"checkpoint is truncated or corrupt ({size} bytes): {path}: "
                              f"{'it is ' + kind if kind else 'not a torch archive (zip) or safetensors file'}")
    try:
        with zipfile.ZipFile(path) as z:
            entries = z.infolist()
            packed = [e for e in entries if e.compress_type != zipfile.ZIP_STORED or e.file_size != e.compress_size]
            if packed:
                raise CheckpointError(
                    f"refusing to load {path}: {len(packed)} of its entries are compressed ({packed[0].filename} "
                    f"...: {sum(e.compress_size for e in packed)} bytes that inflate to "
                    f"{sum(e.file_size for e in packed)}); torch.save never compresses, so this is not a "
                    f"checkpoint as torch writes it (a zip bomb fills the memory)")
            if sum(e.file_size for e in entries) > size:
                raise CheckpointError(f"checkpoint is truncated or corrupt: {path}: its entries add up "
                                      f"to more than the file's {size} bytes")
            pickles = [e for e in entries if e.filename.endswith("data.pkl")]
            if len(pickles) != 1:
                raise CheckpointError(f"checkpoint is truncated or corrupt: {path}: a torch archive has "
                                      f"one data.pkl, this one has {len(pickles)}")
            if pickles[0].file_size > MAX_PICKLE_BYTES:
                raise CheckpointError(f"refusing to load {path}: its pickle is {pickles[0].file_size} bytes, "
                                      f"far more than a state dict needs ({MAX_PICKLE_BYTES} at most)")
            data = z.read(pickles[0])
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise CheckpointError(f"checkpoint is truncated or corrupt ({size} bytes): {path}: {e}") from e
    try:
        calls = list(_pickle_globals(data))
    except (ValueError, EOFError) as e:  # pickletools: a broken opcode stream
        raise CheckpointError(f"checkpoint is truncated or corrupt: {path}: its pickle is broken ({e})") from e
    for module, name in calls:
        if module is None or not _safe_global(module, name):
            what = f"{module}.{name}" if module else "a global it builds at run time"
            raise CheckpointError(
                f"refusing to load {path}: it is a pickle that needs arbitrary code to load (it "
                f"calls {what}, which a weights file does not need). Convert it to .safetensors "
                f"from a trusted source.")


def check_tensors(tensors: dict, path) -> None:
    """Refuse loaded tensors that use more elements than their storage holds (a stride-0 view of
    one stored number stretched to billions: a memory bomb the first time it is copied)."""
    for name, t in tensors.items():
        have = t.untyped_storage().nbytes()
        need = t.numel() * t.element_size()
        if need > have:
            raise CheckpointError(
                f"refusing to load {path}: tensor {name} has {t.numel()} elements {tuple(t.shape)} "
                f"but stores only {have} bytes (repeated elements); a checkpoint stores every element")
