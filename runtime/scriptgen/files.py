"""``data.py`` for the user's own files (datasets ``csv`` and ``npz``): the script reads the
file itself, from the absolute path it had at export (``train.py --data PATH`` reads a copy
elsewhere), so the folder holds no copy of the user's data.

The CSV reader is Layerloom's own, copied by source (``read_csv``, the column typing and
one-hot encoding), so the cells parse exactly as in the app; what ``auto`` resolved to at
export (the task, the classes, the input kind) is written down as constants, which also
pins the encoding the model was built for: a file that encodes differently (other
categories, other classes) is refused with a sentence rather than trained on.  Then the
app's seeded (stratified) split and its standardisation with training-set statistics, both
copied by source.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path

from runtime.data import csvfile, prepare
from runtime.data.splits import Splits

__all__ = ["READERS", "OPTION", "ARGUMENT", "file_code", "resolved"]

READERS = ("csv", "npz")

# What train.py adds when data.py reads a file (``@DATA_OPTION@``, ``@DATA_ARG@``).
OPTION = ('\n    parser.add_argument("--data", default=None,\n'
          '                        help="the data file to read (default: the one Layerloom '
          'trained on)")')
ARGUMENT = "args.data"


def _src(fn) -> str:
    return textwrap.dedent(inspect.getsource(fn)).rstrip() + "\n"


def _csv(p: dict, splits: Splits) -> tuple[str, str]:
    """(constants and functions, the body of ``read_fields``) for a CSV table."""
    info = splits.info
    consts = (f"HEADER = {p['header']!r}\nDELIMITER = {p['delimiter']!r}\n"
              f"TARGET = {p['target']!r}  # column(s) to predict (empty: the last)\n"
              f"FEATURES = {tuple(info.extra['feature_names'])!r}  # the inputs, as encoded\n")
    if info.task == "classification":
        consts += f"CLASSES = {tuple(info.class_names)!r}  # class i of the model\n"
    consts += (f"\n_DELIMITERS = {csvfile._DELIMITERS!r}\n"
               f"MAX_CATEGORIES = {csvfile.MAX_CATEGORIES!r}\n\n\n"
               + "\n\n".join(_src(f) for f in (csvfile._number, csvfile.read_csv,
                                               csvfile._resolve, csvfile._features)))
    body = '''names, rows = read_csv(path, HEADER, DELIMITER)
targets = _resolve(names, TARGET)
columns = list(zip(*rows, strict=True))
inputs = [i for i in range(len(names)) if i not in targets]
x, features = _features([names[i] for i in inputs], [columns[i] for i in inputs])
if tuple(features) != FEATURES:
    raise ValueError(f"its columns encode as {len(features)} inputs ({', '.join(features)}); "
                     f"the model takes {len(FEATURES)} ({', '.join(FEATURES)})")
values = [columns[i] for i in targets]
for i, col in zip(targets, values, strict=True):
    if any(not c for c in col):
        raise ValueError(f"target column {names[i]!r} has empty cells")
'''
    if info.task == "classification":
        body += '''index = {c: i for i, c in enumerate(CLASSES)}
unknown = sorted(set(values[0]) - set(index))
if unknown:
    raise ValueError(f"target classes {unknown[:5]} are not among the model's: {CLASSES}")
return {"x": x, "y": np.array([index[c] for c in values[0]], np.int64)}
'''
    else:
        body += '''nums = [[_number(c) for c in col] for col in values]
if any(v is None for col in nums for v in col):
    raise ValueError("targets must be numbers; a target column holds text")
y = np.array(nums, dtype=np.float32).T
if TASK == "multilabel" and not np.isin(y, (0.0, 1.0)).all():
    raise ValueError("multilabel targets must be 0 or 1")
return {"x": x, "y": y}
'''
    return consts, body


_NPZ_INPUTS = {  # runtime.data.npzfile.inputs_of, for the kind ``auto`` resolved to
    "vector": "x = x.astype(np.float32, copy=False).reshape(len(x), -1)\n",
    "sequence": ("x = x.astype(np.float32, copy=False)\n"
                 "x = x if x.ndim == 3 else x[:, :, None]\n"),
    "image": ("scale = x.dtype == np.uint8\n"
              "x = x.astype(np.float32, copy=False)\n"
              "if scale:  # uint8 images are scaled to [0, 1]\n"
              "    x /= 255.0\n"
              "if x.ndim == 3:\n"
              "    x = x[:, None]\n"
              "elif x.shape[1] not in (1, 3, 4):  # channels last\n"
              "    x = x.transpose(0, 3, 1, 2)\n"),
    "tokens": "x = x.astype(np.int64, copy=False)\n",
}


def _npz(p: dict, splits: Splits) -> tuple[str, str]:
    info = splits.info
    kind = info.fields["x"].kind
    consts = (f"X_KEY = {p['x_key']!r}\nY_KEY = {p['y_key']!r}\n"
              f"X_KIND = {kind!r}  # what each input is\n")
    if info.task == "classification":
        consts += f"NUM_CLASSES = {info.num_classes!r}\n"
    body = '''keys = [X_KEY] + ([Y_KEY] if Y_KEY else [])
with np.load(path, allow_pickle=False) as z:  # a pickle could run code: refused
    missing = [k for k in keys if k not in z.files]
    if missing:
        raise KeyError(f"it has no array {missing[0]!r}; it holds: {', '.join(z.files)}")
    arrays = {k: z[k] for k in keys}
x = arrays[X_KEY]
if x.dtype.kind not in "biuf":
    raise ValueError(f"inputs must be numbers; the array has dtype {x.dtype}")
''' + _NPZ_INPUTS[kind]
    if kind != "tokens":
        body += "x = np.ascontiguousarray(x)\n"
    if not p["y_key"]:
        return consts, body + 'return {"x": x}\n'
    body += '''y = arrays[Y_KEY]
if len(y) != len(x) or y.dtype.kind not in "biuf":
    raise ValueError(f"{len(x)} inputs need as many numeric targets; found {len(y)} {y.dtype}")
y = y.reshape(len(y), -1) if y.ndim > 2 else y
'''
    if info.task == "classification":
        body += '''if y.ndim != 1 or not np.all(np.mod(y, 1) == 0) or y.min() < 0 \\
        or y.max() >= NUM_CLASSES:
    raise ValueError(f"class labels must be one whole number in [0, {NUM_CLASSES}) per sample")
return {"x": x, "y": y.astype(np.int64, copy=False)}
'''
    else:
        body += 'return {"x": x, "y": y.astype(np.float32, copy=False).reshape(len(x), -1)}\n'
    return consts, body


_LOAD = '''

def read_fields(path: Path) -> dict[str, np.ndarray]:
    """The whole file as Layerloom reads it: field name → array."""
{body}


def load_data(path: str | Path | None = None
              ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The {name} dataset read from ``path`` (default: the file Layerloom trained on) as
    Layerloom reads it: (training part, validation part)."""
    path = Path(path or DATA_PATH).expanduser()
    if not path.is_file():
        sys.exit(f"data file {{path}} not found; pass --data PATH to train.py to read a copy "
                 "elsewhere")
    try:
        fields = read_fields(path)
    except Exception as e:  # the reader's sentence, not a traceback
        sys.exit(f"cannot read {{path}}: {{e}}")
    train, val = split_indices(len(fields["x"]), VAL_FRACTION, SEED{labels})
    train_part = {{k: torch.from_numpy(v[train]) for k, v in fields.items()}}
    val_part = {{k: torch.from_numpy(v[val]) for k, v in fields.items()}}{norm}
    return train_part, val_part
'''

_NORM = """
    for name, kind in STANDARDISE.items():
        train_part, val_part = standardise(train_part, val_part, name, kind)"""

_STANDARDISE = '''

def standardise(train: dict, val: dict, name: str, kind: str) -> tuple[dict, dict]:
    """Field ``name`` of both parts minus the training part's mean, over its std."""
    mean, std = channel_stats(train[name], kind)
    shape = [1] * train[name].dim()
    shape[1 if kind == "image" else -1] = -1

    def apply(x: torch.Tensor) -> torch.Tensor:
        m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(shape)
        s = torch.tensor(std, dtype=x.dtype, device=x.device).view(shape)
        return x.sub(m).div_(s)

    return {**train, name: apply(train[name])}, {**val, name: apply(val[name])}
'''


def resolved(p: dict) -> Path:
    """The absolute path of the file (a relative one is taken from where export runs, as the
    app does)."""
    return Path(p["path"]).expanduser().resolve()


def file_code(name: str, p: dict, splits: Splits) -> tuple[str, tuple[str, ...], str] | None:
    """(docstring, standard-library imports, the code after the imports) of a ``data.py``
    that reads dataset ``name``'s file; None when ``name`` has no such reader."""
    if name not in READERS:
        return None
    info = splits.info
    consts, body = (_csv if name == "csv" else _npz)(p, splits)
    path = resolved(p)
    standardised = {f: info.fields[f].kind for f in info.stats}
    head = (f"# The file Layerloom trained on (train.py --data PATH reads a copy elsewhere).\n"
            f"DATA_PATH = {str(path)!r}\nTASK = {info.task!r}\n"
            f"VAL_FRACTION = {p['val_fraction']!r}\nSEED = {p['seed']!r}\n"
            f"STANDARDISE = {standardised!r}  # field → kind, with training-set statistics\n")
    helpers = ""
    if standardised:
        stats = _src(prepare._reduce_dims) + "\n\n" + _src(prepare.channel_stats)
        helpers = "\n\n" + re.sub(r"\bTensor\b", "torch.Tensor", stats) + _STANDARDISE
    labels = ', labels=fields["y"]' if info.task == "classification" else ""
    code = (head + consts + "\n\n" + _src(prepare.split_indices) + helpers
            + _LOAD.format(body=textwrap.indent(body, "    ").rstrip(), name=name,
                           labels=labels, norm=_NORM if standardised else ""))
    doc = (f"The {name} dataset, read from your file {path.name} as Layerloom reads it.\n\n"
           "The reader, the seeded split and the standardisation with the training part's "
           "statistics are Layerloom's own, copied; `python train.py --data PATH` reads a "
           "copy of the file elsewhere.\n")
    std = ("csv", "io", "math", "sys") if name == "csv" else ("sys",)
    return doc, std, code
