"""Network ▸ Convolution variants…: opened from the real menu, the table follows the spin
boxes live, a refused combination says why, and the CSV holds the same figures."""

import csv

from app.conv_variants_dialog import ConvVariantsDialog
from builder.conv_variants import HEADER


def _open_from_menu(window, qtbot) -> ConvVariantsDialog:
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Network")
    action = next(a for a in menu.actions() if a.text() == "Convolution &variants…")
    keys = [a.text() for a in menu.actions()]
    assert keys.index("Convolution &variants…") == keys.index("&Summary…") + 1
    action.trigger()
    dialog = window.findChild(ConvVariantsDialog)
    assert dialog is not None
    qtbot.waitExposed(dialog)
    return dialog


def _column(dialog, name):
    c = list(HEADER).index(name)
    return {dialog.table.item(r, 0).text(): dialog.table.item(r, c).text()
            for r in range(dialog.table.rowCount())}


def test_menu_opens_the_table_and_it_follows_the_spin_boxes(window, qtbot, tmp_path):
    dialog = _open_from_menu(window, qtbot)
    assert dialog.table.rowCount() == 7
    params = _column(dialog, "Params")
    assert params["Standard"] == f"{3 * 3 * 64 * 128 + 128:,}"
    assert params["Depthwise-separable"] == f"{3 * 3 * 64 + 64 + 64 * 128 + 128:,}"
    assert _column(dialog, "Receptive field")["Dilated"] == "5×5"
    assert _column(dialog, "Output shape")["Transposed"] == "128×64×64"
    assert "Depthwise-separable" in dialog.explanation.text()

    dialog.spins["kernel"].setValue(5)  # live: no button to press
    assert _column(dialog, "Params")["Standard"] == f"{5 * 5 * 64 * 128 + 128:,}"
    assert _column(dialog, "Receptive field")["Dilated"] == "9×9"
    dialog.spins["groups"].setValue(8)
    assert _column(dialog, "Params")["Grouped"] == f"{5 * 5 * 8 * 128 + 128:,}"

    dialog.spins["groups"].setValue(3)  # divides neither 64 nor 128
    assert dialog.table.rowCount() == 0
    assert "groups" in dialog.explanation.text()
    assert not dialog.export_button.isEnabled()  # nothing to export but a header
    dialog.spins["groups"].setValue(4)
    assert dialog.table.rowCount() == 7 and dialog.export_button.isEnabled()
    assert "1/g" in dialog.table.item(3, 0).toolTip()  # each variant explains itself

    path = dialog.write(tmp_path / "variants.csv")
    with path.open(encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert tuple(table[0]) == HEADER
    assert table[1][:6] == ["Standard", "Conv2d 5×5", "128×32×32", str(5 * 5 * 64 * 128 + 128),
                            str(2 * 32 * 32 * 128 * 64 * 25), "5×5"]
    assert len(table) == 8

    window.acts["conv_variants"].trigger()  # a second time: the same dialog comes forward
    assert window.findChildren(ConvVariantsDialog) == [dialog]
    dialog.close()
