"""Transfer-learning edits: freeze everything up to a block, a new output layer for N classes,
and per-block learning-rate factors kept in the file and on the compiled module."""

import pytest

from builder.commands import CommandError, Document, SetNodeOptions
from builder.compiler import LR_SCALE, compile_network
from builder.document import Network, Project
from builder.reuse import freeze_up_to, head_param, new_head, upstream
from builder.serialize import dumps, loads


def two_branch() -> Network:
    """x → conv → relu → flat → fc → logits → y, with a side branch aux off relu."""
    net = Network("main")
    net.chain(net.add("Input", id="x", shape=[1, 8, 8], kind="image"),
              net.add("Conv2d", id="conv", filters=4, kernel=3, padding=1),
              net.add("ReLU", id="relu"),
              net.add("Flatten", id="flat"),
              net.add("Linear", id="fc", units=16),
              net.add("Linear", id="logits", units=10),
              net.add("Output", id="y"))
    net.chain("relu", net.add("Flatten", id="flat2"), net.add("Linear", id="aux", units=2),
              net.add("Output", id="y2"))
    return net


def test_upstream_is_the_node_and_everything_that_reaches_it():
    net = two_branch()
    assert upstream(net, "fc") == {"x", "conv", "relu", "flat", "fc"}


def test_freeze_up_to_freezes_the_weighted_blocks_before_and_undoes_in_one_step():
    doc = Document(Project({"main": two_branch()}))
    command = freeze_up_to("main", doc.project.networks["main"], "fc")
    assert command.node_ids == ("conv", "fc") and "up to fc" in command.text
    doc.do(command)
    nodes = doc.project.networks["main"].nodes
    assert [i for i, n in nodes.items() if not n.trainable] == ["conv", "fc"]
    assert nodes["logits"].trainable and nodes["aux"].trainable  # after or beside: untouched
    assert freeze_up_to("main", doc.project.networks["main"], "fc") is None  # nothing left
    doc.undo()
    assert all(n.trainable for n in nodes.values())


def test_a_new_head_is_a_new_trainable_layer_with_the_new_class_count():
    net = two_branch()
    net.nodes["logits"].trainable = False
    net.nodes["logits"].init = "xavier"
    doc = Document(Project({"main": net}))
    assert head_param(net, "logits") == "units" and head_param(net, "conv") == "filters"
    assert head_param(net, "relu") is None
    doc.do(new_head("main", net, "logits", 3))
    net = doc.project.networks["main"]
    head = net.nodes["logits_new"]
    assert "logits" not in net.nodes and head.params["units"] == 3
    assert head.trainable and head.init == "default"
    assert any(e.src == "fc" and e.dst == "logits_new" for e in net.edges)
    assert compile_network(net).module(__import__("torch").zeros(2, 1, 8, 8))[0].shape == (2, 3)
    doc.do(new_head("main", net, "logits_new", 4))  # again: a fresh name again
    assert "logits_new2" in doc.project.networks["main"].nodes
    doc.undo()
    doc.undo()
    assert doc.project.networks["main"].nodes["logits"].params["units"] == 10


def test_a_new_head_refuses_what_cannot_be_one():
    net = two_branch()
    with pytest.raises(CommandError, match="relu"):
        new_head("main", net, "relu", 3)
    with pytest.raises(CommandError, match="whole number"):
        new_head("main", net, "logits", 0)


def test_a_learning_rate_factor_is_kept_in_the_file_and_on_the_module():
    doc = Document(Project({"main": two_branch()}))
    doc.do(SetNodeOptions("main", ("conv",), lr_scale=0.1))
    text = dumps(doc.project)
    assert text.count('"lr_scale"') == 1
    net = loads(text).networks["main"]
    assert net.nodes["conv"].lr_scale == 0.1 and net.nodes["fc"].lr_scale == 1.0
    module = compile_network(net).module
    assert getattr(module.conv, LR_SCALE) == 0.1 and not hasattr(module.fc, LR_SCALE)
    doc.undo()
    assert doc.project.networks["main"].nodes["conv"].lr_scale == 1.0


@pytest.mark.parametrize("bad", ["0", "-1", "2000", "true", '"fast"'])
def test_a_bad_learning_rate_factor_is_refused_with_its_place(bad):
    text = dumps(Project({"main": two_branch()}))
    text = text.replace('"id": "conv",', f'"id": "conv", "lr_scale": {bad},', 1)
    with pytest.raises(ValueError, match="lr_scale"):
        loads(text)
