"""Recurrent blocks: RNN, LSTM, GRU, the encoder–decoder bridge, per-step Linear.

Everything is batch-first.  A sequence is one sample's ``[T, features]`` (T usually the symbol
``"T"``).  Recurrent states travel on wires as per-sample ``[num_layers·D, H]`` tensors (D = 2
when bidirectional): the modules turn torch's ``[L·D, B, H]`` into batch-first ``[B, L·D, H]``
on the way out and back on the way in, so an encoder's final state wires straight into a
decoder's initial state.  Attention lives in ``attention.py``.
"""

from __future__ import annotations

from builder.blocks.lazy import lazy
from builder.blocks.spec import BlockSpec, Param, Port, check, make, register
from builder.shapes import fmt_shape

# imported at the first build, so that the catalogue loads without torch
nn = lazy("torch.nn")
modules = lazy("builder.blocks.modules.recurrent")

__all__: list[str] = []


# --- shape helpers ------------------------------------------------------------------------

_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
_GATE_TEXT = {
    "RNN": "h_t = {act}(W_ih·x_t + b_ih + W_hh·h_(t−1) + b_hh)",
    "LSTM": "4 gates (input, forget, cell, output) each W_i·x_t + W_h·h_(t−1) + b; "
            "c_t = f⊙c_(t−1) + i⊙g, h_t = o⊙tanh(c_t)",
    "GRU": "3 gates (reset, update, new); h_t = (1−z)⊙n + z⊙h_(t−1)",
}


def _dim(d) -> int:
    """A size for counting: a symbolic length counts as 1 (FLOPs per step)."""
    return d if isinstance(d, int) else 1


def _sequence(x, block: str):
    check(x is not None and len(x) == 2,
          f"{block} needs a sequence [T, features] per sample; received {fmt_shape(x)}")
    check(isinstance(x[1], int),
          f"{block} needs a known feature size on the last axis; received {fmt_shape(x)}")
    return x


def _rnn_shape(kind: str):
    def rule(p, ins):
        x = _sequence(ins[0], kind)
        d = 2 if p["bidirectional"] else 1
        state = (p["num_layers"] * d, p["hidden"])
        for name, s in zip(("h0", "c0"), ins[1:], strict=False):
            if s is not None:
                check(tuple(s) == state,
                      f"{kind}: the initial state {name} must be [num_layers·directions, "
                      f"hidden] = {fmt_shape(state)}; received {fmt_shape(s)}")
        y = (x[0], d * p["hidden"]) if p["output"] == "sequence" else (d * p["hidden"],)
        return [y, state] + ([state] if kind == "LSTM" else [])
    return rule


def _rnn_build(kind: str):
    def build(p, ins):
        x = _sequence(ins[0], kind)
        cls = {"RNN": modules.RNNLayer, "LSTM": modules.LSTMLayer, "GRU": modules.GRULayer}[kind]
        # torch warns about dropout with a single layer (there is no "between layers" then)
        dropout = p["dropout"] if p["num_layers"] > 1 else 0.0
        given = {"num_layers": p["num_layers"], "nonlinearity": p.get("nonlinearity", "tanh"),
                 "bias": p["bias"], "dropout": dropout, "bidirectional": p["bidirectional"],
                 "output": p["output"], "forget_bias": p.get("forget_bias", 0.0)}
        # only what differs from the module's defaults: short, readable generated code
        kwargs = {k: v for k, v in given.items() if v != _RNN_DEFAULTS[k]}
        return make(cls, x[1], p["hidden"], **kwargs)
    return build


_RNN_DEFAULTS = {"num_layers": 1, "nonlinearity": "tanh", "bias": True, "dropout": 0.0,
                 "bidirectional": False, "output": "sequence", "forget_bias": 0.0}


def _rnn_layer_inputs(p, ins):
    """Input size of each layer: the features, then D·H for the stacked layers."""
    d = 2 if p["bidirectional"] else 1
    return [ins[0][1]] + [d * p["hidden"]] * (p["num_layers"] - 1)


def _rnn_flops(kind: str):
    def flops(p, ins, outs):
        g, h, d = _GATES[kind], p["hidden"], 2 if p["bidirectional"] else 1
        t = _dim(ins[0][0])
        return sum(2 * t * g * h * (n_in + h) * d for n_in in _rnn_layer_inputs(p, ins))
    return flops


def _rnn_explain(kind: str):
    def explain(p, ins, outs):
        g, h, d = _GATES[kind], p["hidden"], 2 if p["bidirectional"] else 1
        b = 2 * g * h if p["bias"] else 0
        sizes = _rnn_layer_inputs(p, ins)
        total = sum((g * h * (n + h) + b) * d for n in sizes)
        gs = f"{g}·" if g > 1 else ""
        bs = f" + {2 * g}·H" if b else ""
        first = f"{gs}{h}·({sizes[0]} + {h})" + (f" + {b}" if b else "")
        text = _GATE_TEXT[kind].format(act=p.get("nonlinearity", "tanh"))
        return (f"{text}\nparams = {gs}H·(in + H){bs} per layer and direction; layer 1: "
                f"{first} = {g * h * (sizes[0] + h) + b:,}; all {p['num_layers']} layer(s) × "
                f"{d} direction(s): {total:,}")
    return explain


def _rnn_params(kind: str):
    params = [
        Param("hidden", "int", 64, help="Size H of the hidden state (and of each output step).",
              min=1, max=65_536),
        Param("num_layers", "int", 1, help="Recurrent layers stacked on each other.", min=1,
              max=16),
        Param("bidirectional", "bool", False,
              help="Also read the sequence backwards; outputs of both directions are joined."),
        Param("dropout", "float", 0.0, help="Dropout between stacked layers (needs 2+ layers).",
              min=0.0, max=0.95),
        Param("output", "choice", "sequence", choices=("sequence", "last"),
              help="Emit every step [T, D·H], or only the last step [D·H] (e.g. to classify)."),
        Param("bias", "bool", True, help="Learn the additive biases b_ih and b_hh."),
    ]
    if kind == "RNN":
        params.insert(1, Param("nonlinearity", "choice", "tanh", choices=("tanh", "relu"),
                               help="Activation applied to the new hidden state."))
    if kind == "LSTM":
        params.append(Param("forget_bias", "float", 0.0, min=-10.0, max=10.0,
                            help="Starting bias of the forget gates (torch: 0, Keras: 1); "
                            "1-3 keeps the memory open from the start, so long dependencies "
                            "can be learned."))
    return tuple(params)


_STATE_HELP = "Initial hidden state [num_layers·D, H]; zeros when unconnected."


def _rnn_spec(kind: str, concept: str) -> BlockSpec:
    ins = [Port("x"), Port("h0", optional=True, help=_STATE_HELP)]
    outs = [Port("y", help="Output sequence [T, D·H], or the last step [D·H]."),
            Port("h", help="Final hidden state of every layer and direction [L·D, H].")]
    if kind == "LSTM":
        ins.append(Port("c0", optional=True, help="Initial cell state [L·D, H]; zeros when "
                                                   "unconnected."))
        outs.append(Port("c", help="Final cell state of every layer and direction [L·D, H]."))
    return BlockSpec(
        kind,
        "Recurrent",
        concept,
        params=_rnn_params(kind),
        inputs=tuple(ins),
        outputs=tuple(outs),
        build=_rnn_build(kind),
        shape=_rnn_shape(kind),
        explain=_rnn_explain(kind),
        flops=_rnn_flops(kind),
        example_inputs=((12, 8),) + (None,) * (len(ins) - 1),
    )


def _repeat_shape(p, ins):
    (x,) = ins
    check(len(x) >= 1, "RepeatVector needs a vector per sample; received a scalar")
    return [(p["n"], *x)]


def _time_linear_shape(p, ins):
    x = _sequence(ins[0], "TimeDistributed Linear")
    return [(x[0], p["units"])]


register(
    _rnn_spec(
        "RNN",
        "A simple (Elman) recurrent layer: it reads a sequence one step at a time and keeps a "
        "hidden state that mixes the new input with its memory of the past. Long sequences "
        "make its gradients vanish or explode, which LSTM and GRU were designed to fix.",
    ),
    _rnn_spec(
        "LSTM",
        "A Long Short-Term Memory layer: besides the hidden state it carries a cell state that "
        "gates (forget, input, output) update additively, so information and gradients can "
        "survive over many steps.",
    ),
    _rnn_spec(
        "GRU",
        "A Gated Recurrent Unit: a lighter cousin of the LSTM with two gates (reset, update) "
        "and no separate cell state, often as good with fewer weights.",
    ),
    BlockSpec(
        "RepeatVector",
        "Recurrent",
        "Copies one vector to every one of n time steps: the bridge of a simple encoder–decoder, "
        "where the encoder's summary vector is fed to the decoder at each step.",
        params=(Param("n", "int", 10, help="Number of time steps to produce.", min=1,
                      max=100_000),),
        build=lambda p, ins: make(modules.RepeatVector, p["n"]),
        shape=_repeat_shape,
        explain=lambda p, ins, outs: f"{fmt_shape(ins[0])} → {fmt_shape(outs[0])}: the same "
                                     f"vector at each of {p['n']} steps",
        example_inputs=((16,),),
        has_weights=False,
    ),
    BlockSpec(
        "TimeDistributedLinear",
        "Recurrent",
        "The same Linear layer applied independently at every time step (shared weights), e.g. "
        "to turn each output of an RNN into class scores or a prediction per step.",
        params=(
            Param("units", "int", 32, help="Outputs per time step.", min=1, max=1_000_000),
            Param("bias", "bool", True, help="Learn an additive bias b."),
        ),
        build=lambda p, ins: make(nn.Linear, _sequence(ins[0], "TimeDistributed Linear")[1],
                                  p["units"], bias=p["bias"]),
        shape=_time_linear_shape,
        explain=lambda p, ins, outs: (
            f"y_t = W·x_t + b at each of the {ins[0][0]} steps, W of size "
            f"{p['units']}×{ins[0][1]}\nparams = {ins[0][1]}·{p['units']} + "
            f"{p['units'] if p['bias'] else 0} = "
            f"{ins[0][1] * p['units'] + (p['units'] if p['bias'] else 0):,}"),
        flops=lambda p, ins, outs: 2 * _dim(ins[0][0]) * ins[0][1] * p["units"],
        title="TimeDistributed Linear",
        example_inputs=((12, 16),),
    ),
)
