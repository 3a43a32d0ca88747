"""Activation curves: each block's own module and autograd give f and f'."""

import numpy as np
import pytest

from runtime.activation_curves import activation_blocks, curve


def test_sigmoid_and_tanh_derivatives_match_their_closed_forms():
    s = curve("Sigmoid")
    assert np.allclose(s.dy, s.y * (1 - s.y))
    assert s.dy.max() == pytest.approx(0.25)
    t = curve("Tanh")
    assert np.allclose(t.dy, 1 - t.y ** 2)


def test_relu_derivative_is_a_step_and_leaky_keeps_its_slope():
    r = curve("ReLU")
    assert np.array_equal(r.dy[r.x < -1e-9], np.zeros((r.x < -1e-9).sum()))
    assert np.all(r.dy[r.x > 1e-9] == 1) and np.array_equal(r.y, np.maximum(r.x, 0))
    leaky = curve("LeakyReLU", {"alpha": 0.2})
    neg = leaky.x < 0
    assert np.allclose(leaky.dy[neg], 0.2) and np.allclose(leaky.y[neg], 0.2 * leaky.x[neg])
    elu = curve("ELU", {"alpha": 2.0})
    assert elu.y[0] == pytest.approx(2.0 * (np.exp(-4.0) - 1))


def test_every_activation_in_the_catalogue_gives_finite_curves():
    blocks = activation_blocks()
    assert {"ReLU", "LeakyReLU", "ELU", "SELU", "GELU", "Sigmoid", "Tanh"} <= set(blocks)
    for block in blocks:
        c = curve(block)
        assert c.x.shape == c.y.shape == c.dy.shape == (161,), block
        assert np.isfinite(c.y).all() and np.isfinite(c.dy).all(), block
    assert "scores" in curve("Softmax").note


def test_a_non_activation_or_a_bad_param_is_refused_in_words():
    with pytest.raises(ValueError, match="not an activation"):
        curve("Conv2d")
    with pytest.raises(ValueError, match="alpha"):
        curve("LeakyReLU", {"alpha": 5})
