"""The Click function on moto, for the Click integration tests that need nothing else of it."""

from collections.abc import Iterator

import pytest

from tests.click_support import ClickStack, click_stack


@pytest.fixture
def stack(aws: None, local_config: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[ClickStack]:
    with click_stack(local_config, monkeypatch) as stack:
        yield stack
