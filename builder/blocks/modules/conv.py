"""The torch modules the conv blocks build (specs: ``builder/blocks/conv.py``).

Self-contained: code generation copies each class's source into the generated file.
"""

from __future__ import annotations

from torch import nn

__all__ = ["SeparableConv2d", "SpatialSeparableConv2d"]


class SeparableConv2d(nn.Module):
    """Depthwise-separable convolution (MobileNet): a k×k convolution applied to each input
    channel on its own (groups = channels), then a 1×1 convolution that mixes the channels.
    The depthwise conv has no bias: the pointwise conv's bias absorbs it exactly."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 depth_multiplier=1, bias=True):
        super().__init__()
        mid = in_channels * depth_multiplier
        self.depthwise = nn.Conv2d(in_channels, mid, kernel_size, stride=stride, padding=padding,
                                   dilation=dilation, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(mid, out_channels, 1, bias=bias)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class SpatialSeparableConv2d(nn.Module):
    """A k×k convolution factored into a k×1 convolution (down the rows) followed by a 1×k
    convolution (along the columns), as in Inception-v3."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        k, s = kernel_size, stride
        pv, ph = (padding, padding) if isinstance(padding, str) else ((padding, 0), (0, padding))
        self.vertical = nn.Conv2d(in_channels, out_channels, (k, 1), stride=(s, 1), padding=pv,
                                  bias=bias)
        self.horizontal = nn.Conv2d(out_channels, out_channels, (1, k), stride=(1, s),
                                    padding=ph, bias=bias)

    def forward(self, x):
        return self.horizontal(self.vertical(x))
