"""tools/dev.sh, the set-up behind `make demo`, `make test` and CI: a missing prerequisite stops it
with what to install before anything is installed, and a second run reuses the environment
without calling pip.

Each test runs the script with a PATH that holds only a temporary bin/ (a python3 wrapper, or
nothing), so it sees a machine without node, without Python, or with a Debian Python that lacks
ensurepip; the environment is a fake one whose bin/python records pip calls instead of running
them."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASH = shutil.which("bash") or "/bin/bash"


def _wrapper(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def _python3(bin_dir: Path, pythonpath: Path | None = None) -> Path:
    """bin/python3 running this test's interpreter (optionally with a PYTHONPATH in front)."""
    env = f"PYTHONPATH={pythonpath} " if pythonpath else ""
    return _wrapper(bin_dir / "python3", f'{env}exec "{sys.executable}" "$@"')


def _run(root: Path, bin_dir: Path, *args, **env):
    full_env = {"PATH": str(bin_dir), "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run([BASH, str(root / "tools" / "dev.sh"), *args], env=full_env,
                          capture_output=True, text=True, timeout=120)


def test_missing_node_is_named_before_anything_is_installed(tmp_path):
    bin_dir = tmp_path / "bin"
    _python3(bin_dir)
    venv = tmp_path / "venv"
    r = _run(ROOT, bin_dir, "test", VENV=str(venv))
    assert r.returncode == 1
    assert "no 'node' on PATH" in r.stderr and "apt-get install nodejs" in r.stderr
    assert not venv.exists()                     # stopped before creating the environment


def test_missing_python_is_named(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    venv = tmp_path / "venv"
    r = _run(ROOT, bin_dir, "env", VENV=str(venv))
    assert r.returncode == 1
    assert "no 'python3' on PATH" in r.stderr and "PYTHON=" in r.stderr
    assert not venv.exists()


def test_python_without_ensurepip_is_told_to_install_python3_venv(tmp_path):
    # Debian's python3 without python3-venv: `import venv` works, `import ensurepip` does not.
    shadow = tmp_path / "shadow" / "ensurepip"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('ensurepip is not available')\n")
    bin_dir = tmp_path / "bin"
    _python3(bin_dir, pythonpath=shadow.parent)
    venv = tmp_path / "venv"
    r = _run(ROOT, bin_dir, "env", VENV=str(venv))
    assert r.returncode == 1
    assert "cannot create a virtual environment" in r.stderr
    assert "apt-get install python3-venv" in r.stderr
    assert not venv.exists()


def _fake_venv(venv: Path, log: Path, pip_exit: int = 0) -> None:
    """A venv whose python records `-m pip ...` calls in `log` (exit `pip_exit`) and runs
    everything else with this test's interpreter."""
    _wrapper(venv / "bin" / "python",
             f'if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "$*" >> "{log}"; exit {pip_exit}; fi\n'
             f'exec "{sys.executable}" "$@"')


@pytest.fixture
def mini_root(tmp_path):
    """The script and the requirement files it hashes, in a folder of their own."""
    root = tmp_path / "repo"
    (root / "tools").mkdir(parents=True)
    shutil.copy2(ROOT / "tools" / "dev.sh", root / "tools" / "dev.sh")
    for name in ("requirements.txt", "requirements-test.txt"):
        shutil.copy2(ROOT / name, root / name)
    return root


def _pip_calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_second_run_reuses_the_environment_and_calls_no_pip(tmp_path, mini_root):
    bin_dir = tmp_path / "bin"
    _python3(bin_dir)
    venv, log = tmp_path / "venv", tmp_path / "pip.log"
    _fake_venv(venv, log)

    r = _run(mini_root, bin_dir, "env", VENV=str(venv))
    assert r.returncode == 0, r.stderr
    calls = _pip_calls(log)
    assert len(calls) == 1 and calls[0].startswith("-m pip install")
    assert "torch==2.13.0" in calls[0].split()
    assert str(mini_root / "requirements-test.txt") in calls[0].split()

    r = _run(mini_root, bin_dir, "env", VENV=str(venv))
    assert r.returncode == 0, r.stderr
    assert "reusing" in r.stdout and len(_pip_calls(log)) == 1      # no second install

    # A changed requirement file or torch pin installs again, once.
    with open(mini_root / "requirements-test.txt", "a") as f:
        f.write("packaging\n")
    assert _run(mini_root, bin_dir, "env", VENV=str(venv)).returncode == 0
    assert _run(mini_root, bin_dir, "env", VENV=str(venv)).returncode == 0
    assert len(_pip_calls(log)) == 2
    r = _run(mini_root, bin_dir, "env", VENV=str(venv), TORCH="torch==2.12.0")
    assert r.returncode == 0 and len(_pip_calls(log)) == 3
    assert "torch==2.12.0" in _pip_calls(log)[-1].split()


def test_failed_install_is_reported_and_retried(tmp_path, mini_root):
    bin_dir = tmp_path / "bin"
    _python3(bin_dir)
    venv, log = tmp_path / "venv", tmp_path / "pip.log"
    _fake_venv(venv, log, pip_exit=1)
    r = _run(mini_root, bin_dir, "env", VENV=str(venv))
    assert r.returncode == 1 and "pip could not install torch==2.13.0" in r.stderr
    _fake_venv(venv, log, pip_exit=0)
    r = _run(mini_root, bin_dir, "env", VENV=str(venv))     # no stamp was written: pip again
    assert r.returncode == 0 and len(_pip_calls(log)) == 2


def test_a_folder_that_is_not_a_venv_is_not_used(tmp_path, mini_root):
    bin_dir = tmp_path / "bin"
    _python3(bin_dir)
    venv = tmp_path / "venv"
    venv.mkdir()
    r = _run(mini_root, bin_dir, "env", VENV=str(venv))
    assert r.returncode == 1 and "holds no bin/python" in r.stderr


def test_make_and_ci_go_through_the_same_entry():
    ci = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()
          if ln.strip() and not ln.lstrip().startswith("#")]
    assert ci[-1] == "exec bash tools/dev.sh test"
    make = shutil.which("make")
    if make is None:
        pytest.skip("no make on this machine")
    # Run under `make test` this make is nested: drop the parent's flags and directory messages.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    for target in ("demo", "test"):
        r = subprocess.run([make, "--no-print-directory", "-n", target], cwd=ROOT, env=env,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["bash", "tools/dev.sh", target]
