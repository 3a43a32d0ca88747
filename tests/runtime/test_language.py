"""The language-model recipe on the bundled text: a few real steps lower the loss, samples
continue a prompt (greedy at temperature 0, for fixed and symbolic input lengths alike),
``layerloom sample`` writes them, and the temperature changes live in a running run."""

from __future__ import annotations

import math
import re

import pytest
import torch
from rt_helpers import Recorder

from builder.compiler import compile_network
from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)
from builder.serialize import save
from runtime.adjust import changes_between, check_changes, live_values
from runtime.cli import main
from runtime.control import Control
from runtime.data import load as load_data
from runtime.events import EpochSummary, Failure, Samples, SettingsChanged, StepMetrics, Warning
from runtime.recipes import RecipeError, get
from runtime.trainer import Trainer, Watch

T = 16
DATA = {"text": "weaver", "seq_len": T, "stride": 8}


@pytest.fixture(scope="module")
def vocab() -> tuple[str, ...]:
    return load_data("text", DATA).info.vocab


def _net(vocab, length=T, kind: str = "lstm") -> Network:
    """Embedding → an LSTM, or a causal Transformer layer after positions → a Linear per step."""
    net = Network("main")
    middle = [net.add("LSTM", id="lstm", hidden=48)] if kind == "lstm" else [
        net.add("PositionalEncoding", id="positions", mode="sinusoidal", max_len=64),
        net.add("TransformerEncoderLayer", id="layer", heads=2, feedforward=32, causal=True)]
    net.chain(net.add("Input", id="x", shape=[length], kind="tokens"),
              net.add("Embedding", id="embed", vocab=len(vocab), dim=16), *middle,
              net.add("TimeDistributedLinear", id="logits", units=len(vocab)),
              net.add("Output", id="y"))
    return net


def _project(vocab, epochs: int = 1, **params) -> Project:
    net = _net(vocab)
    return Project({net.name: net}, DatasetConfig("text", dict(DATA)),
                   RecipeConfig("language", {"model": net.name}, params),
                   TrainingSettings(epochs=epochs, batch_size=32,
                                    optimizers={"*": OptimizerConfig("adam", 0.01)}))


@pytest.fixture(scope="module")
def trained(vocab):
    torch.set_num_threads(1)
    events = Recorder()
    trainer = Trainer(_project(vocab), callback=events, device="cpu",
                      watch=Watch(samples=True))
    finished = trainer.fit(max_steps=60)
    assert finished.reason in ("completed", "max_steps"), events.of(Failure)
    return trainer, events


def test_a_few_steps_lower_the_loss_and_report_perplexity(trained):
    _, events = trained
    steps = events.of(StepMetrics)
    losses = [e.values["loss"] for e in steps]
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    last = steps[-1].values
    assert last["perplexity"] == pytest.approx(math.exp(last["loss"]), rel=1e-4)
    val = events.of(EpochSummary)[-1].val
    assert {"loss", "accuracy", "perplexity", "bits_per_token"} <= set(val)
    assert "sequence_accuracy" not in val
    assert val["perplexity"] == pytest.approx(math.exp(val["loss"]), rel=1e-6)
    assert val["bits_per_token"] == pytest.approx(val["loss"] / math.log(2))


def test_the_samples_continue_the_first_words_of_the_text(trained):
    trainer, events = trained
    text = [s for s in events.of(Samples) if s.kind == "text"][-1]
    assert text.name == "generated text" and len(text.data) == 3
    assert text.extra["prompt"] == "The Weaver of "
    assert all(t.startswith("The Weaver of ") and len(t) == 14 + 200 for t in text.data)
    live = text.extra["live"]["temperature"]
    assert live["value"] == 0.8 and live["min"] == 0.0 and live["kind"] == "float"


def test_sampling_a_prompt_greedy_is_deterministic_and_bad_characters_are_named(trained):
    recipe = trained[0].recipe
    a = recipe.sample(2, torch.Generator().manual_seed(1), "the loom ", 0.0)
    b = recipe.sample(2, torch.Generator().manual_seed(2), "the loom ", 0.0)
    assert a.kind == "text" and a.data[0].startswith("the loom ")
    assert a.data == b.data and a.data[0] == a.data[1]
    hot = recipe.sample(4, torch.Generator().manual_seed(1), "the loom ", 2.0)
    assert len(set(hot.data)) > 1  # drawn, not argmax
    long = "she worked at the same loom for forty years and "  # longer than the window
    assert recipe.sample(1, torch.Generator(), long, 0.5).data[0].startswith(long)
    with pytest.raises(RecipeError, match=r"'#'.*vocabulary lacks"):
        recipe.sample(1, torch.Generator(), "the #1 loom")


@pytest.mark.parametrize("kind", ["lstm", "causal transformer"])
def test_fixed_and_symbolic_input_lengths_write_the_same_text(vocab, kind):
    """A short context is padded on the right of a fixed-length input: a left-to-right
    network's prediction at the last real position does not see it."""
    info = load_data("text", DATA).info
    fixed = get("language")({"model": compile_network(_net(vocab, T, kind))}, info)
    free = get("language")({"model": compile_network(_net(vocab, "T", kind))}, info)
    free.nets["model"].load_state_dict(fixed.nets["model"].state_dict())
    assert fixed.fixed == T and free.fixed is None and free.window == T
    for prompt in ("a", "the weaver and the river and the "):  # shorter, longer than T
        one = fixed.write(prompt, 1, 24, 0.0)
        assert one == free.write(prompt, 1, 24, 0.0) and one[0].startswith(prompt)


def test_a_prompt_param_with_an_unknown_character_fails_at_setup(vocab):
    info = load_data("text", DATA).info
    with pytest.raises(RecipeError, match=r"the prompt has '@'"):
        get("language")({"model": compile_network(_net(vocab))}, info, {"prompt": "a@b"})


def test_layerloom_sample_continues_a_prompt(vocab, tmp_path, capsys):
    file = save(_project(vocab), tmp_path / "lm.loom")
    run = tmp_path / "run"
    assert main(["train", str(file), "--out", str(run), "--max-steps", "3",
                 "--device", "cpu"]) == 0
    out = tmp_path / "text.txt"
    assert main(["sample", str(file), "--weights", str(run), "--prompt", "The ",
                 "--temperature", "0.5", "-n", "3", "-o", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and all(line.startswith("The ") for line in lines)


# --- live temperature ---------------------------------------------------------------------


def _live_run(vocab, change: dict, at: int = 4):
    p = _project(vocab, epochs=1)
    p.training.samples_every, p.training.samples_unit = 2, "steps"
    p.recipe.params["sample_length"] = 8
    control = Control()
    events = Recorder()

    def on(event):
        events(event)
        if isinstance(event, StepMetrics) and event.step == at:
            control.adjust(change)

    trainer = Trainer(p, callback=on, control=control, device="cpu",
                      watch=Watch(samples=True, every_steps=1))
    assert trainer.fit(max_steps=10).reason in ("completed", "max_steps")
    return trainer, events


def test_the_temperature_changes_between_steps_of_a_running_run(vocab):
    trainer, events = _live_run(vocab, {"recipe": {"temperature": 0.05}})
    changed = events.of(SettingsChanged)[0]
    assert changed.message == "temperature 0.8 → 0.05" and changed.step >= 4
    texts = [s for s in events.of(Samples) if s.kind == "text"]
    before = [s.extra["temperature"] for s in texts if s.step <= changed.step]
    after = [s.extra["temperature"] for s in texts if s.step > changed.step]
    assert before and set(before) == {0.8} and after and set(after) == {0.05}
    assert texts[-1].extra["live"]["temperature"]["value"] == 0.05
    assert trainer.recipe.options["temperature"] == 0.05


@pytest.mark.parametrize("change, message", [
    ({"temperature": -1}, r"recipe 'language': temperature must be between 0 and 5; "
                          r"received -1"),
    ({"prompt": "x"}, r"'prompt' cannot change while a run trains \(live settings: "
                      r"temperature, sample_length\)"),
])
def test_a_bad_live_recipe_setting_is_refused_with_a_message(vocab, change, message):
    trainer, events = _live_run(vocab, {"recipe": change})
    warning = next(e for e in events.of(Warning) if e.code == "settings")
    assert re.search(message, warning.message), warning.message
    assert not events.of(SettingsChanged)
    assert trainer.recipe.options["temperature"] == 0.8


def test_live_values_of_a_project_include_its_recipes_live_params(vocab):
    p = _project(vocab)
    before = live_values(p)
    assert before["recipe"] == {"temperature": 0.8, "sample_length": 200}
    p.recipe.params["temperature"] = 0.3
    assert changes_between(before, live_values(p)) == {"recipe": {"temperature": 0.3}}
    assert "no recipe is running" in check_changes({"recipe": {"temperature": 1}})[0]
    p.recipe.name = "classification"  # declares nothing live
    assert live_values(p)["recipe"] == {}
