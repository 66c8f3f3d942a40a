"""Stand-in for the few comfy modules the nodes import, used only when ComfyUI is not available
(COMFYUI_PATH unset).  Mirrors ComfyUI 0.3.64's names and call conventions."""
