"""Samples from a trained project: ``layerloom sample`` and the editor's "Sample" both call
``sample_project`` and ``write_samples``.

The project's recipe is built over its compiled networks as for training (the dataset is
loaded for its description: class names, and the statistics to undo the normalisation),
the trained weights are loaded from a run folder, and the recipe's ``sample`` draws from a
seeded generator.  A recipe that keeps a weight average (a GAN's ``ema``) finds it in the run
folder's checkpoint.  What is written depends on the kind of the samples: a PNG grid for
images, a CSV for points, one line per sample for text.

A recipe that translates images (``Recipe.translate``: Pix2Pix, CycleGAN) is given a source
picture instead: ``translate_project`` reads a PNG as ``layerloom predict`` reads an image,
standardises it as training did, and returns input | output pairs side by side (with no
picture, the first validation sources).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from builder import pngtext
from builder.document import Project
from builder.serialize import dumps
from runtime.assemble import load_data, make_recipe
from runtime.checkpoint import CheckpointError, load_weights, read_meta
from runtime.events import Samples, summarise_keys
from runtime.init_weights import InitError, read_weights, weights_file
from runtime.recipes.base import Recipe

__all__ = ["SampleError", "SUFFIXES", "GAP", "load_trained", "sample_project", "write_samples",
           "grid_size", "translate_project"]

SUFFIXES = {"images": ".png", "points": ".csv", "text": ".txt"}
GAP = 2  # pixels between the images of a grid


class SampleError(ValueError):
    """The weights, the output file or the samples do not allow writing; one line."""


def _weights_file(weights: Path, network: str) -> Path:
    try:
        return weights_file(weights, network, lone=False)
    except InitError as e:
        raise SampleError(str(e)) from None


def load_trained(project: Project, weights: str | Path, network: str | None = None,
                 device: str | torch.device = "cpu", recipe: Recipe | None = None) -> Recipe:
    """The project's recipe with trained weights, on ``device``.  ``weights``: a run folder
    with ``<network>.safetensors`` per network, or one ``.safetensors`` file.  ``network``:
    load only that network's weights (the others keep their fresh initialisation; enough
    when one network samples, e.g. a GAN's generator); with a file, the network it holds
    (needed when the project has several).  ``recipe``: one already built for ``project``."""
    weights = Path(weights).expanduser()
    if not weights.exists():
        raise SampleError(f"no weights at {weights}")
    if network is not None and network not in project.networks:
        raise SampleError(f"the project has no network {network!r}; it has "
                          f"{', '.join(project.networks)}")
    recipe = recipe or make_recipe(project, load_data(project))
    by_name = recipe.by_name()
    if network is not None and network not in by_name:
        raise SampleError(f"network {network!r} has no role in recipe {recipe.name!r}; it "
                          f"uses {', '.join(by_name)}")
    if weights.is_file() and network is None and len(by_name) > 1:
        raise SampleError(f"{weights.name} holds one network's weights; say which with "
                          f"--network ({', '.join(by_name)})")
    recipe.device = torch.device(device)
    for name, module in by_name.items():
        module.to(recipe.device).eval()
        if network is None or name == network:
            file = _weights_file(weights, name)
            try:
                load_weights(module, file)  # the loader export uses
            except CheckpointError as e:
                raise SampleError(_misfit(module, file, name) or str(e)) from None
    if weights.is_dir():
        _load_state(recipe, weights / "checkpoint")
    return recipe


def _misfit(module: torch.nn.Module, file: Path, network: str) -> str | None:
    """Why ``file`` does not fit ``network``, in one line: what differs by name and shape."""
    try:
        state, _ = read_weights(file, network)
    except InitError:
        return None
    own = module.state_dict()
    shapes = [f"{k} ({list(state[k].shape)} in the file, {list(v.shape)} here)"
              for k, v in own.items() if k in state and state[k].shape != v.shape]
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    parts = ([f"shapes differ: {'; '.join(shapes[:3])}" + (" …" if len(shapes) > 3 else "")]
             if shapes else [])
    parts += [f"missing: {summarise_keys(missing)}"] if missing else []
    parts += [f"not in the network: {summarise_keys(extra)}"] if extra else []
    return f"{file} does not fit network {network!r}: {'; '.join(parts)}" if parts else None


def _load_state(recipe: Recipe, checkpoint: Path) -> None:
    """The recipe's own state (a weight average) from the run's checkpoint, when the run
    was of this recipe."""
    try:
        meta = read_meta(checkpoint)
    except CheckpointError:
        return  # no checkpoint: the weights alone
    if meta.get("recipe") != recipe.name or not (checkpoint / "state.pt").is_file():
        return
    try:
        saved = torch.load(checkpoint / "state.pt", map_location="cpu", weights_only=True)
    except Exception as e:
        raise SampleError(f"{checkpoint}: the training state is unreadable ({e})") from None
    recipe.load_state_dict(saved.get("recipes", {}).get("0", {}))


def sample_project(project: Project, weights: str | Path, n: int = 64, seed: int = 0,
                   prompt: str | None = None, temperature: float = 1.0,
                   network: str | None = None, device: str | torch.device = "cpu"
                   ) -> Samples:
    """``n`` samples of the trained project (RecipeError when its recipe cannot sample or
    the prompt does not apply; SampleError when the weights do not fit)."""
    if n < 1:
        raise SampleError(f"the number of samples must be at least 1; received {n}")
    if not temperature > 0:
        raise SampleError(f"the temperature must be above 0; received {temperature}")
    recipe = make_recipe(project, load_data(project))
    generator = torch.Generator().manual_seed(seed)
    if type(recipe).sample is Recipe.sample and _translates(recipe):  # validation sources
        return translate_project(project, weights, None, n, device)
    if type(recipe).sample is Recipe.sample:  # its own reason first, not missing weights
        recipe.sample(n, generator, prompt, temperature)
    load_trained(project, weights, network, device, recipe)
    return recipe.sample(n, generator, prompt, temperature)


def _translates(recipe: Recipe) -> bool:
    return type(recipe).translate is not Recipe.translate


_GREY = {"1", "L", "LA", "I", "F", "I;16"}


def _check_picture(path: Path, shape: tuple) -> None:
    """The picture at ``path`` has the source's size and channel count, else one line."""
    from PIL import Image, UnidentifiedImageError

    c, h, w = shape
    want = f"{w}×{h} {'grey' if c == 1 else 'RGB'}"
    try:
        with Image.open(path) as im:
            size, grey = im.size, im.mode in _GREY
    except (OSError, ValueError, UnidentifiedImageError) as e:
        raise SampleError(f"{path}: not a readable image ({e})") from None
    if size != (w, h) or grey != (c == 1) or c not in (1, 3):
        raise SampleError(f"{path.name} is {size[0]}×{size[1]} {'grey' if grey else 'RGB'}; "
                          f"this model takes {want}")


def _side_by_side(inputs: torch.Tensor, outputs: torch.Tensor) -> tuple[np.ndarray, int]:
    """Input | output pairs, one pair a row (grey inputs shown in colour beside colour
    outputs); the outputs alone where the sizes differ."""
    c = max(inputs.shape[1], outputs.shape[1])
    inputs, outputs = (t.expand(-1, c, -1, -1) if t.shape[1] == 1 else t
                       for t in (inputs, outputs))
    if inputs.shape[1:] != outputs.shape[1:]:
        return outputs.cpu().numpy(), 0
    pairs = torch.stack([inputs.clamp(0, 1), outputs], 1).flatten(0, 1)
    return pairs.cpu().numpy(), 2


def translate_project(project: Project, weights: str | Path, image: str | Path | None = None,
                      n: int = 8, device: str | torch.device = "cpu") -> Samples:
    """The trained recipe's translation of the picture ``image`` (a file of the source's
    exact size and channels) or, with none, of the first ``n`` validation sources: input |
    output pairs (RecipeError for a recipe that does not translate; SampleError for a
    picture or weights that do not fit)."""
    from runtime.export import run_preprocess
    from runtime.predict_inputs import InputError, read_raw
    from runtime.preprocess import Preprocess
    from runtime.recipes.units import unnormalise

    data = load_data(project)
    recipe = make_recipe(project, data)
    if not _translates(recipe):
        recipe.translate(torch.empty(0))  # its own one-line reason
    info, key = recipe.data_field(recipe.translation_source())
    shape = tuple(info.fields[key].shape)
    if image is not None:
        path = Path(image).expanduser()
        if not path.is_file():
            raise SampleError(f"{image}: no such file")
        _check_picture(path, shape)
        spec = SimpleNamespace(name=key, shape=shape, kind="image")
        try:
            raw = read_raw(path, spec)[0].tensor[None]
        except InputError as e:
            raise SampleError(str(e)) from None
        preprocess = run_preprocess(weights)[0] or Preprocess.from_splits(data)
        step = preprocess.fields.get(recipe.translation_source())
        x = raw if step is None else (raw - torch.tensor(step.mean).view(step.view(4))) \
            / torch.tensor(step.std).view(step.view(4))
    else:
        part = "val" if len(data.val) else "train"
        batch = next(data.batches(part, n, shuffle=False, device="cpu", augment=False))
        x = batch[recipe.translation_source()].float()
        raw = unnormalise(info, key, x)
    load_trained(project, weights, None, device, recipe)
    out = recipe.translate(x.to(recipe.device)).float().cpu()
    pictures, cols = _side_by_side(raw.float(), out)
    return Samples(0, 0, "translations", "images", pictures, None,
                   {"cols": cols} if cols else {})


@dataclass(frozen=True)
class _Grid:
    rows: int
    cols: int
    width: int
    height: int


def grid_size(n: int, height: int, width: int, gap: int = GAP, cols: int | None = None
              ) -> _Grid:
    """A grid of ``n`` images, ``cols`` wide (one row per class, say) or near-square
    (⌈√n⌉ columns); gaps between, none around."""
    cols = max(1, min(n, int(cols)) if cols else math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    return _Grid(rows, cols, cols * width + (cols - 1) * gap, rows * height + (rows - 1) * gap)


def _png(images: np.ndarray, path: Path, cols: int | None = None) -> str:
    from PIL import Image

    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[1] not in (1, 3, 4):
        raise SampleError(f"images of shape {list(images.shape)} cannot be written as PNG "
                          "(expected [N, 1, 3 or 4 channels, H, W])")
    n, c, h, w = images.shape
    g = grid_size(n, h, w, cols=cols)
    canvas = np.full((g.height, g.width, c), 255, dtype=np.uint8)  # white gaps
    pixels = (np.clip(np.nan_to_num(images), 0, 1) * 255 + 0.5).astype(np.uint8)
    for i in range(n):
        r, q = divmod(i, g.cols)
        y, x = r * (h + GAP), q * (w + GAP)
        canvas[y:y + h, x:x + w] = pixels[i].transpose(1, 2, 0)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[c]
    Image.fromarray(canvas[..., 0] if c == 1 else canvas, mode).save(path, format="PNG")
    return f"{n} images to {path} ({g.rows}×{g.cols} grid, {g.width}×{g.height} px)"


def _csv(points: np.ndarray, labels, path: Path) -> str:
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 2:
        raise SampleError(f"points must be [N, 2]; received {list(points.shape)}")
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["x", "y"] + (["label"] if labels is not None else []))
        for i, (x, y) in enumerate(points):
            out.writerow([f"{x:.9g}", f"{y:.9g}"]  # enough digits to read float32 back
                         + ([labels[i]] if labels is not None else []))
    return f"{len(points)} points to {path}"


def _txt(texts, path: Path) -> str:
    # One sample per line: a line break inside a sample is written as the two characters \n.
    lines = [str(t).replace("\r\n", "\n").replace("\n", "\\n") for t in texts]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return f"{len(lines)} text samples to {path}"


def write_samples(samples: Samples, path: str | Path, force: bool = False,
                  recipe: str = "the", project: Project | None = None) -> str:
    """Write ``samples`` to ``path`` as its kind says; returns what was written, in words.
    The suffix must be the kind's (.png, .csv, .txt); an existing file is replaced only with
    ``force``.  A PNG carries ``project`` (``builder.pngtext``): dropped on the window, it
    opens the project that made it."""
    path = Path(path)
    suffix = SUFFIXES.get(samples.kind)
    if suffix is None:
        raise SampleError(f"{recipe} samples are {samples.kind}, which cannot be written to a "
                          "file")
    if path.suffix.lower() != suffix:
        raise SampleError(f"{recipe} samples are {samples.kind}: use -o OUT{suffix}")
    if path.exists() and not force:
        raise SampleError(f"{path} already exists; pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    if samples.kind == "images":
        said = _png(samples.data, path, samples.extra.get("cols"))
        if project is not None:
            pngtext.embed(path, dumps(project))
        return said
    if samples.kind == "points":
        return _csv(samples.data, samples.labels, path)
    return _txt(samples.data, path)
