"""ComfyUI adapters.  The only package that imports comfy.* and comfy_api; no math lives here."""
from .boundary_visualizer import BoundaryVisualizer
from .dit_position_mode import DiTPositionMode
from .pbc_patcher import PBCModelPatcher
from .redilation_patcher import RedilationPatcher
from .reference_models import ReferenceClassLabel, ReferenceModelLoader
from .rpe2d_loader import DiTClassLabel, RPE2DDiTLoader

# The pack's nodes (V3 schema: node id, display name and inputs in each define_schema()).
NODES = [PBCModelPatcher, RedilationPatcher, RPE2DDiTLoader, DiTPositionMode, DiTClassLabel, BoundaryVisualizer,
         ReferenceModelLoader, ReferenceClassLabel]
