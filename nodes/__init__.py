"""ComfyUI adapters.  The only package that imports comfy.*; no math lives here."""
from . import boundary_visualizer, pbc_patcher, redilation_patcher, reference_models, rpe2d_loader

NODE_CLASS_MAPPINGS = {}
NODE_DISPLAY_NAME_MAPPINGS = {}
for _module in (pbc_patcher, redilation_patcher, rpe2d_loader, boundary_visualizer, reference_models):
    NODE_CLASS_MAPPINGS.update(_module.NODE_CLASS_MAPPINGS)
    NODE_DISPLAY_NAME_MAPPINGS.update(_module.NODE_DISPLAY_NAME_MAPPINGS)
