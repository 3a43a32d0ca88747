"""``docs/reference.md``, written from ``runtime/reference.py`` (``layerloom reference``).

A test regenerates the page and compares, so it is never edited by hand and never stale.
"""

from __future__ import annotations

import json
from typing import Any

from runtime import reference as ref

__all__ = ["reference_markdown", "NORMALISATION", "METRICS"]

NORMALISATION = """\
A dataset with a `normalize` param (on by default wherever it exists) standardises every float
input field — vector, image and sequence fields; labels, token ids and regression targets stay
as they are — with the mean and standard deviation of its **training split** only: per channel
for images, per feature (the last axis) for vectors and sequences; a constant feature gets
std 1. The validation split is standardised with the same training statistics, and each data
stream of a recipe with its own. The datasets without the param (the 2-D toys, curves,
generated sequences, text) are used as they are made.

The statistics belong to the trained model: exported models take the raw data the user has.
The ONNX file, the generated PyTorch code and `layerloom sample` include the standardisation
`(x − mean) / std` as their first step; where the bare network is exported instead, the mean
and std are written into the model's metadata and the export report says so."""

METRICS = """\
`layerloom train` writes `RUNDIR/metrics.csv` with the columns `step, epoch, split, name,
value` (steps count optimisation steps done, from 1; epochs count from 0) and
`RUNDIR/metrics.jsonl` with every event. The CSV's splits:"""

METRICS_SPLITS = (
    ("`train`", "each step's metrics (`loss`, `accuracy`…) and the learning rate as "
                "`lr/<network>` when it changes"),
    ("`train_epoch`", "the epoch means of the step metrics"),
    ("`val`", "validation at the end of each epoch"),
    ("`grad`", "per-layer gradient norms, `name` = `<network>/<node id>`: the L2 norm of the "
               "layer's gradient, averaged over the steps measured since the previous row"),
    ("`sparsity`", "the share of weights (matrices and kernels) with |w| below 0.001, at the "
                   "same snapshots as `grad`: `<network>/<node id>` per layer, `<network>` "
                   "over the whole network (an L1 penalty raises it)"),
)

STATS_EVERY = """\
How often the gradients are measured is the training setting `stats_every`: every N steps,
each measurement one `grad` row per layer (`"stats_every": 10` gives a 200-step run 20
snapshots); 0 (the default) measures at most every 10 steps and twice a second, sparser
when measuring is costly."""


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _code(value: Any) -> str:
    return "`" + json.dumps(value, ensure_ascii=False) + "`"


def _table(head: tuple[str, ...], rows: list[tuple]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out + [""]


def _params(params: list[dict]) -> list[str]:
    if not params:
        return ["No params.", ""]
    return _table(("param", "type", "default", "accepts", "help"),
                  [(f"`{p['name']}`", p["type"], _code(p["default"]), p["accepts"], p["help"])
                   for p in params])


def _shape(shape: list | None) -> str:
    return "—" if shape is None else "[" + ", ".join(map(str, shape)) + "]"


def _block(name: str) -> list[str]:
    b = ref.block_info(name)
    title = b["type"] + (f" ({b['title']})" if b["title"] != b["type"] else "")
    out = [f"#### {title}", "", b["concept"], ""]
    ports = [(f"`{p['name']}`", side, p["kind"], "yes" if p["optional"] else "", p["help"])
             for side in ("inputs", "outputs") for p in b[side]]
    if ports:
        out += _table(("port", "side", "kind", "optional", "help"),
                      [(n, s[:-1], k, o, h) for n, s, k, o, h in ports])
    if b["ports_vary"]:
        out += ["The ports shown are those of the default params; they follow the params.", ""]
    out += _params(b["params"])
    if b["example"]:
        ins = ", ".join(_shape(s) for s in b["example"]["inputs"]) or "nothing"
        outs = ", ".join(_shape(s) for s in b["example"]["outputs"]) or "nothing"
        out += [f"Example with the default params: {ins} → {outs}.", ""]
    return out


def _blocks() -> list[str]:
    listing = ref.block_list()
    count = sum(len(c["blocks"]) for c in listing)
    out = ["## Blocks", "",
           f"{count} blocks in {len(listing)} categories. A node's `params` use these names; a "
           "missing param takes its default, and an unknown or out-of-range one loads and is "
           "reported as a problem on the node. Edges connect ports (`\"from\": \"node.port\"`): "
           "`tensor` ports carry floats, `index` ports integer ids (tokens, labels), `any` "
           "either. Shapes are per sample, batch excluded. A `Group` node (not a block of the "
           "catalogue) holds a sub-network in `subnet`: its Input nodes are the group's input "
           "ports and its Output nodes its output ports.", ""]
    for c in listing:
        out += [f"### {c['category']}", ""]
        for b in c["blocks"]:
            out += _block(b["type"])
    return out


def _datasets() -> list[str]:
    out = ["## Datasets", "",
           "`dataset.name` (and each stream's) is one of these; `params` as listed. Fields are "
           "those of each sample, shown for the default params where no files or download are "
           "needed (the others' fields come from their files).", ""]
    for d in ref.dataset_list():
        info = ref.dataset_info(d["name"])
        out += [f"### {info['name']} — {info['title']}", "", info["description"], "",
                f"Kind: {info['kind']} · task: {info['task']} · category: {info['category']}",
                ""]
        out += _params(info["params"])
        if info["fields"]:
            out += _table(("field", "kind", "shape", "dtype", "standardised"),
                          [(f"`{k}`", f["kind"], _shape(f["shape"]), f["dtype"],
                            "yes" if f["standardised"] else "")
                           for k, f in info["fields"].items()])
    return out


def _recipes() -> list[str]:
    out = ["## Recipes", "",
           "`recipe.name` is one of these; `recipe.roles` binds each role to a network.", ""]
    for r in ref.recipe_list():
        info = ref.recipe_info(r["name"])
        out += [f"### {info['name']} — {info['title']}", "", info["description"], ""]
        out += _table(("role", "help"), [(f"`{x['name']}`", x["help"]) for x in info["roles"]])
        if info["feeds"]:
            out += ["Inputs it fills itself (an Input with `\"source\": \"recipe\"`):", ""]
            out += _table(("role", "field", "required", "help"),
                          [(x["role"], f"`{x['field']}`", "yes" if x["required"] else "no",
                            x["help"]) for x in info["feeds"]])
        if info["streams"]:
            out += ["Data streams (the first is `dataset`, the others are bound in "
                    "`streams`):", ""]
            out += _table(("stream", "help"), [(f"`{x['name']}`", x["help"])
                                               for x in info["streams"]])
        tasks = ", ".join(info["tasks"]) or "any"
        monitor = info["monitor"]
        best = f"{monitor['metric']} ({monitor['mode']})" if monitor else "none"
        out += [f"Dataset tasks: {tasks} · best and early stopping by: {best}", ""]
        out += _params(info["params"])
    return out


def _training() -> list[str]:
    t = ref.training_info()
    out = ["## Training settings", "",
           "The keys of `training`. Every value is checked against its range when the file is "
           "read.", ""]
    out += _params(t["settings"])
    out += ["Besides these: `device` (" + ", ".join(f"`{d}`" for d in t["devices"]) + "), "
            "`optimizers` (per network name, or `\"*\"` for every network: `name`, `lr`, "
            "`params`), `schedule` (`name` and that schedule's params) and `init` (per "
            "network name, the weights it starts from). A node's `init` is one of "
            + ", ".join(f"`{i}`" for i in t["inits"]) + ".", "", "### Optimizers", ""]
    out += _table(("name", "label", "also spelt", "params"),
                  [(f"`{o['name']}`", o["label"], ", ".join(o["also"]) or "—",
                    ", ".join(o["params"])) for o in t["optimizers"]])
    out += ["Their hyperparameters (`lr` beside `name`, the others in `params`; Adam's β₁ "
            "and β₂ as `betas`):", ""]
    out += _params(t["hyperparameters"])
    out += ["### Schedules", ""]
    out += _table(("name", "label", "params"),
                  [(f"`{s['name']}`", s["label"], ", ".join(s["params"]) or "—")
                   for s in t["schedules"]])
    return out + _params(t["schedule_params"])


def reference_markdown() -> str:
    lines = [
        "# Reference", "",
        "Generated from the code by `layerloom reference > docs/reference.md`; a test fails "
        "when it is stale, so it is never edited by hand. The same specs answer `layerloom "
        "blocks`, `datasets` and `recipes` (`[NAME] [--json]`) and give the JSON Schema of "
        "`.loom` files (`docs/loom.schema.json`, `layerloom schema`). The format itself is "
        "described in `docs/format.md`.", "",
        "Contents: [Blocks](#blocks) · [Datasets](#datasets) · [Normalisation]"
        "(#normalisation) · [Recipes](#recipes) · [Training settings](#training-settings) · "
        "[Metrics files](#metrics-files)", ""]
    lines += _blocks() + _datasets()
    lines += ["## Normalisation", "", NORMALISATION, ""]
    lines += _recipes() + _training()
    lines += ["## Metrics files", "", METRICS, ""]
    lines += _table(("split", "rows"), list(METRICS_SPLITS)) + [STATS_EVERY, ""]
    return "\n".join(lines).rstrip("\n") + "\n"
