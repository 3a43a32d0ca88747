"""Shapes: captioned RGB images of one or two coloured shapes, with paired and two-domain
variants, generated offline.

Ten shape kinds (a CIFAR-sized label set) in eight colours, two sizes and nine positions (a
3×3 grid).  Each kind is drawn once with Pillow at high resolution and area-averaged down to
a template about as wide as a large shape in pixels; every object is then placed by one
``grid_sample`` (scale, small rotation, position), in batches.  Backgrounds are soft
gradients with a little noise.  60,000 images of 32×32 take seconds; they are cached as
uint8.

Fields: ``x`` the image; ``y`` the kind of the first shape in reading order (top left
first); ``shape``, ``colour``, ``size_label``, ``position`` that object's attributes; ``count``
the number of objects (only when ``max_objects`` is 2); ``caption`` an English description as
word ids (``decode_caption`` turns them back): ``<pad>`` = 0 fills the fixed length, ``<bos>``
= 1 starts and ``<eos>`` = 2 ends every caption (``info.extra`` records them and the names of
every attribute value).

``variant="paired"`` adds ``target`` (the full colour image) and makes ``x`` its source:
``outline_to_filled`` the shapes' outlines, ``grey_to_colour`` a one-channel grey version,
``mask_to_image`` a one-channel silhouette (``normalize`` standardises ``x`` only; ``target``
stays in [0, 1]).  ``domain="night"`` darkens, tints blue and adds noise to the very scenes
``day`` draws for the same seed: one seed gives paired day/night sets, two seeds unpaired
ones (domain adaptation, unpaired translation).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from builder.blocks.spec import Param
from runtime.data.cache import cached, float_splits
from runtime.data.core import DataInfo, FieldInfo
from runtime.data.registry import NORMALIZE, SEED, Context, DatasetSpec, n_samples, register

__all__ = ["SHAPES", "COLOURS", "SIZES", "POSITIONS", "VOCAB", "PAD", "BOS", "EOS", "VERSION",
           "IMAGE_SIZES", "PAIRS", "shape_templates", "shapes", "caption_ids", "decode_caption"]

VERSION = 1  # bump when the images change, so caches made by older code are not reused
SHAPES = ("circle", "square", "triangle", "cross", "star", "diamond", "hexagon", "ring",
          "heart", "arrow")
COLOURS = {"red": (0.9, 0.1, 0.1), "green": (0.1, 0.75, 0.2), "blue": (0.15, 0.3, 1.0),
           "yellow": (0.95, 0.9, 0.1), "magenta": (0.9, 0.15, 0.85), "cyan": (0.1, 0.85, 0.9),
           "white": (1.0, 1.0, 1.0), "orange": (1.0, 0.55, 0.05)}
SIZES = ("small", "large")
POSITIONS = ("top left", "top", "top right", "left", "centre", "right", "bottom left",
             "bottom", "bottom right")
IMAGE_SIZES = ("32", "64", "128", "227")
PAIRS = ("outline_to_filled", "grey_to_colour", "mask_to_image")
PAD, BOS, EOS = 0, 1, 2
VOCAB = ("<pad>", "<bos>", "<eos>", "a", "and", "at", "in", "the", *SIZES, *COLOURS, *SHAPES,
         "top", "bottom", "left", "right", "centre")
_ID = {w: i for i, w in enumerate(VOCAB)}
_RADIUS = ((0.11, 0.14), (0.18, 0.22))  # object radius / image side, small and large
_MAX_FLOAT_BYTES = 4 << 30  # refuse sets whose float32 images would not fit a laptop


def _ngon(k: int, r: float, inner: float | None = None) -> list[tuple[float, float]]:
    """A regular polygon pointing up, or a star when ``inner`` (its inner radius) is given."""
    m = 2 * k if inner else k
    return [((inner if inner and i % 2 else r) * math.cos(math.radians(-90 + i * 360 / m)),
             (inner if inner and i % 2 else r) * math.sin(math.radians(-90 + i * 360 / m)))
            for i in range(m)]


def _polygons() -> dict[str, list[tuple[float, float]]]:
    """Each angular shape's corners in [-1, 1]² (y down); round ones are drawn as ellipses."""
    t = np.linspace(0, 2 * np.pi, 120, endpoint=False)  # the classic heart curve
    hx = 16 * np.sin(t) ** 3
    hy = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    a, b = 0.28, 0.9
    return {
        "square": [(-0.72, -0.72), (0.72, -0.72), (0.72, 0.72), (-0.72, 0.72)],
        "triangle": _ngon(3, 1.0),
        "cross": [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b),
                  (-a, a), (-b, a), (-b, -a), (-a, -a)],
        "star": _ngon(5, 0.98, inner=0.42),
        "diamond": _ngon(4, 0.95),
        "hexagon": _ngon(6, 0.95),
        "heart": list(zip(hx / 17.5, (hy + 2.5) / 17.5)),
        "arrow": [(-0.9, -0.22), (0.1, -0.22), (0.1, -0.6), (0.95, 0.0), (0.1, 0.6),
                  (0.1, 0.22), (-0.9, 0.22)],
    }


@lru_cache(maxsize=8)
def shape_templates(side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(filled, outline) masks [len(SHAPES), 1, side, side] in [0, 1], area-averaged from a
    512-pixel drawing so that sampling them does not alias."""
    from PIL import Image, ImageDraw

    big, polygons, filled = 512, _polygons(), []

    def px(v: float) -> float:
        return (v + 1) * big / 2

    for name in SHAPES:
        img = Image.new("L", (big, big), 0)
        draw = ImageDraw.Draw(img)
        if name in polygons:
            draw.polygon([(px(x), px(y)) for x, y in polygons[name]], fill=255)
        else:  # circle, or ring: a disc with a hole
            for r, fill in ((0.88, 255),) if name == "circle" else ((0.95, 255), (0.55, 0)):
                draw.ellipse([px(-r), px(-r), px(r), px(r)], fill=fill)
        filled.append(np.asarray(img, np.float32) / 255)
    m = torch.from_numpy(np.stack(filled))[:, None]
    # The outline is the mask less its erosion by a tenth of the template (two 1-D passes:
    # a 51×51 window at once costs seconds).
    k = big // 20 * 2 + 1
    eroded = -F.max_pool2d(F.max_pool2d(-m, (k, 1), 1, (k // 2, 0)), (1, k), 1, (0, k // 2))
    outline = (m - eroded).clamp(0, 1)
    return tuple(F.interpolate(t, size=(side, side), mode="area") for t in (m, outline))


def _place(masks: torch.Tensor, kind, cx, cy, radius, angle, side: int) -> torch.Tensor:
    """[n, 1, side, side]: mask ``kind`` at centre (cx, cy) (fractions of the image) with
    ``radius`` (fraction of the side) turned by ``angle`` (radians)."""
    cos, sin = torch.cos(angle) / (2 * radius), torch.sin(angle) / (2 * radius)
    ux, uy = 2 * cx - 1, 2 * cy - 1
    theta = torch.stack([torch.stack([cos, sin, -(cos * ux + sin * uy)], 1),
                         torch.stack([-sin, cos, (sin * ux - cos * uy)], 1)], 1)
    grid = F.affine_grid(theta, [len(kind), 1, side, side], align_corners=False)
    return F.grid_sample(masks[kind], grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False)


_PAIRS_APART = [(i, j) for i in range(9) for j in range(i + 1, 9)
                if max(abs(i // 3 - j // 3), abs(i % 3 - j % 3)) >= 2]  # never touching


def _scenes(n: int, max_objects: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Attributes [n, max_objects] of every object, in reading order, and ``count`` [n]."""
    count = rng.integers(1, max_objects + 1, n)
    pos = rng.integers(0, 9, (n, max_objects))
    if max_objects > 1:
        two = np.asarray(_PAIRS_APART)[rng.integers(0, len(_PAIRS_APART), n)]
        pos = np.where((count == 2)[:, None], two, pos)
    shape = rng.integers(0, len(SHAPES), (n, max_objects))
    shape[:, 0] = rng.permutation(np.arange(n) % len(SHAPES))  # balanced classes
    return {"shape": shape, "colour": rng.integers(0, len(COLOURS), (n, max_objects)),
            "size": rng.integers(0, 2, (n, max_objects)), "position": pos, "count": count}


def caption_ids(scene: dict[str, np.ndarray], length: int) -> np.ndarray:
    """[n, length] word ids: "<bos> a small red circle at the top left and ... <eos>"."""
    names = list(COLOURS)
    out = np.full((len(scene["count"]), length), PAD, np.int64)
    for i, k in enumerate(scene["count"]):
        words = ["<bos>"]
        for j in range(k):
            where = POSITIONS[scene["position"][i, j]]
            words += (["and"] if j else []) + [
                "a", SIZES[scene["size"][i, j]], names[scene["colour"][i, j]],
                SHAPES[scene["shape"][i, j]], "in" if where == "centre" else "at", "the",
                *where.split()]
        words.append("<eos>")
        out[i, : len(words)] = [_ID[w] for w in words]
    return out


def decode_caption(ids, vocab: tuple[str, ...] = VOCAB) -> str:
    """The words of a caption, without ``<bos>``, ``<eos>`` or padding."""
    words = []
    for t in (int(t) for t in ids):
        if t == EOS:
            break
        if t not in (PAD, BOS):
            words.append(vocab[t])
    return " ".join(words)


def _render(scene, g: torch.Generator, grain: torch.Generator, side: int, pair: str | None,
            night: bool):
    """Images of one batch of scenes: (x, target or None), float [b, C, side, side].
    ``g`` draws the geometry and backgrounds, ``grain`` the noise: the two domains draw
    different amounts of noise but must draw the same scenes."""
    n, k = scene["shape"].shape
    # Templates about as wide as a large shape in pixels: bilinear sampling then reads each
    # output pixel off an area average of about its own footprint, i.e. antialiased.
    masks, outlines = shape_templates(max(8, round(2 * _RADIUS[1][1] * side)))
    rand = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    top = rand(n, 1, 1, 1) * 0.25 + 0.35 + (rand(n, 3, 1, 1) - 0.5) * 0.12
    fade = torch.linspace(0, 1, side).view(1, 1, side, 1) * (rand(n, 1, 1, 1) * 0.3 - 0.15)
    image = (top + fade).expand(n, 3, side, side).clone()
    source = image.clone() if pair == "outline_to_filled" else None
    silhouette = torch.zeros(n, 1, side, side) if pair == "mask_to_image" else None
    palette = torch.tensor(list(COLOURS.values()))
    radius = torch.from_numpy(np.asarray(_RADIUS, np.float32)[scene["size"]])
    radius = radius[..., 0] + rand(n, k) * (radius[..., 1] - radius[..., 0])
    pos = torch.from_numpy(scene["position"])
    cx = (0.2 + 0.3 * (pos % 3)) + (rand(n, k) - 0.5) * 0.08
    cy = (0.2 + 0.3 * (pos // 3)) + (rand(n, k) - 0.5) * 0.08
    angle = (rand(n, k) - 0.5) * math.radians(30)
    present = torch.from_numpy(scene["count"])[:, None] > torch.arange(k)[None]
    full = (n, 3, side, side)
    for j in range(k):
        kind = torch.from_numpy(scene["shape"][:, j])
        colour = palette[torch.from_numpy(scene["colour"][:, j])].view(n, 3, 1, 1).expand(full)
        place = (cx[:, j], cy[:, j], radius[:, j], angle[:, j], side)
        on = None if present[:, j].all() else present[:, j].view(n, 1, 1, 1).float()
        for canvas, templates in ((image, masks), (source, outlines)):
            if canvas is not None:
                m = _place(templates, kind, *place)
                m = m if on is None else m.mul_(on)
                canvas.lerp_(colour, m.expand(full))  # in place: paint colour with alpha m
                if silhouette is not None and canvas is image:
                    silhouette.lerp_(torch.ones(()).expand_as(m), m)

    def finish(img):
        if night:
            img.mul_(torch.tensor([0.32, 0.38, 0.55]).view(1, 3, 1, 1)).add_(0.02)
            noise = torch.randn(img.shape, generator=grain)  # sensor noise, per channel
        else:
            noise = torch.randn(n, 1, side, side, generator=grain)  # faint grain, grey
        return img.add_(noise, alpha=0.06 if night else 0.02).clamp_(0, 1)

    image = finish(image)
    if pair is None:
        return image, None
    if pair == "outline_to_filled":
        return finish(source), image
    if pair == "grey_to_colour":
        grey = (image * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, True)
        return grey, image
    return silhouette, image


def shapes(n: int, seed: int, size: int = 32, max_objects: int = 1, pair: str | None = None,
           domain: str = "day") -> dict[str, np.ndarray]:
    """The compact arrays of ``n`` scenes: uint8 images ``x`` (and ``target`` with a
    ``pair``), small-int labels, ``caption`` ids (all uint8; widened when loaded)."""
    if pair not in (None, *PAIRS):
        raise ValueError(f"pair must be one of {', '.join(PAIRS)}; received {pair!r}")
    channels = (3 if pair in (None, "outline_to_filled") else 1) + (3 if pair else 0)
    need = n * channels * size * size * 4
    if need > _MAX_FLOAT_BYTES:
        raise ValueError(f"n_samples={n:,} at size {size} would take {need / 2**30:.1f} GB "
                         f"as float32; choose at most "
                         f"{_MAX_FLOAT_BYTES // (channels * size * size * 4):,}")
    rng = np.random.default_rng(seed)
    scene = _scenes(n, max_objects, rng)
    g = torch.Generator().manual_seed(seed)
    grain = torch.Generator().manual_seed(seed + 2**32)
    xs, targets = [], []
    batch = max(16, 2**22 // (size * size))
    with torch.no_grad():
        for start in range(0, n, batch):
            part = {k: v[start:start + batch] for k, v in scene.items()}
            x, target = _render(part, g, grain, size, pair, domain == "night")
            xs.append(x.mul_(255).round_().to(torch.uint8))
            if target is not None:
                targets.append(target.mul_(255).round_().to(torch.uint8))
    first = {k: v[:, 0].astype(np.uint8) for k, v in scene.items() if v.ndim == 2}
    out = {"x": torch.cat(xs).numpy(), "y": first["shape"], "shape": first["shape"],
           "colour": first["colour"], "size_label": first["size"],
           "position": first["position"],
           "caption": caption_ids(scene, 1 + 9 * max_objects).astype(np.uint8)}
    if max_objects > 1:
        out["count"] = scene["count"].astype(np.uint8)
    if targets:
        out["target"] = torch.cat(targets).numpy()
    return out


_LABELS = {"y": "the first shape's kind (reading order)", "shape": "the first shape's kind",
           "colour": "its colour", "size_label": "its size", "position": "its place (3×3)",
           "count": "how many shapes"}


def _build(p: dict, ctx: Context):
    size, k = int(p["size"]), p["max_objects"]
    pair = p["pair"] if p["variant"] == "paired" else None
    key = {"n": p["n_samples"], "seed": p["seed"], "size": size, "max_objects": k,
           "pair": pair, "domain": p["domain"]}
    arrays = cached(ctx.root, "shapes", VERSION, key, p["n_samples"],
                    lambda: shapes(p["n_samples"], p["seed"], size, k, pair, p["domain"]))
    fields = {"x": FieldInfo(tuple(arrays["x"].shape[1:]), "image", "float32",
                             "the image" if pair is None else f"source ({pair})")}
    if pair:
        fields["target"] = FieldInfo((3, size, size), "image", "float32", "the colour image")
    fields.update({name: FieldInfo((), "label", "int64", text) for name, text in _LABELS.items()
                   if name in arrays})
    fields["caption"] = FieldInfo((arrays["caption"].shape[1],), "tokens", "int64",
                                  "English caption as word ids")
    info = DataInfo("shapes", "generative" if pair else "classification", fields,
                    num_classes=len(SHAPES), class_names=SHAPES, vocab=VOCAB,
                    source="generated",
                    extra={"pad": PAD, "bos": BOS, "eos": EOS, "domain": p["domain"],
                           "variant": p["variant"], "pair": pair, "colours": tuple(COLOURS),
                           "sizes": SIZES, "positions": POSITIONS})
    images = ("x", "target") if pair else ("x",)
    return float_splits(arrays, info, p["val_fraction"], p["seed"], images,
                        None if pair else "y")


register(
    DatasetSpec(
        "shapes", "Shapes",
        "Colour images of one or two shapes (10 kinds: circle, square, triangle, cross, "
        "star, diamond, hexagon, ring, heart, arrow) in 8 colours, 2 sizes and 9 places, each "
        "with an English caption and its attributes as labels: a CIFAR-10-sized set with no "
        "download.  Paired variants (outline, grey or mask to image) serve image-to-image "
        "translation; day and night domains serve domain adaptation.",
        "generated", "Images", "classification",
        (n_samples(60_000, 1_000_000),
         Param("size", "choice", "32", choices=IMAGE_SIZES,
               help="Image side in pixels (227: AlexNet's input)."),
         Param("max_objects", "int", 1, min=1, max=2,
               help="Up to this many shapes per image; the label is the first (top left)."),
         Param("variant", "choice", "single", choices=("single", "paired"),
               help="paired: x is a source picture and 'target' the colour image."),
         Param("pair", "choice", PAIRS[0], choices=PAIRS,
               help="What the paired variant's source is: outlines, grey or a silhouette."),
         Param("domain", "choice", "day", choices=("day", "night"),
               help="night: darker, bluer and noisier versions of the same scenes."),
         SEED,
         Param("val_fraction", "float", 0.1667, min=0.0, max=0.9,
               help="Share held out for validation (1/6: 10,000 of 60,000, like CIFAR-10)."),
         NORMALIZE),
        _build,
    ),
)
