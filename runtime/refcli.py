"""The ``blocks``, ``datasets``, ``recipes``, ``schema`` and ``reference`` sub-commands.

Each lists what exists, or describes one by name (``--json`` for scripts); an unknown name
exits 2 with the nearest names.  The data comes from ``runtime/reference.py``.
"""

from __future__ import annotations

import json
import sys
import textwrap

from runtime import reference as ref

__all__ = ["blocks", "datasets", "recipes", "schema", "reference"]

EXIT_OK, EXIT_INPUT = 0, 2
WIDTH = 100


def _json(value) -> int:
    print(json.dumps(value, indent=2, ensure_ascii=False))
    return EXIT_OK


def _wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=indent)


def _rows(rows: list[tuple[str, ...]], indent: str = "  ", cut: bool = False) -> None:
    """Aligned columns; the last one free (cut to the line width where ``cut``)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        line = f"{indent}{'  '.join(c.ljust(w) for c, w in zip(r, widths))}  {r[-1]}".rstrip()
        print(line if not cut or len(line) <= WIDTH else line[:WIDTH - 1] + "…")


def _params(params: list[dict]) -> None:
    print("params" if params else "params: none")
    for p in params:
        print(f"  {p['name']} ({p['type']}, default {json.dumps(p['default'])}): "
              f"{p['accepts']}")
        if p["help"]:
            print(_wrap(p["help"], "      "))


def _shape(shape) -> str:
    return "—" if shape is None else "[" + ", ".join(map(str, shape)) + "]"


def _one(args, describe, show) -> int:
    try:
        info = describe(args.name)
    except ref.UnknownName as e:
        print(f"layerloom: {e}", file=sys.stderr)
        return EXIT_INPUT
    if args.json:
        return _json(info)
    show(info)
    return EXIT_OK


# --- blocks -----------------------------------------------------------------------------------


def _show_block(b: dict) -> None:
    print(f"{b['type']} — {b['category']}" + (f" ({b['title']})" if b["title"] != b["type"]
                                               else ""))
    print(_wrap(b["concept"]))
    for side in ("inputs", "outputs"):
        print(side if b[side] else f"{side}: none")
        if b[side]:
            _rows([(p["name"], p["kind"] + (", optional" if p["optional"] else ""), p["help"])
                   for p in b[side]])
    if b["ports_vary"]:
        print("  (ports shown for the default params; they follow the params)")
    _params(b["params"])
    if b["example"]:
        ins = ", ".join(_shape(s) for s in b["example"]["inputs"]) or "nothing"
        outs = ", ".join(_shape(s) for s in b["example"]["outputs"]) or "nothing"
        print(f"example with the default params: {ins} → {outs}")


def blocks(args) -> int:
    if args.name:
        return _one(args, ref.block_info, _show_block)
    listing = ref.block_list()
    if args.json:
        return _json(listing)
    for c in listing:
        print(c["category"])
        _rows([(b["type"], b["summary"]) for b in c["blocks"]], cut=True)
    print("\n`layerloom blocks NAME` shows one block's ports, params and shapes.")
    return EXIT_OK


# --- datasets ---------------------------------------------------------------------------------


def _show_dataset(d: dict) -> None:
    print(f"{d['name']} — {d['title']}")
    print(_wrap(d["description"]))
    print(f"kind: {d['kind']}; task: {d['task']}; category: {d['category']}")
    for f in d["files"]:
        print(f"reads: {f['pattern']} (param {f['param']})")
    _params(d["params"])
    if d["fields"]:
        print("fields (default params)")
        _rows([(k, f["kind"], _shape(f["shape"]), f["dtype"],
                "standardised" if f["standardised"] else "") for k, f in d["fields"].items()])
    else:
        print("fields: read from the files when the dataset is loaded")


def datasets(args) -> int:
    if args.name:
        return _one(args, ref.dataset_info, _show_dataset)
    listing = ref.dataset_list()
    if args.json:
        return _json(listing)
    _rows([("name", "kind", "task", "title")] + [(d["name"], d["kind"], d["task"], d["title"])
                                                  for d in listing], "")
    print("\n`layerloom datasets NAME` shows one dataset's params and fields.")
    return EXIT_OK


# --- recipes ----------------------------------------------------------------------------------


def _show_recipe(r: dict) -> None:
    print(f"{r['name']} — {r['title']}")
    print(_wrap(r["description"]))
    print("roles")
    _rows([(x["name"], x["help"]) for x in r["roles"]])
    if r["feeds"]:
        print("fills itself (Inputs with source \"recipe\")")
        _rows([(x["role"], x["field"], "" if x["required"] else "(optional)", x["help"])
               for x in r["feeds"]])
    if r["streams"]:
        print("data streams (the first is the project's dataset)")
        _rows([(x["name"], x["help"]) for x in r["streams"]])
    print(f"dataset tasks: {', '.join(r['tasks']) or 'any'}")
    m = r["monitor"]
    print(f"best and early stopping by: {m['metric']} ({m['mode']})" if m else
          "best and early stopping by: nothing (no metric says better)")
    _params(r["params"])


def recipes(args) -> int:
    if args.name:
        return _one(args, ref.recipe_info, _show_recipe)
    listing = ref.recipe_list()
    if args.json:
        return _json(listing)
    _rows([("name", "roles", "title")] + [(r["name"], ", ".join(r["roles"]), r["title"])
                                          for r in listing], "")
    print("\n`layerloom recipes NAME` shows one recipe's roles, feeds, streams and params.")
    return EXIT_OK


# --- generated documents ----------------------------------------------------------------------


def schema(args) -> int:
    from runtime.schema import schema_text

    sys.stdout.write(schema_text())
    return EXIT_OK


def reference(args) -> int:
    from runtime.refdoc import reference_markdown

    sys.stdout.write(reference_markdown())
    return EXIT_OK
