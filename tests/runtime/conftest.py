"""Fixtures of the runtime tests; the builders of small projects are in ``rt_helpers``."""

import pytest
from rt_helpers import Recorder


@pytest.fixture
def events() -> Recorder:
    return Recorder()
