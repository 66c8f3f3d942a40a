"""The limits of the nodes' inputs, one set shared by every node (js/boundaries.js repeats the
ones the widget needs, held to these by tests/fixtures/boundary_geometry.json)."""

MAX_BOUNDARIES = 256           # N of PBC (the paper uses 31)
MAX_JITTER = 64                # r of PBC, in latent cells
MAX_SIZE = 16384               # pixels; ComfyUI's MAX_RESOLUTION
MAX_LEVELS = 8                 # U-Net levels the visualizer draws
MAX_SEED = 0xFFFFFFFFFFFFFFFF  # 64-bit seeds, as ComfyUI's samplers
