"""``layerloom import``: an ONNX file or a PyTorch class as an editable Layerloom project.

Every operator or module is mapped to a block or named in the error: nothing is dropped
silently, and nothing is written unless all of it maps and the result compiles.  The source
weights go beside the project (``OUT.safetensors``) as the network's start-from weights, so
training and export begin from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runtime.importer.graph import Unmapped, Unreadable, attr_state, write_project

__all__ = ["Unmapped", "Unreadable", "Imported", "import_model", "build_network"]


@dataclass(frozen=True)
class Imported:
    project: Path
    weights: Path
    nodes: int
    tensors: int


def build_network(source: str, weights: str | None = None,
                  input_shapes: list | None = None):
    """The GraphBuilder for ``source`` (``MODEL.onnx`` or ``model.py:Class``); Unmapped
    lists every operator or module without a block, Unreadable a source that cannot be read."""
    if source.lower().endswith(".onnx"):
        from runtime.importer.onnx_graph import import_onnx

        if weights:
            raise Unreadable("--weights is for a PyTorch class; an ONNX file holds its own")
        builder = import_onnx(Path(source))
    else:
        import torch

        from runtime.importer.fx_graph import import_module, load_class

        model = load_class(source)
        if weights:
            from runtime.init_weights import InitError, read_weights

            try:
                state, _ = read_weights(weights, "main")
                model.load_state_dict(state)
            except (InitError, RuntimeError) as e:
                raise Unreadable(f"--weights {weights} do not fit {source}: {e}") from None
        with torch.no_grad():
            builder = import_module(model, source, input_shapes)
    if builder.unmapped:
        raise Unmapped(source, builder.unmapped)
    return builder


def import_model(source: str, out: str | Path, weights: str | None = None,
                 input_shapes: list | None = None) -> Imported:
    """Import ``source`` and write ``out`` (.loom) with its weights beside it.  The network
    is compiled and its weights checked against the blocks before anything is written."""
    from builder.compiler import compile_network

    builder = build_network(source, weights, input_shapes)
    compiled = compile_network(builder.net)  # CompileError: the mapped graph is inconsistent
    state, own = attr_state(builder), compiled.module.state_dict()
    misfits = [f"weights without a block: {k}" for k in state if k not in own] + \
        [f"a block without source weights: {k}" for k in own if k not in state] + \
        [f"{k}: shape {list(state[k].shape)} in the source, {list(v.shape)} in the block"
         for k, v in own.items() if k in state and state[k].shape != v.shape]
    if misfits:  # a mapping bug, never a silent partial import
        raise Unmapped(source, misfits)
    out = Path(out)
    written = write_project(builder, out, f"Imported from {Path(source.split(':')[0]).name}.")
    return Imported(out, written, len(builder.net.nodes), len(builder.weights))
