"""Gallery templates of the sequence and structure family (see build_templates.py): the
shapes of recurrent networks (one-to-many, many-to-one, tagging, bidirectional, stacked), the
RNN/LSTM/GRU comparison on a long memory, and time-series forecasting.

Every one trains offline in CPU minutes on generated data (runtime/data/rnn_tasks.py and the
``timeseries`` windows of runtime/data/sequences.py).
"""

from __future__ import annotations

from template_parts import _project, _seq

from builder.document import DatasetConfig, Network, Project, RecipeConfig

__all__ = ["BUILDERS"]


def _tokens_in(length: int | str = "T") -> tuple:
    """Token ids; a symbolic length ("T") where the network takes any length (and so does
    its ONNX export)."""
    return ("Input", "x", {"shape": [length], "kind": "tokens"})


def _embed(vocab: int, dim: int = 16) -> tuple:
    return ("Embedding", "embed", {"vocab": vocab, "dim": dim})


def _recurrent(cell: str, hidden: int = 64, **params) -> tuple:
    return (cell, cell.lower(), {"hidden": hidden, **params})


# --- the shapes of recurrent networks -----------------------------------------------------


def rnn_one_to_many() -> Project:
    net = Network("main")
    _seq(net, _tokens_in(2), _embed(11), ("Flatten", "vector", {}),
         ("RepeatVector", "repeat", {"n": 8}), _recurrent("GRU"),
         ("Linear", "logits", {"units": 11}), ("Output", "y", {}))
    return _project(
        "One-to-many: spell a progression from one vector\n"
        "A first digit and a step (3, 4) become one vector; RepeatVector hands it to the GRU "
        "at each of 8 steps and the GRU spells 3 7 1 5 9 3 7 1 (adding the step mod 10), one "
        "digit per step. Another classic way in: the vector as the GRU's initial state h0. "
        "Watch the text samples: input → output (target).",
        net, DatasetConfig("progression", {"n_samples": 4000, "length": 8}), epochs=15,
        batch=64, lr=0.005)


def rnn_many_to_one() -> Project:
    net = Network("main")
    _seq(net, _tokens_in(), _embed(5), _recurrent("LSTM", output="last"),
         ("Linear", "logits", {"units": 4}), ("Output", "y", {}))
    return _project(
        "Many-to-one: which symbol occurs most?\n"
        "An LSTM reads the whole sequence and only its last step (output 'last') is "
        "classified: the four symbols are the classes. Short sequences are padded at the "
        "front, so that last step is always a real symbol. Watch the text samples and the "
        "confusion matrix.",
        net, DatasetConfig("majority", {"n_samples": 6000, "length": 16, "min_length": 8,
                                        "symbols": 4}),
        epochs=8, batch=64, lr=0.005)


def _tagger(name: str, length: int, symbols: int, layers: int = 1, bidirectional=False,
            cell: str = "GRU") -> Network:
    net = Network(name)
    params = {"num_layers": layers, "bidirectional": bidirectional}
    if layers > 1:
        params["dropout"] = 0.1
    _seq(net, _tokens_in(), _embed(symbols + 3), _recurrent(cell, **params),
         ("Linear", "logits", {"units": 3}), ("Output", "y", {}))
    return net


def _tagging(rule: str, length: int = 12) -> DatasetConfig:
    return DatasetConfig("tagging", {"n_samples": 6000, "length": length, "min_length": 4,
                                     "symbols": 10, "rule": rule})


def rnn_tagging() -> Project:
    return _project(
        "Many-to-many: tag each digit 'seen before?'\n"
        "One tag per time step (+ the digit occurred earlier, - it is new), aligned with the "
        "input: the GRU's output at each step only needs what came before. Three outputs per "
        "step (<pad>, -, +); the padding of short sequences counts for nothing.",
        _tagger("main", 12, 10), _tagging("seen_before"), epochs=15, batch=64, lr=0.005)


def rnn_bidirectional() -> Project:
    return _project(
        "Bidirectional tagging: is each digit larger than the NEXT one?\n"
        "The tag needs the future, so a one-way GRU can only guess from the digit itself "
        "(about 75% right); bidirectional=true adds a GRU reading backwards and each step "
        "sees both sides (near 100%). Untick bidirectional, train again and compare the two "
        "runs in the Runs panel.",
        _tagger("main", 12, 10, bidirectional=True), _tagging("larger_than_next"),
        epochs=10, batch=64, lr=0.005)


def rnn_deep() -> Project:
    return _project(
        "Deep stacked LSTM: three layers tag 'seen before?'\n"
        "num_layers=3 stacks three LSTMs in one block, each reading the output sequence of "
        "the one below, with dropout 0.1 between them, on sequences of up to 24 digits. It "
        "sits on a plateau for the first epochs (about 75% of the tags), then gets nearly "
        "every whole sequence right.",
        _tagger("main", 24, 10, layers=3, cell="LSTM"), _tagging("seen_before", 24),
        epochs=15, batch=64, lr=0.003)


# --- RNN vs LSTM vs GRU on a long memory ---------------------------------------------------

_LONG = 50


def _long(cell: str, what: str) -> Project:
    net = Network("main")
    # The LSTM's forget gates start open (bias 3; Gers et al.): with torch's 0 they halve
    # the memory at every step and nothing survives 50 of them (measured: chance, 25%).
    opened = {"forget_bias": 3.0} if cell == "LSTM" else {}
    _seq(net, _tokens_in(), _embed(15), _recurrent(cell, output="last", **opened),
         ("Linear", "logits", {"units": 4}), ("Output", "y", {}))
    project = _project(
        f"Long memory with {what}: name the first of {_LONG} symbols\n"
        f"The class symbol (a-d) comes first, then {_LONG - 1} random digits; the {cell} "
        "must still know it at the end. rnn_long_rnn, rnn_long_lstm and rnn_long_gru differ "
        "only in the cell (the LSTM's forget gates start open: forget_bias 3): train all "
        "three, then tick them in the Runs panel to overlay their curves. The gates of LSTM "
        "and GRU carry the symbol to the end (100% here); the plain RNN's gradient fades over "
        "the distance and it tells the four symbols apart only in part (75%; 34% and 25% "
        "with training seeds 1 and 2).",
        net, DatasetConfig("remember_first", {"n_samples": 20000, "length": _LONG,
                                              "classes": 4}),
        epochs=6, batch=64, lr=0.007)
    project.training.grad_clip = 1.0  # with it LSTM and GRU learned for seeds 0, 1, 2 (measured)
    return project


def rnn_long_rnn() -> Project:
    return _long("RNN", "a plain RNN")


def rnn_long_lstm() -> Project:
    return _long("LSTM", "an LSTM")


def rnn_long_gru() -> Project:
    return _long("GRU", "a GRU")


# --- forecasting ---------------------------------------------------------------------------


def _forecast(horizon: int, description: str, epochs: int) -> Project:
    net = Network("main")
    _seq(net, ("Input", "x", {"shape": [48, 1], "kind": "sequence"}),
         _recurrent("GRU", output="last"), ("Linear", "forecast", {"units": horizon}),
         ("Output", "y", {}))
    project = _project(
        description, net, DatasetConfig("timeseries", {"n_samples": 8000, "window": 48,
                                                       "horizon": horizon, "waves": 2,
                                                       "noise": 0.02}),
        epochs=epochs, batch=64, lr=0.005)
    project.recipe = RecipeConfig("regression", {"model": net.name}, {"loss": "mse"})
    return project


def forecast_one_step() -> Project:
    return _forecast(1, "Forecast one step ahead with a GRU\n"
                     "A GRU reads 48 past values of a sum of two sines (each window has its "
                     "own frequencies) and predicts the next one. Watch 'forecast': a few "
                     "validation windows, their past, the true next value and the "
                     "prediction.", epochs=10)


def forecast_multi_step() -> Project:
    return _forecast(16, "Forecast 16 steps ahead with a GRU\n"
                     "The same GRU, but its last state feeds a Linear of 16 units: the "
                     "whole future at once (direct multi-step forecasting). Watch 'forecast': "
                     "the predicted future follows the true one, loosest far ahead.",
                     epochs=25)


BUILDERS = {f.__name__: f for f in (rnn_one_to_many, rnn_many_to_one, rnn_tagging,
                                      rnn_bidirectional, rnn_deep, rnn_long_rnn, rnn_long_lstm,
                                      rnn_long_gru, forecast_one_step, forecast_multi_step)}
