"""Hypothesis-made project files, sound and corrupted, through every command a user runs:
inspect, codegen, train one step, export.  Never a traceback, an exit code the README
promises, and the input file never changed.

CI runs a few hundred examples; the nightly size is ``LAYERLOOM_FUZZ=10000 pytest
tests/builder/test_fuzz_cli.py --timeout 0`` (the suite's per-test timeout would end it).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_random_graphs import networks

from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)
from builder.serialize import to_dict
from runtime.cli import main

EXAMPLES = int(os.environ.get("LAYERLOOM_FUZZ", "0")) or None
EXITS = {0, 1, 2}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                  max_size=3),
    max_leaves=6)


def _project(net) -> dict:
    p = Project({net.name: net}, DatasetConfig("blobs", {"n_samples": 64}),
                RecipeConfig("classification", {"model": net.name}),
                TrainingSettings(epochs=1, batch_size=16,
                                 optimizers={"*": OptimizerConfig("adam", 0.01)}))
    return to_dict(p)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


@st.composite
def classifiers(draw) -> Network:
    """A network that fits the data (2 features, 3 classes), so that sound files train."""
    net = Network("main")
    chain = [net.add("Input", id="x", shape=[2])]
    for i in range(draw(st.integers(0, 3))):
        chain.append(net.add("Linear", id=f"h{i}", units=draw(st.sampled_from([4, 16]))))
        chain.append(net.add(draw(st.sampled_from(["ReLU", "Tanh", "GELU", "BatchNorm",
                                                   "Dropout"])), id=f"a{i}"))
    chain += [net.add("Linear", id="logits", units=3), net.add("Output", id="y")]
    net.chain(*chain)
    return net


@st.composite
def documents(draw) -> str:
    """A project file's text: sound, or damaged in one of the ways files get damaged."""
    doc = _project(draw(st.one_of(networks(), classifiers(), classifiers())))
    how = draw(st.sampled_from(["sound"] * 5 + ["replace", "delete", "add", "truncate",
                                                 "bytes"]))
    if how in ("replace", "delete", "add"):
        path = draw(st.sampled_from([p for p in _paths(doc) if p]))
        *parent_path, key = path
        parent = doc
        for k in parent_path:
            parent = parent[k]
        if how == "replace":
            parent[key] = draw(json_values)
        elif how == "delete":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=6))] = draw(json_values)
        else:
            parent.append(draw(json_values))
    text = json.dumps(doc, indent=1)
    if how == "truncate":
        text = text[: draw(st.integers(0, len(text) - 1))]
    elif how == "bytes":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["\x00", "}", "{", '"', "NaN", ",", "\ufeff"])) \
            + text[at:]
    return text


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


def _check(text: str, commands) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        file = tmp / "p.loom"
        file.write_text(text, encoding="utf-8")
        before = file.read_bytes()
        for argv in commands(file, tmp):
            code, err = _run(argv)
            event(f"{argv[0]} exit {code}")
            assert code in EXITS, (argv[0], code, err)
            assert "Traceback" not in err, (argv[0], err)
            assert file.read_bytes() == before, argv[0]


@settings(max_examples=EXAMPLES or 300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(documents())
def test_inspect_and_codegen_never_crash_nor_touch_the_file(text):
    _check(text, lambda f, tmp: [["inspect", str(f)], ["inspect", str(f), "--json"],
                                 ["codegen", str(f), "-o", str(tmp / "model.py")]])


@settings(max_examples=EXAMPLES or 40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(documents())
def test_train_one_step_and_export_never_crash_nor_touch_the_file(text):
    _check(text, lambda f, tmp: [
        ["train", str(f), "--max-steps", "1", "--device", "cpu", "--out", str(tmp / "run")],
        ["export", str(f), "--weights", str(tmp / "run"), "--onnx", str(tmp / "m.onnx")],
    ])
