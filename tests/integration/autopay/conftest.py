"""Autopay under moto: the template's tables, KMS key and queues; Subscribe is tests.autopay_fakes."""

import pytest

from tests.autopay_support import World, build_world


@pytest.fixture
def world(aws: None) -> World:
    return build_world()
