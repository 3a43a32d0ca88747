"""The ``layerloom`` command line, without any GUI: inspect, codegen, gallery, train, export,
sample, import, predict, sweep.

Exit codes are a contract scripts rely on: 0 success, 1 the project has problems (or a run
failed), 2 the input could not be read or the command was misused.  Errors are one clear
message on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

# Only light modules at the top: `--help`, `gallery list` and the parser must not pay for
# torch (~2 s).  What needs the block catalogue (and so torch) is imported by its handler.
from builder.reader import LoomError

if TYPE_CHECKING:
    from builder.document import Project

__all__ = ["main", "build_parser", "inspect_project", "EXIT_OK", "EXIT_PROBLEMS", "EXIT_INPUT"]

EXIT_OK, EXIT_PROBLEMS, EXIT_INPUT = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, Handler] = {}


def command(name: str):
    def wrap(fn: Handler) -> Handler:
        _COMMANDS[name] = fn
        return fn
    return wrap


def _fail(message: str, code: int = EXIT_INPUT) -> int:
    print(f"layerloom: {message}", file=sys.stderr)
    return code


def _load(path: str) -> Project:
    from builder.serialize import load

    return load(path)


# --- inspect ------------------------------------------------------------------------------


def inspect_project(project: Project) -> dict:
    """Per network, per node: block, output shapes, params, FLOPs; totals; problems."""
    from builder.analysis import analyze
    from builder.problems import Code

    out = {"networks": [], "problems": [], "valid": True}
    for net in project.networks.values():
        stats = analyze(net)
        report = stats.report
        nodes = []
        for node_id, node in net.nodes.items():
            s = stats.nodes.get(node_id)
            shapes = report.shapes.outputs.get(node_id)
            if node.block == "Output":
                shapes = {"x": report.shapes.inputs.get(node_id, {}).get("x")}
            nodes.append({
                "id": node_id,
                "block": node.block,
                "output_shapes": {k: list(v) if v is not None else None
                                  for k, v in (shapes or {}).items()},
                "params": s.params if s else None,
                "trainable_params": s.trainable if s else None,
                "flops": s.flops if s else None,
                "activation_bytes": s.activation_bytes if s else None,
                "receptive_field": s.receptive_field if s else None,
            })
        # inside groups: each problem where it is ("main/block1"), not the group's summary
        problems = [p.to_dict() for p in report.all_problems() if p.code != Code.IN_GROUP]
        out["networks"].append({
            "name": net.name,
            "nodes": nodes,
            "totals": {"params": stats.params, "trainable_params": stats.trainable,
                       "frozen_params": stats.frozen, "flops": stats.flops,
                       "activation_bytes": stats.activation_bytes},
            "problems": problems,
            "valid": report.ok,
        })
        out["problems"] += problems
        out["valid"] = out["valid"] and report.ok
    return out


def _num(v) -> str:
    if v is None:
        return "—"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= size:
            return f"{v / size:.2f}{unit}"
    return str(v)


def _field(field: int | None, shapes: dict) -> str:
    from builder.analysis import field_text  # inspect has loaded it already

    first = next(iter(shapes.values()), None)
    return field_text(field, None if first is None else tuple(first)) or "—"


def _print_inspection(info: dict) -> None:
    from builder.shapes import fmt_shape

    for net in info["networks"]:
        print(f"network {net['name']}")
        rows = [("node", "block", "output shape", "params", "FLOPs", "receptive field")]
        for n in net["nodes"]:
            shapes = " ".join(fmt_shape(tuple(s)) if s is not None else "?"
                              for s in n["output_shapes"].values()) or "—"
            params = f"{n['params']:,}" if n["params"] is not None else "—"
            rows.append((n["id"], n["block"], shapes, params, _num(n["flops"]),
                         _field(n["receptive_field"], n["output_shapes"])))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  " + "  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(r, widths))))
        t = net["totals"]
        print(f"  total: {t['params']:,} params ({t['trainable_params']:,} trainable, "
              f"{t['frozen_params']:,} frozen), {_num(t['flops'])} FLOPs per sample")
        for p in net["problems"]:
            inside = p["network"] != net["name"]
            where = "/".join(filter(None, (p["network"] if inside else "", p["node"]))) \
                or net["name"]
            print(f"  {p['severity']}: {where}: {p['message']}")
        print()
    for p in info.get("project_problems", ()):  # what train would refuse, or the reader did
        where = "/".join(filter(None, (p["network"], p["node"]))) or p["code"]
        print(f"{p['severity']}: {where}: {p['message']}")
    for note in info.get("notes", ()):
        print(f"note: {note}")
    print("valid" if info["valid"] else f"{len(info['problems'])} problem(s)")


@command("inspect")
def cmd_inspect(args) -> int:
    from runtime.preflight import inspect_file  # imported when used: datasets, recipes, torch

    info = inspect_file(args.file, inspect_project)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        _print_inspection(info)
    has_errors = any(p["severity"] == "error" for p in info["problems"])
    return EXIT_PROBLEMS if has_errors else EXIT_OK


# --- codegen ------------------------------------------------------------------------------


@command("codegen")
def cmd_codegen(args) -> int:
    from builder.codegen import generate
    from builder.compiler import CompileError

    project = _load(args.file)
    try:
        source = generate(project, title=f"Generated from {Path(args.file).name}.")
    except CompileError as e:
        return _fail(str(e), EXIT_PROBLEMS)
    out = Path(args.output)
    if out.exists() and not args.force:
        return _fail(f"{out} already exists; pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(source, encoding="utf-8")
    print(f"wrote {out}")
    return EXIT_OK


# --- gallery ------------------------------------------------------------------------------


@command("gallery")
def cmd_gallery(args) -> int:
    from builder.gallery import copy_template, summaries

    if args.gallery_command == "list":
        items = summaries()
        width = max(len(t.name) for t in items)
        for t in items:
            print(f"{t.name.ljust(width)}  {t.title}" + (f" — {t.summary}" if t.summary else ""))
        return EXIT_OK
    try:
        dest = copy_template(args.name, args.dest)
    except FileExistsError as e:
        return _fail(str(e))
    print(f"copied {args.name} to {dest}")
    return EXIT_OK


# --- train / export (runtime.commands: imported when used, so inspect stays light) ------


@command("train")
def cmd_train(args) -> int:
    from runtime.commands import train

    return train(args)


@command("export")
def cmd_export(args) -> int:
    from runtime.commands import export

    return export(args)


@command("sample")
def cmd_sample(args) -> int:
    from runtime.commands import sample

    return sample(args)


@command("import")
def cmd_import(args) -> int:
    from runtime.commands import import_model

    return import_model(args)


# --- blocks / datasets / recipes / schema / reference (runtime.refcli) -----------------------


def _reference_command(name: str) -> None:
    def handler(args) -> int:
        from runtime import refcli

        return getattr(refcli, name)(args)
    command(name)(handler)


for _name in ("blocks", "datasets", "recipes", "schema", "reference"):
    _reference_command(_name)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number; received {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1; received {value}")
    return value


def build_parser(extra: Callable[[argparse._SubParsersAction], None] | None = None):
    parser = argparse.ArgumentParser(
        prog="layerloom",
        description="Design neural networks by wiring blocks; without a command, opens the "
                    "editor.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("inspect", help="shapes, params and FLOPs of every node; problems")
    p.add_argument("file", help="a .loom project")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("codegen", help="write standalone PyTorch code for the project")
    p.add_argument("file")
    p.add_argument("-o", "--output", required=True, metavar="OUT.py")
    p.add_argument("--force", action="store_true", help="replace OUT.py if it exists")

    p = sub.add_parser("gallery", help="list or copy the example projects")
    gsub = p.add_subparsers(dest="gallery_command", required=True)
    gsub.add_parser("list", help="list the templates")
    g = gsub.add_parser("copy", help="copy a template to a new project file")
    g.add_argument("name")
    g.add_argument("dest", metavar="DEST.loom")

    p = sub.add_parser("train", help="train the project headless (also under torchrun)")
    p.add_argument("file", help="a .loom project")
    p.add_argument("--epochs", type=_positive, metavar="N", help="override the epochs")
    p.add_argument("--max-steps", type=_positive, metavar="N",
                   help="stop after N optimisation steps")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"),
                   help="where to train (default: the project's setting, usually auto)")
    p.add_argument("--out", metavar="RUNDIR",
                   help="run folder for weights, metrics and checkpoints "
                        "(default: runs/NAME-DATE-TIME)")
    p.add_argument("--resume", action="store_true",
                   help="continue from RUNDIR/checkpoint")
    p.add_argument("--force", action="store_true",
                   help="replace the run in RUNDIR if there is one; it stays until the new "
                        "run has trained a step")
    p.add_argument("--stats-every", type=_positive, metavar="N",
                   help="measure per-layer gradient and activation statistics every N steps "
                        "(each a snapshot in metrics.csv); default: sampled automatically")
    p.add_argument("--init", action="append", default=[], metavar="NETWORK=PATH",
                   help="start NETWORK from saved weights (a run folder or a .safetensors/.pt "
                        "file; matched by node name, with a report); repeatable, overrides "
                        "the project's init for that network")

    p = sub.add_parser("export", help="export every network to ONNX, checked against "
                                      "onnxruntime")
    p.add_argument("file", help="a .loom project")
    p.add_argument("--weights", metavar="RUNDIR",
                   help="a run folder (or one .safetensors file) with trained weights")
    p.add_argument("--onnx", metavar="OUT.onnx", help="required unless --script is given")
    p.add_argument("--code", metavar="OUT.py",
                   help="also write standalone PyTorch code and its weights")
    p.add_argument("--script", metavar="DIR",
                   help="write a training script folder (model.py, data.py, train.py) that "
                        "needs only torch and numpy")
    p.add_argument("--force", action="store_true",
                   help="replace OUT.onnx, OUT.py and its weights (or a non-empty DIR) if "
                        "they exist")
    p.add_argument("--bare", action="store_true",
                   help="export the bare networks: inputs must be standardised by the caller "
                        "(the statistics are in the ONNX metadata); by default the export "
                        "takes raw data")

    p = sub.add_parser("sample", help="samples of a trained generative model: a PNG grid, "
                                      "a CSV of points or lines of text; or, with --input, "
                                      "an image-to-image model's translation of a picture")
    p.add_argument("file", help="a .loom project")
    p.add_argument("--weights", required=True, metavar="RUNDIR",
                   help="a run folder (<network>.safetensors) or one .safetensors file")
    p.add_argument("--network", metavar="NAME",
                   help="load only this network's weights (the one that samples, e.g. the "
                        "generator); with --weights FILE, the network the file holds")
    p.add_argument("-n", type=_positive, default=64, metavar="N", help="default 64")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="default 0")
    p.add_argument("--prompt", metavar="TEXT",
                   help="what a conditional model makes: a class (conditional GAN), "
                        "codes such as '3, 0.5, -1' (InfoGAN), a source (seq2seq), "
                        "the text to continue (language model), a caption such as 'a red "
                        "circle at the top left' (text-to-image)")
    p.add_argument("--temperature", type=float, default=1.0, metavar="T",
                   help="below 1: more typical samples, above 1: more varied (default 1)")
    p.add_argument("--guidance", type=float, metavar="W",
                   help="classifier-free guidance scale of a diffusion model (default: the "
                        "project's setting)")
    p.add_argument("--input", metavar="IMAGE",
                   help="image-to-image models (pix2pix, cyclegan): translate this picture, "
                        "which must have the source's size and channels (grey or RGB); "
                        "OUT.png shows the input and its translation side by side")
    p.add_argument("-o", "--output", "--out", required=True, metavar="OUT",
                   help="OUT.png (images), OUT.csv (points) or OUT.txt (text)")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")

    p = sub.add_parser("import", help="an ONNX model or a PyTorch class as an editable "
                                      "project, its weights as the start-from weights")
    p.add_argument("source", metavar="MODEL",
                   help="MODEL.onnx, or path/to/model.py:ClassName (made with no arguments)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.loom",
                   help="the project to write; its weights go beside it (OUT.safetensors)")
    p.add_argument("--weights", metavar="STATE.pt",
                   help="a state dict (.pt/.pth/.safetensors) for the PyTorch class; default: "
                        "the weights the class is created with")
    p.add_argument("--input-shape", action="append", default=[], metavar="DIMS",
                   help="one input's per-sample shape, e.g. 3,32,32 or T,8 (repeat for each "
                        "input); default: read from the first module that takes it")
    p.add_argument("--force", action="store_true",
                   help="replace OUT.loom and its weights if they exist")

    for name, what in (("blocks", "block"), ("datasets", "dataset"), ("recipes", "recipe")):
        p = sub.add_parser(name, help=f"list the {name}, or show one {what}'s ports, params, "
                                      "shapes or fields")
        p.add_argument("name", nargs="?", metavar="NAME", help=f"the {what} to describe")
        p.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_parser("schema", help="print the JSON Schema of .loom files (draft 2020-12)")
    sub.add_parser("reference", help="print docs/reference.md: every block, dataset, recipe "
                                     "and training setting")

    # Sub-commands kept in their own light modules (their heavy imports wait until they run).
    from runtime import predict_cli, sweep

    predict_cli.add_parser(sub)
    sweep.add_parser(sub)
    command("sweep")(sweep.cmd_sweep)

    for register in _EXTRA_PARSERS:
        register(sub)
    if extra:
        extra(sub)
    return parser


# Other runtime modules (train, export) add their sub-commands here without editing this file.
_EXTRA_PARSERS: list[Callable[[argparse._SubParsersAction], None]] = []


def run(args: argparse.Namespace) -> int:
    handler = _COMMANDS.get(args.command)
    if handler is None:
        return _fail(f"unknown command {args.command!r}")
    try:
        return handler(args)
    except LoomError as e:
        return _fail(str(e), _loom_exit(args, e))
    except BrokenPipeError:  # the reader stopped early (`| head`): end quietly, as Unix tools
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing at exit
        return 1
    except (OSError, ValueError) as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


def _loom_exit(args: argparse.Namespace, error: LoomError) -> int:
    """1 for a readable project refused for unknown blocks or ports (problems), else 2."""
    if not isinstance(getattr(args, "file", None), str):
        return EXIT_INPUT
    from runtime.preflight import file_problems

    return EXIT_PROBLEMS if file_problems(args.file, error) else EXIT_INPUT


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_INPUT
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
