"""A small classifier trained on the dataset itself, in which generated samples are judged.

Inception features mean nothing for 8×8 digits or 2-D toys; a judge trained on the same data
does: its penultimate features carry a Fréchet distance, its predictions say which classes a
generator covers.  It works in the representation the networks see (the standardised field),
so generated samples go in as they are.

Training is quick (a few hundred Adam steps on at most ``MAX_TRAIN`` samples, on the data's
device) and deterministic: a fixed seed, its own generator, and the global RNG left as it
was.  Weights are kept on disk under ``<data folder>/judges/`` and in memory per process,
keyed by the dataset's name, a hash of its description, and the number and a checksum of the
training samples used: the same data never trains twice; a file that cannot be read is
trained again.  The validation accuracy is measured afresh each time, so it can be trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from runtime.data.core import TensorData
from runtime.data.remote import data_root
from runtime.data.splits import Splits

__all__ = ["Judge", "judge_for", "forget", "FOLDER", "write_weights"]

FOLDER = "judges"
VERSION = 1  # of the architecture and training: a change must never load old weights
SEED = 20240607
MAX_TRAIN = 10_000
MAX_VAL = 2_000  # enough to measure the accuracy to about half a percent
BATCH = 64
STEPS = (300, 600)  # at least, at most: two epochs of the training samples, within these
FEATURES = 64
MAX_SIDE = 32
_MEMORY: dict[str, dict[str, Tensor]] = {}


def _network(shape: tuple[int, ...], classes: int) -> nn.Module:
    """A small CNN for images [C, H, W] (stride-2 convolutions down to about 4×4, the first
    at full size for tiny images; big images are first averaged down to ``MAX_SIDE`` on
    their short side, which bounds the cost), an MLP for vectors [F]; both end in
    ``FEATURES`` units."""
    if len(shape) == 1:
        body = nn.Sequential(nn.Linear(shape[0], 128), nn.ReLU())
    else:
        c, h, w = shape
        layers: list[nn.Module] = []
        size, width = min(h, w), 32
        if size > MAX_SIDE:
            layers.append(nn.AdaptiveAvgPool2d((h * MAX_SIDE // size, w * MAX_SIDE // size)))
            size = MAX_SIDE
        convs = 0
        if size <= 8:
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU()]
            c, convs = width, 1
        while size > 4 or not convs:
            width = min(128, 2 * width) if convs else width
            layers += [nn.Conv2d(c, width, 3, stride=2, padding=1), nn.ReLU()]
            c, size, convs = width, (size + 1) // 2, convs + 1
        body = nn.Sequential(*layers, nn.Flatten())
    with torch.no_grad():
        flat = body(torch.zeros(1, *shape)).shape[1]
    return nn.Sequential(body, nn.Linear(flat, FEATURES), nn.ReLU(), nn.Linear(FEATURES, classes))


@dataclass
class Judge:
    """A trained judge: ``net`` (eval mode, on the data's device), its accuracy on the
    validation split (nan without one) and where its weights came from: ``trained``,
    ``disk`` or ``memory``."""

    net: nn.Module
    classes: int
    accuracy: float
    source: str

    def _run(self, x: Tensor) -> tuple[Tensor, Tensor]:
        device = next(self.net.parameters()).device
        feats, logits = [], []
        with torch.no_grad():
            for part in x.split(1000):
                h = self.net[:-1](part.to(device, torch.float32))
                feats.append(h)
                logits.append(self.net[-1](h))
        return torch.cat(feats), torch.cat(logits)

    def features(self, x: Tensor) -> Tensor:
        """[N, FEATURES]: the penultimate layer, where Fréchet distances are measured."""
        return self._run(x)[0]

    def predict(self, x: Tensor) -> Tensor:
        """[N] class ids."""
        return self._run(x)[1].argmax(1)


def _labelled(part: TensorData, field: str, label: str, classes: int, n: int
              ) -> tuple[Tensor, Tensor]:
    """The first ``n`` samples of ``part`` whose label is a class id (not -1, say)."""
    x, y = part[field], part[label].long()
    keep = (y >= 0) & (y < classes)
    return x[keep][:n].float(), y[keep][:n]


def _key(data: Splits, field: str, label: str, x: Tensor, y: Tensor) -> str:
    info = data.info
    about = json.dumps({
        "v": VERSION, "field": field, "label": label, "task": info.task,
        "classes": info.num_classes, "mean": info.mean, "std": info.std,
        "stats": info.stats.get(field),
        "fields": {k: [list(f.shape), f.kind, f.dtype] for k, f in sorted(info.fields.items())},
    }, sort_keys=True, default=str)
    digest = hashlib.blake2b(about.encode(), digest_size=8)
    for t in (x, y):
        digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in info.name)
    return f"{safe}-{len(x)}-{digest.hexdigest()}"


def _train(shape, classes, x: Tensor, y: Tensor) -> nn.Module:
    gen = torch.Generator().manual_seed(SEED)
    with torch.random.fork_rng(devices=[]):  # layer init draws from the global RNG
        torch.manual_seed(SEED)
        net = _network(shape, classes)
    net.to(x.device)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    n = len(x)
    steps = min(STEPS[1], max(STEPS[0], 2 * -(-n // BATCH)))
    order, pos = torch.randperm(n, generator=gen), 0
    # Pictures are drawn under no_grad; the judge still has to learn.
    with torch.inference_mode(False), torch.enable_grad():
        for _ in range(steps):
            if pos + BATCH > n:
                order, pos = torch.randperm(n, generator=gen), 0
            idx = order[pos:pos + BATCH].to(x.device)
            pos += BATCH
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return net.eval()


def _restore(state: dict[str, Tensor], shape, classes, device) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # the init is overwritten; the RNG kept
        net = _network(shape, classes)
    net.load_state_dict(state)
    return net.to(device).eval()


def _read(path: Path, shape, classes, device) -> nn.Module | None:
    try:
        state = load_file(path)
        return _restore(state, shape, classes, device)
    except Exception:  # noqa: BLE001 - any unreadable cache only costs a retraining
        return None


def write_weights(path: Path, state: dict[str, Tensor]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem, suffix=".tmp", dir=path.parent)
    try:
        os.close(fd)
        save_file({k: v.contiguous() for k, v in state.items()}, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def judge_for(data: Splits, field: str = "x", label: str = "y",
              root: str | Path | None = None) -> Judge | None:
    """The judge of ``data``'s ``field`` by its ``label``; None where none can be made: no
    such fields, labels that are not classes, file-backed data, samples neither images
    [C, H, W] nor vectors [F], or fewer than two classes among the training samples."""
    info = data.info
    fields = info.fields
    if (field not in fields or label not in fields or fields[label].kind != "label"
            or not info.num_classes or info.num_classes < 2
            or len(fields[field].shape) not in (1, 3)
            or not isinstance(data.train, TensorData) or field not in data.train
            or label not in data.train):
        return None
    classes, shape = info.num_classes, tuple(fields[field].shape)
    x, y = _labelled(data.train, field, label, classes, MAX_TRAIN)
    if len(x) < BATCH or len(torch.unique(y)) < 2:
        return None
    key = _key(data, field, label, x, y)
    path = data_root(root) / FOLDER / f"{key}.safetensors"
    source, state = "memory", _MEMORY.get(key)
    net = _restore(state, shape, classes, x.device) if state is not None else None
    if net is None:
        source, net = "disk", _read(path, shape, classes, x.device) if path.is_file() else None
    if net is None:
        source, net = "trained", _train(shape, classes, x, y)
        try:
            write_weights(path, {k: v.detach().cpu() for k, v in net.state_dict().items()})
        except OSError:
            pass  # a data folder that cannot be written only costs the speed-up
    _MEMORY[key] = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    judge = Judge(net, classes, float("nan"), source)
    if isinstance(data.val, TensorData) and field in data.val and label in data.val:
        vx, vy = _labelled(data.val, field, label, classes, MAX_VAL)
        if len(vx):
            vy = vy.to(next(net.parameters()).device)
            judge.accuracy = float((judge.predict(vx) == vy).float().mean())
    return judge


def forget() -> None:
    """Drop the judges kept in this process (the disk cache stays): frees their memory,
    and lets a test see the disk cache at work."""
    _MEMORY.clear()
