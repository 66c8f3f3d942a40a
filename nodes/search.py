"""Node schemas with search aliases: the words users type into the node search.

The frontend's node search (ComfyUI_frontend 1.27, with ComfyUI 0.3.64) indexes only each node's
id and display name, so the display names carry the words people search for ("hires", "high
res", "upscale", "ScaleCrafter", "DiT"). Newer ComfyUI adds ``search_aliases`` to the V3 schema
and to /object_info (ComfyUI PR #12010, January 2026), and newer frontends index it (ComfyUI_frontend
PR #8223); ``schema`` passes each node's ``SEARCH_ALIASES`` there when this ComfyUI's Schema has
the field and leaves it out otherwise (0.3.64's Schema would refuse it).
"""
from __future__ import annotations

import dataclasses

from comfy_api.latest import io


def schema(*, search_aliases, **kwargs) -> io.Schema:
    """``io.Schema(**kwargs)``, plus ``search_aliases`` where the installed Schema knows them."""
    if "search_aliases" in {f.name for f in dataclasses.fields(io.Schema)}:
        kwargs["search_aliases"] = list(search_aliases)
    return io.Schema(**kwargs)
