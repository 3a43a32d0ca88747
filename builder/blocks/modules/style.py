"""The torch modules the style blocks build (specs: ``builder/blocks/style.py``).

Self-contained: code generation copies each class's source into the generated file.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AdaIN", "ModulatedConv2d", "NoiseInjection", "LearnedConstant"]


class AdaIN(nn.Module):
    """Adaptive instance normalisation (StyleGAN 1): each channel of ``x`` is normalised over
    its pixels, then scaled and shifted by numbers read from the style ``w``:
    y = (1 + γ(w))·norm(x) + β(w), with [γ, β] = A·w + b a learned affine map.  The map
    starts at zero, so a fresh block is plain instance normalisation."""

    def __init__(self, channels: int, style_dim: int, eps: float = 1e-5):
        super().__init__()
        self.channels, self.eps = channels, eps
        self.affine = nn.Linear(style_dim, 2 * channels)
        nn.init.zeros_(self.affine.weight)
        nn.init.zeros_(self.affine.bias)

    def forward(self, x, w):
        gamma, beta = self.affine(w).reshape(w.shape[0], 2, self.channels, 1, 1).unbind(1)
        mean = x.mean(dim=(2, 3), keepdim=True)
        var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
        return (1 + gamma) * (x - mean) / torch.sqrt(var + self.eps) + beta


class ModulatedConv2d(nn.Module):
    """StyleGAN 2's modulated convolution: the style ``w`` gives a scale s per input channel
    (s = A·w + b, b starting at 1); the kernel is scaled by s and, with ``demodulate``,
    divided per filter by √(Σ (W·s)² + ε) so that unit-variance inputs give unit-variance
    outputs without normalising the data.  Each sample thus has its own kernel, run as one
    grouped convolution over the whole batch (groups = batch size).  While training, and in an
    ONNX export (whose graph fixes its group count), the same numbers come from scaling the
    input channels by s, the shared kernel, and dividing each filter's output by its norm:
    faster on a CPU and with a cheaper backward pass (StyleGAN 2-ADA does the same).  The
    kernel is stored at N(0, 1) and scaled by 1/√fan-in at run time (equalised learning
    rate)."""

    def __init__(self, in_channels: int, filters: int, kernel: int, style_dim: int,
                 demodulate: bool = True, padding: int | str = "same", bias: bool = True):
        super().__init__()
        self.in_channels, self.filters, self.kernel = in_channels, filters, kernel
        self.demodulate, self.eps = demodulate, 1e-8
        self.padding = kernel // 2 if padding == "same" else padding
        self.gain = 1 / math.sqrt(in_channels * kernel * kernel)
        self.weight = nn.Parameter(torch.randn(filters, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(filters)) if bias else None
        self.affine = nn.Linear(style_dim, in_channels)
        nn.init.ones_(self.affine.bias)

    def kernels(self, w):
        """The per-sample kernels [N, filters, in_channels, k, k] for styles ``w`` [N, D]."""
        s = self.affine(w)
        weight = self.weight[None] * self.gain * s[:, None, :, None, None]
        if self.demodulate:
            norm = weight.square().sum(dim=(2, 3, 4), keepdim=True)
            weight = weight * torch.rsqrt(norm + self.eps)
        return weight

    def forward(self, x, w):
        n, c, h, wd = x.shape
        if self.training or torch.onnx.is_in_onnx_export():
            y = self._scaled(x, w)
        else:
            weight = self.kernels(w).reshape(n * self.filters, c, self.kernel, self.kernel)
            y = F.conv2d(x.reshape(1, n * c, h, wd), weight, padding=self.padding, groups=n)
            y = y.reshape(n, self.filters, y.shape[2], y.shape[3])
        return y if self.bias is None else y + self.bias[None, :, None, None]

    def _scaled(self, x, w):
        """The grouped convolution's numbers without per-sample kernels."""
        s = self.affine(w)
        y = F.conv2d(x * s[:, :, None, None], self.weight * self.gain, padding=self.padding)
        if self.demodulate:
            w2 = (self.weight * self.gain).square().sum(dim=(2, 3))  # [filters, in_channels]
            y = y * torch.rsqrt(s.square() @ w2.t() + self.eps)[:, :, None, None]
        return y


class NoiseInjection(nn.Module):
    """y = x + b·noise: one fresh N(0, 1) value per pixel and sample, shared by the
    channels, scaled by a learned strength b per channel (starting at 0: identity).

    While training the noise is always drawn anew.  In eval ``mode`` decides: ``const``
    uses a fixed map drawn once from a seed (repeatable, and an ONNX export matches torch),
    ``random`` draws anew (StyleGAN's own sampling; an export then draws its own noise),
    ``none`` adds nothing.  A picture may set ``generator`` (a torch.Generator) to draw fresh,
    repeatable noise in eval whatever the mode: the noise inputs' effect made visible."""

    def __init__(self, channels: int, height: int, width: int, mode: str = "const"):
        super().__init__()
        self.mode = mode
        self.generator = None
        self.strength = nn.Parameter(torch.zeros(channels))
        fixed = torch.randn(1, 1, height, width, generator=torch.Generator().manual_seed(0))
        self.register_buffer("fixed", fixed, persistent=False)

    def forward(self, x):
        n, _, h, w = x.shape
        if self.generator is not None:
            noise = torch.randn(n, 1, h, w, generator=self.generator,
                                device=self.generator.device).to(x)
        elif self.training or self.mode == "random":
            noise = torch.randn(n, 1, h, w, device=x.device, dtype=x.dtype)
        elif self.mode == "const":
            noise = self.fixed.to(x.dtype)
        else:
            return x
        return x + self.strength[None, :, None, None] * noise


class LearnedConstant(nn.Module):
    """A learned tensor, the same for every sample: StyleGAN's synthesis starts from a
    learned 4×4 constant instead of the code.  The input only gives the batch size."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.value = nn.Parameter(torch.randn(1, *shape))

    def forward(self, x):
        return self.value.expand(x.shape[0], *self.value.shape[1:])
