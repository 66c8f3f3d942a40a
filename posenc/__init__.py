"""posenc: position-encoding methods for resolution generalisation of diffusion models.

Pure PyTorch; never imports ComfyUI.  PBC (Zhou et al., arXiv 2503.09830) lives in
boundaries.py (geometry), valued_padding.py (the convolution) and pbc.py (the per-step runtime).
"""
