"""Stand-in for comfy_api.latest (ComfyUI 0.3.64): ComfyExtension and `io`, nothing else."""
from abc import ABC, abstractmethod

from . import _io as io


class ComfyExtension(ABC):
    async def on_load(self) -> None:
        """Called once when ComfyUI loads the extension."""

    @abstractmethod
    async def get_node_list(self) -> list:
        """The node classes (io.ComfyNode subclasses) the extension registers."""


__all__ = ["ComfyExtension", "io"]
