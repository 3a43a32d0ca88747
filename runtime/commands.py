"""The ``train``, ``export``, ``sample`` and ``import`` sub-commands of the ``layerloom`` CLI.

``train`` runs alone or as one process of ``torchrun --nproc_per_node=N``; in the latter case
rank 0 is the only one that prints or writes.  Ctrl+C stops the run cleanly: the trainer
saves a checkpoint and the weights before the command exits (code 130).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from pathlib import Path

from builder.compiler import CompileError
from builder.document import Project
from builder.serialize import load, save
from runtime import distributed
from runtime.assemble import SetupError
from runtime.checkpoint import CheckpointError, checkpoint_exists, read_meta
from runtime.console import Console
from runtime.control import Control
from runtime.events import Started
from runtime.export import TOLERANCE, export_files, export_project
from runtime.preflight import ERROR, preflight
from runtime.preprocess import PreprocessError
from runtime.recipes.base import RecipeError
from runtime.runlog import MetricsWriter, PreviousRun, weights_warning, write_record
from runtime.sampling import SampleError, sample_project, translate_project, write_samples
from runtime.trainer import Trainer

__all__ = ["train", "export", "sample", "import_model", "default_run_dir", "resolve_init",
           "EXIT_INTERRUPTED"]

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def default_run_dir(file: str | Path) -> Path:
    return Path("runs") / f"{Path(file).stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def _fail(message: str, code: int) -> int:
    print(f"layerloom: {message}", file=sys.stderr)
    return code


def resolve_init(project: Project, file: str | Path, given: list[str]) -> dict[str, str]:
    """The networks' start-from weights for this run: the project's ``training.init``
    (relative paths are relative to the project file's folder) overridden by each
    ``NETWORK=PATH`` of ``--init`` (relative to the current folder).  ValueError names a
    malformed value or an unknown network."""
    base = Path(file).resolve().parent
    out = {net: str((base / Path(path).expanduser()).resolve())
           for net, path in project.training.init.items()}
    for item in given:
        network, eq, path = item.partition("=")
        network, path = network.strip(), path.strip()
        if not eq or not network or not path:
            raise ValueError(f"--init expects NETWORK=PATH; received {item!r}")
        if network not in project.networks:
            raise ValueError(f"--init names network {network!r}, which the project does not "
                             f"have; it has {', '.join(project.networks)}")
        out[network] = str(Path(path).expanduser().resolve())
    return out


class _Events:
    """Fans one event out to several callbacks."""

    def __init__(self, *callbacks):
        self.callbacks = [c for c in callbacks if c is not None]

    def __call__(self, event) -> None:
        for callback in self.callbacks:
            callback(event)


def train(args) -> int:
    project = load(args.file)
    try:
        project.training.init = resolve_init(project, args.file, getattr(args, "init", []))
    except ValueError as e:
        return _fail(str(e), EXIT_INPUT)
    info = distributed.from_env()
    main = info is None or info.main
    if info and not args.out:
        return _fail("under torchrun, give --out RUNDIR so every process agrees on it",
                     EXIT_INPUT)
    run_dir = Path(args.out) if args.out else default_run_dir(args.file)
    resume, start = None, 0
    if args.resume:
        resume = run_dir / "checkpoint"
        if not checkpoint_exists(resume):
            return _fail(f"nothing to resume: {resume} holds no checkpoint", EXIT_INPUT)
        with contextlib.suppress(CheckpointError):
            start = int(read_meta(resume).get("step", 0))
    elif main and _occupied(run_dir) and not getattr(args, "force", False):
        return _fail(f"{run_dir} already exists; pass --force to replace it", EXIT_INPUT)
    if args.epochs is not None:
        project.training.epochs = args.epochs
    if args.stats_every is not None:
        project.training.stats_every = args.stats_every
    problems = [c for c in preflight(project, init=resume is None) if c.severity == ERROR]
    for c in problems:  # what inspect reports: nothing is written, nothing replaced
        print(f"layerloom: cannot train ({c.code}): {c.message}", file=sys.stderr)
    if problems:
        return EXIT_FAILED
    writer = previous = None
    if main:  # the run before stays until this one has trained
        previous = PreviousRun.keep(run_dir, resume=resume is not None)
        writer = MetricsWriter(run_dir, append=resume is not None)
    control = Control()
    finished = None
    console = Console(project=project) if main else None  # its end-of-run verdict reads it
    trainer = Trainer(project, callback=_Events(console, writer,
                                                _project_copy(project, run_dir, main)),
                      control=control, device=args.device, run_dir=run_dir if main else None,
                      resume=resume, on_nonfinite="stop", dist=info)
    interrupted = []

    def on_sigint(signum, frame):
        interrupted.append(True)
        control.stop()
        signal.signal(signal.SIGINT, previous_handler)  # a second Ctrl+C interrupts at once

    previous_handler = None
    if threading.current_thread() is threading.main_thread():
        previous_handler = signal.signal(signal.SIGINT, on_sigint)
    try:
        finished = trainer.fit(max_steps=args.max_steps)
        if info and trainer.recipe is not None and finished.reason != "failed":
            spread = distributed.weight_spread(list(trainer.recipe.nets.values()),
                                               trainer.device)
            if main:
                (run_dir / "ddp.json").write_text(json.dumps(
                    {"world_size": info.world, "steps": finished.step,
                     "max_weight_difference": spread}, indent=2))
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
        if writer is not None:
            writer.close()
        if info:
            trainer.release()
            distributed.shutdown(together=finished is not None and finished.reason != "failed")
        if previous is not None:
            _settle(previous, trainer, project, finished, start, run_dir)
    if finished.reason == "failed":
        failure = trainer.failure
        return _fail(f"training failed ({failure.kind}): {failure.message}" if failure
                     else "training failed", EXIT_FAILED)
    if interrupted:
        return EXIT_INTERRUPTED
    if main:
        print(f"weights, metrics and checkpoint in {run_dir}")
    return EXIT_OK


def _occupied(run_dir: Path) -> bool:
    """A run folder that holds anything (an empty one may be trained into)."""
    return run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir()))


def _project_copy(project: Project, run_dir: Path, main: bool):
    """The run's copy of the project, written once training has started."""
    def on_event(event) -> None:
        if main and isinstance(event, Started):
            save(project, run_dir / "project.loom")
    return on_event


def _settle(previous: PreviousRun, trainer: Trainer, project: Project, finished,
            start: int, run_dir: Path) -> None:
    """The run's files replace the run before only when it trained a step; a run that
    did records it in ``run.json``, as does one with nothing before it."""
    steps = trainer.step  # also when a second Ctrl+C cut the run short (no Finished)
    progressed = steps > start
    previous.settle(progressed)
    if not progressed and previous.kept is not None:
        return  # the run before is back, its record with it
    networks = list(trainer.networks)
    trained = steps > 0 and bool(networks) and all(
        (run_dir / f"{n}.safetensors").is_file() for n in networks)
    failure = trainer.failure
    write_record(run_dir, trained=trained, steps=steps,
                 finished=finished.reason if finished is not None else "interrupted",
                 recipe=trainer.recipe.name if trainer.recipe else project.recipe.name,
                 networks=networks,
                 **({"failure": f"{failure.kind}: {failure.message}"} if failure else {}))


def export(args) -> int:
    script = getattr(args, "script", None)
    if not args.onnx and not script:
        return _fail("export needs --onnx OUT.onnx or --script DIR", EXIT_INPUT)
    if not args.onnx and args.code:  # model.py in DIR is that code already
        return _fail("--code goes with --onnx; --script DIR writes the code as model.py",
                     EXIT_INPUT)
    project = load(args.file)
    weights = Path(args.weights) if args.weights else None
    if weights is not None and not weights.exists():
        return _fail(f"no weights at {weights}", EXIT_INPUT)
    if script:
        code = export_script(project, Path(args.file).stem, Path(script), weights,
                             getattr(args, "force", False))
        if code != EXIT_OK or not args.onnx:
            return code
    taken = [p for p in export_files(project, args.onnx, args.code) if p.exists()]
    if taken and not getattr(args, "force", False):
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        return _fail(f"{taken[0]} already exists{more}; pass --force to replace it",
                     EXIT_INPUT)
    if weights is None:
        print("no --weights given: exporting freshly initialised weights")
    try:
        results = export_project(project, args.onnx, weights=weights, code=args.code,
                                 bare=args.bare)
    except CompileError as e:
        return _fail(str(e), EXIT_FAILED)
    except PreprocessError as e:  # the run's record of its preprocessing is unreadable
        return _fail(str(e), EXIT_INPUT)
    except CheckpointError as e:
        return _fail(str(e), EXIT_INPUT)
    except Exception as e:  # the exporter or checker refused the graph
        return _fail(f"ONNX export failed: {type(e).__name__}: {e}", EXIT_FAILED)
    ok = True
    for r in results:
        verdict = "ok" if r.ok else "FAILED"
        print(f"{r.network}: wrote {r.path} (inputs {', '.join(r.inputs)}; outputs "
              f"{', '.join(r.outputs)})")
        print(f"{r.network}: parity with onnxruntime: max |torch - onnx| = "
              f"{r.max_abs_diff:.3g} (tolerance {TOLERANCE:g}) {verdict}")
        print(f"{r.network}: preprocessing: {r.preprocess}")
        ok = ok and r.ok
    if args.code:
        print(f"wrote {args.code} and its weights beside it")
    _warn_weights(weights)
    return EXIT_OK if ok else EXIT_FAILED


def export_script(project: Project, title: str, folder: Path, weights: Path | None,
                  force: bool) -> int:
    """``--script DIR``: the training script folder (``runtime.scriptgen``)."""
    from runtime.scriptgen import ScriptError, write_script

    if folder.exists() and not folder.is_dir():
        return _fail(f"{folder} is a file; --script needs a folder", EXIT_INPUT)
    if folder.exists() and any(folder.iterdir()) and not force:
        return _fail(f"{folder} exists and is not empty; pass --force to write into it",
                     EXIT_INPUT)
    try:
        written = write_script(project, folder, weights=weights, title=title)
    except (ScriptError, CheckpointError) as e:
        return _fail(str(e), EXIT_INPUT)
    except SetupError as e:  # a project that does not train at all
        return _fail(str(e), EXIT_INPUT if e.kind == "dataset" else EXIT_FAILED)
    print(f"wrote a training script in {folder}: {', '.join(p.name for p in written)}")
    print(f"run it with: python {folder / 'train.py'} --steps 100")
    return EXIT_OK


def _warn_weights(weights: str | Path | None) -> None:
    """Say so when the weights used are untrained, or nothing records whether they are."""
    said = weights_warning(weights) if weights is not None else None
    if said:
        print(f"layerloom: {said}", file=sys.stderr)


def sample(args) -> int:
    out = Path(args.output)
    if out.exists() and not args.force:  # before any work
        return _fail(f"{out} already exists; pass --force to replace it", EXIT_INPUT)
    project = load(args.file)
    if getattr(args, "guidance", None) is not None:
        said = _set_guidance(project, args.guidance)
        if said:
            return _fail(said, EXIT_INPUT)
    try:
        if getattr(args, "input", None):
            samples = translate_project(project, args.weights, args.input)
        else:
            samples = sample_project(project, args.weights, args.n, args.seed, args.prompt,
                                     args.temperature, args.network)
        said = write_samples(samples, out, args.force, project.recipe.name, project)
    except SetupError as e:  # a project that does not compile or fit its recipe
        code = EXIT_INPUT if e.kind == "dataset" else EXIT_FAILED
        return _fail(str(e), code)
    except (SampleError, RecipeError, CheckpointError) as e:
        return _fail(str(e), EXIT_INPUT)
    print(f"wrote {said}")
    for name, value in samples.extra.get("figures", {}).items():  # e.g. prompt accuracy
        if value == value:  # nan: nothing to judge (a prompt that names no size)
            print(f"{name}: {value:.1%}" if 0 <= value <= 1 else f"{name}: {value:g}")
    _warn_weights(args.weights)
    return EXIT_OK


def _set_guidance(project, value: float) -> str | None:
    """Set the recipe's guidance scale for this sampling; why not, in a line, or None."""
    from runtime.recipes import RECIPES

    cls = RECIPES.get(project.recipe.name)
    param = next((p for p in (cls.params if cls else ()) if p.name == "guidance"), None)
    if param is None:
        return f"recipe {project.recipe.name!r} has no guidance scale; --guidance is for " \
               "diffusion models"
    try:
        project.recipe.params["guidance"] = param.coerce(value)
    except ValueError as e:
        return f"--guidance: {e}"
    return None


def _dims(text: str) -> list:
    """``3,32,32`` → [3, 32, 32]; a name (``T``) stays a symbolic axis."""
    dims = [d.strip() for d in text.split(",") if d.strip()]
    if not dims:
        raise ValueError(f"--input-shape expects sizes such as 3,32,32; received {text!r}")
    return [int(d) if d.isdigit() else d for d in dims]


def import_model(args) -> int:
    from runtime.importer import Unmapped, Unreadable
    from runtime.importer import import_model as run_import

    out = Path(args.output)
    weights_out = out.with_suffix(".safetensors")
    taken = [p for p in (out, weights_out) if p.exists()]
    if taken and not args.force:  # before any work
        return _fail(f"{taken[0]} already exists; pass --force to replace it", EXIT_INPUT)
    try:
        shapes = [_dims(s) for s in args.input_shape]
        done = run_import(args.source, out, args.weights, shapes or None)
    except Unmapped as e:
        return _fail(f"cannot import, nothing written: {e}", EXIT_FAILED)
    except CompileError as e:
        return _fail(f"the imported graph does not compile, nothing written: {e}", EXIT_FAILED)
    except (Unreadable, ValueError) as e:
        return _fail(str(e), EXIT_INPUT)
    print(f"wrote {done.project} ({done.nodes} nodes) and {done.weights} ({done.tensors} "
          f"tensors, the network's start-from weights)")
    return EXIT_OK
