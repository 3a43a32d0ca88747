"""SIGKILL at the worst moments: while a checkpoint is written (inside its files, and between
its two renames) and while a project is saved.  What was there before stays intact, loads,
and a killed run resumes to the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rt_helpers import project

from builder.serialize import load, save
from runtime.checkpoint import read_meta
from runtime.cli import main

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

ROOT = Path(__file__).resolve().parents[2]

# Runs in a child process: pause forever at ``point`` of the third checkpoint (the first two
# are the start and epoch 1), after announcing it in ``marker``; the parent then kills it.
_TRAIN = r'''
import os, sys, time, types
sys.path.insert(0, {root!r})
import runtime.checkpoint as ck
from runtime.cli import main

point, marker = {point!r}, {marker!r}
calls = {{"n": 0}}

def pause():
    open(marker, "w").close()
    time.sleep(600)

real_save, real_replace = ck.save_weights, os.replace

def save_weights(module, path):
    if ".tmp" in str(path):
        calls["n"] += 1
        if point == "inside" and calls["n"] == 3:
            with open(path, "wb") as f:
                f.write(b"half a file")
            pause()
    return real_save(module, path)

def replace(a, b):
    if point == "between" and calls["n"] == 3 and str(b).endswith(".prev"):
        real_replace(a, b)
        pause()
    return real_replace(a, b)

ck.save_weights = save_weights
ck.os = types.SimpleNamespace(**{{k: getattr(os, k) for k in dir(os) if not k.startswith("__")}})
ck.os.replace = replace
sys.exit(main(["train", {loom!r}, "--out", {run!r}, "--device", "cpu", "--epochs", "4"]))
'''

_SAVE = r'''
import os, sys, time
sys.path.insert(0, {root!r})
import builder.serialize as ser
from builder.serialize import load

marker = {marker!r}
real = os.replace

def replace(a, b):
    if str(b) == {loom!r}:
        open(marker, "w").close()
        time.sleep(600)
    return real(a, b)

ser.os.replace = replace
project = load({loom!r})
project.description = "changed"
ser.save(project, {loom!r})
'''


@pytest.fixture
def moons_file(tmp_path) -> Path:
    return save(project(epochs=4), tmp_path / "moons.loom")


def _kill_at(script: str, marker: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the child never reached the kill point"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
        assert child.returncode == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stderr.close()


@pytest.mark.parametrize("point", ["inside", "between"])
def test_a_run_killed_while_checkpointing_keeps_its_last_checkpoint(moons_file, tmp_path,
                                                                      point):
    run, marker = tmp_path / "run", tmp_path / "reached"
    _kill_at(_TRAIN.format(root=str(ROOT), point=point, marker=str(marker),
                           loom=str(moons_file), run=str(run)), marker)
    meta = read_meta(run / "checkpoint")  # the epoch-1 checkpoint, complete
    assert meta["epoch"] == 1 and meta["reason"] == "epoch"
    assert main(["train", str(moons_file), "--out", str(run), "--device", "cpu",
                 "--epochs", "4", "--resume"]) == 0
    assert read_meta(run / "checkpoint")["epoch"] == 4


def test_a_save_killed_before_its_rename_leaves_the_project_intact(moons_file, tmp_path):
    before = moons_file.read_bytes()
    marker = tmp_path / "reached"
    _kill_at(_SAVE.format(root=str(ROOT), marker=str(marker), loom=str(moons_file)), marker)
    assert moons_file.read_bytes() == before
    assert load(moons_file).description != "changed"


def test_saving_keeps_the_previous_file_as_a_backup(moons_file):
    before = moons_file.read_bytes()
    project = load(moons_file)
    project.description = "second"
    save(project, moons_file)
    assert Path(str(moons_file) + ".bak").read_bytes() == before
    assert load(moons_file).description == "second"
