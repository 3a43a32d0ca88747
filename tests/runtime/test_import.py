"""``layerloom import``: Layerloom → ONNX → import round trips, PyTorch classes through
torch.fx, unmapped operators named, and the CLI contract (exit codes, files, --force)."""

from __future__ import annotations

import textwrap
import warnings

import onnx
import pytest
import torch
from onnx import TensorProto, helper

from builder.compiler import compile_network
from builder.document import Network
from builder.propagate import check
from builder.serialize import load
from runtime.cli import main
from runtime.export import export_onnx
from runtime.importer import Unmapped, import_model
from runtime.init_weights import load_init

MODELS = textwrap.dedent('''
    import torch
    import torch.nn.functional as F
    from torch import nn


    class TinyResNet(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)  # every instance alike: the test compares two
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.bn = nn.BatchNorm2d(8)
            self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
            self.pool = nn.MaxPool2d(2)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(8, 5)
            with torch.no_grad():  # statistics other than 0 / 1, so eval mode shows them
                self.bn.running_mean.uniform_(-0.5, 0.5)
                self.bn.running_var.uniform_(0.5, 2.0)

        def forward(self, x):
            x = F.relu(self.bn(self.stem(x)))
            x = torch.relu(self.conv(x) + x)
            x = self.gap(self.pool(x))
            return self.head(torch.flatten(x, 1))


    class ViewHead(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = nn.Conv2d(1, 4, 3)
            self.drop = nn.Dropout(0.3)
            self.fc = nn.Linear(4 * 6 * 6, 3)

        def forward(self, x):
            x = torch.tanh(self.conv(x))
            return self.fc(self.drop(x.view(x.size(0), -1)))


    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.emb = nn.Embedding(30, 8)
            self.lstm = nn.LSTM(8, 12, batch_first=True)
            self.tag = nn.Linear(12, 4)

        def forward(self, ids):
            out, _ = self.lstm(self.emb(ids))
            return self.tag(out)


    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.shuffle = nn.PixelShuffle(2)

        def forward(self, x):
            return self.shuffle(torch.sin(self.fc(x)))
''')


@pytest.fixture
def models(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(MODELS)
    return path


def resnet() -> Network:
    n = Network("main")
    n.add("Input", id="x", shape=[3, 8, 8], kind="image")
    n.add("Conv2d", id="stem", filters=6, padding=1)
    n.add("BatchNorm", id="bn")
    n.add("ReLU", id="act")
    n.add("Conv2d", id="conv", filters=6, padding=1)
    n.add("Add", id="skip")
    n.add("ReLU", id="act2")
    n.add("MaxPool2d", id="pool")
    n.add("GlobalAvgPool", id="gap")
    n.add("Linear", id="head", units=4)
    n.add("Output", id="logits")
    n.chain("x", "stem", "bn", "act", "conv", "skip")
    n.connect("act", "skip", dst_port="x2")
    n.chain("skip", "act2", "pool", "gap", "head", "logits")
    return n


def tagger() -> Network:
    n = Network("main")
    n.add("Input", id="ids", shape=["T"], kind="tokens")
    n.add("Embedding", id="emb", vocab=30, dim=8)
    n.add("LSTM", id="lstm", hidden=12)
    n.add("Linear", id="tag", units=4)
    n.add("Output", id="tags")
    n.chain("ids", "emb", "lstm", "tag", "tags")
    return n


def reload(loom):
    """The imported project compiled and started from its weights, as training would."""
    net = load(loom).networks["main"]
    assert not check(net).problems, check(net).problems
    compiled = compile_network(net)
    report = load_init(compiled.module, loom.with_suffix(".safetensors"), "main")
    assert not (report.skipped or report.new or report.unused), report.message
    return net, compiled.module.eval()


def _inputs(kind: str):
    g = torch.Generator().manual_seed(3)
    return torch.randn(5, 3, 8, 8, generator=g) if kind == "image" else \
        torch.randint(0, 30, (5, 9), generator=g)


@pytest.mark.parametrize("make,kind", [(resnet, "image"), (tagger, "tokens")])
def test_onnx_round_trip_gives_the_same_outputs(tmp_path, make, kind):
    original = compile_network(make())
    with torch.no_grad():  # non-trivial batch statistics (folded into the conv on export)
        for m in original.module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    export_onnx(original, tmp_path / "m.onnx")
    import_model(str(tmp_path / "m.onnx"), tmp_path / "m.loom")
    net, module = reload(tmp_path / "m.loom")
    blocks = {n.block for n in net.nodes.values()}
    assert {"Input", "Output"} <= blocks
    assert ({"Conv2d", "Add", "MaxPool2d", "GlobalAvgPool", "Linear"} if kind == "image"
            else {"Embedding", "LSTM", "Linear"}) <= blocks
    x = _inputs(kind)
    with torch.no_grad():
        assert (module(x) - original.module.eval()(x)).abs().max() <= 1e-5
    assert net.nodes["ids" if kind == "tokens" else "x"].params["shape"] == \
        (["T"] if kind == "tokens" else [3, 8, 8])  # the symbolic axis stays symbolic


@pytest.mark.parametrize("cls,x", [
    ("TinyResNet", torch.randn(4, 3, 8, 8)),
    ("ViewHead", torch.randn(4, 1, 8, 8)),
    ("Tagger", torch.randint(0, 30, (4, 7))),
])
def test_pytorch_class_imports_with_its_weights(tmp_path, models, cls, x):
    import_model(f"{models}:{cls}", tmp_path / "m.loom",
                 input_shapes=[[1, 8, 8]] if cls == "ViewHead" else None)
    net, module = reload(tmp_path / "m.loom")
    from runtime.importer.fx_graph import load_class

    source = load_class(f"{models}:{cls}").eval()
    with torch.no_grad():
        assert (module(x) - source(x)).abs().max() <= 1e-5
    if cls == "TinyResNet":
        assert net.nodes["head"].block == "Linear" and net.nodes["bn"].block == "BatchNorm"


def test_weights_option_replaces_the_class_weights(tmp_path, models):
    from runtime.importer.fx_graph import load_class

    trained = load_class(f"{models}:Tagger")
    with torch.no_grad():  # other than the weights the class is created with
        trained.tag.weight.mul_(3)
    torch.save(trained.state_dict(), tmp_path / "state.pt")
    assert main(["import", f"{models}:Tagger", "--weights", str(tmp_path / "state.pt"),
                 "-o", str(tmp_path / "t.loom")]) == 0
    _, module = reload(tmp_path / "t.loom")
    x = torch.randint(0, 30, (2, 6))
    with torch.no_grad():
        assert (module(x) - trained.eval()(x)).abs().max() <= 1e-5


def test_unmapped_modules_and_functions_are_all_named(tmp_path, models, capsys):
    with pytest.raises(Unmapped) as e:
        import_model(f"{models}:Odd", tmp_path / "odd.loom")
    assert any("PixelShuffle" in n for n in e.value.names)
    assert any("sin" in n for n in e.value.names)
    assert main(["import", f"{models}:Odd", "-o", str(tmp_path / "odd.loom")]) == 1
    err = capsys.readouterr().err
    assert "PixelShuffle" in err and "sin" in err
    assert not list(tmp_path.glob("odd.*"))


def _onnx_with(tmp_path, *ops: str):
    nodes, prev = [], "x"
    for i, op in enumerate(ops):
        out = "y" if i == len(ops) - 1 else f"t{i}"
        nodes.append(helper.make_node(op, [prev], [out], name=f"/{op.lower()}{i}/{op}"))
        prev = out
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])])
    path = tmp_path / "odd.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return path


def test_unmapped_onnx_operators_are_all_named(tmp_path, capsys):
    path = _onnx_with(tmp_path, "Relu", "Sin", "Sigmoid", "Cos")
    assert main(["import", str(path), "-o", str(tmp_path / "odd.loom")]) == 1
    err = capsys.readouterr().err
    assert "Sin (/sin1/Sin)" in err and "Cos (/cos3/Cos)" in err and "Relu" not in err
    assert not (tmp_path / "odd.loom").exists()


def test_cli_contract(tmp_path, capsys):
    path = _onnx_with(tmp_path, "Relu", "Sigmoid")
    out = tmp_path / "m.loom"
    assert main(["import", str(path), "-o", str(out)]) == 0
    assert out.is_file() and out.with_suffix(".safetensors").is_file()
    project = load(out)
    assert project.training.init == {"main": "m.safetensors"}
    assert [n.block for n in project.networks["main"].nodes.values()] == \
        ["Input", "ReLU", "Sigmoid", "Output"]
    before = out.read_bytes()
    assert main(["import", str(path), "-o", str(out)]) == 2  # no overwrite without --force
    assert "--force" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["import", str(path), "-o", str(out), "--force"]) == 0
    (tmp_path / "junk.onnx").write_bytes(b"not onnx at all")
    assert main(["import", str(tmp_path / "junk.onnx"), "-o", str(tmp_path / "j.loom")]) == 2
    assert main(["import", str(tmp_path / "none.py:Net"), "-o", str(tmp_path / "j.loom")]) == 2
    (tmp_path / "empty.py").write_text("x = 1\n")
    assert main(["import", f"{tmp_path / 'empty.py'}:Net", "-o", str(tmp_path / "j.loom")]) == 2
    assert "defines no 'Net'" in capsys.readouterr().err
    assert not (tmp_path / "j.loom").exists()


@pytest.mark.parametrize("block,extra", [("GRU", {}), ("RNN", {"nonlinearity": "relu"}),
                                         ("LSTM", {"num_layers": 2}),
                                         ("LSTM", {"output": "last"})])
def test_onnx_recurrent_layers_round_trip(tmp_path, block, extra):
    n = Network("main")
    n.add("Input", id="s", shape=["T", 5], kind="sequence")
    n.add(block, id="rnn", hidden=7, **extra)
    n.add("Softmax", id="sm")
    n.add("Output", id="o")
    n.chain("s", "rnn", "sm", "o")
    original = compile_network(n)
    export_onnx(original, tmp_path / "r.onnx")
    import_model(str(tmp_path / "r.onnx"), tmp_path / "r.loom")
    _, module = reload(tmp_path / "r.loom")
    x = torch.randn(3, 6, 5)
    with torch.no_grad():
        assert (module(x) - original.module.eval()(x)).abs().max() <= 1e-5


@pytest.mark.parametrize("cls,x", [("TinyResNet", torch.randn(2, 3, 8, 8)),
                                   ("ViewHead", torch.randn(2, 1, 8, 8))])
def test_torch_exported_onnx_imports(tmp_path, models, cls, x):
    """Torch's own exporter: BatchNorm folded, view(x.size(0), -1) as shape arithmetic."""
    from runtime.importer.fx_graph import load_class

    source = load_class(f"{models}:{cls}").eval()
    with warnings.catch_warnings():  # the legacy exporter's deprecation notices
        warnings.simplefilter("ignore")
        torch.onnx.export(source, (x,), tmp_path / "p.onnx", dynamo=False,
                          input_names=["img"], output_names=["out"],
                          dynamic_axes={"img": {0: "batch"}, "out": {0: "batch"}})
    import_model(str(tmp_path / "p.onnx"), tmp_path / "p.loom")
    _, module = reload(tmp_path / "p.loom")
    x = torch.cat([x, x + 1])  # another batch size than exported with
    with torch.no_grad():
        assert (module(x) - source(x)).abs().max() <= 1e-5



def test_training_starts_from_the_imported_weights(tmp_path, capsys):
    n = Network("main")
    n.add("Input", id="x", shape=[2])
    n.add("Linear", id="fc1", units=8)
    n.add("Tanh", id="act")
    n.add("Linear", id="fc2", units=2)
    n.add("Output", id="logits")
    n.chain("x", "fc1", "act", "fc2", "logits")
    export_onnx(compile_network(n), tmp_path / "mlp.onnx")
    assert main(["import", str(tmp_path / "mlp.onnx"), "-o", str(tmp_path / "mlp.loom")]) == 0
    assert main(["train", str(tmp_path / "mlp.loom"), "--max-steps", "2",
                 "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "starts from" in out and "4 of 4 tensors loaded" in out
    assert (tmp_path / "run" / "main.safetensors").is_file()
