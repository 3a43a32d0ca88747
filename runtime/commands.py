"""The ``train``, ``export`` and ``sample`` sub-commands of the ``layerloom`` CLI.

``train`` runs alone or as one process of ``torchrun --nproc_per_node=N``; in the latter case
rank 0 is the only one that prints or writes.  Ctrl+C stops the run cleanly: the trainer
saves a checkpoint and the weights before the command exits (code 130).
"""

from __future__ import annotations

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
from runtime.checkpoint import CheckpointError, checkpoint_exists
from runtime.console import Console
from runtime.control import Control
from runtime.export import TOLERANCE, export_project
from runtime.recipes.base import RecipeError
from runtime.runlog import MetricsWriter
from runtime.sampling import SampleError, sample_project, write_samples
from runtime.trainer import Trainer

__all__ = ["train", "export", "sample", "default_run_dir", "resolve_init", "EXIT_INTERRUPTED"]

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
    resume = None
    if args.resume:
        resume = run_dir / "checkpoint"
        if not checkpoint_exists(resume):
            return _fail(f"nothing to resume: {resume} holds no checkpoint", EXIT_INPUT)
    if args.epochs is not None:
        project.training.epochs = args.epochs
    writer = None
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save(project, run_dir / "project.loom")
        writer = MetricsWriter(run_dir, append=resume is not None)
    control = Control()
    finished = None
    trainer = Trainer(project, callback=_Events(Console() if main else None, writer),
                      control=control, device=args.device, run_dir=run_dir if main else None,
                      resume=resume, on_nonfinite="stop", dist=info)
    interrupted = []

    def on_sigint(signum, frame):
        interrupted.append(True)
        control.stop()
        signal.signal(signal.SIGINT, previous)  # a second Ctrl+C interrupts at once

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, on_sigint)
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
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if writer is not None:
            writer.close()
        if info:
            trainer.release()
            distributed.shutdown(together=finished is not None and finished.reason != "failed")
    if finished.reason == "failed":
        failure = trainer.failure
        return _fail(f"training failed ({failure.kind}): {failure.message}" if failure
                     else "training failed", EXIT_FAILED)
    if interrupted:
        return EXIT_INTERRUPTED
    if main:
        print(f"weights, metrics and checkpoint in {run_dir}")
    return EXIT_OK


def export(args) -> int:
    project = load(args.file)
    weights = Path(args.weights) if args.weights else None
    if weights is not None and not weights.exists():
        return _fail(f"no weights at {weights}", EXIT_INPUT)
    if weights is None:
        print("no --weights given: exporting freshly initialised weights")
    try:
        results = export_project(project, args.onnx, weights=weights, code=args.code)
    except CompileError as e:
        return _fail(str(e), EXIT_FAILED)
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
        ok = ok and r.ok
    if args.code:
        print(f"wrote {args.code} and its weights beside it")
    return EXIT_OK if ok else EXIT_FAILED


def sample(args) -> int:
    out = Path(args.output)
    if out.exists() and not args.force:  # before any work
        return _fail(f"{out} already exists; pass --force to replace it", EXIT_INPUT)
    project = load(args.file)
    try:
        samples = sample_project(project, args.weights, args.n, args.seed, args.prompt,
                                 args.temperature, args.network)
        said = write_samples(samples, out, args.force, project.recipe.name)
    except SetupError as e:  # a project that does not compile or fit its recipe
        code = EXIT_INPUT if e.kind == "dataset" else EXIT_FAILED
        return _fail(str(e), code)
    except (SampleError, RecipeError, CheckpointError) as e:
        return _fail(str(e), EXIT_INPUT)
    print(f"wrote {said}")
    return EXIT_OK
