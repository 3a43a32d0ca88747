"""Bypass: a block passes its first input through unchanged, in the file, the checks, the
compiled module, the generated code and the ONNX export."""

import numpy as np
import onnxruntime as ort
import torch

from builder.codegen import generate
from builder.commands import Document, SetNodeOptions
from builder.compiler import CompileError, compile_network
from builder.document import Network, Project
from builder.problems import Code
from builder.propagate import check
from builder.serialize import dumps, loads
from runtime.export import export_onnx


def mlp() -> Network:
    net = Network("main")
    net.chain(net.add("Input", id="x", shape=[4], kind="vector"),
              net.add("Linear", id="fc1", units=4),
              net.add("BatchNorm", id="bn"),
              net.add("ReLU", id="relu"),
              net.add("Linear", id="fc2", units=3),
              net.add("Output", id="y"))
    return net


def test_a_bypassed_block_passes_its_input_on_and_builds_no_module():
    net = mlp()
    net.nodes["bn"].bypass = True
    net.nodes["relu"].bypass = True
    compiled = compile_network(net)
    assert not hasattr(compiled.module, "bn") and not hasattr(compiled.module, "relu")
    x = torch.randn(5, 4)
    m = compiled.module.eval()
    expected = m.fc2(m.fc1(x))  # no batch norm, no ReLU in between
    torch.testing.assert_close(m(x), expected)


def test_bypass_is_kept_in_the_file_and_undone_in_one_step():
    doc = Document(Project({"main": mlp()}))
    doc.do(SetNodeOptions("main", ("bn", "relu"), bypass=True))
    text = dumps(doc.project)
    assert text.count('"bypass": true') == 2
    assert loads(text).networks["main"].nodes["bn"].bypass
    doc.undo()
    assert not any(n.bypass for n in doc.project.networks["main"].nodes.values())


def test_a_block_that_changes_the_shape_cannot_be_bypassed_and_says_why():
    net = mlp()
    net.nodes["fc1"].params["units"] = 8
    net.nodes["fc1"].bypass = True
    problems = [p for p in check(net).problems if p.code == Code.BYPASS]
    assert len(problems) == 1 and problems[0].node == "fc1"
    assert "turns [4] into [8]" in problems[0].message
    try:
        compile_network(net)
    except CompileError as e:
        assert "fc1" in str(e)
    else:
        raise AssertionError("compiled a bypass that cannot work")


def test_generated_code_and_onnx_skip_the_bypassed_block(tmp_path):
    net = mlp()
    net.nodes["relu"].bypass = True
    compiled = compile_network(net)
    code = generate(Project({"main": net}))
    assert "self.relu" not in code
    scope: dict = {}
    exec(compile(code, "generated.py", "exec"), scope)
    model = scope["Main"]().eval()
    model.load_state_dict(compiled.module.state_dict())
    x = torch.randn(6, 4)
    torch.testing.assert_close(model(x), compiled.module.eval()(x))
    path = export_onnx(compiled, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"x": x.numpy()})
    np.testing.assert_allclose(y, compiled.module(x).detach().numpy(), atol=1e-5)


def test_a_reroute_point_is_the_same_tensor_in_torch_code_and_onnx(tmp_path):
    net = mlp()
    net.add("Reroute", id="knot")
    net.edges = [e for e in net.edges if e.dst != "fc2"]
    net.connect("relu", "knot")
    net.connect("knot", "fc2")
    compiled = compile_network(net)
    assert not hasattr(compiled.module, "knot")  # no module: a function that returns x
    plain = compile_network(mlp())
    plain.module.load_state_dict(compiled.module.state_dict())
    x = torch.randn(3, 4)
    torch.testing.assert_close(compiled.module.eval()(x), plain.module.eval()(x))
    scope: dict = {}
    exec(compile(generate(Project({"main": net})), "generated.py", "exec"), scope)
    model = scope["Main"]().eval()
    model.load_state_dict(compiled.module.state_dict())
    torch.testing.assert_close(model(x), plain.module(x))
    session = ort.InferenceSession(str(export_onnx(compiled, tmp_path / "r.onnx")),
                                   providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"x": x.numpy()})[0],
                               plain.module(x).detach().numpy(), atol=1e-5)
