"""The `faults` fixture: tests/faults.py's layer on moto, for the test."""

from collections.abc import Iterator

import pytest

from tests.faults import Faults, inject


@pytest.fixture
def faults(aws: None) -> Iterator[Faults]:
    with inject() as faults:
        yield faults
