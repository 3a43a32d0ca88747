"""Nothing in the training dock outlives its run: after a GAN, another project's run shows
only its own titles, labels and pictures (before: "Fakes (orange)…" and the GAN's g_/d_ bars
stayed during an LSTM run)."""

import pyqtgraph as pg
from training_helpers import train

GAN_WORDS = ("fake", "real", "generated", "discriminator", "loss_d", "loss_g", "g_", "d_")


def dock_texts(dock) -> list[str]:
    texts = []
    for plot in dock.findChildren(pg.PlotWidget):
        item = plot.getPlotItem()
        texts.append(item.titleLabel.text or "")
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            texts.append(axis.labelText or "")
            for level in axis._tickLevels or []:
                texts += [str(t) for _, t in level]
        if item.legend is not None:
            texts += [label.text for _, label in item.legend.items]
    picker = dock.picture.picker
    texts += [picker.itemText(i) for i in range(picker.count())]
    return [t for t in texts if t]


def test_an_lstm_run_after_a_gan_shows_nothing_of_the_gan(window, qtbot):
    window.files.new_from_template("gan_2d", confirm=False)
    train(qtbot, window, steps=30)
    dock = window.training.dock
    assert any(w in t.lower() for t in dock_texts(dock) for w in GAN_WORDS)  # it was there
    window.files.new_from_template("char_lstm", confirm=False)
    # A project opened: the dock is blank again, before any run.
    assert not [t for t in dock_texts(dock) if any(w in t.lower() for w in GAN_WORDS)]
    assert dock.state_label.property("state") == "idle" and "Ready" in dock.state_label.text()
    project = window.model.project
    project.dataset.params["text"] = "seasons"
    train(qtbot, window, steps=4)
    left = [t for t in dock_texts(dock) if any(w in t.lower() for w in GAN_WORDS)]
    assert not left, left
    assert set(dock.bars.norms) <= set(project.networks["main"].nodes)


def test_the_samples_tab_shows_only_what_the_project_can_fill(window):
    dock = window.training.dock
    for template, confusion, filters in (("gan_2d", False, False), ("lenet", True, True),
                                         ("mlp", True, False), ("dcgan", False, True)):
        window.files.new_from_template(template, confirm=False)
        assert dock.confusion.isHidden() != confusion, template
        assert dock.filters.isHidden() != filters, template
        assert not dock.samples.isHidden()


def test_a_message_that_names_a_block_links_to_it(window):
    from builder.commands import Disconnect
    from builder.document import Edge

    window.model.do(Disconnect("main", Edge("relu1", "y", "hidden2", "x")))
    t = window.training
    assert not t.train()  # refused: the graph has a problem
    dock = t.dock
    assert "hidden2" in dock.message_text
    assert "href='node:main/hidden2'" in dock.message.text()
    assert "node:main/x'" not in dock.message.text()  # one-letter names are words, not links
    dock.message.linkActivated.emit("node:main/hidden2")
    assert window.current_view().scene().selected_node_ids() == ["hidden2"]
