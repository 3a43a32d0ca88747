"""ONNX recurrent layers (LSTM, GRU, RNN as torch exports them: between batch ↔ time
Transposes, zero initial states) → Layerloom's recurrent blocks, gates reordered."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from runtime.importer.onnx_graph import Val, _Miss, op

__all__ = []


_GATES = {"LSTM": (4, [0, 2, 3, 1]), "GRU": (3, [1, 0, 2]), "RNN": (1, [0])}  # onnx → torch


def _rnn_weights(op: str, W, R, B, directions: int) -> dict:
    """ONNX's stacked gates (LSTM i,o,f,c; GRU z,r,h) in torch's order (i,f,g,o; r,z,n)."""
    gates, order = _GATES[op]

    def reorder(a):
        return np.concatenate([np.split(a, gates, axis=0)[i] for i in order], axis=0)

    out = {}
    for d in range(directions):
        sfx = "_l0" + ("_reverse" if d else "")
        out["weight_ih" + sfx] = reorder(W[d])
        out["weight_hh" + sfx] = reorder(R[d])
        if B is not None:
            wb, rb = np.split(B[d], 2)
            out["bias_ih" + sfx], out["bias_hh" + sfx] = reorder(wb), reorder(rb)
    return out


def _last_step(im, v: Val, name: str) -> bool:
    """``y[:, -1]`` of a recurrent block read nowhere else: the block's output="last"."""
    rnn = im.b.net.nodes[v.node]
    if rnn.block not in ("LSTM", "GRU", "RNN") or v.port != "y" or im.uses.get(name) != 1 or \
            any(e.src == v.node and e.src_port == "y" for e in im.b.net.edges):
        return False
    rnn.params["output"] = "last"
    return True


@op("LSTM", "GRU", "RNN")
def _rnn(im, node, a):
    x = im.val(node.input[0])
    W, R = im.const(node.input[1]), im.const(node.input[2])
    B = im.const(node.input[3]) if len(node.input) > 3 and node.input[3] else None
    if x.layout != "tm" or W is None or R is None:
        raise _Miss("only a recurrent layer fed time-major with constant weights maps")
    extra = [i for i in node.input[4:] if i and im.vals.get(i) != "zeros"]
    if extra:
        raise _Miss(f"sequence lengths or initial states ({', '.join(extra)}) have no block")
    direction = a.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    if direction != "forward":
        raise _Miss(f"direction {direction!r} (only forward maps)")
    params = {"hidden": int(a["hidden_size"]), "bias": B is not None}
    if node.op_type == "GRU" and not a.get("linear_before_reset", 0):
        raise _Miss("a GRU without linear_before_reset differs from torch's")
    if node.op_type == "RNN":
        acts = [s.decode() if isinstance(s, bytes) else s
                for s in a.get("activations", ["Tanh"])]
        params["nonlinearity"] = acts[0].lower()
    elif node.op_type == "LSTM" and a.get("input_forget", 0):
        raise _Miss("coupled input-forget gates have no block")
    weights = _rnn_weights(node.op_type, W, R, B, 1)
    node_id = im.put(node, node.op_type, [replace(x, layout="")], weights, **params)
    ports = ["y", "h", "c"] if node.op_type == "LSTM" else ["y", "h"]
    for out, port in zip(node.output, ports):
        if out:
            im.vals[out] = Val(node_id, port, "tm4" if port == "y" else "tm")
