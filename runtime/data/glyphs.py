"""Glyph digits: an MNIST-shaped set drawn from the TrueType fonts that matplotlib ships.

Each digit of each font is rendered once with Pillow at twice the final resolution, cropped,
scaled into a 20×20 box (of 28) and centred by its centre of mass, as MNIST was made; each is
kept in four stroke widths (eroded, as is, dilated once and twice by min/max filters) and
slightly blurred so that sampling it at half resolution does not alias.  Every sample then
picks a font and a stroke width and gets its own random affine map (rotation, scale, shear,
shift) plus an elastic warp (a smooth random displacement field) applied by one
``grid_sample``, and noise.  All of it runs in torch in batches, so 70,000 samples take a
few seconds; they are generated once per seed and cached as uint8 (``runtime.data.cache``).

Domains (for domain adaptation): ``plain`` white digits on black, ``inverted`` black on white
(1 - image), ``rotated`` every image turned 90° anticlockwise (a fixed, exact turn, so 6 and 9
stay distinct), ``textured`` MNIST-M-like: each digit blended over a random grey texture by
absolute difference, |background - digit| (as MNIST-M blends MNIST over photo patches), so
strokes turn dark over bright texture and bright over dark.  The textures (smooth noise at
three scales plus a stripe pattern, random contrast and brightness) are drawn in torch from
the same seed as the digits; other domains' images and caches are unchanged.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from builder.blocks.spec import Param
from runtime.data.cache import cached, float_splits
from runtime.data.core import DataInfo, FieldInfo
from runtime.data.registry import NORMALIZE, SEED, Context, DatasetSpec, n_samples, register

__all__ = ["DOMAINS", "VERSION", "font_files", "glyph_templates", "glyph_digits", "parse_digits"]

VERSION = 1  # bump when the images change, so caches made by older code are not reused
DOMAINS = ("plain", "inverted", "rotated", "textured")
SIZE, WORK = 28, 56  # the output side, and the templates' side (2× supersampling)
_BOX = 40  # the digit's larger side at WORK resolution: MNIST's 20 of 28 pixels
_BATCH = 4096
# Text fonts with real digits; Display, symbol-only (STIX Size/NonUni, cmsy, cmex), old-style
# (cmmi) and fallback (LastResort) fonts are left out.
_FONT_GLOBS = ("DejaVuSans*.ttf", "DejaVuSerif*.ttf", "STIXGeneral*.ttf", "cm[br]10.ttf",
               "cmss10.ttf", "cmti10.ttf", "cmtt10.ttf")


def font_files() -> list[Path]:
    """matplotlib's bundled text fonts, found beside its package without importing it (an
    import costs ~0.2 s at every dataset load; ``get_data_path()`` is this same folder)."""
    from importlib.util import find_spec

    spec = find_spec("matplotlib")
    if spec is None or not spec.origin:
        raise RuntimeError("the glyph digits need matplotlib's bundled fonts: "
                           "pip install matplotlib")
    folder = Path(spec.origin).with_name("mpl-data") / "fonts" / "ttf"
    found = {f for pattern in _FONT_GLOBS for f in folder.glob(pattern)}
    return sorted(f for f in found if "Display" not in f.name)


def _render(path: Path, digit: str) -> np.ndarray | None:
    """One digit, [WORK, WORK] float32 in [0, 1], fitted into the box; None if blank."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(path), 200)
    canvas = Image.new("L", (400, 400), 0)
    ImageDraw.Draw(canvas).text((100, 50), digit, fill=255, font=font)
    bbox = canvas.getbbox()
    if bbox is None:
        return None
    crop = canvas.crop(bbox)
    scale = _BOX / max(crop.size)
    w, h = max(1, round(crop.width * scale)), max(1, round(crop.height * scale))
    small = np.asarray(crop.resize((w, h), Image.Resampling.LANCZOS), np.float32) / 255
    small = small.clip(0, 1)
    # Centre of mass at the middle of the canvas, as MNIST did.
    ys, xs = np.indices(small.shape)
    mass = small.sum()
    cy, cx = (ys * small).sum() / mass, (xs * small).sum() / mass
    top, left = round(WORK / 2 - cy), round(WORK / 2 - cx)
    top, left = min(max(top, 0), WORK - h), min(max(left, 0), WORK - w)
    out = np.zeros((WORK, WORK), np.float32)
    out[top:top + h, left:left + w] = small
    return out


@lru_cache(maxsize=1)
def glyph_templates() -> torch.Tensor:
    """[4 stroke widths, fonts, 10, WORK, WORK]: each usable font's digits 0-9."""
    rows = []
    for path in font_files():
        digits = [_render(path, str(d)) for d in range(10)]
        if any(d is None for d in digits):
            continue
        rows.append(np.stack(digits))
    if not rows:
        raise RuntimeError("no usable TrueType font found in matplotlib's data folder")
    base = torch.from_numpy(np.stack(rows))
    once = F.max_pool2d(base, 3, 1, 1)
    thin = -F.max_pool2d(-base, 3, 1, 1)
    # Eroding a hairline font would break its strokes: those keep their own width instead.
    kept = thin.sum((2, 3), keepdim=True) >= 0.5 * base.sum((2, 3), keepdim=True)
    widths = torch.stack([torch.where(kept, thin, base), base, once, F.max_pool2d(once, 3, 1, 1)])
    # A [1, 2, 1] blur in both directions: bilinear sampling at half resolution then averages
    # about the 2×2 template pixels each output pixel covers.
    k = torch.tensor([0.25, 0.5, 0.25])
    flat = widths.reshape(-1, 1, WORK, WORK)
    flat = F.conv2d(F.pad(flat, (1, 1, 1, 1)), (k[:, None] * k[None, :])[None, None])
    return flat.reshape(widths.shape)


def _warp(g: torch.Generator, n: int) -> torch.Tensor:
    """[n, SIZE, SIZE, 2] sampling grids: a random affine map plus an elastic field."""
    def u(lo, hi, *shape):
        return torch.rand(*(shape or (n,)), generator=g) * (hi - lo) + lo

    angle = u(-15, 15) * math.pi / 180
    sx, sy = u(0.85, 1.15), u(0.85, 1.15)
    shear = u(-0.3, 0.3)
    tx, ty = u(-0.12, 0.12), u(-0.12, 0.12)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # theta maps output to input coordinates: rotation @ shear @ scale, inverted by using the
    # reciprocal scales (bigger sx means a bigger digit).
    a = torch.stack([cos / sx, (cos * shear - sin) / sy, tx], 1)
    b = torch.stack([sin / sx, (sin * shear + cos) / sy, ty], 1)
    grid = F.affine_grid(torch.stack([a, b], 1), [n, 1, SIZE, SIZE], align_corners=False)
    # Elastic distortion: a coarse random field, smoothly upsampled (bicubic).
    coarse = torch.randn(n, 2, 4, 4, generator=g) * u(0.0, 0.05)[:, None, None, None]
    up = _upsampler(4, SIZE)
    return grid + (up @ coarse @ up.T).permute(0, 2, 3, 1)


@lru_cache(maxsize=4)
def _upsampler(small: int, big: int) -> torch.Tensor:
    """[big, small]: bicubic upsampling as a matrix; ``U @ a @ U.T`` upsamples a 2-D ``a``
    5× faster than ``F.interpolate`` on a CPU, bicubic being separable."""
    eye = torch.eye(small)[:, None, :, None]
    return F.interpolate(eye, size=(big, 1), mode="bicubic", align_corners=False)[:, 0, :, 0].T


def _batch(g: torch.Generator, templates: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    n = len(y)
    width = torch.randint(0, templates.shape[0], (n,), generator=g)
    font = torch.randint(0, templates.shape[1], (n,), generator=g)
    src = templates[width, font, y][:, None]
    img = F.grid_sample(src, _warp(g, n), mode="bilinear", padding_mode="zeros",
                        align_corners=False)
    sigma = torch.rand(n, 1, 1, 1, generator=g) * 0.08
    img = img + sigma * torch.randn(img.shape, generator=g)
    return img.clamp_(0, 1)


def _textures(g: torch.Generator, n: int) -> torch.Tensor:
    """[n, 1, SIZE, SIZE] in [0, 1]: MNIST-M-like backgrounds without photos."""
    def u(lo, hi):
        return torch.rand(n, 1, 1, generator=g) * (hi - lo) + lo

    field = torch.zeros(n, SIZE, SIZE)
    for side in (3, 7, 14):  # blobs, patches, grain; each scale its own strength
        up = _upsampler(side, SIZE)
        field += up @ torch.randn(n, side, side, generator=g) @ up.T * u(0.0, 1.0)
    # Stripes of a random direction, period and phase: fabric, bricks, blinds.
    pos = torch.arange(SIZE, dtype=torch.float32) / SIZE
    angle, cycles = u(0.0, math.pi), u(1.0, 5.0)
    ramp = torch.cos(angle) * pos[None, None, :] + torch.sin(angle) * pos[None, :, None]
    field += torch.sin(2 * math.pi * cycles * ramp + u(0.0, 2 * math.pi)) * u(0.0, 1.0)
    lo, hi = field.amin((1, 2), keepdim=True), field.amax((1, 2), keepdim=True)
    field = (field - lo) / (hi - lo + 1e-6)
    contrast = u(0.3, 1.0)
    return (field * contrast + u(0.0, 1.0) * (1 - contrast))[:, None]


def parse_digits(text: str) -> list[int]:
    """"0-9", "5-9", "0,2,4-6" → the sorted distinct digits; ValueError naming what is wrong."""
    out: set[int] = set()
    for part in str(text).replace(" ", "").split(","):
        lo, dash, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi if dash else lo)
        except ValueError:
            raise ValueError(f"digits: {part!r} is not a digit or a range like 5-9") from None
        if not 0 <= a <= b <= 9:
            raise ValueError(f"digits: {part!r} is not a rising range of digits 0-9")
        out.update(range(a, b + 1))
    if len(out) < 2:
        raise ValueError(f"digits: {text!r} names {len(out)} digit; a classifier needs two")
    return sorted(out)


def glyph_digits(n: int, seed: int, domain: str = "plain",
                 digits: str = "0-9") -> tuple[np.ndarray, np.ndarray]:
    """images uint8 [n, 1, 28, 28] and labels int64 [n] (every digit equally often,
    shuffled); with ``digits`` a subset, label k is its k-th digit."""
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {', '.join(DOMAINS)}; received {domain!r}")
    chosen = torch.tensor(parse_digits(digits))
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % len(chosen)
    y = y[torch.randperm(n, generator=g)]
    templates = glyph_templates()
    x = torch.empty(n, 1, SIZE, SIZE, dtype=torch.uint8)
    with torch.no_grad():
        for start in range(0, n, _BATCH):
            img = _batch(g, templates, chosen[y[start:start + _BATCH]])
            if domain == "inverted":
                img = 1.0 - img
            elif domain == "rotated":
                img = torch.rot90(img, 1, (2, 3))
            elif domain == "textured":
                img = (_textures(g, len(img)) - img).abs_()
            x[start:start + _BATCH] = img.mul_(255).round_().to(torch.uint8)
    return x.numpy(), y.numpy()


def _build(p: dict, ctx: Context):
    digits = parse_digits(p["digits"])
    key = {"n": p["n_samples"], "seed": p["seed"], "domain": p["domain"]}
    if digits != list(range(10)):  # the key of the full set stays as caches made before
        key["digits"] = digits

    def make():
        x, y = glyph_digits(p["n_samples"], p["seed"], p["domain"], p["digits"])
        return {"x": x, "y": y}

    arrays = cached(ctx.root, "glyph_digits", VERSION, key, p["n_samples"], make)
    info = DataInfo("glyph_digits", "classification",
                    {"x": FieldInfo((1, SIZE, SIZE), "image", "float32", "28×28 grey digit"),
                     "y": FieldInfo((), "label", "int64", "the digit")},
                    num_classes=len(digits), class_names=tuple(str(i) for i in digits),
                    source="generated", extra={"domain": p["domain"],
                                               "fonts": [f.name for f in font_files()]})
    return float_splits(arrays, info, p["val_fraction"], p["seed"])


register(
    DatasetSpec(
        "glyph_digits", "Glyph digits 28×28",
        "MNIST-shaped digits 0-9 (28×28 grey, 60,000 + 10,000 by default) drawn from the "
        "20-odd fonts matplotlib ships, with random rotation, scale, shear, shift, elastic "
        "warp, stroke width and noise: no download.  Inverted, rotated and textured "
        "(MNIST-M-like) domains serve domain adaptation.  The real handwritten MNIST stays "
        "available as the 'mnist' dataset.",
        "generated", "Images", "classification",
        (n_samples(70_000, 1_000_000),
         Param("domain", "choice", "plain", choices=DOMAINS,
               help="plain: white on black; inverted: black on white; rotated: turned 90°; "
                    "textured: blended over random grey textures, like MNIST-M."),
         Param("digits", "str", "0-9",
               help="Which digits: 0-9, a range (5-9) or a list (0,2,4-6); label k is the "
                    "k-th of them, so 0-4 and 5-9 make two 5-class tasks for transfer."),
         SEED,
         Param("val_fraction", "float", 0.1429, min=0.0, max=0.9,
               help="Share held out for validation (1/7: 10,000 of 70,000, like MNIST)."),
         NORMALIZE),
        _build,
    ),
)
