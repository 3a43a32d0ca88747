"""``layerloom inspect``'s per-layer table shows the receptive field the analysis computes, as
the GUI summary does: ``11×11`` on images, ``—`` on flat vectors."""

from resources import TEMPLATES
from runtime.cli import main


def test_inspect_table_has_a_receptive_field_column(capsys):
    assert main(["inspect", str(TEMPLATES / "alexnet.loom")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[-2:] == ["receptive", "field"]
    row = {line.split()[0]: line.split() for line in lines[2:] if line.startswith("  ")}
    assert row["conv1"][-1] == "11×11"  # 96 filters 11×11 stride 4 on the 227×227 image
    assert row["conv1"][2:5] == ["[96,", "55,", "55]"]
    assert row["pool5"][-1] == "195×195"
    assert row["fc6"][-1] == "—"
