"""Prompts for the text-to-image models: what they say, and their ids in the caption format."""

import numpy as np
import pytest

from runtime.data import shapes
from runtime.prompts import EVAL_PROMPTS, Prompt, PromptError, parse_prompt, prompt_ids
from runtime.recipes.base import RecipeError


@pytest.mark.parametrize("where", shapes.POSITIONS)
def test_every_place_of_the_captions_is_read(where):
    text = f"a small red circle {'in' if where == 'centre' else 'at'} the {where}"
    assert parse_prompt(text).position == shapes.POSITIONS.index(where)


def test_attributes_words_order_case_and_punctuation():
    p = parse_prompt("At the TOP-left: a Large, blue hexagon!")
    assert (p.shape, p.colour, p.size, p.position) == (
        shapes.SHAPES.index("hexagon"), list(shapes.COLOURS).index("blue"),
        shapes.SIZES.index("large"), 0)
    assert p.text == "At the TOP-left: a Large, blue hexagon!"
    assert p.words == ("at", "the", "top", "left", "a", "large", "blue", "hexagon")
    unsaid = parse_prompt("a green star")
    assert (unsaid.size, unsaid.position, unsaid.colour) == (None, None, 1)  # green
    assert parse_prompt("bottom right").position == 8
    assert parse_prompt("right bottom").position == 8  # the same place in either order


def test_two_shapes_describe_the_first():
    p = parse_prompt("a small red circle at the top left and a large blue square at the bottom")
    assert (p.shape, p.colour, p.size, p.position, p.objects) == (0, 0, 0, 0, 2)


def test_unknown_words_are_named_with_what_is_known():
    with pytest.raises(PromptError) as e:
        parse_prompt("a purple blob in the center, a purple one")
    said = str(e.value)
    assert '"purple", "blob", "center", "one"' in said  # each once, in order
    assert '"centre" for "center"' in said  # a near miss gets a hint; no synonym is added
    assert "circle" in said and "magenta" in said  # what it knows
    assert isinstance(e.value, RecipeError)  # `layerloom sample` says it and exits 2


@pytest.mark.parametrize("text", ["", "   ", "?!"])
def test_an_empty_prompt_is_refused(text):
    with pytest.raises(PromptError, match="empty"):
        parse_prompt(text)


@pytest.mark.parametrize("text, what", [("a red blue circle", "colours"),
                                        ("a circle square", "shapes"),
                                        ("a small large circle", "sizes"),
                                        ("at the left right", "left or right"),
                                        ("at the top bottom", "top or bottom")])
def test_contradictions_are_refused(text, what):
    with pytest.raises(PromptError, match=what):
        parse_prompt(text)


def test_a_smaller_vocabulary_refuses_what_it_lacks():
    vocab = tuple(w for w in shapes.VOCAB if w != "hexagon")
    with pytest.raises(PromptError, match='"hexagon"'):
        parse_prompt("a red hexagon", vocab)


def test_ids_match_the_training_captions():
    data = shapes.shapes(40, seed=3, size=16, max_objects=2)
    length = data["caption"].shape[1]
    for ids in data["caption"].astype(np.int64):
        text = shapes.decode_caption(ids)
        again = prompt_ids(text, length)
        assert again.dtype == np.int64 and again.shape == (length,)
        np.testing.assert_array_equal(again, ids)
        assert np.array_equal(prompt_ids(parse_prompt(text), length), ids)


def test_a_prompt_too_long_is_refused():
    text = "a large red circle at the top left"
    assert prompt_ids(text, 10)[-1] == shapes.EOS
    with pytest.raises(PromptError, match="at most 7"):
        prompt_ids(text, 9)
    manual = Prompt("a red star")  # built by hand: its words come from the text
    assert list(prompt_ids(manual, 6)) == [shapes.BOS, 3, 10, 22, shapes.EOS, shapes.PAD]


def test_eval_prompts_cover_every_shape_colour_and_place():
    prompts = [parse_prompt(t) for t in EVAL_PROMPTS]
    assert 20 <= len(prompts) <= 30
    for attr, values in (("shape", shapes.SHAPES), ("colour", shapes.COLOURS),
                         ("position", shapes.POSITIONS)):
        counts = np.bincount([getattr(p, attr) for p in prompts], minlength=len(values))
        assert counts.min() >= 2, attr
    assert sum(p.size == shapes.SIZES.index("large") for p in prompts) > len(prompts) / 2
    for p in prompts:  # each fits the single-shape captions (10 ids) and reads back
        assert shapes.decode_caption(prompt_ids(p, 10)) == p.text
