"""Prompt accuracy: does a generated picture show what its prompt asked for?

A small CNN reads the four attributes of the shapes data's first shape (kind, colour, size,
place in a 3×3 grid) off a 32×32 RGB picture in [0, 1].  It learns from the shapes generator
itself, with augmentations that make it fair to what generators draw (tinted, brighter or
darker pictures, noise, blur, pictures drawn at 16 pixels and scaled up), so that a
recognisable but imperfect shape is not under-reported.  ``prompt_accuracy`` compares its
readings with what each prompt states.

Like the judges of ``runtime.judge``, it is trained once, deterministically (a fixed seed,
its own generator, the global RNG left as it was), and kept on disk in the data folder's
``judges/`` folder and in memory per process; a file that cannot be read is trained again.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

from runtime.data import shapes
from runtime.data.remote import data_root
from runtime.judge import FOLDER, write_weights
from runtime.prompts import Prompt, parse_prompt

__all__ = ["HEADS", "AttributeNet", "attribute_classifier", "predict_attributes",
           "prompt_accuracy", "forget"]

VERSION = 1  # of the network, data and training: a change must never load old weights
SIDE = 32
HEADS = {"shape": len(shapes.SHAPES), "colour": len(shapes.COLOURS),
         "size": len(shapes.SIZES), "position": len(shapes.POSITIONS)}
_FIELDS = {"shape": "shape", "colour": "colour", "size": "size_label", "position": "position"}
# 20,000 pictures and 5,000 steps: shape read right in 97.9% of held-out pictures (94.3% after
# 1,500 steps on 10,000, which took a fifth of large hexagons for circles), 87% at 16 pixels.
TRAINING = {"seed": 20261205, "samples": 20_000, "steps": 5000, "batch": 48, "lr": 3e-3}
_MEMORY: dict[str, dict[str, Tensor]] = {}


def crops(x: Tensor, position: Tensor) -> Tensor:
    """[N, C, 16, 16]: the quarter-area window around each picture's place in the 3×3 grid
    (windows at 0, 8 and 16 pixels in each direction hold a whole shape at its place)."""
    windows = x.unfold(2, SIDE // 2, SIDE // 4).unfold(3, SIDE // 2, SIDE // 4)
    return windows[torch.arange(len(x)), :, position // 3, position % 3]


class AttributeNet(nn.Module):
    """Two small networks: one reads the place off the whole picture (easy); the other
    reads kind, colour and size off the window at that place, so that a shape learnt in one
    place is known in all and most pixels are never convolved.  Small enough to train on
    one CPU core in about two minutes."""

    def __init__(self):
        super().__init__()
        self.where = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(),
                                   nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(), nn.Flatten(),
                                   nn.Linear(32 * 64, HEADS["position"]))
        layers, c = [], 3
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            layers += [nn.Conv2d(c, width, 3, stride, 1), nn.BatchNorm2d(width), nn.ReLU()]
            c = width
        self.what = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * 16, 128), nn.ReLU())
        self.heads = nn.ModuleDict({k: nn.Linear(128, n) for k, n in HEADS.items()
                                    if k != "position"})

    def forward(self, x: Tensor, position: Tensor | None = None) -> dict[str, Tensor]:
        """Logits per attribute; ``position`` (the true places, when training) says where
        to look instead of the network's own reading."""
        where = self.where(x)
        h = self.what(crops(x, where.argmax(1) if position is None else position))
        return {"position": where, **{k: head(h) for k, head in self.heads.items()}}


def _augment(x: Tensor, g: torch.Generator) -> Tensor:
    """Pictures as a generator might draw them: a quarter left clean, the rest drawn at half
    size and scaled up or blurred, less contrasted, tinted, brighter or darker, and noisy."""
    n = len(x)
    u = lambda *s: torch.rand(*s, generator=g).to(x)  # noqa: E731
    pick = u(n, 1, 1, 1)
    small = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="bilinear",
                          align_corners=False)
    blurred = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    y = torch.where(pick < 0.15, small, x.lerp(blurred, u(n, 1, 1, 1) * (pick < 0.3)))
    mean = y.mean((1, 2, 3), keepdim=True)
    y = mean + (y - mean) * (0.75 + 0.35 * u(n, 1, 1, 1))  # contrast
    y = y * (0.85 + 0.3 * u(n, 3, 1, 1)) + (u(n, 1, 1, 1) - 0.5) * 0.2  # tint, brightness
    y = y + torch.randn(y.shape, generator=g) * (0.08 * u(n, 1, 1, 1))
    return torch.where(u(n, 1, 1, 1) < 0.25, x, y.clamp(0, 1))


def _fit(net: nn.Module, x: Tensor, y: dict[str, Tensor], g: torch.Generator) -> None:
    cfg = TRAINING
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg["lr"], total_steps=cfg["steps"])
    n, batch = len(x), cfg["batch"]
    order, pos = torch.randperm(n, generator=g), 0
    for _ in range(cfg["steps"]):
        if pos + batch > n:
            order, pos = torch.randperm(n, generator=g), 0
        idx = order[pos:pos + batch]
        pos += batch
        out = net(_augment(x[idx], g), y["position"][idx])
        loss = sum(F.cross_entropy(out[k], y[k][idx]) for k in HEADS)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()


def _train() -> nn.Module:
    cfg = TRAINING
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a network this small only waits for a second thread
    # Callers may be drawing pictures under no_grad or inference mode; this must learn.
    try:
        with torch.inference_mode(False), torch.enable_grad():
            data = shapes.shapes(cfg["samples"], cfg["seed"], size=SIDE)
            x = torch.from_numpy(data["x"]).float().div_(255)
            y = {k: torch.from_numpy(data[f].astype("int64")) for k, f in _FIELDS.items()}
            g = torch.Generator().manual_seed(cfg["seed"])
            with torch.random.fork_rng(devices=[]):  # layer init draws from the global RNG
                torch.manual_seed(cfg["seed"])
                net = AttributeNet().train()
            _fit(net, x, y, g)
    finally:
        torch.set_num_threads(threads)
    return net.eval()


def _key() -> str:
    about = json.dumps({"v": VERSION, "shapes": shapes.VERSION, "heads": HEADS, **TRAINING},
                       sort_keys=True)
    return f"attributes-{hashlib.blake2b(about.encode(), digest_size=8).hexdigest()}"


def _restore(state: dict[str, Tensor], device) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # the init is overwritten; the RNG kept
        net = AttributeNet()
    net.load_state_dict(state)
    return net.to(device).eval()


def _read(path: Path) -> dict[str, Tensor] | None:
    try:
        state = load_file(path)
        _restore(state, "cpu")  # the weights fit the network
        return state
    except Exception:  # noqa: BLE001 - any unreadable cache only costs a retraining
        return None


def attribute_classifier(device: str | torch.device = "cpu",
                         root: str | Path | None = None) -> AttributeNet:
    """The trained classifier on ``device``, in eval mode: from memory, else from the data
    folder (``root``, default ``data_root()``), else trained now (about two minutes of
    one CPU core) and kept in both."""
    key = _key()
    state = _MEMORY.get(key)
    if state is None:
        path = data_root(root) / FOLDER / f"{key}.safetensors"
        state = _read(path) if path.is_file() else None
        if state is None:
            state = {k: v.detach().clone() for k, v in _train().state_dict().items()}
            try:
                write_weights(path, state)
            except OSError:
                pass  # a data folder that cannot be written only costs the speed-up
        _MEMORY[key] = state
    return _restore(state, device)


def _as_input(images: Tensor) -> Tensor:
    """[N, 3, 32, 32] float in [0, 1]: grey pictures repeated, other sizes resized."""
    x = images.detach().float()
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected images [N, 3, H, W] (or [N, 1, H, W]); received "
                         f"{tuple(images.shape)}")
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-2:] != (SIDE, SIDE):
        x = F.interpolate(x, size=(SIDE, SIDE), mode="bilinear", align_corners=False,
                          antialias=min(x.shape[-2:]) > SIDE)
    return x.clamp(0, 1)


def predict_attributes(images: Tensor, net: AttributeNet | None = None
                       ) -> dict[str, Tensor]:
    """The attributes the classifier reads off ``images`` [N, 3, H, W] in [0, 1]: a
    LongTensor [N] per name of ``HEADS`` (indices into ``shapes.SHAPES`` and so on)."""
    net = net if net is not None else attribute_classifier(images.device)
    device = next(net.parameters()).device
    x = _as_input(images)
    out: dict[str, list[Tensor]] = {k: [] for k in HEADS}
    with torch.no_grad():
        for part in x.split(500):
            for k, logits in net(part.to(device)).items():
                out[k].append(logits.argmax(1))
    return {k: torch.cat(v).to(images.device) for k, v in out.items()}


def prompt_accuracy(images: Tensor, prompts: Sequence[Prompt | str],
                    net: AttributeNet | None = None) -> dict[str, float]:
    """Per attribute, the share of ``images`` whose attribute as read matches what their
    prompt states, counting only the prompts that state it (nan where none does); ``all``:
    the share whose every stated attribute is right."""
    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images for {len(prompts)} prompts")
    prompts = [parse_prompt(p) if isinstance(p, str) else p for p in prompts]
    seen = predict_attributes(images, net)
    result, right, stated = {}, torch.ones(len(prompts), dtype=torch.bool), \
        torch.zeros(len(prompts), dtype=torch.bool)
    for k in HEADS:
        wanted = torch.tensor([-1 if getattr(p, k) is None else getattr(p, k) for p in prompts])
        says = wanted >= 0
        hit = seen[k].cpu() == wanted
        result[k] = float(hit[says].double().mean()) if says.any() else math.nan
        right &= hit | ~says
        stated |= says
    result["all"] = float(right[stated].double().mean()) if stated.any() else math.nan
    return result


def forget() -> None:
    """Drop the classifier kept in this process (the disk cache stays)."""
    _MEMORY.clear()
