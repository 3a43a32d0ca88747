"""Skip-gram with negative sampling: the loss falls over real steps, a short real training
answers analogies far above chance, 3CosAdd on hand-made vectors, the noise distribution,
``layerloom sample`` with word and analogy prompts, and misfits explained."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from builder.serialize import load
from resources import TEMPLATES
from runtime.assemble import SetupError, load_data, make_recipe
from runtime.events import Failure, Samples, StepMetrics
from runtime.recipes import RecipeError
from runtime.recipes.skipgram import analogy_answers, nearest, parse_query
from runtime.sampling import sample_project, write_samples
from runtime.trainer import Trainer


def word2vec(sentences: int = 3000, batch: int = 256):
    p = load(TEMPLATES / "word2vec.loom")
    p.dataset.params.update(sentences=sentences)
    p.training.batch_size = batch
    p.training.samples_unit = "end"
    return p


def test_a_few_real_steps_lower_the_loss(events):
    p = word2vec(1000, 64)
    finished = Trainer(p, callback=events, device="cpu").fit(epochs=1, max_steps=40)
    assert finished.reason == "max_steps", events.of(Failure)
    losses = [e.values["loss"] for e in events.of(StepMetrics)]
    assert len(losses) == 40 and all(math.isfinite(v) for v in losses)
    # Untrained: log 2 per word (1 + k = 6 of them) ≈ 4.16; it falls from the start.
    assert losses[0] == pytest.approx(6 * math.log(2), abs=0.05)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.15


def test_a_short_training_answers_analogies_and_prompts(tmp_path, events):
    p = word2vec(4000, 256)
    finished = Trainer(p, callback=events, device="cpu", run_dir=tmp_path / "run").fit(
        epochs=1)
    assert finished.reason == "completed", events.of(Failure)
    final = finished.final
    chance = 1 / 300  # one word of ~300 (the three query words excluded)
    assert final["analogy_accuracy"] > 100 * chance
    assert {"analogy_gender", "analogy_capital", "analogy_tense", "analogy_number"} <= set(final)
    pictures = {s.name: s for s in events.of(Samples)}
    vectors = pictures["word vectors"]
    assert vectors.kind == "embedding" and vectors.data.shape == (len(vectors.labels), 32)
    assert vectors.labels[0] == "the" and ("man", "woman", "king", "queen") in \
        vectors.extra["analogies"]
    lines = pictures["analogies"].data
    assert lines[0].startswith("gender: king − man + woman → ") and len(lines) == 12
    assert sum("✓" in line for line in lines) >= 6

    answer = sample_project(p, tmp_path / "run", n=3, prompt="king - man + woman")
    assert answer.kind == "text" and len(answer.data) == 3
    assert any(line.startswith("king − man + woman → queen (") for line in answer.data)
    near = sample_project(p, tmp_path / "run", n=5, prompt="Paris")
    assert all(line.startswith("paris → ") for line in near.data)
    assert not any(line.startswith("paris → paris") for line in near.data)
    assert "5 text samples" in write_samples(near, tmp_path / "near.txt")
    with pytest.raises(RecipeError, match="not in the vocabulary of 'analogies': kingz"):
        sample_project(p, tmp_path / "run", prompt="kingz - man")
    with pytest.raises(RecipeError, match="e.g. --prompt 'king - man \\+ woman'"):
        sample_project(p, tmp_path / "run")


def test_3cosadd_on_hand_made_vectors():
    # Axes: gender, royalty, youth, and a distractor.  king = royal + male ...
    words = ["man", "woman", "king", "queen", "boy", "girl", "apple"]
    raw = torch.tensor([[1, 0, 0, 0.1], [-1, 0, 0, 0.1], [1, 1, 0, 0], [-1, 1, 0, 0],
                        [1, 0, 1, 0], [-1, 0, 1, 0], [0, 0, 0, 1.0]])
    unit = F.normalize(raw, dim=1)
    ids = {w: i for i, w in enumerate(words)}
    q = torch.tensor([[ids[w] for w in qs] for qs in [("man", "woman", "king", "queen"),
                                                      ("man", "woman", "boy", "girl"),
                                                      ("king", "queen", "man", "apple")]])
    answers, scores, ranks = analogy_answers(unit, q)
    assert [words[i] for i in answers] == ["queen", "girl", "woman"]
    assert ranks.tolist() == [1, 1, 3] and scores[0] > 0.95
    # The query words never answer, even when nearest (woman is nearest to itself).
    s, found = nearest(unit, unit[[ids["woman"]]], torch.tensor([[ids["woman"]]]), 2)
    assert {words[i] for i in found[0]} == {"queen", "girl"}  # equally near; never itself
    assert s[0, 0] == pytest.approx(s[0, 1])


def test_parse_query():
    assert parse_query("king - man + woman") == [(1, "king"), (-1, "man"), (1, "woman")]
    assert parse_query(" King−Man+WOMAN ") == [(1, "king"), (-1, "man"), (1, "woman")]
    assert parse_query("-tea") == [(-1, "tea")]
    assert parse_query("paris") == [(1, "paris")]
    for bad in ("", "king man", "king -", "+ +"):
        with pytest.raises(ValueError):
            parse_query(bad)


def test_noise_words_follow_the_unigram_power_and_the_seed():
    p = word2vec(1000)
    recipe = make_recipe(p, load_data(p))
    counts = recipe.counts
    draw = recipe.noise(40_000, torch.Generator().manual_seed(1))
    assert draw.shape == (40_000, 5) and draw.min() >= 0 and draw.max() < len(counts)
    share = torch.bincount(draw.flatten(), minlength=len(counts)).double() / draw.numel()
    want = counts ** 0.75 / (counts ** 0.75).sum()
    assert (share - want).abs().max() < 0.01
    assert share[0] < counts[0] / counts.sum()  # the most frequent word is drawn less often
    assert torch.equal(draw[:10], recipe.noise(10, torch.Generator().manual_seed(1)))


def test_misfits_are_explained(events):
    p = word2vec(1000)
    p.networks["contexts"].nodes["vectors"].params["vocab"] = 50
    with pytest.raises(SetupError, match="Embedding 'vectors' of network 'contexts' holds 50 "
                                         "words, but 'analogies' has 303: set its vocab to 303"):
        make_recipe(p, load_data(p))
    p = word2vec(1000)
    p.networks["contexts"].nodes["vectors"].params["dim"] = 16
    assert Trainer(p, callback=events, device="cpu").fit(max_steps=1).reason == "failed"
    failure = events.of(Failure)[0]
    assert failure.kind == "recipe" and failure.message == (
        "network 'words' makes vectors of 32 numbers, 'contexts' of 16: the two Embeddings "
        "need the same dim")
    p = word2vec(1000)
    p.networks["contexts"].nodes["contexts"].params["source"] = "data"
    with pytest.raises(SetupError, match="reads field 'contexts' from the data, but recipe "
                                         "'skipgram' fills it"):
        make_recipe(p, load_data(p))
