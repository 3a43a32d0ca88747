"""Set up Layerloom in ./.venv and run it or its tests — needs nothing but Python 3.10+.

    python3 packaging/dev.py app    # set up, then open the editor on the default example
    python3 packaging/dev.py test   # set up, then run the whole test suite

PyTorch is installed first, in the build that fits the machine, so that resolving Layerloom's
own ``torch>=…`` range never pulls a multi-GB CUDA build onto a machine without a GPU:
  1. a torch wheel that pip's own configuration already offers offline (find-links: CI caches,
     mirrors) is used as is;
  2. otherwise, with an NVIDIA GPU (``nvidia-smi`` answers), or on macOS / Windows, the default
     PyPI build (CUDA on Linux, MPS on Apple silicon);
  3. otherwise (Linux without a GPU) the CPU build from PyTorch's CPU index.
Set LAYERLOOM_TORCH to a pip requirement (e.g. "torch==2.5.1") or "skip" to decide yourself.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("LAYERLOOM_VENV", ROOT / ".venv"))
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _pip(*args: str, check: bool = True) -> bool:
    cmd = [str(_python()), "-m", "pip", "install", "--disable-pip-version-check", *args]
    print("+", " ".join(cmd[3:]), flush=True)
    return subprocess.run(cmd, check=check).returncode == 0


def _has(module: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([str(_python()), "-c", probe]).returncode == 0


def _install_torch() -> None:
    choice = os.environ.get("LAYERLOOM_TORCH", "")
    if choice == "skip" or (_has("torch") and not choice):
        return
    if choice:
        _pip(choice)
        return
    if _pip("--no-index", "--no-deps", "torch", check=False):
        _pip("torch")  # its own dependencies, from the usual indexes
        return
    gpu = shutil.which("nvidia-smi") is not None
    if gpu or platform.system() != "Linux":
        _pip("torch")
    else:
        _pip("torch", "--index-url", CPU_INDEX, "--extra-index-url", "https://pypi.org/simple")


def setup(extras: str) -> None:
    if not _python().exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    _install_torch()
    stamp = VENV / f".layerloom-{extras or 'app'}"
    pyproject = ROOT / "pyproject.toml"
    if not stamp.exists() or stamp.stat().st_mtime < pyproject.stat().st_mtime:
        _pip("-e", f"{ROOT}[{extras}]" if extras else str(ROOT))
        stamp.touch()


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "app"
    if what not in {"app", "test"}:
        print(__doc__)
        return 2
    setup("test" if what == "test" else "")
    python = str(_python())
    if what == "app":
        return subprocess.call([python, "-m", "app", *argv[1:]], cwd=ROOT)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.call([python, "-m", "pytest", *argv[1:]], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
