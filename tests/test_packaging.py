"""Packaging for the Comfy Registry: pyproject.toml has what `comfy node publish` needs, the
version is the CHANGELOG's newest, and .comfyignore keeps tests and tools out of the archive."""
from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python >= 3.11")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_project_fields(pyproject):
    p = pyproject["project"]
    # Registry node id: alphanumerics, - _ . ; no leading digit or special character; < 100 chars
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]*([-_.][A-Za-z0-9]+)*", p["name"]) and len(p["name"]) < 100
    assert re.fullmatch(r"\d+\.\d+\.\d+", p["version"])
    assert p["description"].strip()
    assert p["license"] == {"file": "LICENSE"} and (ROOT / "LICENSE").is_file()
    assert p["dependencies"] == []        # ComfyUI brings torch, numpy, safetensors, Pillow
    assert p["urls"]["Repository"].startswith("https://")


def test_tool_comfy_fields(pyproject):
    from PIL import Image
    c = pyproject["tool"]["comfy"]
    assert c["PublisherId"] and c["DisplayName"]
    assert re.fullmatch(r">=\d+\.\d+\.\d+", c["requires-comfyui"])
    assert c["Icon"].startswith("https://") and c["Icon"].endswith("/docs/icon.png")
    with Image.open(ROOT / "docs" / "icon.png") as icon:   # the file the URL points to
        assert icon.format == "PNG" and icon.size[0] == icon.size[1] <= 400


# What the Registry reads (ComfyUI's comfy_config/types.py URLs and config_parser.py, as of 0.3.64;
# comfy-cli's registry/config_parser.py reads the same four URL keys).
REGISTRY_URL_KEYS = {"Homepage", "Documentation", "Repository", "Issues"}
REGISTRY_OS_PREFIXES = ("Microsoft", "POSIX", "MacOS", "OS Independent")
REGISTRY_ACCELERATORS = {"GPU :: NVIDIA CUDA", "GPU :: AMD ROCm", "GPU :: Intel Arc",
                         "NPU :: Huawei Ascend", "GPU :: Apple Metal"}


def test_urls_use_the_keys_the_registry_reads(pyproject):
    urls = pyproject["project"]["urls"]
    assert set(urls) <= REGISTRY_URL_KEYS, f"the Registry ignores {set(urls) - REGISTRY_URL_KEYS}"
    assert urls["Issues"].startswith("https://") and urls["Issues"].endswith("/issues")


def test_classifiers_are_ones_the_registry_keeps(pyproject):
    """The Registry drops every OS classifier if one is unknown, and every accelerator likewise."""
    cls = pyproject["project"]["classifiers"]
    os_values = [c[len("Operating System :: "):] for c in cls if c.startswith("Operating System :: ")]
    env_values = [c[len("Environment :: "):] for c in cls if c.startswith("Environment ::")]
    assert os_values and all(v.startswith(REGISTRY_OS_PREFIXES) for v in os_values)
    assert env_values and all(v in REGISTRY_ACCELERATORS for v in env_values)


def test_placeholders_are_marked_and_the_publishing_page_says_so(pyproject):
    """PublisherId and the repository address are not ours to choose: they stay marked
    PLACEHOLDER in pyproject.toml and the publishing page (docs/publishing.md) names each one."""
    text = (ROOT / "pyproject.toml").read_text()
    section = (ROOT / "docs" / "publishing.md").read_text()
    assert section.startswith("# Publishing to the Comfy Registry")
    for key in ("PublisherId", "Repository", "Issues", "Documentation", "Icon"):
        line = next(ln for ln in text.splitlines() if ln.startswith(key + " ="))
        before = text[:text.index(line)].rsplit("\n\n", 1)[-1]   # the comment block above it
        assert "PLACEHOLDER" in before, key
        assert f"`{key}`" in section, key
    assert f"`{pyproject['tool']['comfy']['PublisherId']}`" in section
    assert pyproject["project"]["urls"]["Repository"] in section


def test_version_is_the_newest_changelog_entry(pyproject):
    text = (ROOT / "CHANGELOG.md").read_text()
    versions = re.findall(r"^## (\d+\.\d+\.\d+)", text, re.M)
    assert versions and versions[0] == pyproject["project"]["version"]


def _patterns():
    lines = (ROOT / ".comfyignore").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def ignored(path: str, patterns) -> bool:
    """gitignore matching for the pattern forms .comfyignore uses: `dir/`, `dir/*.ext`, `*.ext`."""
    parts = path.split("/")
    for pat in patterns:
        if pat.endswith("/"):
            name = pat.rstrip("/")
            if "/" in name:
                if path.startswith(name + "/"):
                    return True
            elif name in parts[:-1]:
                return True
        elif "/" in pat:
            if fnmatch.fnmatch(path, pat.lstrip("/")):
                return True
        elif fnmatch.fnmatch(parts[-1], pat):
            return True
    return False


def _tracked():
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
        files = [f for f in out.stdout.split("\0") if f]      # names may hold spaces (the workflows')
    except (OSError, subprocess.CalledProcessError):
        files = []
    if not files:   # not a git checkout: walk the tree
        files = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                 if p.is_file() and ".git" not in p.parts and ".venv" not in p.parts]
    return files


def test_comfyignore_keeps_tests_and_tools_out():
    patterns = _patterns()
    files = _tracked()
    assert any(f.startswith("tests/") for f in files)
    for f in files:
        if f.startswith(("tests/", "tools/", "posenc_lab/", ".ci/", "js/tests/")):
            assert ignored(f, patterns), f"{f} would be published"
    for f in ("__init__.py", "nodes/pbc_patcher.py", "nodes/redilation_patcher.py", "posenc/pbc.py",
              "js/boundary_grid.js", "models/reference_unet.safetensors", "README.md", "LICENSE",
              "pyproject.toml", "requirements.txt",
              "example_workflows/01 CPU, reference UNet at 4x, direct vs PBC vs redilation.json"):
        assert not ignored(f, patterns), f"{f} would be left out"
    assert all(not ignored(f, patterns) for f in files if f.startswith(("nodes/", "posenc/", "example_workflows/")))


def test_ignore_matcher_can_say_no():
    assert ignored("tests/host/x.py", ["tests/"]) and not ignored("nodes/tests.py", ["tests/"])
    assert ignored("docs/a.png", ["docs/*.png"]) and not ignored("docs/a.md", ["docs/*.png"])
    assert ignored("a/b/c.ckpt", ["*.ckpt"]) and ignored("js/tests/a.mjs", ["js/tests/"])
    assert not ignored("js/boundaries.js", ["js/tests/"])


LAB_CONCERNS = ("train", "bench", "probe", "demo", "scene", "metric", "sampling", "diffusion", "workflow")


def test_runtime_folders_hold_no_lab_module():
    runtime = [p.name for d in ("posenc", "nodes") for p in (ROOT / d).glob("*.py")]
    assert runtime and "pbc.py" in runtime
    offenders = [n for n in runtime if any(c in n for c in LAB_CONCERNS) and n != "sampling_window.py"]
    assert offenders == []
    assert any(any(c in p.name for c in LAB_CONCERNS) for p in (ROOT / "posenc_lab").glob("*.py"))


def test_the_published_archive_loads_without_the_lab(tmp_path):
    """Copy what `comfy node publish` would ship (tracked files minus .comfyignore) and import it as
    ComfyUI imports a custom node folder, in a fresh interpreter: it must work without posenc_lab/
    and tests/, and import no lab module (the stand-in `comfy` stands for the host)."""
    import shutil
    import sys
    patterns = _patterns()
    shipped = tmp_path / "pack"
    for f in _tracked():
        if not ignored(f, patterns):
            (shipped / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, shipped / f)
    assert not (shipped / "posenc_lab").exists() and not (shipped / "tests").exists()
    code = (
        "import importlib.util, json, sys\n"
        f"sys.path.insert(0, {str(ROOT / 'tests' / 'standin')!r})\n"
        f"spec = importlib.util.spec_from_file_location('shipped_pack', {str(shipped / '__init__.py')!r},"
        f" submodule_search_locations=[{str(shipped)!r}])\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['shipped_pack'] = m\n"
        "spec.loader.exec_module(m)\n"
        "print(json.dumps(sorted(n for n in sys.modules if n.startswith(('shipped_pack', 'posenc')))))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    import json
    loaded = json.loads(r.stdout.strip().splitlines()[-1])
    assert "shipped_pack.nodes.pbc_patcher" in loaded and "shipped_pack.posenc.pbc" in loaded
    lab = [n for n in loaded if n.startswith("posenc_lab") or any(c in n.rsplit(".", 1)[-1] for c in LAB_CONCERNS)
           and not n.endswith("sampling_window")]
    assert lab == []
