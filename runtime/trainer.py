"""The one training loop, for every recipe.

The trainer owns devices, data iteration, mixed precision, DDP wrapping, pause/stop,
checkpoints, events, statistics and schedules; the recipe owns one step (DESIGN.md).  Nothing
in this file knows what a classifier or a GAN is.  Setup lives in ``runtime.setup``, the
run's position and checkpoints in ``runtime.runstate``, its length in ``runtime.plan``.

A step does no host synchronisation: metrics and statistics stay on the device until the
reporting interval (``Watch``), when they are copied back in one go and checked for NaN.

A run is a sequence of stages (``runtime.stages``): each sets which parameters train, which
recipe does the step, and gets fresh optimizers and LR schedules over what trains; steps and
epochs count on across stages.  A recipe without stages is one stage over the whole run.
"""

from __future__ import annotations

import contextlib
import copy
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from builder.document import Project
from builder.training import batch_mode
from runtime import distributed
from runtime.assemble import SetupError
from runtime.checkpoint import CheckpointError, save_weights, weights_finite
from runtime.control import RUNNING, Control
from runtime.data import Splits, TensorData
from runtime.devices import autocast
from runtime.evaluate import take_samples, validate
from runtime.events import (
    EpochSummary,
    Failure,
    Finished,
    Started,
    Status,
    Warning,
)
from runtime.failures import Stop, step_error
from runtime.optim import step_schedule
from runtime.preprocess import Preprocess, save_preprocess
from runtime.report import Reporter, Watch
from runtime.runstate import Checkpoints, Parts, Position, resume_meta
from runtime.setup import Current, Run, begin_stage, prepare
from runtime.snapshots import Snapshots
from runtime.stats import LayerStats
from runtime.steering import Steering

__all__ = ["Trainer", "Watch"]


class Trainer:
    """Train ``project``'s networks with its recipe; ``fit`` returns the ``Finished`` event.

    data: already loaded splits (default: load the project's dataset).  callback: receives
    every event.  control: pause/stop from another thread.  device: overrides the settings.
    run_dir: where checkpoints and final weights go (None: keep the last good state in
    memory).  resume: a checkpoint folder to continue from.  on_nonfinite: ``pause`` (the
    GUI: roll back, pause, let the user decide) or ``stop`` (headless: fail).
    """

    def __init__(self, project: Project, *, data: Splits | None = None, callback=None,
                 control: Control | None = None, device: str | None = None,
                 run_dir: str | Path | None = None, watch: Watch | None = None,
                 compile: bool = False, resume: str | Path | None = None,
                 on_nonfinite: str = "pause", dist: distributed.Dist | None = None):
        self.project = project
        self.settings = copy.deepcopy(project.training)  # live changes go here, not upstream
        self.callback = callback if callback is not None else (lambda event: None)
        self.control = control or Control()
        self.device_choice = device or self.settings.device
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.watch = (watch or Watch()).every(self.settings.stats_every)
        self.compile = compile
        self.resume_from = Path(resume) if resume is not None else None
        self.on_nonfinite = on_nonfinite
        self.dist = dist
        self.data = data
        self.failure: Failure | None = None
        self.history: list[EpochSummary] = []
        self.pos = Position()
        self.data_gen = torch.Generator()  # the order of the training batches
        self.stats: dict[str, LayerStats] = {}  # per stage; the reporter shares it
        self.run: Run | None = None  # set up by ``fit``
        self.current: Current | None = None  # the stage being trained
        self.reporter: Reporter | None = None
        self.checkpoints: Checkpoints | None = None
        self.steering: Steering | None = None
        self.t0 = 0.0
        self.last_progress = 0.0  # when a download's progress was last reported
        self.sampled_at = -1  # the step of the last samples

    # --- public ----------------------------------------------------------------------------

    @property
    def recipe(self):
        return self.run.recipe if self.run else None

    @property
    def networks(self) -> dict[str, torch.nn.Module]:
        """Network name → trained module (after ``fit`` has set up)."""
        return self.run.networks if self.run else {}

    @property
    def optimizers(self) -> dict:
        return self.current.optimizers if self.current else {}

    @property
    def schedules(self) -> dict:
        return self.current.schedules if self.current else {}

    @property
    def ctx(self):
        return self.current.ctx if self.current else None

    @property
    def device(self) -> torch.device | None:
        return self.run.device if self.run else None

    @property
    def main(self) -> bool:
        return self.dist is None or self.dist.main

    @property
    def step(self) -> int:
        return self.pos.step

    @property
    def epoch(self) -> int:
        return self.pos.epoch

    @property
    def stage(self) -> int:
        return self.pos.stage

    def release(self) -> None:
        """Drop the training wrappers (DDP, torch.compile) around the networks; call before
        leaving the process group.  The trained networks themselves stay."""
        for recipe in self.run.recipes() if self.run else ():
            recipe.calls = dict(recipe.nets)

    def fit(self, epochs: int | None = None, max_steps: int | None = None) -> Finished:
        self.t0 = time.perf_counter()
        try:
            self._setup(epochs, max_steps)
            return self._finish(self._run())
        except Stop as e:
            return self._fail(e.kind, str(e), e.detail)
        except SetupError as e:
            return self._fail(e.kind, str(e), traceback.format_exc())
        except Exception as e:  # a bug somewhere: still a clean Failure, never a crash
            return self._fail("error", f"{type(e).__name__}: {e}", traceback.format_exc())

    # --- setup and stages ------------------------------------------------------------------

    def _setup(self, epochs: int | None, max_steps: int | None) -> None:
        self.run = run = prepare(self.project, self.settings, data=self.data,
                                 device=self.device_choice, dist=self.dist, epochs=epochs,
                                 max_steps=max_steps, fresh=self.resume_from is None,
                                 emit=self._emit, progress=self._progress)
        self.data = run.data
        self.data_gen.manual_seed(self.settings.seed)
        meta = {}
        if self.resume_from is not None:
            try:
                meta = resume_meta(self.resume_from, run.stages, run.recipe.name)
            except CheckpointError as e:
                raise SetupError("setup", f"cannot resume from {self.resume_from}: {e}") from e
        started = self._begin_stage(int(meta.get("stage", 0)),
                                    int(meta.get("stage_step", 0)),
                                    int(meta.get("stage_epoch", 0)))
        self.reporter = Reporter(self.watch, self.stats, self._emit,
                                 self.watch.every_steps or (20 if self.dist else 0), self.step)
        self.checkpoints = Checkpoints(Snapshots(self.run_dir, self.main), self._emit)
        self.steering = Steering(
            self.control, self.reporter, self._emit, self.settings, self.dist, run.device,
            self.on_nonfinite == "pause", self._checkpoint,
            lambda: self.checkpoints.roll_back(self._by_name(), self._parts()))
        if self.resume_from is not None:
            try:
                meta = self.checkpoints.resume(self.resume_from, self._by_name(),
                                               self._parts(), self.pos)
            except CheckpointError as e:
                raise SetupError("setup", f"cannot resume from {self.resume_from}: {e}") from e
            self.current.early.load(meta)
        else:
            self._checkpoint("start")
        if self.run_dir is not None and self.main:  # exports take raw data with it
            save_preprocess(self.run_dir, Preprocess.from_splits(run.data))
        p, n = run.plan, len(run.data.train)
        self._emit(Started(str(run.device), dict(run.recipe.names), p.epochs,
                           p.steps_per_epoch, p.total_steps, p.batch_size, n,
                           len(run.data.val), self.dist.world if self.dist else 1, self.step,
                           run.amp))
        if run.announce:
            self._emit(started)
        self._emit(Status(self.step, RUNNING, batch_mode(p.batch_size, n) + " gradient descent"))

    def _begin_stage(self, index: int, step: int, epoch: int):
        self.pos.stage, self.pos.stage_epoch, self.pos.stage_step = index, epoch, step
        self.current, started = begin_stage(self.run, index, step, epoch, self.settings,
                                            self.watch, self.stats,
                                            ddp=self.dist is not None, compile=self.compile)
        return started

    def _run(self) -> str:
        """The stages in order; a stage ends when its epochs are done or early stopping
        ends it, the run when the last stage ends or anything else stops it."""
        while True:
            reason = self._loop()
            if reason not in ("completed", "early_stopping") \
                    or self.stage + 1 >= len(self.run.stages):
                return reason
            started = self._begin_stage(self.stage + 1, self.step, self.epoch)
            if self.run.announce:
                self._emit(started)
            # The new optimizers differ from the last snapshot's: a NaN must roll back to
            # a state of this stage.
            self._checkpoint("stage")

    def _progress(self, done: int, total: int | None) -> None:
        now = time.perf_counter()
        if now - self.last_progress < 0.5 and done != total:
            return
        self.last_progress = now
        what = f"{done / 1e6:.1f} MB" + (f" of {total / 1e6:.1f} MB" if total else "")
        self._emit(Status(0, "loading", f"downloading {self.project.dataset.name}: {what}"))

    # --- the loop --------------------------------------------------------------------------

    def _loop(self) -> str:
        cur, report, control, pos, plan = (self.current, self.reporter, self.control,
                                           self.pos, self.run.plan)
        recipe, ctx, steer = cur.active, cur.ctx, self.steering
        amp = autocast(self.run.device, self.run.amp)
        if plan.max_steps and pos.step >= plan.max_steps:
            return "max_steps"  # resumed at its cap: nothing left to do
        while pos.epoch < pos.stage_epoch + plan.stage_epochs[pos.stage]:
            t_epoch = time.perf_counter()
            pos.epoch_rng = self.data_gen.get_state()
            report.start_epoch()
            pos.batch = 0
            cut = plan.batching[pos.stage]
            batches = self.data.batches("train", cut.size, generator=self.data_gen,
                                        device=self._batch_device("train"),
                                        drop_last=cut.drop_last)
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                except Exception as e:
                    raise Stop("dataset", f"reading a training batch failed: {e}",
                               traceback.format_exc()) from e
                if pos.skip:  # resuming mid-epoch: the same order, minus what was done
                    pos.skip -= 1
                    pos.batch += 1
                    continue
                measuring = report.measuring(pos.step)
                ctx.begin(pos.step, measuring, pos.epoch)
                t_step = time.perf_counter()
                try:
                    with amp, report.watching(measuring):
                        metrics = recipe.step(ctx, batch)
                except Exception as e:
                    raise self._step_error(e) from e
                report.timed(measuring, time.perf_counter() - t_step)
                pos.step += 1
                pos.batch += 1
                for sched in cur.schedules.values():
                    step_schedule(sched)
                report.log.add(pos.step, pos.epoch,
                               {**metrics, **ctx.extra} if ctx.extra else metrics)
                flushed = report.due(pos.step)
                if flushed:
                    steer.flush(cur, pos)
                if plan.samples_after_step(pos.step):
                    self._samples()
                # Under DDP a stop is acted on only where the ranks just agreed on it.
                if control.pending and (flushed or not self.dist) and steer.poll(cur, pos):
                    return "stopped"
                if plan.max_steps and pos.step >= plan.max_steps:
                    self._end_epoch(t_epoch, complete=pos.batch >= cut.steps)
                    return "max_steps"
            if self._end_epoch(t_epoch):
                return "early_stopping"
            if control.pending and steer.poll(cur, pos):
                return "stopped"
        return "completed"

    def _batch_device(self, part: str) -> torch.device | None:
        """In-memory parts already live on the device (no per-batch copy call); file-backed
        parts are copied batch by batch."""
        return None if isinstance(self.data.part(part), TensorData) else self.run.device

    def _step_error(self, e: Exception, what: str = "") -> Stop:
        return step_error(e, what or f"the {self.current.active.name} step", self.step,
                          self.run.device, self.run.plan.batching[self.stage].size)

    # --- epochs ----------------------------------------------------------------------------

    def _end_epoch(self, t_epoch: float, complete: bool = True) -> bool:
        """Validation, summary, samples, checkpoint; True when early stopping says stop.
        An incomplete epoch (max_steps) is summarised but stays the current epoch, so a
        resumed run finishes it."""
        cur, run = self.current, self.run
        self.steering.flush(self.current, self.pos)
        train = self.reporter.epoch_means()
        try:
            with self._noise_kept():
                size = max(run.plan.batching[self.stage].size, 512)
                val, extras = validate(cur.active, self.data, size, self._batch_device("val"),
                                       (run.device, run.amp))
        except Exception as e:
            raise self._step_error(e, "validation") from e
        best = stop = False
        if complete:
            best, stop = cur.early.update(val or train, cur.active.nets)
        summary = EpochSummary(self.epoch, self.step, train, val,
                               time.perf_counter() - t_epoch, extras, best)
        self.history.append(summary)
        self._emit(summary)
        if complete and run.plan.samples_after_epoch(self.epoch):
            self._samples()
        if complete:
            self.pos.epoch += 1
            self.pos.batch = 0
        if stop and cur.early.restore_best(cur.active.nets):
            self._emit(Warning(self.step, "early_stopping",
                               f"validation {cur.early.monitor[0]} has not improved for "
                               f"{cur.early.since} epochs; the best weights were restored"))
        self._checkpoint("epoch")
        return stop

    def _samples(self) -> None:
        """The recipe's pictures now (once per step at most), if anyone is watching."""
        if not self.watch.samples or self.sampled_at == self.step:
            return
        self.sampled_at = self.step
        with self._noise_kept():
            events = take_samples(self.current.active, self.data, self.step, self.epoch)
        for event in events:
            self._emit(event)

    @contextlib.contextmanager
    def _noise_kept(self):
        """Validation and pictures may draw noise, but not from the training's stream: how
        often they run (the cadence, a resume) must not change what training draws."""
        noise = self.run.recipe.generator
        state = noise.get_state()
        try:
            yield
        finally:
            noise.set_state(state)

    # --- checkpoints -----------------------------------------------------------------------

    def _by_name(self) -> dict[str, torch.nn.Module]:
        """What a checkpoint holds: the current stage's networks (and a sub-recipe's own
        modules) by name."""
        active = self.current.active
        return {active.names[r]: m for r, m in active.nets.items()}

    def _parts(self) -> Parts:
        cur = self.current
        return Parts(cur.optimizers, cur.schedules, self.run.scaler, self.data_gen,
                     self.run.recipe.generator, self.run.recipes())

    def _checkpoint(self, reason: str, again: bool = True) -> None:
        meta: dict[str, Any] = {"reason": reason, "networks": dict(self.run.recipe.names),
                                "recipe": self.run.recipe.name,
                                "stage_name": self.run.stages[self.stage].name,
                                **self.current.early.state()}
        self.checkpoints.take(self._by_name(), self._parts(), self.pos, meta, again)

    # --- the end ---------------------------------------------------------------------------

    def _save_final(self) -> None:
        if self.run is None or self.run_dir is None or not self.main:
            return
        if weights_finite(self.run.recipe.nets):
            for name, module in self.networks.items():
                save_weights(module, self.run_dir / f"{name}.safetensors")

    def _finish(self, reason: str) -> Finished:
        self.steering.flush(self.current, self.pos)
        if self.run.plan.samples_unit == "end" or self.sampled_at >= 0:
            self._samples()  # the final picture, unless the cadence just drew it
        self._checkpoint(reason, again=False)
        self._save_final()
        final = self.history[-1].val if self.history else {}
        folder = str(self.run_dir / "checkpoint") if self.run_dir else ""
        event = Finished(self.step, self.epoch, reason, time.perf_counter() - self.t0,
                         final, folder)
        self._emit(event)
        return event

    def _fail(self, kind: str, message: str, detail: str = "") -> Finished:
        self.failure = Failure(self.step, kind, message, detail)
        folder = str(self.run_dir / "checkpoint") if self.run_dir else ""
        event = Finished(self.step, self.epoch, "failed", time.perf_counter() - self.t0,
                         {}, folder)
        # Nothing here may raise: a broken callback must not turn a failure into a crash.
        with contextlib.suppress(Exception):
            self._emit(self.failure)
        with contextlib.suppress(Exception):  # keep what was learned if it is sound
            self._save_final()
        with contextlib.suppress(Exception):
            self._emit(event)
        return event

    def _emit(self, event) -> None:
        self.callback(event)
