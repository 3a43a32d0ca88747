"""Convolution on one image, for the inspector's "On an image" section: a chosen kernel
(Sobel, blur, sharpen, identity, or one of the layer's own filters) applied with the block's
stride, padding and dilation; the output-size formula with those numbers; equivariance (shift
the input, the map shifts by as much) and, for pooling, invariance to a one-pixel shift.

Images are 2-D float arrays [H, W].  The demo image is the first sample of the project's data
(channels averaged) or, where the data has no images, a built-in synthetic one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from builder.document import Project

__all__ = ["KERNELS", "Geometry", "geometry", "synthetic_image", "data_image", "convolve",
           "layer_filter", "shift", "equivariance", "pooled", "invariance", "out_size",
           "size_text"]

_SOBEL_X = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
_G = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0
KERNELS: dict[str, np.ndarray] = {
    "edge: Sobel x": np.array(_SOBEL_X, float),
    "edge: Sobel y": np.array(_SOBEL_X, float).T,
    "blur: box 3×3": np.full((3, 3), 1 / 9),
    "blur: Gaussian 5×5": _G,
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], float),
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], float),
}


@dataclass(frozen=True)
class Geometry:
    """How a window slides: per axis (h, w)."""

    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] | str = (0, 0)  # or "same"
    dilation: tuple[int, int] = (1, 1)


def _two(v) -> tuple:
    return (v, v) if isinstance(v, (int, str)) else tuple(v)


def geometry(params: dict) -> Geometry:
    """A Conv2d's (or pooling block's) params as a Geometry; pooling's stride 'kernel'
    means the kernel size."""
    k = _two(params.get("kernel", 3))
    s = _two(params.get("stride", 1))
    stride = tuple(k[i] if s[i] == "kernel" else int(s[i]) for i in range(2))
    pad = params.get("padding", 0)
    padding = "same" if pad == "same" else tuple(int(v) for v in _two(pad))
    return Geometry(stride, padding, tuple(int(v) for v in _two(params.get("dilation", 1))))


def synthetic_image(size: int = 28) -> np.ndarray:
    """A bright square with a disc beside it on a dark ground: vertical, horizontal and round
    edges, and flat regions, for a network whose data has no images."""
    img = np.zeros((size, size))
    a, b = size // 5, size // 2
    img[a:b + 2, a:b] = 1.0
    yy, xx = np.mgrid[:size, :size]
    img[(yy - 0.7 * size) ** 2 + (xx - 0.68 * size) ** 2 < (size / 6) ** 2] = 0.6
    return img


def data_image(project: Project) -> tuple[np.ndarray | None, str]:
    """The first sample of the project's data that is an image, channels averaged, with
    where it came from in words; (None, why) when the data has no images."""
    from runtime.assemble import load_data
    from runtime.probe import _sample

    batch, part = _sample(load_data(project))
    for name, value in batch.items():
        if value.dim() == 4 and value.is_floating_point() and min(value.shape[2:]) >= 5:
            return value[0].mean(0).double().numpy(), f"the first {part} sample's “{name}”"
    return None, "the data has no images"


def convolve(image: np.ndarray, kernel: np.ndarray, geo: Geometry = Geometry()) -> np.ndarray:
    """One 2-D cross-correlation, as Conv2d computes it (no kernel flip)."""
    x = torch.as_tensor(image, dtype=torch.float64)[None, None]
    w = torch.as_tensor(kernel, dtype=torch.float64)[None, None]
    return F.conv2d(x, w, stride=geo.stride, padding=geo.padding,
                    dilation=geo.dilation)[0, 0].numpy()


def layer_filter(project: Project, network: str, node: str, index: int = 0,
                 weights: str | Path | None = None) -> tuple[np.ndarray, str]:
    """Filter ``index`` of the Conv2d ``node``, averaged over its input channels (the demo
    image has one), from a run folder's ``<network>.safetensors`` or freshly initialised."""
    from builder.compiler import compile_network
    from builder.names import attr_names

    net = project.networks[network]
    with torch.random.fork_rng():  # the same fresh filter each time the panel asks
        torch.manual_seed(0)
        compiled = compile_network(net)
    attr = attr_names(net.nodes)[node]
    said = "fresh (untrained) weights"
    if weights is not None:
        from runtime.checkpoint import load_weights

        load_weights(compiled.module, Path(weights) / f"{network}.safetensors")
        said = f"the weights of run {Path(weights).name}"
    w = getattr(compiled.module, attr).weight.detach().double()
    index = max(0, min(index, w.shape[0] - 1))
    return w[index].mean(0).numpy(), f"filter {index} of {w.shape[0]}, {said}"


def shift(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``image`` moved down by dy and right by dx; the pixels that come in are zeros."""
    out = np.zeros_like(image)
    h, w = image.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def equivariance(image: np.ndarray, kernel: np.ndarray, geo: Geometry, dy: int = 3,
                 dx: int = 3) -> tuple[np.ndarray, np.ndarray, float]:
    """(conv(shift(x)), shift(conv(x)), max |difference| away from the border).  With stride
    s the map moves by the shift divided by s, so the shift is rounded to a multiple of s."""
    sy, sx = geo.stride
    dy, dx = round(dy / sy) * sy, round(dx / sx) * sx
    a = convolve(shift(image, dy, dx), kernel, geo)
    b = shift(convolve(image, kernel, geo), dy // sy, dx // sx)
    kh, kw = kernel.shape
    my = (abs(dy) + geo.dilation[0] * (kh - 1)) // sy + 1  # where zeros or padding reach
    mx = (abs(dx) + geo.dilation[1] * (kw - 1)) // sx + 1
    inner = (slice(my, a.shape[0] - my), slice(mx, a.shape[1] - mx))
    diff = np.abs(a - b)[inner]
    return a, b, float(diff.max()) if diff.size else 0.0


def pooled(image: np.ndarray, block: str, params: dict) -> np.ndarray:
    """``image`` through the pooling block's own module."""
    from builder.blocks import get

    spec = get(block)
    values, errors = spec.coerce_params(params)
    if errors:
        raise ValueError(f"{block}: " + "; ".join(m for _, m in errors))
    module = spec.make(values, [(1, *image.shape)], {"y"})()
    x = torch.as_tensor(image, dtype=torch.float32)[None, None]
    with torch.no_grad():
        return module(x)[0, 0].double().numpy()


def invariance(image: np.ndarray, block: str, params: dict, dy: int = 0,
               dx: int = 1) -> tuple[np.ndarray, np.ndarray, float]:
    """(pooled(x), pooled(shift(x)), share of output values that did not change)."""
    a = pooled(image, block, params)
    b = pooled(shift(image, dy, dx), block, params)
    return a, b, float(np.isclose(a, b, atol=1e-6).mean())


def out_size(n: int, k: int, s: int, p: int, d: int) -> int:
    """Conv2d's output length along one axis: ⌊(n + 2p − d·(k − 1) − 1)/s⌋ + 1."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def size_text(image: np.ndarray, kernel: np.ndarray, geo: Geometry) -> str:
    """The output-size formula with the demo's numbers: one line, or one per axis where the
    two differ."""
    lines = []
    for axis, name in enumerate(("H", "W")):
        n, k = image.shape[axis], kernel.shape[axis]
        s, d = geo.stride[axis], geo.dilation[axis]
        if geo.padding == "same":
            lines.append(f"{name}: {n} → {n} (padding 'same')")
            continue
        p = geo.padding[axis]
        lines.append(f"{name}: ⌊({n} + 2·{p} − {d}·({k}−1) − 1)/{s}⌋ + 1 = "
                     f"{out_size(n, k, s, p, d)}")
    if lines[0][1:] == lines[1][1:]:
        return f"H, W{lines[0][1:]}"
    return "\n".join(lines)
