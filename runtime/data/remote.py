"""The user's data folder and the official files Layerloom can download into it.

Each file is pinned by size and SHA-256, so a mirror can serve it but never change it.
Where the hashes come from (public records of the same files):
- MNIST, Fashion-MNIST, KMNIST: tensorflow/datasets, files
  ``tensorflow_datasets/url_checksums/{mnist,fashion_mnist,kmnist}.txt`` (url, size, sha256).
- CIFAR-10 (python version): the ``file_hash`` of ``cifar-10-python.tar.gz`` in Keras'
  ``keras/datasets/cifar10.py``; the size is the one recorded with that hash in public
  dataset manifests.  (tensorflow/datasets pins only the binary version of CIFAR-10.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from runtime.data.downloads import DownloadError, Progress, download

__all__ = [
    "DATA_ENV",
    "MIRROR_ENV",
    "Progress",
    "RemoteFile",
    "RemoteSet",
    "REMOTE",
    "data_root",
    "file_url",
    "fetch",
]

DATA_ENV = "LAYERLOOM_DATA"
MIRROR_ENV = "LAYERLOOM_MIRROR"


def data_root(root: str | Path | None = None) -> Path:
    """The data folder: ``root`` if given, else $LAYERLOOM_DATA, else the XDG data home
    (``~/.local/share``) + ``layerloom/data``.  Not created here: only a download creates it.
    """
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or "~/.local/share"
    return Path(xdg).expanduser() / "layerloom" / "data"


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class RemoteSet:
    """The official files of one dataset and where they are published."""

    base_url: str
    files: tuple[RemoteFile, ...]

    def file(self, name: str) -> RemoteFile:
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(name)


def _idx_set(base: str, sizes_hashes: tuple[tuple[int, str], ...]) -> RemoteSet:
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    pairs = zip(names, sizes_hashes, strict=True)
    return RemoteSet(base, tuple(RemoteFile(n, s, h) for n, (s, h) in pairs))


REMOTE: dict[str, RemoteSet] = {
    "mnist": _idx_set("https://storage.googleapis.com/cvdf-datasets/mnist/", (
        (9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        (28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        (1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        (4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    )),
    "fashion_mnist": _idx_set("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", (
        (26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        (29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        (4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        (5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    )),
    "kmnist": _idx_set("http://codh.rois.ac.jp/kmnist/dataset/kmnist/", (
        (18165135, "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4"),
        (29497, "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17"),
        (3041136, "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5"),
        (5120, "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c"),
    )),
    "cifar10": RemoteSet("https://www.cs.toronto.edu/~kriz/", (
        RemoteFile("cifar-10-python.tar.gz", 170498071,
                   "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
    )),
}


def file_url(dataset: str, name: str, mirror: str = "") -> str:
    """Where to fetch file ``name`` of ``dataset``.

    ``mirror`` (a dataset param) is a URL of a folder holding this dataset's files; else
    $LAYERLOOM_MIRROR is a URL of a folder with one sub-folder per dataset (``mnist/``,
    ``fashion_mnist/``, ...); else the official address.
    """
    if mirror:
        base = mirror
    elif os.environ.get(MIRROR_ENV):
        base = os.environ[MIRROR_ENV].rstrip("/") + "/" + dataset
    else:
        base = REMOTE[dataset].base_url
    return base.rstrip("/") + "/" + name


def fetch(
    dataset: str,
    folder: Path,
    names: list[str],
    *,
    mirror: str = "",
    progress: Progress | None = None,
    retries: int = 3,
    backoff: float | None = None,
) -> list[Path]:
    """Download the files ``names`` of ``dataset`` into ``folder`` (those missing only).

    ``progress`` sees the bytes of all these files together against their summed size.
    """
    remote = REMOTE[dataset]
    files = [remote.file(n) for n in names]
    total = sum(f.size for f in files)
    offset = 0
    out = []
    for f in files:
        def report(done: int, _total: int | None, _offset: int = offset) -> None:
            if progress:
                progress(_offset + done, total)

        try:
            out.append(download(file_url(dataset, f.name, mirror), folder / f.name, f.sha256,
                                size=f.size, progress=report, retries=retries,
                                backoff=backoff))
        except DownloadError as e:
            missing = [g.name for g in files if not (folder / g.name).exists()]
            raise DownloadError(f"{e} To work offline, put {', '.join(missing)} (from "
                                f"{remote.base_url} or a copy) into {folder}") from None
        offset += f.size
    return out
