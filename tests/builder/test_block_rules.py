"""Torch is the truth: every block's fast shape rule agrees with running its module.

For every block in the catalogue, hypothesis draws valid params (within each Param's range)
and input shapes near the block's examples.  Either the fast rule refuses them with a
ShapeError sentence, or the module built for them, run on meta tensors, produces exactly the
shapes the rule predicted.  FLOP rules agree with torch's FlopCounterMode.
"""

import math

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from builder import blocks
from builder.blocks.spec import INDEX, Param
from builder.propagate import meta_shapes
from builder.shapes import ShapeError, concretize

SYMBOLS = {"T": 5}
PLAIN = [s for s in blocks.REGISTRY.values()
         if s.expand is None and "source" not in s.tags and "sink" not in s.tags]


def _param_value(p: Param):
    if p.kind == "int":
        lo = int(p.min) if p.min is not None else 0
        hi = int(p.max) if p.max is not None else lo + 64
        return st.integers(lo, min(hi, lo + 64))
    if p.kind == "float":
        lo = p.min if p.min is not None else -2.0
        hi = p.max if p.max is not None else lo + 4.0
        return st.floats(lo, min(hi, lo + 10.0), allow_nan=False)
    if p.kind == "bool":
        return st.booleans()
    if p.kind == "choice":
        return st.sampled_from(p.choices)
    if p.kind == "pair":
        lo = int(p.min) if p.min is not None else 0
        one = st.integers(lo, lo + 6)
        return st.one_of(one, st.tuples(one, one).map(list))
    return st.just(p.default)  # ints, dims, str: structural, keep the default


def _shape(example):
    if example is None:
        return st.none()
    dims = [st.just(d) if isinstance(d, str) else st.integers(max(1, d // 2), d * 2)
            for d in example]
    return st.tuples(*dims)


@st.composite
def block_case(draw, spec):
    params = {p.name: draw(_param_value(p)) for p in spec.params}
    params, errors = spec.coerce_params(params)
    assume(not errors)
    ins = [draw(_shape(s)) for s in spec.example_inputs]
    return params, ins


def _inputs(spec, params, ins, device):
    args = []
    for port, s in zip(spec.input_ports(params), ins):
        if s is None:
            args.append(None)
        elif port.kind == INDEX:
            args.append(torch.zeros((2, *concretize(s, SYMBOLS)), dtype=torch.long,
                                    device=device))
        else:
            args.append(torch.randn((2, *concretize(s, SYMBOLS)), device=device))
    return args


@pytest.mark.parametrize("spec", PLAIN, ids=lambda s: s.type)
def test_fast_rule_agrees_with_torch(spec):
    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
    @given(case=block_case(spec))
    def check(case):
        params, ins = case
        try:
            predicted = spec.shape(params, ins)
        except ShapeError as e:
            assert str(e), "a refusal must say why"
            return
        predicted = [concretize(s, SYMBOLS) for s in predicted]
        try:
            actual = meta_shapes(spec, params, ins, SYMBOLS)
        except NotImplementedError:  # an op without a meta kernel: run it for real, tiny
            module = spec.build(params, ins)().eval()
            with torch.no_grad():
                out = module(*_inputs(spec, params, ins, "cpu"))
            actual = [tuple(o.shape[1:]) for o in (out if isinstance(out, tuple) else (out,))]
        assert actual == predicted, f"{spec.type} {params} {ins}"

    check()


@pytest.mark.parametrize("spec", [s for s in PLAIN if s.flops], ids=lambda s: s.type)
def test_flop_rule_agrees_with_flop_counter(spec):
    params = spec.defaults()
    ins = [s for s in spec.example_inputs]
    outs = spec.shape(params, ins)
    module = spec.build(params, ins)().to("meta").eval()
    # meta tensors: torch decomposes fused kernels (LSTM) into the matmuls it counts
    args = [a[:1] if a is not None else None for a in _inputs(spec, params, ins, "meta")]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(*args)
    assert spec.flops(params, ins, outs) == counter.get_total_flops()


def test_every_block_is_documented():
    for spec in blocks.REGISTRY.values():
        assert len(spec.concept) > 40, spec.type
        assert spec.category in blocks.CATEGORIES, spec.type
        for p in spec.params:
            p.coerce(p.default)  # defaults are valid
        assert math.isfinite(len(spec.example_inputs))
