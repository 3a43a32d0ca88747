"""Export: ONNX per network (checked, and compared with onnxruntime), safetensors weights,
and standalone PyTorch code that loads them.

We use the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``) on purpose:
the dynamo exporter needs the extra ``onnxscript`` package, is many times slower on the
small models Layerloom makes, and expresses a dynamic batch through ``torch.export``
constraints that our fx graphs gain nothing from; the legacy exporter takes named
``dynamic_axes`` directly.  Parity with onnxruntime is measured either way, so the choice is
checked on every export rather than trusted.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from builder.codegen import generate
from builder.compiler import Compiled, compile_network
from builder.document import Project
from runtime.checkpoint import load_weights, save_weights

__all__ = ["OPSET", "TOLERANCE", "ExportResult", "export_onnx", "parity", "export_project",
           "example_inputs"]

# Opset 18: recent enough for every block we have (LayerNorm, GELU, attention ops), and
# old enough that onnxruntime >= 1.14, TensorRT 8.6 and OpenVINO 2023 all run it.
OPSET = 18
TOLERANCE = 1e-4  # max |torch − onnxruntime| accepted, on outputs of order 1
SYMBOL_SIZE = 5  # the length given to a symbolic axis (T) in example inputs


@dataclass(frozen=True)
class ExportResult:
    network: str
    path: Path
    max_abs_diff: float
    ok: bool
    inputs: list[str]
    outputs: list[str]


def example_inputs(compiled: Compiled, batch: int, seed: int = 0) -> list[torch.Tensor]:
    """Random inputs for every placeholder: normal floats, or ids in range for index inputs."""
    gen = torch.Generator().manual_seed(seed)
    vocab = min((m.num_embeddings for m in compiled.module.modules()
                 if isinstance(m, nn.Embedding)), default=2)
    out = []
    for spec in compiled.inputs:
        shape = (batch, *(d if isinstance(d, int) else SYMBOL_SIZE for d in spec.shape))
        if spec.kind == "index":
            high = int(spec.params.get("num_classes", vocab)) if spec.block == "LabelInput" \
                else vocab
            out.append(torch.randint(0, high, shape, generator=gen))
        else:
            out.append(torch.randn(shape, generator=gen))
    return out


def _dynamic_axes(compiled: Compiled) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {}
    for spec in compiled.inputs:
        axes[spec.name] = {0: "batch"}
        for i, d in enumerate(spec.shape):
            if not isinstance(d, int):
                axes[spec.name][i + 1] = str(d)
    for name in compiled.outputs:
        axes[name] = {0: "batch"}
    return axes


def export_onnx(compiled: Compiled, path: str | Path, opset: int = OPSET) -> Path:
    """Write ``compiled``'s module (in eval mode, on CPU) as ONNX with named inputs/outputs
    and a dynamic batch axis; the file is checked with ``onnx.checker``."""
    path = Path(path)
    module = compiled.module.eval().cpu()
    args = tuple(example_inputs(compiled, batch=2))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The legacy exporter announces its deprecation on every call; chosen knowingly above.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="torch.onnx")
        # Tracing warns about Python-level checks inside torch.nn.functional (empty-input
        # guards); they do not depend on the batch, and the parity run below proves it.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(module, args, buffer, dynamo=False, opset_version=opset,
                          input_names=[s.name for s in compiled.inputs],
                          output_names=list(compiled.outputs),
                          dynamic_axes=_dynamic_axes(compiled), do_constant_folding=True)
    model = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


def parity(compiled: Compiled, path: str | Path, batch: int = 3, seed: int = 1) -> float:
    """Max absolute difference between torch and onnxruntime on random inputs (a batch size
    other than the one exported with, to prove the batch axis is really dynamic)."""
    module = compiled.module.eval().cpu()
    args = example_inputs(compiled, batch, seed)
    with torch.no_grad():
        expected = module(*args)
    expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feeds = {s.name: a.numpy() for s, a in zip(compiled.inputs, args)}
    got = session.run(list(compiled.outputs), feeds)
    diff = 0.0
    for e, g in zip(expected, got):
        e = e.float().numpy()
        if e.shape != g.shape:
            return float("inf")
        if e.size:
            diff = max(diff, float(np.max(np.abs(e - g.astype(np.float32)))))
    return diff


def export_project(project: Project, out: str | Path, weights: str | Path | None = None,
                   code: str | Path | None = None,
                   tolerance: float = TOLERANCE) -> list[ExportResult]:
    """Export every network of ``project``.  ``out`` is the .onnx path for a one-network
    project; with several networks each goes to ``<stem>_<network>.onnx`` beside it.
    ``weights``: a run folder holding ``<network>.safetensors`` (or one weights file for a
    one-network project).  ``code``: also write standalone PyTorch code (+ the weights as
    safetensors beside it)."""
    out = Path(out)
    results = []
    many = len(project.networks) > 1
    for name, net in project.networks.items():
        compiled = compile_network(net)
        if weights is not None:
            w = Path(weights)
            load_weights(compiled.module, w / f"{name}.safetensors" if w.is_dir() else w)
        path = out.with_name(f"{out.stem}_{name}{out.suffix}") if many else out
        export_onnx(compiled, path)
        diff = parity(compiled, path)
        results.append(ExportResult(name, path, diff, diff <= tolerance,
                                    [s.name for s in compiled.inputs], list(compiled.outputs)))
        if code is not None:
            save_weights(compiled.module, Path(code).with_name(f"{name}.safetensors"))
    if code is not None:
        Path(code).write_text(generate(project, title=f"Exported from Layerloom ({out.name})."),
                              encoding="utf-8")
    return results
