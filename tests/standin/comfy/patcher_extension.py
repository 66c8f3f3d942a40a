"""Stand-in for comfy.patcher_extension (ComfyUI 0.3.64): the wrapper type names."""


class WrappersMP:
    OUTER_SAMPLE = "outer_sample"
    APPLY_MODEL = "apply_model"
    DIFFUSION_MODEL = "diffusion_model"
