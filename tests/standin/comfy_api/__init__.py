"""Stand-in for ComfyUI's comfy_api package (see latest/_io.py)."""
