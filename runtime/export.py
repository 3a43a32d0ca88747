"""Export: ONNX per network (checked, and compared with onnxruntime), safetensors weights,
and standalone PyTorch code that loads them.

We use the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``) on purpose:
the dynamo exporter needs the extra ``onnxscript`` package, is many times slower on the
small models Layerloom makes, and expresses a dynamic batch through ``torch.export``
constraints that our fx graphs gain nothing from; the legacy exporter takes named
``dynamic_axes`` directly.  Parity with onnxruntime is measured either way, so the choice is
checked on every export rather than trusted.

Exports take the raw data the user has: where training standardised an input (the run
folder's ``preprocess.json``, ``runtime.preprocess``), the step is part of the exported graph
and of the generated code's network class; with ``bare=True`` the bare network is exported
and the statistics go into the ONNX metadata (``layerloom.preprocess``) instead.  Each
result's ``preprocess`` says which, in words.
"""

from __future__ import annotations

import io
import json
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from builder.codegen import generate
from builder.compiler import Compiled, compile_network
from builder.document import Project
from runtime.checkpoint import load_weights, save_weights
from runtime.preprocess import (
    METADATA_KEY,
    Preprocess,
    Standardise,
    WithPreprocess,
    describe,
    find_preprocess,
    load_preprocess,
)

__all__ = ["OPSET", "TOLERANCE", "ExportResult", "export_onnx", "parity", "export_project",
           "export_files",
           "example_inputs", "run_preprocess"]

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
    preprocess: str = ""  # what the exported model does to its inputs, in words


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


def _inputs(compiled: Compiled, module: nn.Module, batch: int, seed: int
            ) -> list[torch.Tensor]:
    """Example inputs on the scale ``module`` takes: raw where it standardises them."""
    args = example_inputs(compiled, batch, seed)
    return module.raw(args) if isinstance(module, WithPreprocess) else args


def export_onnx(compiled: Compiled, path: str | Path, opset: int = OPSET,
                module: nn.Module | None = None,
                metadata: dict[str, str] | None = None) -> Path:
    """Write ``compiled``'s module (in eval mode, on CPU) as ONNX with named inputs/outputs
    and a dynamic batch axis; the file is checked with ``onnx.checker``.  ``module``: what to
    export in its place (the network behind its preprocessing); ``metadata``: written into the
    model's ``metadata_props``."""
    import onnx  # here, not at the top: ~1 s that only an export needs

    path = Path(path)
    module = (module if module is not None else compiled.module).eval().cpu()
    args = tuple(_inputs(compiled, module, 2, 0))
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
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def parity(compiled: Compiled, path: str | Path, batch: int = 3, seed: int = 1,
           module: nn.Module | None = None) -> float:
    """Max absolute difference between torch and onnxruntime on random inputs (a batch size
    other than the one exported with, to prove the batch axis is really dynamic).
    ``module``: what was exported in place of ``compiled.module``; it gets raw-scale inputs
    where it standardises them."""
    import onnxruntime as ort  # only an export's parity check needs it

    module = (module if module is not None else compiled.module).eval().cpu()
    args = _inputs(compiled, module, batch, seed)
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


def _metadata(steps: dict[str, Standardise], compiled: Compiled, in_graph: bool) -> str:
    """The ``layerloom.preprocess`` metadata: per input, its field, kind, axis and statistics,
    and whether the graph applies them (``in_graph``) or the caller must."""
    fields = {s.name: s.field for s in compiled.inputs}
    return json.dumps({"in_graph": in_graph, "formula": "(x - mean) / std",
                       "inputs": {name: {"field": fields[name], "kind": s.kind,
                                         "axis": s.axis(), "mean": list(s.mean),
                                         "std": list(s.std)}
                                  for name, s in steps.items()}})


def run_preprocess(weights: str | Path | None) -> tuple[Preprocess | None, str]:
    """The preprocessing recorded for ``weights`` (a run folder, its checkpoint, or a file in
    either) and the run folder it was found in; (None, "") when none was recorded."""
    if weights is None:
        return None, ""
    folder = find_preprocess(weights)
    return (load_preprocess(folder), str(folder)) if folder is not None else (None, "")


def export_files(project: Project, out: str | Path, code: str | Path | None = None,
                 weights_beside: bool = False) -> list[Path]:
    """Every file ``export_project`` writes with these arguments, each once."""
    out = Path(out)
    many = len(project.networks) > 1
    paths = [out.with_name(f"{out.stem}_{name}{out.suffix}") if many else out
             for name in project.networks]
    folders = ([out.parent] if weights_beside else []) + ([Path(code).parent] if code else [])
    paths += [Path(code)] if code else []
    for folder in dict.fromkeys(folders):
        paths += [folder / f"{name}.safetensors" for name in project.networks]
    return paths


def export_project(project: Project, out: str | Path, weights: str | Path | None = None,
                   code: str | Path | None = None, tolerance: float = TOLERANCE,
                   bare: bool = False, preprocess: Preprocess | None = None,
                   weights_beside: bool = False) -> list[ExportResult]:
    """Export every network of ``project``.  ``out`` is the .onnx path for a one-network
    project; with several networks each goes to ``<stem>_<network>.onnx`` beside it.
    ``weights``: a run folder holding ``<network>.safetensors`` (or one weights file for a
    one-network project).  ``code``: also write standalone PyTorch code (+ the weights as
    ``<network>.safetensors`` beside it); ``weights_beside``: the weights beside the ONNX
    file too (one copy where both are in one folder).  ``export_files`` lists the files.

    The preprocessing training applied (``preprocess``, default: the run folder's record) is
    part of the ONNX graph and of the code's network classes, so both take raw data; with
    ``bare`` the networks are exported without it and the ONNX metadata holds the statistics.
    Parity is measured on what is exported."""
    out = Path(out)
    where = str(weights) if weights is not None else ""
    if preprocess is None:
        preprocess, found = run_preprocess(weights)
        where = found or where
    results = []
    code_steps: dict[str, dict[str, tuple]] = {}
    many = len(project.networks) > 1
    for name, net in project.networks.items():
        compiled = compile_network(net)
        if weights is not None:
            w = Path(weights)
            load_weights(compiled.module, w / f"{name}.safetensors" if w.is_dir() else w)
        path = out.with_name(f"{out.stem}_{name}{out.suffix}") if many else out
        steps = preprocess.for_inputs(compiled.inputs) if preprocess is not None else None
        module, metadata = None, {}
        if steps:
            metadata[METADATA_KEY] = _metadata(steps, compiled, in_graph=not bare)
            if not bare:
                module = WithPreprocess(compiled.module, compiled.inputs, preprocess)
                code_steps[name] = {n: (s.kind, s.mean, s.std) for n, s in steps.items()}
        export_onnx(compiled, path, module=module, metadata=metadata)
        diff = parity(compiled, path, module=module)
        said = describe(steps, bare=bare, where=where) if weights is not None or steps \
            else "fresh weights: an untrained network, without preprocessing"
        results.append(ExportResult(name, path, diff, diff <= tolerance,
                                    [s.name for s in compiled.inputs], list(compiled.outputs),
                                    said))
        folders = ([out.parent] if weights_beside else []) + \
            ([Path(code).parent] if code is not None else [])
        for folder in dict.fromkeys(folders):
            save_weights(compiled.module, folder / f"{name}.safetensors")
    if code is not None:
        note = ""
        if bare and preprocess is not None and preprocess.fields:
            note = ("Bare networks: standardise their inputs yourself, (x - mean) / std, with "
                    "the statistics in the run folder's preprocess.json or the ONNX metadata "
                    f"({METADATA_KEY}).")
        elif weights is not None and preprocess is None:
            note = ("No preprocessing was recorded with these weights: the networks take their "
                    "inputs as training saw them (standardised where the dataset's normalize "
                    "was on).")
        title = f"Exported from Layerloom ({out.name})." + \
            (f"\n\n{textwrap.fill(note, 88)}" if note else "")
        Path(code).write_text(generate(project, title=title, preprocess=code_steps),
                              encoding="utf-8")
    return results
