"""ComfyUI entry point of the position-encoding node pack (PBC for U-Nets, RPE-2D for DiTs).

Relative imports only: ComfyUI has top-level modules called `nodes` and `utils`.
"""
from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = "./js"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
