"""Shared fixtures.  Qt runs offscreen in every test; set before anything imports Qt."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Generated datasets cache in the data folder: the tests get one of their own, so they never
# fill (or read stale files from) the user's.
_DATA = None
if "LAYERLOOM_DATA" not in os.environ:
    import tempfile

    _DATA = os.environ["LAYERLOOM_DATA"] = tempfile.mkdtemp(prefix="layerloom-test-data-")

import pytest  # noqa: E402

from builder.document import Network, Node, Project  # noqa: E402


def pytest_unconfigure(config):
    if _DATA is not None:
        import shutil

        shutil.rmtree(_DATA, ignore_errors=True)


def pytest_configure(config):
    # Parallel workers share the cores: torch's own threads on top of them only spin against
    # each other (a small recurrent step gets ten times slower), so each worker gets its share.
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(workers)))


def mlp_network(name: str = "main", features: int = 2, classes: int = 3) -> Network:
    net = Network(name)
    net.add("Input", id="x", shape=[features])
    net.add("Linear", id="hidden", units=16)
    net.add("ReLU", id="relu")
    net.add("Linear", id="logits", units=classes)
    net.add("Output", id="y")
    net.chain("x", "hidden", "relu", "logits", "y")
    return net


def grouped(inner: Network) -> Network:
    """``main``: Input x [2] → Group "block" holding ``inner`` → Output y."""
    outer = Network("main")
    outer.add("Input", id="x", shape=[2])
    outer.nodes["block"] = Node("block", "Group", subnet=inner)
    outer.add("Output", id="y")
    outer.connect("x", "block", "y", "x")
    outer.connect("block", "y", "y", "x")
    return outer


@pytest.fixture
def mlp_project() -> Project:
    net = mlp_network()
    return Project(networks={net.name: net})
