"""What panels say in words: counts agree with their nouns, and empty fields say what to
type (never the bare kind of value, "a text")."""

from app.inspector.node_facts import overview_html
from app.inspector.param_field import placeholder
from builder.blocks import catalogue
from builder.document import Network
from builder.propagate import check


def _net(with_error: bool) -> Network:
    net = Network("main")
    x = net.add("Input", id="x", shape=[4], kind="vector")
    fc = net.add("Linear", id="fc", units=3)
    net.connect(x, fc)
    if not with_error:
        net.connect(fc, net.add("Output", id="y"))
    return net


def test_problem_counts_agree_with_their_nouns():
    clean = _net(False)
    assert "0 errors, 0 warnings" in overview_html(clean, check(clean), None)
    broken = _net(True)
    report = check(broken)
    errors = sum(p.severity == "error" for p in report.problems)
    text = overview_html(broken, report, None)
    assert f"{errors} error{'s' * (errors != 1)}," in text
    assert "1 errors" not in text and "1 warnings" not in text


def test_no_field_asks_for_a_text():
    for spec in catalogue().values():
        for param in spec.params:
            hint = placeholder(param)
            assert hint and "a text" not in hint, (spec.name, param.name, hint)
    field = next(p for p in catalogue()["Input"].params if p.name == "field")
    assert placeholder(field) == "a name, e.g. x"
