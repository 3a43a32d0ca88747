"""Lessons: every file parses into its four parts, belongs to a template, names only blocks and
networks the template has, and every parameter count it states is the one the analysis finds."""

import re

import pytest

from builder.analysis import analyze
from builder.gallery import summaries
from builder.lessons import PARTS, LessonError, lesson, lesson_names, parse, template_of
from builder.serialize import load

NAMES = lesson_names()


# Templates whose lessons are still being written; remove a name once its lesson is in.
_LESSON_PENDING: set[str] = set()


def test_every_gallery_template_has_a_lesson():
    templates = {t.name for t in summaries()}
    missing = sorted(templates - _LESSON_PENDING - set(NAMES))
    assert not missing, f"templates without a lesson in resources/lessons: {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_a_lesson_parses_names_a_template_and_states_true_parameter_counts(name):
    templates = {t.name: t for t in summaries()}
    assert name in templates, f"resources/lessons/{name}.md names no template"
    found = lesson(name)
    assert [head for head, _ in found.parts] == list(PARTS)
    project = load(templates[name].path)
    first = next(iter(project.networks))
    # A name in bold is a block or a network of this template (a rename must not go stale).
    names = set(project.networks) | {n for net in project.networks.values() for n in net.nodes}
    bold = set(re.findall(r"\*\*([^*]+)\*\*", found.text()))
    assert bold <= names, f"{name}: the lesson names {sorted(bold - names)}, not in the template"
    for net, count in found.params:
        assert (net or first) in project.networks, f"{name}: no network {net!r}"
        assert analyze(project.networks[net or first]).params == count, (name, net)


def test_a_part_out_of_order_or_empty_is_an_error_naming_it():
    with pytest.raises(LessonError, match="found Change, Look at"):
        parse("x", "## Change\nA\n## Look at\nB\n")
    text = "".join(f"## {head}\nbody\n" for head in PARTS).replace("body\n## The", "\n## The")
    with pytest.raises(LessonError, match="'What should happen' is empty"):
        parse("x", text)


def test_stated_counts_are_read_per_network():
    text = "".join(f"## {head}\nbody\n" for head in PARTS)
    found = parse("x", text + "Parameters: 1,251\nParameters (generator): 5,378\n")
    assert found.params == ((None, 1251), ("generator", 5378))
    assert "body" in found.part("Change") and found.markdown().startswith("### Look at")
    paragraphs = [p.strip() for p in found.markdown().split("\n\n")]  # one each, shown apart
    assert {"Parameters: **1,251**", "Parameters (generator): **5,378**"} <= set(paragraphs)


def test_a_copy_is_matched_to_its_template_by_title():
    assert template_of("Multilayer perceptron on spirals\nTwo hidden layers…") == "mlp"
    assert template_of("Untitled project") is None
    assert template_of("") is None and lesson("no_such_template") is None
