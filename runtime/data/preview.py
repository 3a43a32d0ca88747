"""A few samples of a loaded dataset in the form a picture needs, for the GUI and docs.

Normalisation is undone, so images look like photos and points sit where they were generated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from runtime.data.core import DataInfo, TensorData
from runtime.data.splits import Splits
from runtime.data.trees import tree_text

__all__ = ["Preview", "preview"]


@dataclass(frozen=True)
class Preview:
    """What to draw.

    kind ``image``: ``data`` uint8 [n, H, W, C]; ``points``: float32 [n, 2] points in the
    plane; ``curve``: float32 [n, 2] pairs (x, y) sorted by x; ``series``: float32 [n, T]
    with what follows each window in ``targets`` [n, H]; ``text``: a list of strings;
    ``table``: float32 [n, D] rows.  ``labels`` are class indices (with ``class_names``),
    ``None`` where the samples have no class.
    """

    kind: str
    data: np.ndarray | list[str]
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    targets: np.ndarray | None = None


def _samples(part, n: int, seed: int) -> dict[str, torch.Tensor]:
    count = len(part)
    pick = np.sort(np.random.default_rng(seed).permutation(count)[: min(n, count)])
    if isinstance(part, TensorData):
        index = torch.from_numpy(pick).to(part.device)
        return {k: v[index].cpu() for k, v in part.items()}
    items = [part[int(i)] for i in pick]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def _undo(x: torch.Tensor, info: DataInfo, channel_dim: int) -> torch.Tensor:
    if info.mean is None or info.std is None:
        return x
    shape = [1] * x.dim()
    shape[channel_dim] = -1
    return x * torch.tensor(info.std).view(shape) + torch.tensor(info.mean).view(shape)


def _text(batch: dict, info: DataInfo) -> list[str]:
    vocab = info.vocab
    if "tokens" in batch:  # expression trees
        out = []
        for i in range(len(batch["tokens"])):
            expr = tree_text(batch["tokens"][i], batch["left"][i], batch["right"][i],
                             int(batch["root"][i]))
            y = batch["y"][i]
            out.append(f"{expr} = {y.item() if y.numel() == 1 else y.tolist()}")
        return out

    def spell(ids) -> str:
        pad = info.extra.get("pad")
        ids = [int(t) for t in ids if pad is None or int(t) != pad]
        if not vocab:  # token ids without a vocabulary (an .npz of integers)
            return " ".join(map(str, ids))
        return "".join(vocab[t] for t in ids)

    if info.task == "sequence":
        return [f"{spell(x)} → {spell(y)}" for x, y in zip(batch["x"], batch["y"], strict=True)]
    return [spell(x) for x in batch["x"]]


def preview(splits: Splits, n: int = 16, part: str = "train", seed: int = 0) -> Preview:
    """Up to ``n`` samples of ``part``, drawn at random (seeded), ready to draw."""
    info = splits.info
    batch = _samples(splits.part(part), n, seed)
    y = batch.get("y")
    labels = y.numpy().astype(np.int64) if y is not None and "y" in info.fields and \
        info.fields["y"].kind == "label" else None
    names = info.class_names
    fx = info.fields.get("x") or info.fields.get("tokens")
    if fx.kind == "tokens":
        return Preview("text", _text(batch, info), labels, names)
    x = batch["x"].float()
    if fx.kind == "image":
        img = _undo(x, info, 1).clamp(0, 1).mul(255).round().to(torch.uint8)
        return Preview("image", img.permute(0, 2, 3, 1).numpy(), labels, names)
    if fx.kind == "sequence":
        seq = _undo(x, info, -1)[..., 0].numpy()
        targets = y.float().numpy() if y is not None and labels is None else None
        return Preview("series", seq.astype(np.float32), labels, names, targets)
    x = _undo(x, info, -1).numpy().astype(np.float32)
    if x.shape[1] == 2:
        return Preview("points", x, labels, names)
    if x.shape[1] == 1 and y is not None and labels is None and y.dim() == 2 \
            and y.shape[1] == 1:
        pairs = np.concatenate([x, y.float().numpy()], 1)
        return Preview("curve", pairs[np.argsort(pairs[:, 0])].astype(np.float32))
    targets = y.float().numpy() if y is not None and labels is None else None
    return Preview("table", x, labels, names, targets)
