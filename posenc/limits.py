"""The limits of the nodes' inputs, one set shared by every node (js/boundaries.js repeats the
ones the widget needs, held to these by tests/fixtures/boundary_geometry.json)."""

MAX_BOUNDARIES = 256           # N of PBC (the paper uses 31)
MAX_JITTER = 64                # r of PBC, in latent cells
MAX_SIZE = 16384               # pixels; ComfyUI's MAX_RESOLUTION
MAX_LEVELS = 8                 # U-Net levels the visualizer draws
MAX_SEED = 0xFFFFFFFFFFFFFFFF  # 64-bit seeds, as ComfyUI's samplers

# Memory (docs/reliability.md).  The valued-padding plan of one conv geometry on one feature map
# holds a dense float64 table of kh*kw multipliers per output position (72 bytes for a 3x3 conv)
# while it is built; above this it is refused with the map size instead of running the machine
# out of memory.  1 GiB is a 3861x3861 map (3x3, stride 1): SD/SDXL at 16384 px have 2048x2048.
MAX_PLAN_TABLE_BYTES = 1 << 30
