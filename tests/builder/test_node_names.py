"""Any name a user can type works end to end (issue 10).

Node ids become attribute names of the compiled ``torch.fx.GraphModule`` and of the generated
code, and ``forward`` argument names.  Ids that clash with what torch or Python already use
there (``code``, ``graph``, ``forward``, ``class``, ``self``…) are mangled internally (a
trailing ``_``), while the user's name stays everywhere the user looks: the fx node meta,
problems, per-layer statistics, the trainable set of a stage, ONNX input/output names.

Network names become class names in the generated code; they are accepted just as freely
(``class``, ``None``, ``f``…) and the class name is mangled where it would clash.
"""

from __future__ import annotations

import importlib.util
import keyword
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import save_file
from torch import fx, nn

from builder import serialize
from builder.codegen import class_name, generate
from builder.commands import AddNetwork, AddNode, Document, RenameNetwork, RenameNode
from builder.compiler import compile_network
from builder.document import (
    DatasetConfig,
    Network,
    Node,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
    valid_name,
)
from builder.propagate import check

HOSTILE = [
    # torch.fx.GraphModule / nn.Module attributes
    "code", "graph", "meta", "eval", "to", "type", "modules", "compile", "cuda", "parameters",
    "state_dict", "add_module", "half", "float", "apply", "forward", "training", "train",
    "requires_grad_", "named_children", "register_buffer", "recompile", "print_readable",
    "_modules", "_parameters", "_apply", "T_destination", "__class__", "__init__", "__dict__",
    # Python keywords, soft keywords and names the generated code and fx code use
    "class", "def", "lambda", "return", "import", "None", "True", "False", "match", "_",
    "self", "torch", "nn", "F", "math", "operator", "getitem",
    # plain names that shadow builtins, and private (name-mangled in a class body) names
    "x", "input", "id", "len", "__hidden", "__x_",
]
END_TO_END = ["code", "forward", "training", "class", "self", "None", "__hidden", "state_dict"]


def _net(node_id: str, name: str = "main") -> Network:
    """Input → Linear ``node_id`` → ReLU → Linear → Output (input field ``x``, 2 features)."""
    net = Network(name)
    net.add("Input", id="inp0", shape=[2], kind="vector", field="x")
    net.add("Linear", id=node_id, units=8)
    net.add("ReLU", id="act0")
    net.add("Linear", id="head0", units=2)
    net.add("Output", id="out0")
    net.chain("inp0", node_id, "act0", "head0", "out0")
    return net


def _all_hostile(name: str = "main") -> Network:
    """Every node hostile, the Input and Output included."""
    net = Network(name)
    net.add("Input", id="self", shape=[2], kind="vector", field="x")
    net.add("Linear", id="forward", units=8)
    net.add("ReLU", id="training")
    net.add("Linear", id="class", units=2)
    net.add("Output", id="None")
    net.chain("self", "forward", "training", "class", "None")
    return net


def _project(net: Network, epochs: int = 1) -> Project:
    return Project({net.name: net}, DatasetConfig("moons", {"n_samples": 400, "noise": 0.1}),
                   RecipeConfig("classification", {"model": net.name}),
                   TrainingSettings(epochs=epochs, batch_size=64,
                                    optimizers={"*": OptimizerConfig("adam", 0.01)}))


def _attr_of(module: fx.GraphModule, node_id: str) -> str:
    """The attribute holding canvas node ``node_id``, found the way the runtime finds it."""
    targets = {n.target for n in module.graph.nodes
               if n.op == "call_module" and n.meta.get("layerloom_node") == node_id}
    assert len(targets) == 1, (node_id, targets)
    return targets.pop()


def _load_source(source: str, path) -> object:
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _codegen_parity(project: Project, tmp_path, stem: str = "gen") -> None:
    """Generated code imports, reads the compiled module's saved weights (same keys) and
    computes exactly what the compiled module computes."""
    generated = _load_source(generate(project), tmp_path / f"{stem}.py")
    for name, net in project.networks.items():
        compiled = compile_network(net)
        model = getattr(generated, class_name(name))()
        assert set(model.state_dict()) == set(compiled.module.state_dict())
        weights = tmp_path / f"{stem}_{name}.safetensors"
        save_file({k: v.contiguous() for k, v in compiled.module.state_dict().items()}, weights)
        generated.load_weights(model, str(weights))
        args = [torch.randn(3, *spec.shape) for spec in compiled.inputs]
        with torch.no_grad():
            expected, actual = compiled.module.eval()(*args), model.eval()(*args)
        expected = expected if isinstance(expected, tuple) else (expected,)
        actual = actual if isinstance(actual, tuple) else (actual,)
        assert len(expected) == len(actual)
        for e, a in zip(expected, actual):
            assert torch.equal(e, a)


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE + ["a" * 64, "_x9", "Z"])
def test_every_identifier_like_name_is_valid(name):
    assert valid_name(name)


@pytest.mark.parametrize("name", ["", "2nd", "my block", "a-b", "é", "a" * 65, "x\n", "a.b"])
def test_names_that_are_not_identifier_like_are_refused(name):
    assert not valid_name(name)


@pytest.mark.parametrize("node_id", ["class", "forward", "training", "None", "self"])
def test_commands_and_files_take_any_name(node_id, tmp_path):
    doc = Document(_project(_net("hidden")))
    doc.do(RenameNode("main", "hidden", node_id))
    doc.do(AddNode("main", Node(node_id + "_", "Dropout")))
    doc.do(AddNetwork(Network("def")))
    doc.do(RenameNetwork("main", "class"))
    assert node_id in doc.project.networks["class"].nodes
    assert doc.project.recipe.roles == {"model": "class"}
    loaded = serialize.load(serialize.save(doc.project, tmp_path / "p.loom"))
    assert set(loaded.networks) == {"class", "def"}
    assert {node_id, node_id + "_"} <= set(loaded.networks["class"].nodes)


# --- per hostile id: check, compile, codegen, freeze, statistics -------------------------------


@pytest.mark.parametrize("node_id", HOSTILE)
def test_hostile_id_checks_compiles_and_trains_a_step(node_id):
    net = _net(node_id)
    report = check(net)
    assert report.ok, [str(p) for p in report.problems]
    compiled = compile_network(net)
    module = compiled.module
    assert [s.name for s in compiled.inputs] == ["inp0"] and compiled.outputs == ["out0"]
    assert {n.meta.get("layerloom_node") for n in module.graph.nodes if n.op != "output"} \
        == set(net.nodes) - {"out0"}
    layer = module.get_submodule(_attr_of(module, node_id))
    assert isinstance(layer, nn.Linear) and layer.out_features == 8
    x = torch.randn(5, 2)
    module(x).square().mean().backward()
    assert all(p.grad is not None for p in module.parameters())


@pytest.mark.parametrize("node_id", HOSTILE)
def test_hostile_id_generated_code_matches_compiled(node_id, tmp_path):
    _codegen_parity(_project(_net(node_id)), tmp_path)


def test_generated_code_for_hostile_ids_is_ruff_clean(tmp_path):
    if not (shutil.which("ruff") or importlib.util.find_spec("ruff")):
        pytest.skip("ruff is not installed")
    for i, node_id in enumerate(HOSTILE):
        (tmp_path / f"gen{i}.py").write_text(generate(_project(_net(node_id))))
    (tmp_path / "all.py").write_text(generate(_project(_all_hostile())))
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("node_id", HOSTILE)
def test_freezing_a_hostile_id_freezes_exactly_its_parameters(node_id, tmp_path):
    net = _net(node_id)
    net.nodes[node_id].trainable = False
    module = compile_network(net).module
    prefix = _attr_of(module, node_id) + "."
    flags = {k: p.requires_grad for k, p in module.named_parameters()}
    assert flags and all(flag != k.startswith(prefix) for k, flag in flags.items()), flags
    generated = _load_source(generate(_project(net)), tmp_path / "frozen.py")
    model = generated.Main()
    assert {k: p.requires_grad for k, p in model.named_parameters()} == flags


@pytest.mark.parametrize("node_id", HOSTILE)
def test_stage_freezer_resolves_hostile_ids(node_id):
    from runtime.recipes import Stage
    from runtime.stages import Freezer

    module = compile_network(_net(node_id)).module
    recipe = SimpleNamespace(name="test", nets={"model": module}, names={"model": "main"},
                             compiled={"model": None})  # its roles (the networks it declares)
    freezer = Freezer(recipe)
    prefix = _attr_of(module, node_id) + "."
    only = Stage("only", train={"model": [node_id]})
    freezer.check(only)
    assert freezer.apply(only) == {"main": [node_id]}
    assert all(p.requires_grad == k.startswith(prefix) for k, p in module.named_parameters())
    assert freezer.apply(Stage("rest", freeze={"model": [node_id]})) == {"main": ["head0"]}
    assert all(p.requires_grad != k.startswith(prefix) for k, p in module.named_parameters())


@pytest.mark.parametrize("node_id", HOSTILE)
def test_layer_statistics_use_the_users_names(node_id):
    from runtime.stats import LayerStats

    module = compile_network(_net(node_id)).module
    stats = LayerStats("main", module, torch.device("cpu"))
    assert stats.grad_layers == [node_id, "head0"]
    assert stats.act_layers == [node_id, "act0", "head0"]
    with stats.watching_activations():
        module(torch.randn(16, 2)).square().mean().backward()
    stats.measure_gradients()
    norms, acts = stats.report()
    assert set(norms) == {node_id, "head0"}
    assert set(acts["mean"]) == {node_id, "act0", "head0"} and set(acts["dead"]) == {"act0"}


# --- several names at once ----------------------------------------------------------------------


def test_an_id_equal_to_another_ids_mangled_name(tmp_path):
    net = Network("main")
    net.add("Input", id="code__", shape=[2], kind="vector", field="x")
    for node_id in ("code", "code_", "forward", "forward_"):
        net.add("Linear", id=node_id, units=4)
    net.add("Output", id="forward__")
    net.chain("code__", "code", "code_", "forward", "forward_", "forward__")
    module = compile_network(net).module
    attrs = {i: _attr_of(module, i) for i in ("code", "code_", "forward", "forward_")}
    assert len(set(attrs.values())) == 4
    assert attrs["code_"] == "code_" and attrs["forward_"] == "forward_"  # safe names stay
    module(torch.randn(3, 2)).sum().backward()
    _codegen_parity(_project(net), tmp_path)


def test_every_reserved_name_in_one_network(tmp_path):
    """Every attribute of a GraphModule and every keyword as a node id, in one chain."""
    ids = sorted({n for n in dir(fx.GraphModule(nn.Module(), fx.Graph())) if valid_name(n)}
                 | set(keyword.kwlist) | set(keyword.softkwlist))
    net = Network("main")
    net.add("Input", id="inp0", shape=[2], kind="vector", field="x")
    for node_id in ids:
        net.add("Linear", id=node_id, units=2)
    net.add("Output", id="out0")
    net.chain("inp0", *ids, "out0")
    module = compile_network(net).module
    assert len({_attr_of(module, i) for i in ids}) == len(ids)
    module(torch.randn(3, 2)).sum().backward()
    _codegen_parity(_project(net), tmp_path)


def test_multi_output_locals_do_not_clash_with_other_nodes(tmp_path):
    """Generated code names a GRU's outputs ``<id>_<port>``; a node of that name must not
    overwrite them."""
    net = Network("main")
    net.add("Input", id="x", shape=[6, 3], kind="sequence", field="x")
    net.add("GRU", id="rnn", hidden=4)
    net.add("Linear", id="rnn_h", units=4)
    net.add("Output", id="rnn_y")
    net.add("Output", id="state")
    net.connect("x", "rnn")
    net.connect("rnn", "rnn_h", "y", "x")
    net.connect("rnn_h", "rnn_y")
    net.connect("rnn", "state", "h", "x")
    _codegen_parity(_project(net), tmp_path)


def test_inline_operation_with_a_hostile_id(tmp_path):
    """An inline op (Add) has no module: freezing it freezes nothing, and no other node's
    module is taken for it."""
    from runtime.recipes import Stage
    from runtime.stages import Freezer

    net = Network("main")
    net.add("Input", id="input", shape=[2], kind="vector", field="x")
    net.add("Linear", id="code_", units=2)
    net.add("Add", id="code")
    net.add("Linear", id="training", units=2)
    net.add("Output", id="return")
    net.chain("input", "code_", "code", "training", "return")
    net.connect("input", "code", dst_port="x2")
    module = compile_network(net).module
    assert _attr_of(module, "code_") == "code_"
    module(torch.randn(3, 2)).sum().backward()
    _codegen_parity(_project(net), tmp_path)
    recipe = SimpleNamespace(name="test", nets={"model": module}, names={"model": "main"},
                             compiled={"model": None})  # its roles (the networks it declares)
    freezer = Freezer(recipe)
    assert freezer.apply(Stage("s", freeze={"model": ["code", "input"]})) \
        == {"main": ["code_", "training"]}


def test_aux_losses_are_named_by_node_id():
    from builder.compiler import aux_losses

    net = Network("main")
    net.add("Input", id="x", shape=[4])
    net.add("Linear", id="code", units=8)
    net.add("Sigmoid", id="act")
    net.add("ActivitySparsity", id="training")
    net.add("Output", id="y")
    net.chain("x", "code", "act", "training", "y")
    outer = Network("main")
    outer.add("Input", id="x", shape=[4])
    outer.nodes["forward"] = Node("forward", "Group", subnet=net)
    outer.add("Output", id="y")
    outer.chain("x", "forward", "y")
    gm = compile_network(outer).module
    gm(torch.randn(16, 4))
    assert set(aux_losses(gm)) == {"forward.training"}


def test_group_with_hostile_ids_inside(tmp_path):
    from runtime.recipes import Stage
    from runtime.stages import Freezer
    from runtime.stats import LayerStats

    outer = Network("main")
    outer.add("Input", id="inp0", shape=[2], kind="vector", field="x")
    outer.nodes["code"] = Node("code", "Group", subnet=_all_hostile("code"))
    outer.add("Output", id="out0")
    outer.connect("inp0", "code", dst_port="self")
    outer.connect("code", "out0", src_port="None")
    module = compile_network(outer).module
    module(torch.randn(4, 2)).sum().backward()
    _codegen_parity(_project(outer), tmp_path)
    recipe = SimpleNamespace(name="test", nets={"model": module}, names={"model": "main"},
                             compiled={"model": None})  # its roles (the networks it declares)
    freezer = Freezer(recipe)
    assert freezer.apply(Stage("s", freeze={"model": ["code.forward"]})) == {"main": ["code"]}
    inner = module.get_submodule(_attr_of(module, "code"))
    frozen = {id(p) for p in inner.get_submodule(_attr_of(inner, "forward")).parameters()}
    assert all(p.requires_grad == (id(p) not in frozen) for p in module.parameters())
    assert LayerStats("main", module, torch.device("cpu")).act_layers == ["code"]


@pytest.mark.parametrize("name", ["class", "None", "f", "F", "nn", "self", "forward", "_"])
def test_hostile_network_names(name, tmp_path):
    project = _project(_all_hostile(name))
    compiled = compile_network(project.networks[name])
    compiled.module(torch.randn(2, 2))
    _codegen_parity(project, tmp_path)


def test_network_names_whose_class_names_collide(tmp_path):
    a, b, c = _net("code", "a_b"), _net("code", "aB"), _net("code", "_")
    project = Project({n.name: n for n in (a, b, c)})
    source = generate(project)
    generated = _load_source(source, tmp_path / "many.py")
    classes = [v for v in vars(generated).values()
               if isinstance(v, type) and issubclass(v, nn.Module) and v.__module__ == "many"]
    assert len(classes) == 3  # none overwrote another
    assert getattr(generated, class_name("a_b"))().__doc__.startswith("Network 'a_b'")


# --- end to end: train, statistics events, export, code from the run's weights ------------------


@pytest.mark.slow
@pytest.mark.parametrize("net", [pytest.param(lambda i=i: _net(i), id=i) for i in END_TO_END]
                         + [pytest.param(_all_hostile, id="all-hostile")])
def test_train_export_and_code_end_to_end(net, tmp_path):
    from runtime.events import Failure, GradientStats
    from runtime.export import TOLERANCE, export_project
    from runtime.trainer import Trainer, Watch

    project = _project(net())
    network = project.networks["main"]
    events = []
    trainer = Trainer(project, callback=events.append, device="cpu", run_dir=tmp_path / "run",
                      watch=Watch(every_steps=1, stride=1, stats_every_s=0, budget=1.0))
    finished = trainer.fit(max_steps=4)
    assert not [e for e in events if isinstance(e, Failure)]
    assert finished.reason in ("max_steps", "completed"), finished
    weighted = {i for i, n in network.nodes.items() if n.block == "Linear"}
    grads = [e for e in events if isinstance(e, GradientStats)]
    assert grads and all(set(e.norms) == weighted for e in grads)
    results = export_project(project, tmp_path / "m.onnx", weights=tmp_path / "run",
                             code=tmp_path / "model.py")
    r = results[0]
    assert r.ok and r.max_abs_diff <= TOLERANCE
    inputs = [i for i, n in network.nodes.items() if n.block == "Input"]
    outputs = [i for i, n in network.nodes.items() if n.block == "Output"]
    assert r.inputs == inputs and r.outputs == outputs
    generated = _load_source((tmp_path / "model.py").read_text(), tmp_path / "model_e2e.py")
    model = generated.load_weights(generated.Main(), str(tmp_path / "main.safetensors"))
    trained = trainer.recipe.nets["model"].eval()
    x = torch.randn(7, 2)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), trained(x), atol=1e-6)
