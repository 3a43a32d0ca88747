"""Gallery templates of the sequence-to-sequence and language family (see build_templates.py):
a symbol per time step (copy), encoder–decoders with and without attention on reverse, sort
and addition, and character language models (LSTM, causal Transformer)."""

from __future__ import annotations

from template_parts import _project, _seq

from builder.document import DatasetConfig, Network, Project, RecipeConfig
from runtime.data import load
from runtime.data.sequences import SYMBOL_TASKS

__all__ = ["BUILDERS"]


def seq_copy() -> Project:
    net = Network("main")
    _seq(net,
         ("Input", "x", {"shape": [8], "kind": "tokens"}),
         ("Embedding", "embed", {"vocab": 12, "dim": 16}),
         ("GRU", "gru", {"hidden": 32}),
         ("Linear", "logits", {"units": 12}),
         ("Output", "y", {}))
    return _project(
        "Copy a sequence with a GRU\n"
        "Embedding → GRU → a Linear at every step: one symbol predicted per time step, scored "
        "per token and per whole sequence; the padding of short sequences counts for nothing.",
        net, DatasetConfig("copy", {"length": 8, "min_length": 4, "symbols": 10}), epochs=5,
        batch=64, lr=0.01)


# --- encoder–decoders -----------------------------------------------------------------------

# task: (dataset params, source length, target length, vocabulary, epochs, what it shows)
_TASKS = {
    "reverse": ({"n_samples": 20000, "length": 8, "min_length": 2, "symbols": 10}, 8, 8, 12, 5,
                "the answer's first symbol is the source's last, the step a single summary "
                "vector remembers worst"),
    "sort": ({"n_samples": 20000, "length": 8, "min_length": 2, "symbols": 10}, 8, 8, 12, 5,
             "each output step looks for the smallest symbol not yet written"),
    # Digits least significant first, the order carries travel (measured with attention:
    # 92% of sums exactly right after 1,500 steps, 6% with the digits the usual way round).
    "addition": ({"n_samples": 20000, "digits": 3, "reverse_digits": True}, 7, 4, 13, 10,
                 "each digit of the sum reads the two digits of its column"),
}


def _seq2seq(task: str, attention: bool) -> Project:
    params, t_src, t_tgt, vocab, epochs, shows = _TASKS[task]
    net = Network("main")
    _seq(net,
         ("Input", "x", {"shape": ["S"], "kind": "tokens"}),  # any length, in ONNX too
         ("Embedding", "src_embed", {"vocab": vocab, "dim": 32}),
         ("GRU", "encoder", {"hidden": 64}))
    _seq(net,
         ("Input", "y_in", {"shape": ["T"], "kind": "tokens", "field": "y_in",
                            "source": "recipe"}),
         ("Embedding", "tgt_embed", {"vocab": vocab, "dim": 32}),
         ("GRU", "decoder", {"hidden": 64}))
    # The encoder's final state starts the decoder: without attention that one vector is
    # all the decoder knows of the source.
    net.connect("encoder", "decoder", "h", "h0")
    last = "decoder"
    if attention:  # each decoder step reads the encoder steps it needs
        net.add("Attention", id="attend", score="additive", units=64)  # Bahdanau's
        net.connect("decoder", "attend", "y", "query")
        net.connect("encoder", "attend", "y", "keys")
        net.add("Concat", id="join", axis=-1)
        net.connect("decoder", "join", "y", "x1")
        net.connect("attend", "join", "context", "x2")
        last = "join"
    _seq(net, ("Linear", "logits", {"units": vocab}), ("Output", "y", {}), after=last)
    if attention:  # the map goes out too: the recipe draws it
        net.add("Output", id="attention")
        net.connect("attend", "attention", "weights", "x")
    how = ("with attention over the encoder's steps (the map is drawn: " + shows + ")"
           if attention else "without attention: the encoder's final state is the decoder's "
           "only view of the source (compare the template with attention)")
    project = _project(
        f"{task.capitalize()} with an encoder–decoder{' and attention' * attention}\n"
        f"A GRU encoder reads the source and starts a GRU decoder that is fed the target shifted "
        f"by one (teacher forcing), {how}; greedy decoding tests it.",
        net, DatasetConfig(task, dict(params)), epochs=epochs, batch=64, lr=0.01)
    project.recipe = RecipeConfig("seq2seq", {"model": net.name})
    # A cosine decay settles what the high rate found (measured on reverse with attention:
    # 99.7% of validation sequences right after 500 steps, 93% at a constant 0.003).
    project.training.schedule = {"name": "cosine"}
    return project


def _seq2seq_builder(task: str, attention: bool):
    def build() -> Project:
        return _seq2seq(task, attention)

    build.__name__ = f"seq2seq_{task}" + ("" if attention else "_plain")
    return build


# --- character language models --------------------------------------------------------------


def _text_vocab() -> int:
    """Characters of the bundled text: the Embedding's rows and the logits per step."""
    return len(load("text", {"seq_len": 64}).info.vocab)


def _language(net: Network, description: str, epochs: int, lr: float) -> Project:
    project = _project(description, net, DatasetConfig("text", {"seq_len": 64, "stride": 4}),
                       epochs=epochs, batch=32, lr=lr)
    project.recipe = RecipeConfig("language", {"model": net.name})
    # The bundled text is short (8,300 characters): a model that has read it a few times
    # starts to recite it, and the validation loss turns up.  Stop then, keeping the best.
    project.training.early_stopping = 2
    return project


def char_lstm() -> Project:
    v = _text_vocab()
    net = Network("main")
    _seq(net,
         ("Input", "x", {"shape": ["T"], "kind": "tokens"}),
         ("Embedding", "embed", {"vocab": v, "dim": 32}),
         ("LSTM", "lstm", {"hidden": 128, "num_layers": 2, "dropout": 0.3}),
         ("TimeDistributedLinear", "logits", {"units": v}),
         ("Output", "y", {}))
    return _language(
        net, "Character language model with an LSTM\n"
        "Two stacked LSTM layers read the text one character at a time and predict the next; "
        "the samples continue a prompt, the temperature (live in the text view) trades safe "
        "for surprising.", epochs=10, lr=0.003)


def char_transformer() -> Project:
    v = _text_vocab()
    net = Network("main")
    _seq(net,
         ("Input", "x", {"shape": ["T"], "kind": "tokens"}),
         ("Embedding", "embed", {"vocab": v, "dim": 64}),
         ("PositionalEncoding", "positions", {"mode": "learned", "max_len": 256,
                                              "dropout": 0.1}),
         ("TransformerEncoderLayer", "layer1", {"heads": 4, "feedforward": 128,
                                                "norm_first": True, "causal": True}),
         ("TransformerEncoderLayer", "layer2", {"heads": 4, "feedforward": 128,
                                                "norm_first": True, "causal": True}),
         ("TimeDistributedLinear", "logits", {"units": v}),
         ("Output", "y", {}))
    return _language(
        net, "Character language model with a causal Transformer\n"
        "Positions are added to the character embeddings and two Transformer layers attend "
        "only to earlier characters (a causal mask), so every position predicts its next "
        "character at once.", epochs=20, lr=0.001)


BUILDERS: dict = {
    "seq_copy": seq_copy,
    **{f.__name__: f for f in (_seq2seq_builder(t, a) for t in (*SYMBOL_TASKS[1:], "addition")
                               for a in (True, False))},
    "char_lstm": char_lstm,
    "char_transformer": char_transformer,
}
