"""A fast start: what each command imports, and what loading an .npz copies.

The import checks run the real CLI in a fresh interpreter and look at ``sys.modules`` after
it: honest facts about the code, not wall-clock timings (those are in
``tests/bench/bench_startup.py``).
"""

import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MLP = ROOT / "resources" / "templates" / "mlp.loom"
HEAVY = ("torch", "onnx", "onnxruntime", "scipy", "sklearn", "matplotlib", "PIL", "pyqtgraph",
         "PySide6", "safetensors", "networkx", "jsonschema", "sympy")

# Runs `layerloom ARGS` through the real entry point (app.cli.main, what the script calls),
# then prints which heavy packages were imported.
RUN = """
import contextlib, io, sys
from app.cli import main
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out):
        code = main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print(code, ' '.join(m for m in {heavy!r} if m in sys.modules))
print(out.getvalue(), file=sys.stderr)
"""


def imported(*args: str) -> tuple[int, set[str], str]:
    """(exit code, heavy packages imported, stdout) of ``layerloom ARGS``."""
    r = subprocess.run([sys.executable, "-c", RUN.format(heavy=HEAVY), *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    code, _, names = r.stdout.strip().partition(" ")
    return int(code), set(names.split()), r.stderr


def test_help_imports_nothing_heavy():
    code, heavy, out = imported("--help")
    assert code == 0 and "inspect" in out and "gallery" in out
    assert heavy == set(), f"--help imported {sorted(heavy)}"


def test_gallery_list_imports_nothing_heavy_and_lists_every_template():
    code, heavy, out = imported("gallery", "list")
    assert code == 0
    assert heavy == set(), f"gallery list imported {sorted(heavy)}"
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert names == sorted(p.stem for p in (ROOT / "resources" / "templates").glob("*.loom"))


def test_gallery_summaries_agree_with_the_full_templates():
    from builder.gallery import summaries, templates

    light = [(t.name, t.title, t.summary) for t in summaries()]
    assert light == [(t.name, t.title, t.summary) for t in templates()]


def test_subcommand_help_and_misuse_import_nothing_heavy():
    for args in (("train", "--help"), ("export", "--help"), ("blocks", "--help")):
        code, heavy, _ = imported(*args)
        assert code == 0 and heavy == set(), (args, sorted(heavy))


def test_the_block_reference_imports_nothing_heavy():
    # Specs name torch through lazy stand-ins (builder/blocks/lazy.py) and keep their modules
    # in builder/blocks/modules/: listing, describing or dumping blocks reads the specs only.
    for args, shown in ((("blocks",), "Conv2d"),
                        (("blocks", "Conv2d"), "example with the default params: [3, 16, 16] "
                                               "→ [16, 14, 14]"),
                        (("blocks", "--json"), '"type": "MultiHeadAttention"')):
        code, heavy, out = imported(*args)
        assert code == 0 and shown in out, (args, out[:200])
        assert heavy == set(), f"{' '.join(args)} imported {sorted(heavy)}"


def test_every_shape_rule_and_formula_runs_without_torch():
    """What the editor and the reference ask of a block before it is built (ports, shape,
    formula, FLOPs, window, inline function, a composite's sub-network) must not need torch;
    building does."""
    code = """if True:
        import sys
        from builder import blocks
        for spec in blocks.REGISTRY.values():
            p, ins = spec.defaults(), list(spec.example_inputs)
            spec.input_ports(p), spec.output_ports(p)
            if spec.rf:
                spec.rf(p)
            if spec.inline:
                spec.inline(p)
            if spec.expand:
                spec.expand(p, ins)
            if spec.shape:
                outs = spec.shape(p, ins)
                if spec.explain:
                    spec.explain(p, ins, outs)
                if spec.flops:
                    spec.flops(p, ins, outs)
            assert "torch" not in sys.modules, spec.type
        spec = blocks.get("RBM")
        made = spec.build(spec.defaults(), [(20,)])
        from builder.blocks.modules.rbm import RBM
        assert "torch" in sys.modules and made.cls is RBM and isinstance(made(), RBM)
        """
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr


def test_inspect_never_imports_onnx():
    code, heavy, out = imported("inspect", str(MLP))
    assert code == 0 and "valid" in out
    assert not heavy & {"onnx", "onnxruntime", "scipy", "sklearn", "matplotlib", "PIL",
                        "pyqtgraph", "PySide6"}, sorted(heavy)


def test_train_path_modules_import_neither_onnx_nor_scipy():
    # runtime.export is imported by the train/sample paths: onnx (~1 s) only on export;
    # runtime.quality by GAN recipes at setup: scipy only at the first measurement.
    code = ("import sys, runtime.commands, runtime.export, runtime.quality; "
            "sys.exit(1 if {'onnx', 'onnxruntime', 'scipy'} & set(sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=120).returncode == 0


def test_preflight_makes_its_small_glyph_set_once(tmp_path, monkeypatch):
    """inspect and train check a 64-sample instance of a generated dataset; it is kept in a
    folder of its own, so the glyph fonts are rendered once, not at every start."""
    from builder.serialize import load
    from runtime.data import glyphs
    from runtime.preflight import ERROR, preflight

    monkeypatch.setenv("LAYERLOOM_DATA", str(tmp_path))
    project = load(ROOT / "resources" / "templates" / "lenet.loom")
    assert not [c for c in preflight(project) if c.severity == ERROR]
    kept = list((tmp_path / "preflight").rglob("glyph_digits-*.npz"))
    assert len(kept) == 1 and not list(tmp_path.glob("generated/*"))  # not the user's caches
    glyphs.glyph_templates.cache_clear()
    monkeypatch.setattr(glyphs, "_render", lambda *a: pytest.fail("rendered the fonts again"))
    assert not [c for c in preflight(project) if c.severity == ERROR]
    glyphs.glyph_templates.cache_clear()  # the stub must not leak into other tests


def test_the_8x8_digits_load_without_scikit_learn_and_match_it():
    code = ("import sys; from runtime.data.digits import digits8; x, y = digits8(); "
            "sys.exit(1 if 'sklearn' in sys.modules or x.shape != (1797, 1, 8, 8) else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=120).returncode == 0
    from sklearn.datasets import load_digits

    from runtime.data.digits import digits8

    x, y = digits8()
    bunch = load_digits()
    assert np.array_equal(x, (bunch.images / 16.0).astype(np.float32)[:, None])
    assert np.array_equal(y, bunch.target) and y.dtype == np.int64


# --- .npz loading copies only what it must ---------------------------------------------------


def test_float32_inputs_and_targets_are_used_without_a_copy():
    from runtime.data.npzfile import inputs_of, targets_of

    x = np.random.default_rng(0).random((100, 3, 8, 8), dtype=np.float32)
    t, info = inputs_of(x, "auto")
    assert info.kind == "image" and np.shares_memory(t.numpy(), x)
    y = np.linspace(0, 1, 100, dtype=np.float32)
    ty, _, task, _ = targets_of(y, "regression", 100)
    assert task == "regression" and np.shares_memory(ty.numpy(), y)
    labels = np.arange(100, dtype=np.int64) % 3
    assert np.shares_memory(targets_of(labels, "auto", 100)[0].numpy(), labels)


def test_uint8_images_are_converted_once_and_scaled():
    from runtime.data.npzfile import inputs_of

    x = np.full((4, 8, 8), 255, np.uint8)
    t, info = inputs_of(x, "auto")
    assert info.kind == "image" and t.dtype.is_floating_point and tuple(t.shape) == (4, 1, 8, 8)
    assert float(t.max()) == 1.0 and not np.shares_memory(t.numpy(), x)
    assert x.max() == 255  # the caller's array is untouched


def test_a_float32_npz_is_read_once_and_not_copied_again(tmp_path):
    """numpy reports its buffers to tracemalloc: reading an 8 MB float32 archive may hold the
    array once (np.load) plus read buffers; a float conversion or a division by 1 would add
    a whole second (and third) copy on top."""
    from runtime.data import load

    x = np.random.default_rng(0).random((32768, 64), dtype=np.float32)
    path = tmp_path / "big.npz"
    np.savez(path, x=x)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        splits = load("npz", {"path": str(path), "y_key": "", "normalize": False})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(splits.train) + len(splits.val) == len(x)
    assert peak < 1.5 * x.nbytes, f"peak {peak / x.nbytes:.2f}× the array while loading"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
