"""Every gallery template trains offline: a few real steps on a small slice of its own
dataset, through the same Trainer the app and the CLI use, with its pictures made at the
end.  (How well each learns with its default settings is measured in the closing notes and
the family tests; here: nothing is missing, nothing downloads, nothing crashes.)"""

from __future__ import annotations

import urllib.request

import pytest
from rt_helpers import Recorder

from builder.gallery import templates
from builder.serialize import load
from runtime.data import DATASETS
from runtime.events import Finished, Samples, Warning
from runtime.trainer import Trainer, Watch

TEMPLATES = [t for t in templates() if t.name != "alexnet"]  # 62M weights: too slow for CI


def small(template):
    project = load(template.path)
    names = {p.name for p in DATASETS[project.dataset.name].params}
    if "n_samples" in names:
        project.dataset.params["n_samples"] = 120
    project.training.batch_size = min(project.training.batch_size, 16)
    project.training.samples_unit = "end"
    return project


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.name)
def test_template_trains_offline_and_draws(template, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError(f"template {template.name} tried to download: {args[:1]}")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    events = Recorder()
    trainer = Trainer(small(template), callback=events, device="cpu",
                      watch=Watch(samples=True))
    finished = trainer.fit(max_steps=3)  # the template's epochs: each stage needs one
    assert isinstance(finished, Finished) and finished.reason in ("completed", "max_steps"), \
        trainer.failure
    failed = [w.message for w in events.of(Warning) if w.code == "samples"]
    assert not failed, failed
    assert events.of(Samples), "no pictures"
