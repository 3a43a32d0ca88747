"""The attribute classifier behind the prompt-accuracy figure, on held-out shapes pictures.

The classifier trains once per test session (the tests' data folder starts empty), in about
two minutes of one core; every test here shares it.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from runtime import attributes
from runtime.data import shapes
from runtime.prompts import parse_prompt


@pytest.fixture(scope="module")
def net():
    return attributes.attribute_classifier()


@pytest.fixture(scope="module")
def held_out():
    """Pictures the classifier never saw (another seed), as floats in [0, 1]."""
    d = shapes.shapes(600, seed=4242, size=32)
    return torch.from_numpy(d["x"]).float() / 255, d


def _accuracy(net, x, d) -> dict[str, float]:
    seen = attributes.predict_attributes(x, net)
    fields = {"shape": "shape", "colour": "colour", "size": "size_label",
              "position": "position"}
    return {k: float((seen[k].numpy() == d[f]).mean()) for k, f in fields.items()}


def _check(acc, shape=0.95):
    assert acc["colour"] >= 0.97, acc
    assert acc["shape"] >= shape, acc
    assert acc["position"] >= 0.95, acc
    assert acc["size"] >= 0.9, acc


def test_reads_held_out_pictures(net, held_out):
    x, d = held_out
    _check(_accuracy(net, x, d))


def test_reads_tinted_noisy_and_blurred_pictures(net, held_out):
    """What a generator draws: off colours, a darker or lighter, noisy, soft picture."""
    x, d = held_out
    g = torch.Generator().manual_seed(1)
    tint = torch.tensor([0.92, 1.0, 1.08]).view(1, 3, 1, 1)
    soft = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False).lerp(x, 0.5)
    worse = (soft * tint * 0.95 + 0.04 + torch.randn(x.shape, generator=g) * 0.05).clamp(0, 1)
    _check(_accuracy(net, worse, d), shape=0.9)


def test_reads_pictures_of_other_sizes(net, held_out):
    """A base model's 16-pixel pictures are scaled to 32 first."""
    x, d = held_out
    small = F.interpolate(x, size=16, mode="bilinear", antialias=True, align_corners=False)
    acc = _accuracy(net, small, d)
    assert acc["colour"] >= 0.97 and acc["position"] >= 0.95, acc
    assert acc["shape"] >= 0.8, acc  # circles and hexagons blur together at 16 pixels
    grey = attributes.predict_attributes(x.mean(1, keepdim=True), net)  # one channel works
    assert grey["position"].shape == (len(x),)


def test_prompt_accuracy_against_captions(net, held_out):
    x, d = held_out
    x, captions = x[:200], d["caption"][:200]
    prompts = [parse_prompt(shapes.decode_caption(c)) for c in captions]
    acc = attributes.prompt_accuracy(x, prompts, net)
    assert set(acc) == {"shape", "colour", "size", "position", "all"}
    direct = _accuracy(net, x, {k: v[:200] for k, v in d.items()})
    for k in ("shape", "colour", "size", "position"):
        assert acc[k] == pytest.approx(direct[k])
    assert 0.8 <= acc["all"] <= min(acc.values())
    # Prompts that do not fit the pictures score low; unstated attributes are not counted.
    wrong = [parse_prompt(f"a {list(shapes.COLOURS)[(p.colour + 1) % 8]}") for p in prompts]
    bad = attributes.prompt_accuracy(x, wrong, net)
    assert bad["colour"] <= 0.05 and bad["all"] == bad["colour"]
    assert math.isnan(bad["shape"]) and math.isnan(bad["position"])


def test_prompt_accuracy_takes_texts_and_checks_lengths(net, held_out):
    x, d = held_out
    text = shapes.decode_caption(d["caption"][0])
    assert attributes.prompt_accuracy(x[:1], [text], net)["colour"] in (0.0, 1.0)
    with pytest.raises(ValueError, match="2 images for 1 prompts"):
        attributes.prompt_accuracy(x[:2], [text], net)


def test_kept_on_disk_and_deterministic(net):
    attributes.forget()
    again = attributes.attribute_classifier()  # from the data folder: no second training
    for (k, a), b in zip(net.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert not again.training
    files = list((attributes.data_root() / attributes.FOLDER).glob("attributes-*"))
    assert len(files) == 1


def test_an_unreadable_file_is_not_used(tmp_path):
    bad = tmp_path / "attributes-x.safetensors"
    bad.write_bytes(b"not weights")
    assert attributes._read(bad) is None
