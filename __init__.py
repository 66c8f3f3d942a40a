"""ComfyUI entry point of the position-encoding node pack (PBC for U-Nets, RPE-2D for DiTs).

The nodes use ComfyUI's V3 schema and register through `comfy_entrypoint`, as ComfyUI's own
comfy_extras do; there is deliberately no NODE_CLASS_MAPPINGS (ComfyUI would take its V1 path).
Relative imports only: ComfyUI has top-level modules called `nodes` and `utils`.
"""
from comfy_api.latest import ComfyExtension

from .nodes import NODES

WEB_DIRECTORY = "./js"


class PosencExtension(ComfyExtension):
    async def get_node_list(self):
        return list(NODES)


async def comfy_entrypoint() -> PosencExtension:
    return PosencExtension()


__all__ = ["comfy_entrypoint", "WEB_DIRECTORY"]
