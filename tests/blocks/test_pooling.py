"""Pooling blocks: fast shape rules agree with torch (real and meta tensors), errors read well,
and the custom global pools match hand-written torch code."""

from __future__ import annotations

import inspect
import math
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from builder.blocks import get
from builder.blocks.modules.pooling import GlobalAvgPool, GlobalMaxPool
from builder.shapes import ShapeError, concretize

BLOCKS = ["MaxPool2d", "MaxPool1d", "AvgPool2d", "LPPool2d", "GlobalAvgPool", "GlobalMaxPool",
          "AdaptiveAvgPool2d"]
WINDOWED = ["MaxPool2d", "MaxPool1d", "AvgPool2d", "LPPool2d"]


def params(block: str, **kw):
    p, errors = get(block).coerce_params(kw)
    assert not errors, errors
    return p


def rule(block, p, ins):
    return [tuple(s) for s in get(block).shape(p, list(ins))]


def run_real(block, p, ins, batch=2, x=None):
    module = get(block).build(p, list(ins))()
    x = torch.randn(batch, *ins[0]) if x is None else x
    with torch.no_grad():
        y = module(x)
    return [tuple(y.shape[1:])], module, x, y


def run_meta(block, p, ins):
    with torch.device("meta"):
        module = get(block).build(p, list(ins))()
        with torch.no_grad():
            y = module(torch.empty(2, *ins[0]))
    return [tuple(y.shape[1:])]


# --- every block, from its defaults and example inputs -------------------------------------


@pytest.mark.parametrize("block", BLOCKS)
def test_defaults_agree_with_torch(block):
    spec = get(block)
    assert spec.category == "Pooling"
    assert not spec.has_weights and spec.flops is None
    p, ins = spec.defaults(), list(spec.example_inputs)
    out = rule(block, p, ins)
    real, module, _, _ = run_real(block, p, ins)
    assert real == out
    assert run_meta(block, p, ins) == out
    assert sum(t.numel() for t in module.parameters()) == 0
    with FlopCounterMode(display=False) as fc:
        module(torch.randn(1, *ins[0]))
    assert fc.get_total_flops() == 0  # pooling is not counted: no flops rule
    assert 1 <= len(spec.explain(p, ins, out).splitlines()) <= 3
    assert spec.concept
    assert (spec.rf is not None) == (block in WINDOWED)


def test_title():
    assert get("LPPool2d").title == "L2 / LP pool"


# --- random params: the fast rule is torch's rule ----------------------------------------


def _pair(r, lo, hi):
    return r.randint(lo, hi) if r.random() < 0.7 else (r.randint(lo, hi), r.randint(lo, hi))


def _random_case(block, r):
    c = r.randint(1, 4)
    ins = [(c, r.randint(1, 12), r.randint(1, 12))]
    if block == "MaxPool1d":
        stride = "kernel" if r.random() < 0.3 else r.randint(1, 4)
        return dict(kernel=r.randint(1, 5), stride=stride, padding=r.randint(0, 3),
                    ceil_mode=r.random() < 0.5), [(c, r.randint(1, 16))]
    if block == "AdaptiveAvgPool2d":
        return dict(size=_pair(r, 1, 8)), ins
    if block in ("GlobalAvgPool", "GlobalMaxPool"):
        return {}, [(c, *(r.randint(1, 6) for _ in range(r.randint(1, 3))))]
    stride = "kernel" if r.random() < 0.3 else _pair(r, 1, 4)
    kw = dict(kernel=_pair(r, 1, 5), stride=stride, ceil_mode=r.random() < 0.5)
    if block == "LPPool2d":
        kw["norm"] = r.choice([1.0, 2.0, 3.0])
    else:
        kw["padding"] = _pair(r, 0, 3)
    if block == "AvgPool2d":
        kw["count_include_pad"] = r.random() < 0.5
    return kw, ins


@pytest.mark.parametrize("block", BLOCKS)
def test_random_params_match_torch(block):
    r = random.Random(f"pool-{block}")
    spec = get(block)
    accepted = refused = 0
    for _ in range(200):
        kw, ins = _random_case(block, r)
        p = params(block, **kw)
        try:
            out = rule(block, p, ins)
        except ShapeError as e:
            refused += 1
            assert str(e).startswith((block, "LP pool")), str(e)
            with pytest.raises((ValueError, RuntimeError)):  # torch refuses too
                run_real(block, p, ins)
            continue
        accepted += 1
        assert run_real(block, p, ins)[0] == out, (kw, ins)
        assert run_meta(block, p, ins) == out, (kw, ins)
        spec.explain(p, ins, out)
    assert accepted > 50
    assert refused > 10 or block in ("AdaptiveAvgPool2d", "GlobalAvgPool", "GlobalMaxPool")


@pytest.mark.parametrize("block", ["MaxPool1d", "MaxPool2d", "AvgPool2d"])
def test_symbolic_sizes_with_ceil_mode(block):
    """A symbolic length (ceil_mode included) evaluates to what torch computes for any T."""
    r = random.Random(f"pool-symbolic-{block}")
    for _ in range(60):
        kw, ins = _random_case(block, r)
        p = params(block, **dict(kw, ceil_mode=True) if r.random() < 0.7 else kw)
        sym = (ins[0][0], "T") if block == "MaxPool1d" else (ins[0][0], "T", 9)
        try:
            (out,) = rule(block, p, [sym])
        except ShapeError:
            continue
        for t in range(10, 30):
            real = run_real(block, p, [concretize(sym, {"T": t})], batch=1)[0][0]
            assert concretize(out, {"T": t}) == real, (kw, out, t)


# --- the course examples -------------------------------------------------------------------


def test_alexnet_overlapping_pool():
    p = params("MaxPool2d", kernel=3, stride=2)
    out = rule("MaxPool2d", p, [(96, 55, 55)])
    assert out == [(96, 27, 27)]
    text = get("MaxPool2d").explain(p, [(96, 55, 55)], out)
    assert "H_out = ⌊(55 + 2·0 − 3)/2⌋ + 1 = 27" in text and "overlapping" in text
    assert get("MaxPool2d").rf(p) == (3, 2, 1)
    assert rule("MaxPool2d", p, [(256, 13, 13)]) == [(256, 6, 6)]


def test_stride_defaults_to_kernel():
    spec = get("MaxPool2d")
    assert spec.defaults()["stride"] == "kernel"
    assert spec.param("stride").coerce("kernel") == "kernel"
    assert spec.param("stride").coerce((2, 2)) == 2
    p = params("MaxPool2d", kernel=3)
    assert rule("MaxPool2d", p, [(4, 12, 12)]) == [(4, 4, 4)]
    assert spec.rf(p) == (3, 3, 1)
    assert "do not overlap" in spec.explain(p, [(4, 12, 12)], [(4, 4, 4)])
    assert get("MaxPool1d").rf(params("MaxPool1d", kernel=4)) == (4, 4, 1)
    assert get("LPPool2d").rf(params("LPPool2d", kernel=2, stride=1)) == (2, 1, 1)


def test_ceil_mode_keeps_a_last_partial_window():
    floor = params("MaxPool2d", kernel=2, ceil_mode=False)
    ceil = params("MaxPool2d", kernel=2, ceil_mode=True)
    assert rule("MaxPool2d", floor, [(1, 7, 7)]) == [(1, 3, 3)]
    assert rule("MaxPool2d", ceil, [(1, 7, 7)]) == [(1, 4, 4)]
    assert "⌈(7 + 2·0 − 2)/2⌉ + 1 = 4" in get("MaxPool2d").explain(ceil, [(1, 7, 7)],
                                                                  [(1, 4, 4)])
    # a window larger than the input is fine when rounding up keeps one partial window
    big = params("MaxPool2d", kernel=3, stride=2, ceil_mode=True)
    assert rule("MaxPool2d", big, [(1, 2, 2)]) == [(1, 1, 1)]


def _error(block, ins, **kw):
    with pytest.raises(ShapeError) as e:
        rule(block, params(block, **kw), ins)
    return str(e.value)


def test_errors():
    assert _error("MaxPool2d", [(16, 4, 4)], kernel=5) == \
        "MaxPool2d: kernel 5 is larger than the 4×4 input plus padding 0"
    assert _error("AvgPool2d", [(16, 8, 8)], kernel=3, padding=2) == \
        "AvgPool2d: padding 2 is more than half the kernel 3; PyTorch allows at most 1"
    assert "length-3" in _error("MaxPool1d", [(4, 3)], kernel=4)
    assert "[channels, height, width]" in _error("MaxPool2d", [(16, 8)])
    assert "[channels, length]" in _error("MaxPool1d", [(16, 8, 8)])
    assert "received [64]" in _error("GlobalAvgPool", [(64,)])
    assert "LP pool: kernel 9" in _error("LPPool2d", [(3, 8, 8)], kernel=9)


# --- same numbers as hand-written torch --------------------------------------------------


def test_global_pools_match_torch():
    x = torch.randn(2, 5, 6, 7)
    torch.testing.assert_close(GlobalAvgPool()(x), F.adaptive_avg_pool2d(x, 1).flatten(1))
    torch.testing.assert_close(GlobalMaxPool()(x), F.adaptive_max_pool2d(x, 1).flatten(1))
    seq = torch.randn(2, 5, 11)
    torch.testing.assert_close(GlobalAvgPool()(seq), seq.mean(-1))
    assert rule("GlobalAvgPool", {}, [(64, 7, 7)]) == [(64,)]
    assert rule("GlobalMaxPool", {}, [(8, "T")]) == [(8,)]
    text = get("GlobalAvgPool").explain({}, [(64, 7, 7)], [(64,)])
    assert "7×7 = 49" in text


def test_lp_pool_is_the_window_p_norm():
    for norm in (1.0, 2.0, 3.0):
        p = params("LPPool2d", norm=norm, kernel=2, stride=1)
        x = torch.rand(2, 3, 5, 6, dtype=torch.float64) + 0.1
        (out,), _, _, y = run_real("LPPool2d", p, [(3, 5, 6)], x=x)
        windows = F.unfold(x, 2).view(2, 3, 4, -1)  # [N, C, window, positions]
        ref = windows.pow(norm).sum(2).pow(1 / norm).view(2, 3, 4, 5)
        torch.testing.assert_close(y, ref)
        assert out == (3, 4, 5)
    text = get("LPPool2d").explain(params("LPPool2d"), [(3, 8, 8)], [(3, 4, 4)])
    assert "Euclidean" in text


def test_adaptive_avg_pool():
    p = params("AdaptiveAvgPool2d", size=6)
    assert rule("AdaptiveAvgPool2d", p, [(256, 13, 13)]) == [(256, 6, 6)]
    assert rule("AdaptiveAvgPool2d", p, [(256, "H", "W")]) == [(256, 6, 6)]
    x = torch.randn(2, 4, 12, 8)
    y = run_real("AdaptiveAvgPool2d", params("AdaptiveAvgPool2d", size=(3, 4)), [(4, 12, 8)],
                 x=x)[3]
    torch.testing.assert_close(y, F.avg_pool2d(x, (4, 2)))  # divisible: plain pooling
    text = get("AdaptiveAvgPool2d").explain(p, [(256, 13, 13)], [(256, 6, 6)])
    assert "13 rows (and columns) → 6" in text


@pytest.mark.parametrize("cls", [GlobalAvgPool, GlobalMaxPool])
def test_custom_modules_are_self_contained(cls):
    ns = {"torch": torch, "nn": nn, "F": F, "math": math}
    exec(compile(inspect.getsource(cls), "<generated>", "exec"), ns)  # noqa: S102
    assert ns[cls.__name__]()(torch.randn(2, 3, 4, 4)).shape == (2, 3)


def test_rf_is_three_ints_even_for_non_square_windows():
    assert get("MaxPool2d").rf(params("MaxPool2d", kernel=(2, 3))) == (3, 3, 1)
    assert get("AvgPool2d").rf(params("AvgPool2d", kernel=(2, 3), stride=(1, 2))) == (3, 2, 1)
