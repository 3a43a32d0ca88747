"""The CLI contract: commands, output, exit codes (0 ok, 1 problems, 2 unreadable input)."""

import json
import subprocess
import sys

import pytest

from builder.serialize import save
from resources import TEMPLATES
from runtime.cli import main
from tests.conftest import grouped, mlp_network


# The text table shows the receptive field as the GUI summary does (— on flat vectors).
def test_inspect_table_has_a_receptive_field_column(capsys):
    assert main(["inspect", str(TEMPLATES / "alexnet.loom")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[-2:] == ["receptive", "field"]
    row = {line.split()[0]: line.split() for line in lines[2:] if line.startswith("  ")}
    assert row["conv1"][-1] == "11×11"  # 96 filters 11×11 stride 4 on the 227×227 image
    assert row["conv1"][2:5] == ["[96,", "55,", "55]"]
    assert row["pool5"][-1] == "195×195"
    assert row["fc6"][-1] == "—"


def test_inspect_json_alexnet(capsys):
    assert main(["inspect", str(TEMPLATES / "alexnet.loom"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    net = info["networks"][0]
    conv1 = next(n for n in net["nodes"] if n["id"] == "conv1")
    assert conv1["output_shapes"] == {"y": [96, 55, 55]}
    assert conv1["params"] == 34_944
    # AlexNet's 62,378,344 parameters, less the 1,000-class head, plus a 10-class one (the
    # template trains offline on the 10 shapes).
    assert net["totals"]["params"] == 62_378_344 - (4096 * 1000 + 1000) + (4096 * 10 + 10)
    assert info["valid"]


def test_inspect_names_problems_inside_groups_where_they_are(tmp_path, capsys):
    from builder.document import Project

    inner = mlp_network("block")
    inner.nodes["hidden"].params["units"] = 0
    path = tmp_path / "grouped.loom"
    save(Project(networks={"main": grouped(inner)}), path)
    assert main(["inspect", str(path)]) == 1
    assert "error: main/block/hidden: units must be between 1 and" in capsys.readouterr().out
    assert main(["inspect", str(path), "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert [(p["network"], p["node"]) for p in problems] == [("main/block", "hidden")]


def test_inspect_exit_codes(tmp_path, capsys):
    from builder.document import Project

    net = mlp_network()
    net.nodes["hidden"].params["units"] = 0
    bad = tmp_path / "bad.loom"
    save(Project(networks={"main": net}), bad)
    assert main(["inspect", str(bad)]) == 1
    assert "hidden: units must be between 1 and" in capsys.readouterr().out
    broken = tmp_path / "broken.loom"
    broken.write_text('{"format": "layerloom", "version": 1, "networks": [{"name": 3}]}')
    assert main(["inspect", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "networks[0].name: expected a text, found the number 3" in err
    assert "Traceback" not in err
    assert main(["inspect", str(tmp_path / "nope.loom")]) == 2


def test_codegen_writes_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "model.py"
    assert main(["codegen", str(TEMPLATES / "lenet.loom"), "-o", str(out)]) == 0
    assert "class Main(nn.Module)" in out.read_text()
    assert main(["codegen", str(TEMPLATES / "lenet.loom"), "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_gallery_list_and_copy(tmp_path, capsys):
    assert main(["gallery", "list"]) == 0
    listing = capsys.readouterr().out
    assert "alexnet" in listing and "mlp" in listing
    assert main(["gallery", "copy", "mlp", str(tmp_path / "mine.loom")]) == 0
    assert main(["gallery", "copy", "nope", str(tmp_path / "x.loom")]) == 2
    assert "no template named 'nope'" in capsys.readouterr().err


def test_installed_command_runs_as_a_process(tmp_path):
    result = subprocess.run([sys.executable, "-m", "app", "inspect",
                             str(TEMPLATES / "mlp.loom")], capture_output=True, text=True)
    assert result.returncode == 0 and "valid" in result.stdout
    result = subprocess.run([sys.executable, "-m", "app", "inspect", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "is a folder" in result.stderr


def test_a_reader_that_stops_early_gets_no_error():
    # `layerloom blocks | head -1`: the pipe closes under a long listing; Unix tools end
    # quietly there, with no "Broken pipe" message on stderr.
    proc = subprocess.Popen([sys.executable, "-m", "app", "blocks"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Broken pipe" not in err and "Traceback" not in err, err


def test_sample_and_init_arguments_keep_their_contract():
    from runtime.cli import build_parser

    parse = build_parser().parse_args
    args = parse(["sample", "p.loom", "--weights", "run", "-o", "out.csv"])
    assert (args.file, args.weights, args.output, args.n, args.seed, args.prompt,
            args.temperature, args.network, args.force) == (
        "p.loom", "run", "out.csv", 64, 0, None, 1.0, None, False)
    args = parse(["sample", "p.loom", "--weights", "run", "--network", "generator", "-n", "9",
                  "--seed", "3", "--prompt", "cat", "--temperature", "0.5", "-o", "o.png",
                  "--force"])
    assert (args.network, args.n, args.seed, args.prompt, args.temperature, args.force) == (
        "generator", 9, 3, "cat", 0.5, True)
    for bad in (["-n", "0"], ["--seed", "x"], []):  # no -o: required
        with pytest.raises(SystemExit) as e:
            parse(["sample", "p.loom", "--weights", "run", *bad]
                  + (["-o", "o.csv"] if bad else []))
        assert e.value.code == 2
    args = parse(["train", "p.loom", "--init", "encoder=a", "--init", "decoder=b"])
    assert args.init == ["encoder=a", "decoder=b"] and parse(["train", "p.loom"]).init == []
