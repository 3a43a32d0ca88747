"""The summary table on the full 227×227 AlexNet: every layer listed with its params, FLOPs
and receptive field, and the rows add up to the analysis's totals."""

import csv

import pytest

from app.summary import HEADER, SummaryDialog, summary_rows, write_csv
from builder.analysis import analyze
from builder.gallery import template_path
from builder.serialize import load

COL = {name: i for i, name in enumerate(HEADER)}


@pytest.fixture(scope="module")
def alexnet():
    return load(template_path("alexnet")).networks["main"]


def test_every_layer_with_params_flops_and_receptive_field(alexnet, qtbot, tmp_path):
    stats = analyze(alexnet)
    rows = {r[0]: r for r in summary_rows(stats)}
    assert len(rows) == len(alexnet.nodes)
    assert sum(r[COL["Params"]] for r in rows.values()) == stats.params
    assert sum(r[COL["FLOPs"]] for r in rows.values()) == stats.flops

    node = alexnet.nodes["conv1"].params
    assert (node["filters"], node["kernel"], node["stride"]) == (96, 11, 4)
    assert rows["conv1"] == ("conv1", "Conv2d", "[96×55×55]", 96 * (3 * 11 * 11) + 96,
                             96 * (3 * 11 * 11) + 96, 2 * 55 * 55 * 96 * 3 * 11 * 11, "11×11")
    # r = r_in + (k − 1)·j: pool1 19, conv2 51, … pool5 195 input pixels
    fields = {n: rows[n][COL["Receptive field"]] for n in ("pool1", "conv2", "conv5", "pool5")}
    assert fields == {"pool1": "19×19", "conv2": "51×51", "conv5": "163×163",
                      "pool5": "195×195"}
    assert rows["fc6"][COL["Params"]] == 256 * 6 * 6 * 4096 + 4096
    assert rows["fc6"][COL["Receptive field"]] is None  # flat: no field to speak of
    for name, block in ((n, alexnet.nodes[n].block) for n in rows):
        if block in ("Conv2d", "Linear"):
            assert rows[name][COL["Params"]] > 0 and rows[name][COL["FLOPs"]] > 0, name

    dialog = SummaryDialog("main", stats)
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == len(alexnet.nodes)
    assert dialog.table.horizontalHeaderItem(COL["Receptive field"]).text() == "Receptive field"
    conv1 = next(r for r in range(dialog.table.rowCount())
                 if dialog.table.item(r, 0).text() == "conv1")
    assert dialog.table.item(conv1, COL["Receptive field"]).text() == "11×11"
    path = write_csv(tmp_path / "alexnet.csv", dialog.rows)
    with path.open(encoding="utf-8") as f:
        table = {row[0]: row for row in csv.reader(f)}
    assert table["conv1"][COL["Receptive field"]] == "11×11"
    assert table["fc6"][COL["Receptive field"]] == ""


def test_with_imagenet_classes_the_total_is_the_famous_62_million(alexnet):
    """The template classifies 10 classes; the paper's 1000-way fc8 gives 62,378,344."""
    net = alexnet.copy()
    net.nodes["fc8"].params["units"] = 1000
    stats = analyze(net)
    assert stats.params == 62_378_344
    assert sum(r[COL["Params"]] for r in summary_rows(stats)) == stats.params
