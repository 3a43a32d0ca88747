"""CLIP: the symmetric contrastive loss against a hand computation (one-hot and
multi-positive targets), the learned temperature (it trains, stops at τ = 0.01, survives a
checkpoint), real steps with the loss falling, the zero-shot prompts and metrics, the answer
to a prompt by retrieval (also through ``layerloom sample``'s path), and both encoders'
ONNX export with parity."""

from __future__ import annotations

import math

import pytest
import torch
from rt_helpers import Recorder

from builder.compiler import compile_network
from builder.document import OptimizerConfig
from builder.serialize import load
from resources import TEMPLATES
from runtime.assemble import SetupError, load_data, make_recipe
from runtime.data.shapes import decode_caption
from runtime.events import Samples, StepMetrics
from runtime.export import TOLERANCE, export_onnx, parity
from runtime.optimize import Optimization
from runtime.prompts import PromptError
from runtime.recipes.base import RecipeError
from runtime.recipes.clip_parts import (
    MAX_SCALE,
    WordSwap,
    contrastive_loss,
    prompt_captions,
    retrieval_hits,
    same_captions,
)
from runtime.sampling import sample_project
from runtime.trainer import Trainer


def _project(n: int = 60, **params):
    project = load(TEMPLATES / "clip_shapes.loom")
    project.dataset.params.update({"n_samples": n, "val_fraction": 0.25})
    project.recipe.params.update(params)
    project.training.batch_size = 16
    project.training.samples_unit = "end"
    project.training.optimizers = {r: OptimizerConfig("adam", 3e-3) for r in project.networks}
    return project


def _recipe(**params):
    project = _project(**params)
    data = load_data(project)
    torch.manual_seed(0)
    return make_recipe(project, data), data


def _batch(data, n: int = 16, part: str = "train"):
    source = data.train if part == "train" else data.val
    return {k: v[:n] for k, v in source.items()}


def _ctx(recipe, lr: float = 1e-3) -> Optimization:
    optimizers = {r: torch.optim.Adam(m.parameters(), lr) for r, m in recipe.nets.items()}
    return Optimization(recipe.nets, recipe.names, optimizers, torch.device("cpu"))


def _ce(row: list[float], target: list[float]) -> float:
    """−Σ target · log softmax(row), by hand."""
    z = math.log(sum(math.exp(v) for v in row))
    return -sum(t * (v - z) for v, t in zip(row, target))


def test_the_loss_is_the_mean_of_both_cross_entropies_by_hand():
    img = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    txt = torch.tensor([[0.8, 0.6], [0.0, 1.0], [1.0, 0.0]])
    scale = torch.tensor(2.0)
    cos = [[sum(a * b for a, b in zip(i, t)) for t in txt.tolist()] for i in img.tolist()]
    logits = [[2.0 * c for c in row] for row in cos]
    cols = [list(c) for c in zip(*logits)]
    eye = [[1.0 if i == j else 0.0 for j in range(3)] for i in range(3)]
    by_hand = (sum(_ce(logits[i], eye[i]) for i in range(3)) / 3
               + sum(_ce(cols[j], eye[j]) for j in range(3)) / 3) / 2
    loss, got = contrastive_loss(img, txt, scale)
    assert float(loss) == pytest.approx(by_hand, rel=1e-6)
    assert torch.allclose(got, torch.tensor(logits))
    # Captions 0 and 1 identical: rows 0 and 1 aim half at each of them (columns likewise).
    same = torch.tensor([[True, True, False], [True, True, False], [False, False, True]])
    soft = [[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]
    by_hand = (sum(_ce(logits[i], soft[i]) for i in range(3)) / 3
               + sum(_ce(cols[j], soft[j]) for j in range(3)) / 3) / 2
    assert float(contrastive_loss(img, txt, scale, same)[0]) == pytest.approx(by_hand, rel=1e-6)


def test_hard_negatives_widen_only_the_images_choice_by_hand():
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    txt = torch.tensor([[0.6, 0.8], [0.8, 0.6]])
    neg = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    # negative 2 is word for word image 1's caption: right for image 1, wrong for image 0
    fits = torch.tensor([[False, False, False], [False, False, True]])
    scale = torch.tensor(3.0)
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))  # noqa: E731
    rows = [[3.0 * dot(i, t) for t in txt.tolist() + neg.tolist()] for i in img.tolist()]
    cols = [[3.0 * dot(i, t) for i in img.tolist()] for t in txt.tolist()]
    targets = [[1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.5, 0.0, 0.0, 0.5]]
    by_hand = (sum(_ce(rows[i], targets[i]) for i in range(2)) / 2
               + sum(_ce(cols[j], [float(i == j) for i in range(2)]) for j in range(2)) / 2) / 2
    loss, logits = contrastive_loss(img, txt, scale, None, neg, fits)
    assert float(loss) == pytest.approx(by_hand, rel=1e-6)
    assert logits.shape == (2, 2)  # the batch's own, for retrieval


def test_a_word_swap_changes_one_attribute_word_for_another_of_its_kind():
    _, data = _recipe()
    swap = WordSwap.for_data(data.info)
    vocab = data.info.vocab
    kinds = [set(data.info.class_names), set(data.info.extra["colours"]),
             set(data.info.extra["sizes"])]
    ids = data.train["caption"][:40].repeat(25, 1)
    wrong = swap(ids, torch.Generator().manual_seed(0))
    changed = (wrong != ids).sum(1)
    assert changed.tolist() == [1] * len(ids)  # exactly one word, never to itself
    seen = set()
    for before, after in zip(ids.tolist(), wrong.tolist()):
        (a, b), = [(vocab[x], vocab[y]) for x, y in zip(before, after) if x != y]
        (group,) = [k for k, words in enumerate(kinds) if a in words]
        assert b in kinds[group]
        seen.add(group)
    assert seen == {0, 1, 2}  # shapes, colours and sizes are all swapped
    # Captions without attribute words pass through unchanged.
    plain = torch.tensor([[1, 3, 2, 0]])
    assert torch.equal(swap(plain), plain)


def test_hard_negatives_train_and_are_refused_without_attributes(tmp_path):
    recipe, data = _recipe(hard_negatives=3)
    ctx, batch = _ctx(recipe, lr=3e-3), _batch(data)
    losses = [float(recipe.step(ctx, batch)["loss"]) for _ in range(15)]
    assert losses[-1] < losses[0]
    plain, _ = _recipe(hard_negatives=0)
    # three more wrong captions per image: the same start is a harder choice
    recipe, _ = _recipe(hard_negatives=3)
    plain.generator = recipe.generator = torch.Generator().manual_seed(0)
    assert float(recipe.step(_ctx(recipe, 0.0), batch)["loss"]) > \
        float(plain.step(_ctx(plain, 0.0), batch)["loss"])
    data.info.extra.pop("colours")
    with pytest.raises(SetupError, match="hard_negatives swaps attribute words"):
        make_recipe(_project(hard_negatives=3), data)


def test_identical_captions_and_retrieval_hits():
    tokens = torch.tensor([[1, 5, 2], [1, 6, 2], [1, 5, 2]])
    same = same_captions(tokens)
    assert same.tolist() == [[True, False, True], [False, True, False], [True, False, True]]
    others = torch.tensor([[1, 6, 2], [1, 7, 2]])
    assert same_captions(tokens, others).tolist() == [[False, False], [True, False],
                                                      [False, False]]
    # image 0 picks caption 2 (its twin: right), image 1 caption 0 (wrong), image 2 its own
    logits = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    i2t, t2i = retrieval_hits(logits, same)
    assert int(i2t) == 2
    # caption 0 picks image 1 (wrong), 1 image 0 (wrong), 2 image 0 (its twin's: right)
    assert int(t2i) == 1


def test_the_temperature_trains_stops_at_a_hundred_and_is_checkpointed():
    recipe, data = _recipe()
    assert float(recipe.scale.temperature) == pytest.approx(0.07)
    ctx, batch = _ctx(recipe), _batch(data)
    metrics = [recipe.step(ctx, batch) for _ in range(3)]
    assert float(metrics[-1]["temperature"]) != pytest.approx(0.07, abs=1e-5)
    assert recipe.scale.s.grad is None  # stepped and cleared
    other, _ = _recipe()
    other.load_state_dict(recipe.state_dict())
    assert torch.equal(other.scale.s.detach(), recipe.scale.s.detach())
    assert other.scale.optimizer.state_dict()["state"][0]["step"] == 3
    # The paper's clip: logits at most 100 × the cosine.
    with torch.no_grad():
        recipe.scale.s.fill_(MAX_SCALE + 0.5)
    recipe.step(ctx, batch)
    assert float(recipe.scale.s.detach()) <= MAX_SCALE + 1e-6
    fixed, _ = _recipe(learn_temperature=False)
    fixed.step(_ctx(fixed), batch)
    assert float(fixed.scale.temperature) == pytest.approx(0.07)


def test_real_steps_lower_the_loss_and_report_the_metrics(tmp_path):
    rec = Recorder()
    project = _project(n=40)
    project.dataset.params["val_fraction"] = 0.2  # one batch of 32, the same every step
    project.training.batch_size = 32
    project.training.epochs = 100
    fin = Trainer(project, device="cpu", callback=rec, run_dir=tmp_path / "run").fit(
        max_steps=12)
    losses = [s.values["loss"] for s in rec.of(StepMetrics)]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    for name in ("loss", "image_to_text", "text_to_image", "zero_shot_accuracy",
                 "zero_shot_colour", "temperature"):
        assert math.isfinite(fin.final[name]), name
    for name in ("image_to_text", "text_to_image", "zero_shot_accuracy", "zero_shot_colour"):
        assert 0 <= fin.final[name] <= 1, name
    kinds = {s.name.split(":")[0].split(" (")[0]: s for s in rec.of(Samples)}
    matrix = kinds["image × caption similarity"]
    assert matrix.kind == "matrix" and matrix.data.shape[0] == matrix.data.shape[1] >= 2
    assert len(set(matrix.extra["columns"])) == matrix.data.shape[1]  # distinct captions
    assert (abs(matrix.data) <= 1 + 1e-5).all()
    bars = next(s for s in rec.of(Samples) if s.kind == "bars")
    assert bars.data.shape == (10,) and list(bars.labels)[0] == "circle"


def test_zero_shot_prompts_cover_every_attribute_and_classify_by_the_nearest_mean():
    recipe, data = _recipe()
    zs = recipe.zero_shot
    assert zs.ids.shape == (10 * 8 * 2 * 9, 10)
    assert decode_caption(zs.ids[0].tolist()) == "a small red circle at the top left"
    assert decode_caption(zs.ids[4].tolist()) == "a small red circle in the centre"
    assert torch.bincount(zs.shape).tolist() == [144] * 10
    assert torch.bincount(zs.colour).tolist() == [180] * 8

    def by_kind(ids):  # a perfect text tower: the shape word, one-hot
        return torch.nn.functional.one_hot(ids[:, 4] - ids[:, 4].min(), 10).float()

    shapes, _ = zs.classes_of(by_kind)
    assert torch.allclose(shapes, torch.eye(10))
    # The recipe's count: images whose nearest class mean is their kind.
    batch = _batch(data, 15, "val")
    with torch.no_grad():
        recipe.nets["image_encoder"].eval()
        recipe.nets["text_encoder"].eval()
        out = recipe.eval_batch(batch)
        img = recipe.embed("image_encoder", batch, False)
        classes, _ = recipe._classes()
    expected = int(((img @ classes.t()).argmax(1) == batch["y"]).sum())
    assert int(out["zero_shot_accuracy"]) == expected
    metrics, _ = recipe.eval_summary(out, 15)
    assert 0 <= metrics["zero_shot_accuracy"] <= 1


def test_a_prompt_is_answered_by_the_nearest_validation_images(tmp_path):
    recipe, data = _recipe()
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(RecipeError, match="no validation images"):
        recipe.sample(4, gen, prompt="a red circle")
    with torch.no_grad():
        for m in recipe.nets.values():
            m.eval()
        recipe.samples(data, 0, 0)  # keeps the gallery
    out = recipe.sample(4, gen, prompt="a red circle at the top left")
    assert out.kind == "images" and out.data.shape == (4, 3, 32, 32)
    sims = [float(s) for s in out.labels]
    assert sims == sorted(sims, reverse=True)
    assert 0 <= out.data.min() and out.data.max() <= 1
    # What a prompt leaves out is filled in every way (the encoder read whole captions).
    assert prompt_captions("a large blue square in the centre", recipe.info) == [
        "a large blue square in the centre"]
    some = prompt_captions("Blue heart, top", recipe.info)
    assert some == ["a small blue heart at the top", "a large blue heart at the top"]
    assert len(prompt_captions("a heart", recipe.info)) == 8 * 2 * 9
    assert prompt_captions("a red circle and a blue star", recipe.info) == [
        "a red circle and a blue star"]
    with pytest.raises(PromptError, match='"purple"'):
        recipe.sample(4, gen, prompt="a purple circle")
    with pytest.raises(RecipeError, match="prompt"):
        recipe.sample(4, gen)
    # Through `layerloom sample`: the weights and the kept images from a run folder.
    project = _project()
    Trainer(project, device="cpu", run_dir=tmp_path / "run").fit(max_steps=2)
    found = sample_project(project, tmp_path / "run", n=3, prompt="a large blue square")
    assert found.data.shape == (3, 3, 32, 32) and len(found.labels) == 3


def test_both_encoders_export_to_onnx_with_parity(tmp_path):
    template = load(TEMPLATES / "clip_shapes.loom")
    for name, net in template.networks.items():
        compiled = compile_network(net)
        path = export_onnx(compiled, tmp_path / f"{name}.onnx")
        assert parity(compiled, path) <= TOLERANCE, name
