"""The RBM block: a sigmoid layer in the network (and in its ONNX export and generated code),
an energy model with an exact free energy and the CD-k update for pre-training."""

from __future__ import annotations

import itertools
import math

import numpy as np
import onnxruntime as ort
import torch

from builder import blocks
from builder.blocks.modules.rbm import RBM
from builder.compiler import compile_network
from builder.document import Network
from runtime.export import export_onnx


def _net() -> Network:
    net = Network("dbn")
    net.chain(net.add("Input", id="image", shape=[1, 6, 6], kind="image"),
              net.add("Flatten", id="flatten"), net.add("RBM", id="rbm1", units=5),
              net.add("RBM", id="rbm2", units=4), net.add("Linear", id="logits", units=3),
              net.add("Output", id="y"))
    return net


def test_forward_is_a_sigmoid_layer_and_the_shape_rule_says_so():
    rbm = RBM(7, 3)
    v = torch.rand(4, 7)
    assert torch.allclose(rbm(v), torch.sigmoid(v @ rbm.weight.T + rbm.bias))
    spec = blocks.get("RBM")
    assert spec.shape({"units": 3, "visible": "bernoulli"}, [(7,)]) == [(3,)]
    assert "3×7" in spec.explain({"units": 3, "visible": "bernoulli"}, [(7,)], [(3,)])


def test_onnx_export_matches_torch(tmp_path):
    compiled = compile_network(_net())
    path = tmp_path / "dbn.onnx"
    export_onnx(compiled, path)
    x = torch.rand(8, 1, 6, 6)
    with torch.no_grad():
        want = compiled.module.eval()(x).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert np.abs(got - want).max() <= 1e-5


def test_free_energy_is_exact_for_a_tiny_rbm():
    torch.manual_seed(0)
    rbm = RBM(3, 2)
    rbm.requires_grad_(False)
    rbm.visible_bias.normal_()
    for bits in itertools.product((0.0, 1.0), repeat=3):
        v = torch.tensor(bits)
        # −log Σ_h exp(−E(v, h)) with E = −cᵀv − bᵀh − hᵀWv, summed over all four h.
        total = sum(math.exp(float(rbm.visible_bias @ v + rbm.bias @ torch.tensor(h)
                                   + torch.tensor(h) @ rbm.weight @ v))
                    for h in itertools.product((0.0, 1.0), repeat=2))
        assert abs(float(rbm.free_energy(v)) + math.log(total)) < 1e-5


def test_cd_loss_gradient_is_the_cd_update():
    torch.manual_seed(1)
    rbm = RBM(6, 4)
    v0 = torch.bernoulli(torch.full((10, 6), 0.4))
    loss, vk = rbm.cd_loss(v0, k=2, generator=torch.Generator().manual_seed(3))
    loss.backward()
    with torch.no_grad():
        h0, hk = rbm(v0), rbm(vk)
        want_w = -(h0.T @ v0 - hk.T @ vk) / 10
        want_c = -(v0 - vk).mean(0)
    assert torch.allclose(rbm.weight.grad, want_w, atol=1e-6)
    assert torch.allclose(rbm.visible_bias.grad, want_c, atol=1e-6)


def _bars(n: int, side: int = 4, seed: int = 0) -> torch.Tensor:
    """Images of one horizontal or vertical bar: a classic RBM toy."""
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(n, side, side)
    which, pos = torch.randint(0, 2, (n,), generator=g), torch.randint(0, side, (n,), generator=g)
    for i in range(n):
        if which[i]:
            out[i, pos[i], :] = 1
        else:
            out[i, :, pos[i]] = 1
    return out.flatten(1)


def _error(rbm: RBM, v: torch.Tensor) -> float:
    """Mean-field reconstruction error: Σ (E[v | p(h | v)] − v)² per sample."""
    with torch.no_grad():
        return float((rbm.visible_mean(rbm(v)) - v).square().sum(1).mean())


def test_cd1_lowers_the_reconstruction_error():
    torch.manual_seed(0)
    data = _bars(256)
    for kind, v in (("bernoulli", data), ("gaussian", (data - 0.25) / 0.43)):
        rbm = RBM(16, 8, visible_type=kind)
        opt = torch.optim.SGD(rbm.parameters(), lr=0.05 if kind == "gaussian" else 0.2)
        g = torch.Generator().manual_seed(0)

        before = _error(rbm, v)
        for step in range(150):
            batch = v[(step * 32) % 256:][:32]
            opt.zero_grad()
            rbm.cd_loss(batch, 1, g)[0].backward()
            opt.step()
        assert _error(rbm, v) < 0.6 * before, kind
