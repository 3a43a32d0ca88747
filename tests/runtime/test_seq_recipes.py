"""Token targets: classification per time step (padding ignored, whole-sequence accuracy,
decoded text samples) and the seq2seq recipe (teacher forcing, greedy decoding, sampling from
a prompt), with the two sequence templates trained for real."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rt_helpers import Recorder

from builder.compiler import compile_network
from builder.document import DatasetConfig, Network, Project, RecipeConfig, TrainingSettings
from builder.serialize import load
from resources import TEMPLATES
from runtime.data import DataInfo, FieldInfo
from runtime.events import EpochSummary, Failure, Samples, StepMetrics
from runtime.recipes import RecipeError, get
from runtime.recipes.seq2seq import shift_right
from runtime.trainer import Trainer

VOCAB = ("<pad>", "<bos>", "a", "b", "c", "d")


@pytest.fixture
def one_thread():
    """Tiny recurrent nets gain nothing from threads, and on a busy machine the threads'
    spinning makes each step ten times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _info(length: int = 4, **extra) -> DataInfo:
    return DataInfo("toy", "sequence",
                    {"x": FieldInfo((length,), "tokens", "int64"),
                     "y": FieldInfo((length,), "tokens", "int64")},
                    vocab=VOCAB, extra={"pad": 0, "bos": 1, **extra})


def _tagger(length: int = 4, output: str = "sequence") -> Network:
    """Input tokens → Embedding → GRU → Linear per step: one logit per symbol."""
    net = Network("tagger")
    net.chain(net.add("Input", id="x", shape=[length], kind="tokens"),
              net.add("Embedding", id="embed", vocab=len(VOCAB), dim=8),
              net.add("GRU", id="gru", hidden=8, output=output),
              net.add("Linear", id="logits", units=len(VOCAB)),
              net.add("Output", id="y"))
    return net


def _classifier(**kw):
    return get("classification")({"model": compile_network(_tagger(**kw))}, _info())


def _logits(ids: torch.Tensor, classes: int = len(VOCAB)) -> torch.Tensor:
    """Logits whose argmax is ``ids``."""
    return torch.nn.functional.one_hot(ids, classes).float() * 10


# --- classification of token sequences --------------------------------------------------


def test_padding_is_ignored_by_loss_and_accuracy():
    recipe = _classifier()
    y = torch.tensor([[2, 3, 0, 0], [4, 5, 2, 0]])
    guess = torch.tensor([[2, 3, 5, 4], [4, 5, 2, 3]])  # every pad position wrong
    loss, metrics = recipe.loss(_logits(guess), y)
    assert float(metrics["accuracy"]) == 1.0 and float(metrics["sequence_accuracy"]) == 1.0
    assert float(loss) < 1e-3  # the wrong pad positions cost nothing
    recipe.prediction = lambda batch, train=True: _logits(guess)
    totals = recipe.eval_batch({"x": y, "y": y})
    metrics, extras = recipe.eval_summary(totals, 2)
    assert metrics["accuracy"] == 1.0 and metrics["sequence_accuracy"] == 1.0
    assert int(totals["n"]) == 5  # real tokens only
    assert "confusion" not in extras  # per-symbol confusion of a sequence task: not drawn


def test_sequence_accuracy_needs_every_real_token_right():
    recipe = _classifier()
    y = torch.tensor([[2, 3, 0, 0], [4, 5, 2, 0], [2, 2, 2, 2]])
    guess = torch.tensor([[2, 3, 1, 1], [4, 4, 2, 0], [2, 2, 2, 2]])  # one real miss
    _, metrics = recipe.loss(_logits(guess), y)
    assert float(metrics["accuracy"]) == pytest.approx(8 / 9)
    assert float(metrics["sequence_accuracy"]) == pytest.approx(2 / 3)
    recipe.prediction = lambda batch, train=True: _logits(guess)
    metrics, _ = recipe.eval_summary(recipe.eval_batch({"x": y, "y": y}), 3)
    assert metrics["accuracy"] == pytest.approx(8 / 9)
    assert metrics["sequence_accuracy"] == pytest.approx(2 / 3)


def test_classes_come_from_the_vocabulary_and_language_data_is_accepted():
    recipe = _classifier()
    assert recipe.classes == len(VOCAB) and recipe.per_step and recipe.pad == 0
    text = DataInfo("text", "language", _info().fields, vocab=VOCAB)  # no padding
    recipe = get("classification")({"model": compile_network(_tagger())}, text)
    assert recipe.pad == -100 and recipe.per_step


def test_an_output_that_does_not_line_up_names_the_shapes():
    recipe = _classifier(output="last")  # one vector per sequence, not one per step
    y = torch.zeros(2, 4, dtype=torch.int64)
    with pytest.raises(RecipeError, match=r"one prediction per sample \[6\].*per time step "
                                          r"\[4\].*\[4, 6\]"):
        recipe.check({"x": y, "y": y})
    with pytest.raises(RecipeError, match=r"outputs \[4, 9\] per sample.*6 classes"):
        recipe.check_output(torch.zeros(2, 4, 9), y)
    with pytest.raises(RecipeError, match=r"outputs \[5, 6\].*targets \[4\]"):
        recipe.check_output(torch.zeros(2, 5, 6), y)


def test_copy_template_reaches_95_percent_token_accuracy(one_thread):
    events = Recorder()
    p = load(TEMPLATES / "seq_copy.loom")
    p.training.epochs = 2  # 126 steps: it is there after the first epoch
    finished = Trainer(p, callback=events, device="cpu").fit(max_steps=2000)
    assert finished.reason in ("completed", "max_steps") and finished.step <= 2000
    val = events.of(EpochSummary)[-1].val
    assert val["accuracy"] >= 0.95 and 0.0 <= val["sequence_accuracy"] <= 1.0
    assert {"loss", "accuracy", "sequence_accuracy"} <= set(events.of(StepMetrics)[-1].values)
    text = [e for e in events.of(Samples) if e.kind == "text"][-1]
    assert len(text.data) == 8 and " → " in text.data[0] and text.data[0][0] in "✓✗"
    assert text.extra["correct"].dtype == np.bool_


# --- seq2seq ----------------------------------------------------------------------------


def _seq2seq_net(decoder_field: str | None = "y_in") -> Network:
    net = Network("translator")
    net.chain(net.add("Input", id="x", shape=[4], kind="tokens"),
              net.add("Embedding", id="src", vocab=len(VOCAB), dim=8),
              net.add("GRU", id="enc", hidden=8))
    if decoder_field is None:  # a decoder-less network: reads only the source
        net.chain("enc", net.add("Linear", id="logits", units=len(VOCAB)),
                  net.add("Output", id="y"))
        return net
    net.chain(net.add("Input", id="dec_in", shape=[4], kind="tokens", field=decoder_field,
                      source="recipe"),
              net.add("Embedding", id="tgt", vocab=len(VOCAB), dim=8),
              net.add("GRU", id="dec", hidden=8),
              net.add("Linear", id="logits", units=len(VOCAB)),
              net.add("Output", id="y"))
    net.connect("enc", "dec", "h", "h0")
    return net


def _seq2seq(net: Network):
    return get("seq2seq")({"model": compile_network(net)}, _info())


def test_the_decoder_input_is_the_target_shifted_right():
    y = torch.tensor([[2, 3, 4, 0], [5, 4, 3, 2]])
    assert shift_right(y, 1).tolist() == [[1, 2, 3, 4], [1, 5, 4, 3]]
    recipe = _seq2seq(_seq2seq_net())
    seen = {}

    def spy(*args):
        seen["args"] = args
        return torch.zeros(2, 4, len(VOCAB))

    recipe.nets["model"] = spy
    recipe.check({"x": y, "y": y})
    source, fed = seen["args"]
    assert torch.equal(source, y) and torch.equal(fed, shift_right(y, 1))


def test_a_network_without_the_decoder_input_is_told_what_to_add():
    with pytest.raises(RecipeError, match=r"fills 'y_in' of network 'translator'.*add an "
                                          r"Input with source 'recipe' and field 'y_in'"):
        _seq2seq(_seq2seq_net(None))


def test_a_recipe_input_the_recipe_does_not_fill_is_named():
    with pytest.raises(RecipeError, match=r"network 'translator', input 'dec_in' .* as "
                                          r"'y_out'.*it fills y_in"):
        _seq2seq(_seq2seq_net("y_out"))


def test_seq2seq_refuses_data_without_a_start_symbol():
    info = _info()
    info = info.with_(extra={"pad": 0})
    with pytest.raises(RecipeError, match="<bos>"):
        get("seq2seq")({"model": compile_network(_seq2seq_net())}, info)


def _reverse_project(n_samples: int, epochs: int) -> Project:
    p = load(TEMPLATES / "seq2seq_reverse.loom")
    p.dataset.params["n_samples"] = n_samples
    p.training.epochs = epochs
    return p


def test_seq2seq_learns_to_reverse_and_decodes_a_prompt(one_thread):
    events = Recorder()
    trainer = Trainer(_reverse_project(1500, 10), callback=events, device="cpu")
    finished = trainer.fit()
    assert finished.reason == "completed", events.of(Failure)
    losses = [e.values["loss"] for e in events.of(StepMetrics)]
    assert len(losses) == 190
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])
    val = events.of(EpochSummary)[-1].val
    assert {"loss", "accuracy", "greedy_accuracy", "sequence_accuracy"} <= set(val)
    assert val["accuracy"] > 0.5 and val["greedy_accuracy"] <= val["accuracy"] + 0.05
    text = [e for e in events.of(Samples) if e.kind == "text"][-1]
    assert text.name == "greedy decoding" and " → " in text.data[0]

    recipe = trainer.recipe
    gen = torch.Generator().manual_seed(0)
    out = recipe.sample(3, gen, prompt="abc", temperature=0.0)
    assert out.kind == "text" and len(out.data) == 3
    assert all(isinstance(s, str) and s.startswith("abc → ") for s in out.data)
    assert len(set(out.data)) == 1  # greedy: the same every time
    hot = recipe.sample(4, gen, prompt="abcd", temperature=1.0)
    assert len(hot.data) == 4
    with pytest.raises(RecipeError, match=r"'z'.*vocabulary lacks.*'abcdefghij'"):
        recipe.sample(1, gen, prompt="abz")
    longer = recipe.sample(1, gen, prompt="abcdefghij", temperature=0.0)  # any length (S)
    assert len(longer.data[0].split(" → ")[1]) == 10
    with pytest.raises(RecipeError, match="prompt"):
        recipe.sample(1, gen)


def test_seq2seq_rejects_a_classification_dataset(events):
    net = _seq2seq_net()
    p = Project({net.name: net}, DatasetConfig("moons"), RecipeConfig("seq2seq",
                {"model": net.name}), TrainingSettings(epochs=1))
    Trainer(p, callback=events, device="cpu").fit()
    assert "sequence data" in events.of(Failure)[0].message
