"""Store a safetensors checkpoint's float tensors as float16, keeping its metadata.

Used for the bundled tiny DiTs (models/tiny_dits.md) so that all bundled weights stay under
10 MB:  python tools/to_fp16.py IN.safetensors OUT.safetensors
"""
import sys

from safetensors import safe_open
from safetensors.torch import save_file


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    src, dst = argv
    with safe_open(src, framework="pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    out = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    worst = max(((v.float() - out[k].float()).abs().max().item() for k, v in tensors.items()
                 if v.is_floating_point()), default=0.0)
    save_file(out, dst, metadata=dict(meta, **{"posenc.stored_dtype": "float16"}))
    print(f"wrote {dst}: {len(out)} tensors, largest rounding error {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
