"""The real entry point and the crash-recovery offer."""

import json
import os
import subprocess
import sys

from PySide6.QtWidgets import QMessageBox

from app import application
from app.autosave import Recovery
from builder.serialize import load, save

_RUN_APP = """
import json, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from app import application
from app.application import make_app
from app.main_window import MainWindow, run_app

make_app()  # run_app reuses it; the timer below needs an event dispatcher
application.leftovers = lambda: []
seen = {}

def look_and_quit():
    (window,) = [w for w in QApplication.topLevelWidgets()
                 if isinstance(w, MainWindow) and w.isVisible()]
    seen.update(title=window.windowTitle(), path=window.model.path,
                start=window.stack.currentWidget() is window.start_page,
                cards=len(window.start_page.cards),
                nodes=sorted(n for net in window.model.project.networks.values()
                             for n in net.nodes))
    window.close()
    QApplication.instance().quit()

QTimer.singleShot(300, look_and_quit)
code = run_app(None)
print(json.dumps({"code": code, **seen}))
"""


def test_run_app_without_a_file_opens_the_start_page_and_quits_cleanly(tmp_path):
    """The real entry point, in its own process: quitting the application ends every event
    loop of the process, which would leave later tests in this one unable to wait.  Without a
    file it shows the gallery to choose from, not a silently opened example."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", _RUN_APP], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0 and seen["path"] is None
    assert seen["start"] and seen["cards"] >= 20 and seen["nodes"] == []


def test_offer_recovery_restores_the_autosaved_project(window, tmp_path, monkeypatch):
    project = load("resources/templates/mlp.loom")
    project.networks["main"].nodes["hidden1"].params["units"] = 77
    file = tmp_path / "autosave-999999999.loom"
    save(project, file)
    rec = Recovery(file, str(tmp_path / "mine.loom"), 0.0)
    monkeypatch.setattr(application, "leftovers", lambda: [rec])
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Yes)
    assert application.offer_recovery(window)
    assert window.model.project.networks["main"].nodes["hidden1"].params["units"] == 77
    assert window.model.dirty and window.isWindowModified()
    assert window.windowTitle().startswith("mine.loom")
    assert not file.exists()
