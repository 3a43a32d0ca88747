"""The data part of a training script: ``data.py`` in the script's folder.

Three honest ways to give the script the app's exact data.  A generated toy (spirals, moons,
circles, xor, blobs, ring, curve, timeseries) is emitted as code: the dataset's own generator
functions, copied by source (they are self-contained numpy), the same seeded split, the same
dtypes.  The user's CSV or NPZ file is read from its path by Layerloom's reader, split and
standardised as the app does (``files``), so their data is not copied.  Anything else
(bundled digits, glyphs that need fonts) is saved as the arrays the app trains on, after the
split and the standardisation, in ``data.npz``.  Every time ``export`` checks the emitted
``load_data`` against the app's splits, array for array, and falls back to the arrays when
the code does not reproduce them.
Training-time image augmentation is emitted as code (``runtime.data.transforms``' own).
"""

from __future__ import annotations

import ast
import inspect
import pprint
import re
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from runtime.data import prepare, sequences, toys
from runtime.data.core import TensorData
from runtime.data.splits import Splits
from runtime.data.transforms import pipeline_source
from runtime.scriptgen import files

__all__ = ["DataCode", "data_code", "GENERATED"]

# Generated dataset → (generator function, the params it takes after n/noise/seed by keyword).
_TOYS = {
    "moons": (toys.moons, ()),
    "circles": (toys.circles, ("factor",)),
    "spirals": (toys.spirals, ("arms", "turns")),
    "xor": (toys.xor, ()),
    "blobs": (toys.blobs, ("centers",)),
    "ring": (toys.ring, ("modes", "radius")),
}
# The curve functions, as source (``toys.CURVES`` holds lambdas, which have no clean source).
_CURVES = {
    "sine": "np.sin",
    "polynomial": "lambda x: 0.25 * x**3 - x",
    "step": "lambda x: np.where(x > 0, 1.0, -1.0)",
    "abs": "np.abs",
    "sinc": "lambda x: np.sinc(x)",
    "sawtooth": "lambda x: (x % 2.0) - 1.0",
}
GENERATED = (*_TOYS, "curve", "timeseries")
_HELPERS = (toys._shuffle, toys._jitter)


@dataclass
class DataCode:
    source: str  # data.py
    arrays: dict[str, np.ndarray] | None  # data.npz, when the data is saved rather than made
    how: str  # one sentence for the README
    option: str = ""  # train.py's --data option, when data.py reads the user's file
    argument: str = ""  # what train.py passes to load_data


def _src(fn) -> str:
    return textwrap.dedent(inspect.getsource(fn)).rstrip() + "\n"


def _generator(name: str, p: dict) -> tuple[str, str] | None:
    """(function sources, the lines of ``load_data`` that make the pool ``fields``)."""
    if name in _TOYS:
        fn, extra = _TOYS[name]
        kw = "".join(f", {k}={p[k]!r}" for k in extra)
        made = f"x, y = {fn.__name__}({p['n_samples']!r}, {p['noise']!r}, {p['seed']!r}{kw})"
        fields = '{"x": x.astype(np.float32)' + (', "y": y.astype(np.int64)}'
                                                  if name != "ring" else "}")
        body = _src(fn)
        helpers = "\n\n".join(_src(h) for h in _HELPERS if h.__name__ + "(" in body)
        return (helpers + "\n\n" + body if helpers else body), f"{made}\nfields = {fields}"
    if name == "curve":
        curves = f"CURVES = {{{p['function']!r}: {_CURVES[p['function']]}}}\n"
        made = (f"x, y = curve({p['n_samples']!r}, {p['noise']!r}, {p['seed']!r}, "
                f"{p['function']!r}, {p['x_range']!r})")
        return (_src(toys._jitter) + "\n\n" + curves + "\n\n" + _src(toys.curve),
                made + '\nfields = {"x": x.astype(np.float32), "y": y.astype(np.float32)}')
    if name == "timeseries":
        made = (f"x, y = sine_windows({p['n_samples']!r}, {p['window']!r}, {p['horizon']!r}, "
                f"{p['waves']!r}, {p['noise']!r}, {p['seed']!r})")
        return (_src(sequences.sine_windows),
                made + '\nfields = {"x": x.astype(np.float32), "y": y.astype(np.float32)}')
    return None


_MADE = '''

def load_data() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The {name} dataset as Layerloom makes it: (training part, validation part)."""
{make}
    train, val = split_indices(len(x), {val!r}, {seed!r}{labels})
    return ({{k: torch.from_numpy(v[train]) for k, v in fields.items()}},
            {{k: torch.from_numpy(v[val]) for k, v in fields.items()}})
'''

_SAVED = '''

def load_data() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The {name} dataset exactly as Layerloom trained on it (the parts saved in data.npz
    beside this file as train.<field> and val.<field>)."""
    with np.load(Path(__file__).with_name("data.npz")) as saved:
        parts = {{"train": {{}}, "val": {{}}}}
        for key in saved.files:
            part, field = key.split(".", 1)
            parts[part][field] = torch.from_numpy(saved[key])
    return parts["train"], parts["val"]
'''


def _augment_code(splits: Splits) -> str:
    """``augment(batch, generator)``: the app's pipeline, its functions copied by source."""
    a = splits.augment
    if a is None:
        return ""
    ops = a.pipeline()
    values = any(op["op"] in ("jitter", "noise") for op in ops)  # as Augment.__call__
    source = pipeline_source(ops, *((a.mean, a.std) if values else (None, None)))
    marker = "# Training-time augmentation"
    source = source[source.index(marker):]  # its imports are at the top of data.py
    source = re.sub(r"^AUGMENT = (.*)$", lambda m: "AUGMENT = " + pprint.pformat(
        ast.literal_eval(m.group(1)), width=88, sort_dicts=False), source, flags=re.MULTILINE)
    return f"""

{source}

def augment(batch: dict[str, torch.Tensor], generator: torch.Generator) -> dict:
    \"\"\"Layerloom's training-time augmentation of field {a.field!r}.\"\"\"
    x = augment_batch(batch[{a.field!r}], AUGMENT, generator, AUGMENT_MEAN, AUGMENT_STD)
    return {{**batch, {a.field!r}: x}}
"""


def _header(doc: str, saved: bool, augmented: bool, modules: tuple[str, ...] = ()) -> str:
    names = sorted({*modules, *(("math",) if augmented else ())})
    std = [f"import {m}" for m in names] + (["from pathlib import Path"] if saved else [])
    imports = ["from __future__ import annotations", ""] + (std + [""] if std else [])
    imports += ["import numpy as np", "import torch"]
    if augmented:
        imports += ["import torch.nn.functional as F  # noqa: N812"]
    first, _, rest = doc.partition("\n\n")
    body = textwrap.fill(rest.strip(), 92) + "\n" if rest.strip() else ""
    return f'"""{first}\n\n{body}"""\n\n' + "\n".join(imports) + "\n"


def data_code(name: str, params: dict, splits: Splits) -> DataCode:
    """``data.py`` (and maybe ``data.npz``) giving ``splits``' training and validation
    parts; ``params``: the dataset's params as ``load`` coerced them."""
    augmented = splits.augment is not None
    made = None if splits.info.stats else _generator(name, params)
    if made is not None:
        funcs, make = made
        labels = ', labels=fields["y"]' if splits.info.task == "classification" else ""
        doc = (f"The {name} dataset, generated exactly as Layerloom generates it (same seed, "
               "same split).\n\nThe generator functions are Layerloom's own, copied.\n")
        source = (_header(doc, False, augmented) + "\n\n" + funcs + "\n\n"
                  + _src(prepare.split_indices)
                  + _MADE.format(name=name, make=textwrap.indent(make, "    "),
                                 val=params.get("val_fraction", 0.2),
                                 seed=params.get("seed", 0), labels=labels)
                  + _augment_code(splits))
        if _reproduces(source, splits):
            return DataCode(source, None, f"data.py generates the {name} dataset with "
                                          "Layerloom's own code (same seed, same split)")
    read = files.file_code(name, params, splits)
    if read is not None:
        doc, modules, code = read
        source = _header(doc, True, augmented, modules) + "\n" + code + _augment_code(splits)
        if _reproduces(source, splits):
            return DataCode(source, None, "data.py reads your file (Layerloom's reader, "
                                          "split and standardisation) from:\n"
                                          f"             {files.resolved(params)}\n"
                                          "             (train.py --data PATH reads a copy "
                                          "elsewhere; the folder holds no copy)",
                            files.OPTION, files.ARGUMENT)
    norm = " and standardised with the training part's statistics" if splits.info.stats else ""
    doc = (f"The {name} dataset as Layerloom trained on it, read from data.npz.\n\n"
           f"The arrays are the exact training and validation parts (split{norm}).\n")
    source = _header(doc, True, augmented) + _SAVED.format(name=name) + _augment_code(splits)
    arrays = {f"{part}.{k}": v.detach().cpu().numpy()
              for part, data in (("train", splits.train), ("val", splits.val))
              for k, v in data.items()}
    return DataCode(source, arrays, f"data.npz holds the {name} arrays Layerloom trained on "
                                    f"(split{norm}); data.py reads them")


def _reproduces(source: str, splits: Splits) -> bool:
    """The emitted ``load_data`` gives the app's parts exactly."""
    module = types.ModuleType("layerloom_script_data")
    module.__dict__["__file__"] = str(Path("data.py").resolve())
    try:
        exec(compile(source, "data.py", "exec"), module.__dict__)
        train, val = module.load_data()
    except (Exception, SystemExit):  # the file-reading script exits with a sentence
        return False
    for mine, app in ((train, splits.train), (val, splits.val)):
        if set(mine) != set(app.keys()):
            return False
        for k in mine:
            if mine[k].dtype != app[k].dtype or not torch.equal(mine[k], app[k].cpu()):
                return False
    return True


def in_memory(splits: Splits) -> bool:
    return isinstance(splits.train, TensorData) and isinstance(splits.val, TensorData)
