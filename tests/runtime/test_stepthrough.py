"""Step-through: one sample's forward pass, backward pass and optimizer step, recorded; its
gradients must be autograd's own, on the same compiled module."""

import pytest
import torch
from rt_helpers import mlp, project

from builder.document import OptimizerConfig
from builder.gallery import template_path
from builder.grouping import group_nodes
from builder.names import attr_path
from builder.serialize import load
from runtime.stepthrough import StepThrough, StepThroughError


def template(name: str, samples: int = 40):
    p = load(template_path(name))
    p.dataset.params["n_samples"] = samples
    return p


def skip_project():
    """x → a → relu → b, then relu + b (a skip connection) → logits."""
    net = mlp()
    for i in ("hidden2", "relu2"):
        del net.nodes[i]
    net.edges = []
    net.add("Linear", id="b", units=32)
    net.add("Add", id="skip")
    net.chain("x", "hidden1", "relu1", "b")
    net.connect("relu1", "skip")
    net.connect("b", "skip")
    net.chain("skip", "logits", "y")
    return project(net)


def group_project():
    net = mlp()
    net = group_nodes(net, ["hidden2", "relu2"], name="body").new
    return project(net)


PROJECTS = {"mlp": lambda: template("mlp", 60), "lenet": lambda: template("lenet"),
            "skip": skip_project, "group": group_project}


def autograd_reference(st: StepThrough):
    """The plain way: call the module, hook each block module's output, torch.autograd.grad."""
    module, outs, hooks = st.module, {}, []
    for k in st.order:
        try:
            sub = module.get_submodule(attr_path(module, k))
        except AttributeError:
            continue
        hooks.append(sub.register_forward_hook(lambda m, i, o, k=k: outs.__setitem__(k, o)))
    args = [a.detach().clone().requires_grad_(a.is_floating_point()) for a in st.args]
    try:
        result = module(*args)
    finally:
        for h in hooks:
            h.remove()
    loss = st.recipe.loss(st.recipe.output("model", result), st.batch[st.recipe.target])[0]
    params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    nodes = [k for k, o in outs.items() if isinstance(o, torch.Tensor)]
    inputs = [a for a in args if a.requires_grad]
    grads = torch.autograd.grad(loss, [p for _, p in params] + [outs[k] for k in nodes]
                                + inputs, allow_unused=True)
    n = len(params)
    return (dict(zip([k for k, _ in params], grads[:n])), dict(zip(nodes, grads[n:n + len(nodes)])),
            grads[n + len(nodes):], loss)


@pytest.mark.parametrize("name", list(PROJECTS))
def test_the_step_throughs_gradients_equal_autograds(name):
    st = StepThrough(PROJECTS[name](), sample=2)
    params, outputs, inputs, loss = autograd_reference(st)
    assert abs(st.loss - float(loss.detach())) < 1e-6
    assert set(st.param_grads) == set(params) and params
    for n, g in params.items():
        torch.testing.assert_close(st.param_grads[n], g, atol=1e-6, rtol=0)
    assert outputs
    for k, g in outputs.items():
        torch.testing.assert_close(st.output_grads[k][0], g, atol=1e-6, rtol=0)
    first = st.order[0]  # the Input: the gradient with respect to the sample itself
    torch.testing.assert_close(st.output_grads[first][0], inputs[0], atol=1e-6, rtol=0)
    # Each backward step shows what was computed: its node's gradient norm and weights.
    for step in st.backward_steps():
        if step.grad is not None:
            assert step.grad.norm == pytest.approx(
                float(torch.cat([g.reshape(-1) for g in st.output_grads[step.node]])
                      .double().norm()), rel=1e-6)
        for p in step.params:
            assert p.grad.norm == pytest.approx(float(params[p.name].double().norm()), rel=1e-6)


def test_an_inline_blocks_gradient_follows_the_chain_rule():
    st = StepThrough(PROJECTS["mlp"](), sample=0)
    # relu1 is an inline op (no module to hook): ∂L/∂relu1 = ∂L/∂hidden2 · W₂.
    w = st.module.get_submodule("hidden2").weight
    torch.testing.assert_close(st.output_grads["relu1"][0], st.output_grads["hidden2"][0] @ w,
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["lenet", "skip", "group"])
def test_forward_runs_in_a_topological_order_of_the_canvas(name):
    p = PROJECTS[name]()
    st = StepThrough(p)
    net = p.networks[st.network]
    forward = [s.node for s in st.forward_steps()]
    backward = [s.node for s in st.backward_steps()]
    assert backward == forward[::-1]
    blocks = {k for k, n in net.nodes.items() if n.block != "Output"}
    assert set(forward) == blocks
    at = {k: i for i, k in enumerate(forward)}
    for e in net.edges:
        if e.src in at and e.dst in at:
            assert at[e.src] < at[e.dst], e
    if name == "group":  # a group is one step, with all of its inner weights
        step = next(s for s in st.backward_steps() if s.node == "body")
        assert {q.name for q in step.params} == {"body.hidden2.weight", "body.hidden2.bias"}


def test_plain_sgd_moves_each_trainable_weight_by_lr_times_its_gradient():
    p = template("mlp", 60)
    p.training.optimizers = {"*": OptimizerConfig("sgd", 0.05)}
    p.networks["main"].nodes["hidden1"].trainable = False
    st = StepThrough(p, sample=5, part="training")
    before = {n: w.detach().clone() for n, w in st.module.named_parameters()}
    update = st.update()
    assert update.optimizer == "sgd" and update.lr == 0.05
    for n, g in st.param_grads.items():
        torch.testing.assert_close(st.deltas[n], -0.05 * g, atol=1e-7, rtol=1e-5)
    frozen = update.of("hidden1")
    assert frozen and all(c.delta == 0 and not c.trainable for c in frozen)
    assert "hidden1.weight" not in st.param_grads
    step = next(s for s in st.backward_steps() if s.node == "hidden1")
    assert all(q.grad is None and not q.trainable for q in step.params)
    moved = update.of("logits")
    assert all(c.delta > 0 and 0 < c.relative < 1 for c in moved)
    assert update.loss_after < update.loss_before  # one step downhill, on this sample
    for n, w in st.module.named_parameters():  # the network itself (a run's weights) is kept
        assert torch.equal(w, before[n])


def test_other_recipes_and_missing_samples_are_refused_in_words():
    with pytest.raises(StepThroughError, match="supervised"):
        StepThrough(template("vae"))
    with pytest.raises(StepThroughError, match="not among the 12 validation samples"):
        StepThrough(template("mlp", 60), sample=12)
    with pytest.raises(StepThroughError, match="part must be"):
        StepThrough(template("mlp", 60), part="test")
