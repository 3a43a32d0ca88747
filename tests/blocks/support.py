"""Shared checks for block test files: a block's module against its own fast rule."""

from __future__ import annotations

import random

import torch
from torch.utils.flop_counter import FlopCounterMode

from builder import blocks
from builder.blocks import get
from builder.shapes import ShapeError, concretize

SYMBOLS = {"T": 5}


def _params(spec, **over):
    p, errors = spec.coerce_params(over)
    assert not errors, errors
    return p


def _run(spec, p, ins, batch=2, device="cpu", train=True):
    m = spec.build(p, ins)().to(device).train(train)
    xs = [torch.randn(batch, *concretize(s, SYMBOLS), device=device) for s in ins]
    ys = m(*xs)
    return m, xs, ys if isinstance(ys, tuple) else (ys,)


def check_block(block, ins=None, **params):
    """Build from params + inputs; real (batch 2) and meta outputs match the fast rule; FLOPs for
    batch 1 match FlopCounterMode; explain gives text.  Returns (spec, params, module)."""
    spec = get(block)
    p = _params(spec, **params)
    ins = list(ins if ins is not None else spec.example_inputs)
    fast = spec.shape(p, ins)
    want = [concretize(s, SYMBOLS) for s in fast]
    m, _, ys = _run(spec, p, ins)
    assert [tuple(y.shape[1:]) for y in ys] == want
    _, _, ys = _run(spec, p, ins, device="meta")
    assert [tuple(y.shape[1:]) for y in ys] == want
    m.eval()
    with FlopCounterMode(display=False) as counter:
        m(*[torch.randn(1, *concretize(s, SYMBOLS)) for s in ins])
    assert counter.get_total_flops() == (spec.flops(p, ins, fast) if spec.flops else 0)
    if spec.explain is not None:
        text = spec.explain(p, ins, fast)
        assert isinstance(text, str) and text.strip() and text.count("\n") <= 2
    return spec, p, m


def _random_value(param, rng):
    if param.kind == "bool":
        return rng.random() < 0.5
    if param.kind == "choice":
        return rng.choice(param.choices)
    lo = param.min if param.min is not None else -10
    hi = param.max if param.max is not None else 10
    if param.kind == "int":
        return rng.choice([int(lo), int(hi), rng.randint(int(lo), int(min(hi, lo + 64)))])
    return rng.choice([lo, hi, rng.uniform(lo, min(hi, lo + 10))])


def check_random_params(block, shapes, draws=40, seed=0):
    """For random valid params: the fast rule succeeds exactly when the module runs on meta
    tensors, and then with the same shapes."""
    spec = get(block)
    rng = random.Random(seed)
    for _ in range(draws):
        p = _params(spec, **{q.name: _random_value(q, rng) for q in spec.params})
        ins = [rng.choice(shapes)]
        try:
            fast = spec.shape(p, ins)
        except ShapeError:
            fast = None
        try:
            _, _, ys = _run(spec, p, ins, device="meta")
            got = [tuple(y.shape[1:]) for y in ys]
        except Exception:  # noqa: BLE001 - torch refuses in many ways
            got = None
        want = None if fast is None else [concretize(s, SYMBOLS) for s in fast]
        assert got == want, (block, p, ins)


def spec_params(block, **over):
    spec = blocks.get(block)
    params, errors = spec.coerce_params(over)
    assert not errors
    return spec, params


def tensors(ins, batch, device="cpu"):
    return [None if s is None else torch.randn(batch, *s, device=device) for s in ins]


def as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


def check_rule(block, ins=None, **over):
    """For blocks with optional (None) inputs: rule == real run (batch 2) == meta run;
    flops rule == FlopCounterMode on meta, batch 1."""
    spec, p = spec_params(block, **over)
    ins = list(spec.example_inputs if ins is None else ins)
    rule = [tuple(s) for s in spec.shape(p, ins)]
    module = spec.build(p, ins)()
    real = as_tuple(module(*tensors(ins, 2)))
    assert [tuple(t.shape[1:]) for t in real] == rule
    assert all(t.shape[0] == 2 for t in real)
    meta = module.to("meta")
    out = as_tuple(meta(*tensors(ins, 2, "meta")))
    assert [tuple(t.shape[1:]) for t in out] == rule
    if spec.flops is not None:
        with FlopCounterMode(display=False) as counter:
            meta(*tensors(ins, 1, "meta"))
        assert spec.flops(p, ins, rule) == counter.get_total_flops()
    if spec.explain is not None:
        assert spec.explain(p, ins, rule)
    return spec, p, rule
