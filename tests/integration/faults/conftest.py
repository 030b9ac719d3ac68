"""The `faults` fixture: tests/faults.py's layer on moto, for the test; `handler`, the Payme function."""

from collections.abc import Iterator

import pytest

from tests.faults import Faults, inject
from tests.payme_harness import handler  # noqa: F401


@pytest.fixture
def faults(aws: None) -> Iterator[Faults]:
    with inject() as faults:
        yield faults
