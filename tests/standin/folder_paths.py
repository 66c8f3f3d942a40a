"""Stand-in for ComfyUI's folder_paths (used only when COMFYUI_PATH is unset): the functions
the DiT loader calls, for a ComfyUI with no model files."""


def get_filename_list(folder_name: str) -> list:
    return []


def get_full_path(folder_name: str, filename: str):
    return None


def get_folder_paths(folder_name: str) -> list:
    return []
