"""Combo inputs checked by the node itself.

ComfyUI 0.3.64 validates a V1 node's combo (a list as its type) but passes a V3 node's combo
(type "COMBO", the choices in "options") to the node unchecked: an API prompt could give the
Reference Model Loader "../x" or "/abs/x", or the DiT loader a position mode it does not offer.
0.33 checks them; every node of the pack checks its own, so both behave the same."""
from __future__ import annotations


def check_choice(node: str, name: str, value, options) -> None:
    """A ValueError naming the node, the input and the choices unless `value` is one of `options`."""
    options = list(options)
    if value in options:
        return
    shown = ", ".join(map(str, options[:12])) + (f", ... ({len(options)} in all)" if len(options) > 12 else "")
    raise ValueError(f"{node}: {name} {value!r} is not one of its choices ({shown or 'none available'})")
