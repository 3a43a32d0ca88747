"""The layering rule, enforced by a machine: builder/ and runtime/ never import Qt or app/."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold():
    result = subprocess.run([sys.executable, "-m", "importlinter.cli", "--config",
                             str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True,
                            text=True)
    if result.returncode != 0 and "No module named" in result.stderr:
        result = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def test_headless_packages_import_without_qt():
    code = ("import sys, builder.compiler, builder.codegen, runtime.cli; "
            "bad = [m for m in sys.modules if m.split('.')[0] in {'PySide6', 'pyqtgraph', 'app'}]; "
            "sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
