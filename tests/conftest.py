"""Fixtures shared by the unit tests."""

import pytest
from torch_threads import torch_threads


@pytest.fixture
def one_thread():
    """The test runs on one torch thread (see :func:`torch_threads.torch_threads`)."""
    with torch_threads(1):
        yield
