"""The one training loop, for every recipe.

The trainer owns devices, data iteration, mixed precision, DDP wrapping, pause/stop,
checkpoints, events, statistics and schedules; the recipe owns one step (DESIGN.md).  Nothing
in this file knows what a classifier or a GAN is.

A step does no host synchronisation: metrics and statistics stay on the device until the
reporting interval (``Watch``), when they are copied back in one go and checked for NaN.

A run is a sequence of stages (``runtime.stages``): each sets which parameters train, which
recipe does the step, and gets fresh optimizers and LR schedules over what trains; steps and
epochs count on across stages.  A recipe without stages is one stage over the whole run.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from builder.document import Project
from builder.training import batch_mode
from runtime import distributed
from runtime.adjust import apply_changes, base_rate, check_changes, set_rate
from runtime.assemble import (
    SetupError,
    dry_run,
    load_data,
    make_optimizers,
    make_recipe,
    training_calls,
)
from runtime.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_meta,
    save_weights,
    weights_finite,
)
from runtime.control import PAUSED, RUNNING, STOPPING, Control
from runtime.data import Splits, TensorData
from runtime.devices import (
    DeviceError,
    amp_supported,
    autocast,
    make_scaler,
    seed_everything,
    select_device,
)
from runtime.evaluate import EarlyStopping, take_samples, validate
from runtime.events import (
    CheckpointSaved,
    EpochSummary,
    Failure,
    Finished,
    SettingsChanged,
    StageStarted,
    Started,
    Status,
    Warning,
)
from runtime.init_weights import InitError, load_init
from runtime.optimize import Optimization
from runtime.plan import Plan, PlanError, make_plan
from runtime.recipes.base import Recipe, RecipeError, Stage
from runtime.report import Reporter, Watch
from runtime.runstate import Parts, Position, collect, restore
from runtime.snapshots import Snapshots
from runtime.stages import Freezer, declared, shared_roles, step_recipe
from runtime.stats import LayerStats
from runtime.steplog import NonFinite

__all__ = ["Trainer", "Watch"]

class _Stop(Exception):
    """Ends the run with a Failure event of ``kind``."""

    def __init__(self, kind: str, message: str, detail: str = ""):
        super().__init__(message)
        self.kind, self.detail = kind, detail


def _oom(e: BaseException) -> bool:
    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower()


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
        self.watch = watch or Watch()
        self.compile = compile
        self.resume_from = Path(resume) if resume is not None else None
        self.on_nonfinite = on_nonfinite
        self.dist = dist
        self.data = data
        self.failure: Failure | None = None
        self.history: list[EpochSummary] = []
        self.pos = Position()
        self.t0 = 0.0
        self.last_progress = 0.0  # when a download's progress was last reported
        self.sampled_at = -1  # the step of the last samples
        # Set up by ``fit`` (``_setup``); None or empty until then.
        self.device: torch.device | None = None
        self.recipe: Recipe | None = None  # the project's recipe, which declares the stages
        self.stages: list[Stage] = []
        self.announce = False  # the recipe declared its stages: tell the user about each
        self.freezer: Freezer | None = None
        self.step_recipes: list[Recipe] = []  # per stage
        self.data_gen = torch.Generator()
        self.plan: Plan | None = None
        self.amp = False
        self.scaler: torch.amp.GradScaler | None = None
        self.stats: dict[str, LayerStats] = {}  # filled per stage; the reporter shares it
        self.reporter: Reporter | None = None
        self.snapshots: Snapshots | None = None
        # The current stage's recipe, optimizers, schedules, step context, early stopping.
        self.active: Recipe | None = None
        self.optimizers: dict[str, torch.optim.Optimizer | None] = {}
        self.schedules: dict[str, Any] = {}
        self.ctx: Optimization | None = None
        self.early: EarlyStopping | None = None

    # --- public ----------------------------------------------------------------------------

    @property
    def networks(self) -> dict[str, torch.nn.Module]:
        """Network name → trained module (after ``fit`` has set up)."""
        return {self.recipe.names[r]: m for r, m in self.recipe.nets.items()} \
            if self.recipe else {}

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
        for recipe in self._recipes():
            recipe.calls = dict(recipe.nets)

    def fit(self, epochs: int | None = None, max_steps: int | None = None) -> Finished:
        self.t0 = time.perf_counter()
        try:
            self._setup(epochs, max_steps)
            return self._finish(self._run())
        except _Stop as e:
            return self._fail(e.kind, str(e), e.detail)
        except SetupError as e:
            return self._fail(e.kind, str(e), traceback.format_exc())
        except Exception as e:  # a bug somewhere: still a clean Failure, never a crash
            return self._fail("error", f"{type(e).__name__}: {e}", traceback.format_exc())

    # --- setup -----------------------------------------------------------------------------

    def _setup(self, epochs: int | None, max_steps: int | None) -> None:
        s = self.settings
        try:
            self.device = select_device(self.device_choice,
                                        self.dist.local_rank if self.dist else None)
        except DeviceError as e:
            raise SetupError("setup", str(e)) from None
        if self.dist:
            distributed.init(self.dist, self.device)
        seed_everything(s.seed)
        data = self.data if self.data is not None else load_data(self.project, self._progress)
        if self.dist:
            data = distributed.shard(data, self.dist)
        self.data = data = data.to(self.device)
        self.recipe = recipe = make_recipe(self.project, data)
        try:
            self.stages, self.announce = declared(recipe)
            self.freezer = Freezer(recipe)  # before anything changes requires_grad
            for stage in self.stages:
                self.freezer.check(stage)
            self.step_recipes = [step_recipe(stage, recipe, data.info) for stage in self.stages]
        except RecipeError as e:
            raise SetupError("recipe", str(e)) from e
        rank = self.dist.rank if self.dist else 0
        noise = torch.Generator(self.device).manual_seed(s.seed + 1 + rank)
        for r in self._recipes():  # one noise stream for the run, whichever recipe steps
            for module in r.nets.values():
                module.to(self.device).train()
            r.device, r.generator = self.device, noise
        self.data_gen.manual_seed(s.seed)
        try:
            self.plan = make_plan(len(data.train), s, self.stages, epochs, max_steps)
        except PlanError as e:
            raise SetupError("dataset" if not len(data.train) else "recipe", str(e)) from e
        if self.resume_from is None:
            self._start_from_weights()
        for r in self._recipes():
            dry_run(r, data, self.device)
        self.amp = bool(s.amp) and amp_supported(self.device)
        if s.amp and not self.amp:
            self._emit(Warning(0, "amp_unavailable", f"mixed precision is used on CUDA only; "
                                                     f"training in float32 on {self.device}"))
        self.scaler = make_scaler(self.device, self.amp)
        meta = self._resume_meta(self.resume_from) if self.resume_from is not None else {}
        stage = self._begin_stage(int(meta.get("stage", 0)), int(meta.get("stage_epoch", 0)),
                                  int(meta.get("stage_step", 0)))
        self.reporter = Reporter(self.watch, self.stats, self._emit,
                                 self.watch.every_steps or (20 if self.dist else 0), self.step)
        self.snapshots = Snapshots(self.run_dir, self.main)
        if self.resume_from is not None:
            self._resume(self.resume_from)
        else:
            self._checkpoint("start")
        p = self.plan
        self._emit(Started(str(self.device), dict(recipe.names), p.epochs, p.steps_per_epoch,
                           p.total_steps, p.batch_size, len(data.train), len(data.val),
                           self.dist.world if self.dist else 1, self.step, self.amp))
        if self.announce:
            self._emit(stage)
        self._emit(Status(self.step, RUNNING,
                          batch_mode(p.batch_size, len(data.train)) + " gradient descent"))

    def _start_from_weights(self) -> None:
        """Networks named in ``settings.init`` start from saved weights, with a report."""
        modules = self.networks
        for network, path in self.settings.init.items():
            if network not in modules:
                raise SetupError("setup", f"init names network {network!r}, which recipe "
                                          f"{self.recipe.name!r} does not train here; it "
                                          f"trains {', '.join(modules)}")
            try:
                self._emit(load_init(modules[network], path, network))
            except InitError as e:
                raise SetupError("setup", f"cannot start network {network!r} from {path}: "
                                          f"{e}") from e

    def _recipes(self) -> list[Recipe]:
        """The project's recipe and every other recipe a stage steps with."""
        out = [self.recipe] if self.recipe is not None else []
        for r in self.step_recipes:
            if all(r is not o for o in out):
                out.append(r)
        return out

    def _begin_stage(self, index: int, epoch: int, step: int) -> StageStarted:
        """Make stage ``index`` (begun at ``epoch``/``step``) the current one: its trainable
        set, its recipe wrapped for training, fresh optimizers and LR schedules over what
        trains (a frozen parameter must not be decayed or carry stale momentum), and its own
        early stopping (each stage's recipe monitors its own metric)."""
        s, w, stage = self.settings, self.watch, self.stages[index]
        self.pos.stage, self.pos.stage_epoch, self.pos.stage_step = index, epoch, step
        self.active = active = self.step_recipes[index]
        trainable = self.freezer.apply(stage)
        # Gradient statistics follow the trainable parameters, so they are rebuilt too.
        self.stats.clear()
        if w.stride > 0 and (w.gradients or w.activations):
            acts = w.activations and not self.compile  # hooks would force recompiles
            for role, run_role in shared_roles(active, self.recipe).items():
                self.stats[role] = LayerStats(self.recipe.names[run_role], active.nets[role],
                                              self.device, w.gradients, acts)
        # DDP registers only the parameters that require grad when it wraps: wrap afresh.
        training_calls(active, self.device, self.dist is not None, self.compile)
        p = self.plan
        self.optimizers, self.schedules = make_optimizers(
            active, s, self.device, p.steps_per_epoch, p.stage_steps(index, step))
        self.ctx = Optimization(active.nets, active.names, self.optimizers, self.device,
                                l1=s.l1, l2=s.l2, grad_clip=s.grad_clip, scaler=self.scaler,
                                stats=self.stats, total_steps=p.total_steps,
                                distributed=self.dist is not None)
        self.early = EarlyStopping(active.monitor, s.early_stopping)
        return StageStarted(step, epoch, index, stage.name, trainable,
                            p.stage_epochs[index], len(self.stages), active.name)

    def _run(self) -> str:
        """The stages in order; a stage ends when its epochs are done or early stopping
        ends it, the run when the last stage ends or anything else stops it."""
        while True:
            reason = self._loop()
            if reason not in ("completed", "early_stopping") \
                    or self.stage + 1 >= len(self.stages):
                return reason
            event = self._begin_stage(self.stage + 1, self.epoch, self.step)
            if self.announce:
                self._emit(event)
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
        recipe, ctx, report, control, pos, plan = (self.active, self.ctx, self.reporter,
                                                   self.control, self.pos, self.plan)
        amp = autocast(self.device, self.amp)
        while pos.epoch < pos.stage_epoch + plan.stage_epochs[pos.stage]:
            t_epoch = time.perf_counter()
            pos.epoch_rng = self.data_gen.get_state()
            report.start_epoch()
            pos.batch = 0
            batches = self.data.batches("train", plan.batch_size, generator=self.data_gen,
                                        device=self._batch_device("train"),
                                        drop_last=plan.drop_last)
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                except Exception as e:
                    raise _Stop("dataset", f"reading a training batch failed: {e}",
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
                for sched in self.schedules.values():
                    sched.step()
                report.log.add(pos.step, pos.epoch,
                               {**metrics, **ctx.extra} if ctx.extra else metrics)
                flushed = report.due(pos.step)
                if flushed:
                    self._flush()
                if plan.samples_after_step(pos.step):
                    self._samples()
                # Under DDP a stop is acted on only where the ranks just agreed on it.
                if control.pending and (flushed or not self.dist) and self._poll():
                    return "stopped"
                if plan.max_steps and pos.step >= plan.max_steps:
                    self._end_epoch(t_epoch, complete=pos.batch >= plan.steps_per_epoch)
                    return "max_steps"
            if self._end_epoch(t_epoch):
                return "early_stopping"
            if control.pending and self._poll():
                return "stopped"
        return "completed"

    def _batch_device(self, part: str) -> torch.device | None:
        """In-memory parts already live on the device (no per-batch copy call); file-backed
        parts are copied batch by batch."""
        return None if isinstance(self.data.part(part), TensorData) else self.device

    def _step_error(self, e: Exception, where: str = "") -> _Stop:
        detail = traceback.format_exc()
        if _oom(e):
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            size = self.plan.batch_size
            return _Stop("oom", f"out of memory on {self.device} at step {self.step + 1} with "
                                f"batch size {size}; try a smaller batch (e.g. "
                                f"{max(1, size // 2)}) or a smaller network", detail)
        if isinstance(e, RecipeError):  # the recipe's own words: the user can act on them
            return _Stop("recipe", f"{where or f'the {self.active.name} step'} at step "
                                   f"{self.step + 1}: {e}", detail)
        what = where or f"the {self.active.name} step"
        return _Stop("recipe", f"{what} failed at step {self.step + 1}: "
                               f"{type(e).__name__}: {e}", detail)

    def _flush(self) -> None:
        rates = {self.active.names[r]: o.param_groups[0]["lr"]
                 for r, o in self.optimizers.items() if o is not None}
        bad = self.reporter.flush(self.step, rates)
        if self.dist:
            stop = self.control.state == STOPPING
            nan, stop = distributed.any_rank([bad is not None, stop], self.device)
            if nan and bad is None:
                bad = NonFinite(self.step, self.epoch, "loss", math.nan, None, None)
            if stop:
                self.control.stop()
        if bad is not None:
            self._nonfinite(bad)

    def _nonfinite(self, bad: NonFinite) -> None:
        if self.on_nonfinite != "pause" or self.dist:
            raise _Stop("nonfinite", bad.message())
        rates = {r: base_rate(o, self.schedules.get(r))
                 for r, o in self.optimizers.items() if o is not None}
        state, meta = self.snapshots.restore(self._by_name())
        restore(self._parts(), state, everything=False)
        for role, rate in rates.items():  # a rate the user lowered since stays lowered
            set_rate(self.optimizers[role], self.schedules.get(role), rate)
        self._emit(Warning(self.step, "nonfinite", f"{bad.message()} The weights were set back "
                           f"to the last good checkpoint (step {meta['step']}) and training "
                           "is paused: a new learning rate or gradient clipping applies to "
                           "this run at once, so change one and resume, or stop."))
        self.control.pause()

    def _poll(self) -> bool:
        """Act on what the control asked; True when the run must stop."""
        state = self._take()
        if state == PAUSED:
            self._flush()
            self._emit(Status(self.step, PAUSED))
            while state == PAUSED:
                self.control.wait_while_paused()
                state = self._take()
            if state == RUNNING:
                self._emit(Status(self.step, RUNNING))
        if state == STOPPING:
            self._emit(Status(self.step, STOPPING))
            return True
        return False

    def _take(self) -> str:
        """The requested state, after saving a checkpoint and applying setting changes if
        they were asked for."""
        state, save = self.control.take()
        changes = self.control.take_changes()
        if changes:
            self._adjust(changes)
        if save:
            self._checkpoint("requested")
        return state

    def _adjust(self, changes: dict) -> None:
        problems = check_changes(changes)
        if self.dist:  # one rank's GUI cannot speak for the others
            problems.append("settings cannot change during a distributed run")
        if problems:
            self._emit(Warning(self.step, "settings", "; ".join(problems)))
            return
        said = apply_changes(changes, self.settings, self.optimizers, self.schedules,
                             self.active.names, self.ctx)
        if said:
            self._emit(SettingsChanged(self.step, changes, "; ".join(said)))

    # --- epochs ----------------------------------------------------------------------------

    def _end_epoch(self, t_epoch: float, complete: bool = True) -> bool:
        """Validation, summary, samples, checkpoint; True when early stopping says stop.
        An incomplete epoch (max_steps) is summarised but stays the current epoch, so a
        resumed run finishes it."""
        self._flush()
        train = self.reporter.epoch_means()
        try:
            val, extras = validate(self.active, self.data, max(self.plan.batch_size, 512),
                                   self._batch_device("val"), (self.device, self.amp))
        except Exception as e:
            raise self._step_error(e, "validation") from e
        best = stop = False
        if complete:
            best, stop = self.early.update(val or train, self.active.nets)
        summary = EpochSummary(self.epoch, self.step, train, val,
                               time.perf_counter() - t_epoch, extras, best)
        self.history.append(summary)
        self._emit(summary)
        if complete and self.plan.samples_after_epoch(self.epoch):
            self._samples()
        if complete:
            self.pos.epoch += 1
            self.pos.batch = 0
        if stop and self.early.restore_best(self.active.nets):
            self._emit(Warning(self.step, "early_stopping",
                               f"validation {self.early.monitor[0]} has not improved for "
                               f"{self.early.since} epochs; the best weights were restored"))
        self._checkpoint("epoch")
        return stop

    def _samples(self) -> None:
        """The recipe's pictures now (once per step at most), if anyone is watching."""
        if not self.watch.samples or self.sampled_at == self.step:
            return
        self.sampled_at = self.step
        for event in take_samples(self.active, self.data, self.step, self.epoch):
            self._emit(event)

    # --- checkpoints -----------------------------------------------------------------------

    def _by_name(self) -> dict[str, torch.nn.Module]:
        """What a checkpoint holds: the current stage's networks (and a sub-recipe's own
        modules) by name."""
        return {self.active.names[r]: m for r, m in self.active.nets.items()}

    def _parts(self) -> Parts:
        return Parts(self.optimizers, self.schedules, self.scaler, self.data_gen,
                     self.recipe.generator, self._recipes())

    def _meta(self, reason: str) -> dict[str, Any]:
        return {**self.pos.meta(), "reason": reason, "networks": dict(self.recipe.names),
                "recipe": self.recipe.name, "stage_name": self.stages[self.stage].name,
                **self.early.state()}

    def _checkpoint(self, reason: str, again: bool = True) -> None:
        """Snapshot the run as its last good state (with ``again`` false: unless one was
        just taken at this very step)."""
        if not again and self.snapshots.step == self.step:
            return
        folder = self.snapshots.take(self._by_name(), collect(self._parts(), self.pos),
                                     self._meta(reason))
        if folder is not None:
            self._emit(CheckpointSaved(self.step, self.epoch, str(folder)))

    def _resume_meta(self, folder: Path) -> dict[str, Any]:
        """The checkpoint's meta, checked against this run's stages (it says which stage to
        continue in, so the right trainable set and optimizers exist before loading)."""
        try:
            meta = read_meta(folder)
        except CheckpointError as e:
            raise SetupError("setup", f"cannot resume from {folder}: {e}") from e
        index = int(meta.get("stage", 0))
        name = meta.get("stage_name", self.stages[0].name if index == 0 else None)
        if not (0 <= index < len(self.stages) and self.stages[index].name == name):
            raise SetupError("setup", f"cannot resume from {folder}: it was saved in stage "
                                      f"{index + 1} ({name!r}), which recipe "
                                      f"{self.recipe.name!r} does not have with these "
                                      "settings")
        return meta

    def _resume(self, folder: Path) -> None:
        try:
            state, meta = load_checkpoint(folder, self._by_name())
            restore(self._parts(), state, everything=True)
        except (CheckpointError, RecipeError, KeyError, ValueError, RuntimeError) as e:
            raise SetupError("setup", f"cannot resume from {folder}: {e}") from e
        self.pos.step, self.pos.epoch = int(meta["step"]), int(meta["epoch"])
        self.pos.skip = int(meta.get("batch", 0))
        self.early.load(meta)

    # --- the end ---------------------------------------------------------------------------

    def _save_final(self) -> None:
        if self.recipe is None or self.run_dir is None or not self.main:
            return
        if weights_finite(self.recipe.nets):
            for name, module in self.networks.items():
                save_weights(module, self.run_dir / f"{name}.safetensors")

    def _finish(self, reason: str) -> Finished:
        self._flush()
        if self.plan.samples_unit == "end" or self.sampled_at >= 0:
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
