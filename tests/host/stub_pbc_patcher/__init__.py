"""Test-only stand-in for the PBC Model Patcher's *declaration* (same id and inputs, no behaviour),
installed by test_browser_widget.py next to the pack only when the pack does not define
PBCModelPatcher itself, so the browser test can check the widget on the patcher node.  Never part
of the pack."""


class PBCModelPatcherStub:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL",),
            "boundaries": ("INT", {"default": 31, "min": 1, "max": 256}),
            "jitter": ("INT", {"default": 1, "min": 0, "max": 64}),
            "start_percent": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.01}),
            "end_percent": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01}),
            "base_resolution": ("INT", {"default": 0, "min": 0, "max": 16384, "step": 8}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF}),
        }}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "advanced/model"

    def patch(self, model, **kwargs):
        return (model,)


NODE_CLASS_MAPPINGS = {"PBCModelPatcher": PBCModelPatcherStub}
NODE_DISPLAY_NAME_MAPPINGS = {"PBCModelPatcher": "PBC Model Patcher (test stub)"}
