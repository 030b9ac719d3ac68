"""Click's two acceptance runs (docs.click.uz, click-api-testing: the legacy tester and the Postman
suite, as tolov_conformance.click_tester plays them), step by step, on two backends: through
ClickShopFunction in-process on moto, and through the SHOP-API core on the in-memory fakes (no moto).
The same steps and the same assertions hold on both.

Both tools reuse one merchant_trans_id for every step, so it names an apartment (accumulative
account), as testers are told to do; the invoice variant is covered in test_click_decisions.py.
"""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.click_support import (
    SECRET,
    SERVICE_ID,
    SIGN_TIME,
    ClickCore,
    ClickStack,
    click_core,
    click_stack,
    trans_ids,
)
from tolov_conformance.click_tester import PREPARE, ClickRun, legacy_tester, postman_suite

BACKENDS = ["handler on moto", "core on fakes"]


def shop(request: pytest.FixtureRequest, **overrides: str) -> Iterator[ClickStack | ClickCore]:
    if request.param == "core on fakes":
        cancel_after_confirm = int(overrides.get("CLICK_CANCEL_AFTER_CONFIRM_ERROR", "-4"))
        yield click_core(cancel_after_confirm)
        return
    request.getfixturevalue("aws")
    monkeypatch = request.getfixturevalue("monkeypatch")
    with click_stack(request.getfixturevalue("local_config"), monkeypatch, **overrides) as stack:
        yield stack


@pytest.fixture(params=BACKENDS)
def legacy(request: pytest.FixtureRequest) -> Iterator[ClickStack | ClickCore]:
    yield from shop(request)


@pytest.fixture(params=BACKENDS)
def postman(request: pytest.FixtureRequest) -> Iterator[ClickStack | ClickCore]:
    yield from shop(request, CLICK_CANCEL_AFTER_CONFIRM_ERROR="-9")


def click_run(
    shop: ClickStack | ClickCore, account: str, cancel_after_confirm: int = -4, **kw: Any
) -> ClickRun:
    def send(path: str, fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
        return 200, shop.prepare(fields) if path == PREPARE else shop.complete(fields)

    return ClickRun(
        send,
        account,
        100_000,
        service_id=SERVICE_ID,
        secret=SECRET,
        sign_time=SIGN_TIME,
        trans_ids=trans_ids(),
        cancel_after_confirm=cancel_after_confirm,
        **kw,
    )


@pytest.mark.parametrize("complete_ids", ["the prepare's", "fresh"])
def test_legacy_tester_fifteen_steps(legacy: ClickStack | ClickCore, complete_ids: str) -> None:
    """Some testers send each Complete under a click_trans_id of its own: matched by prepare id, the run
    answers the same and the ledger sees the same two payments."""
    run = click_run(legacy, legacy.apartment("A-1001"), fresh_complete_ids=complete_ids == "fresh")
    legacy_tester(run)

    assert run.codes == [-1, 0, -1, -2, 0, -4, -4, -5, 0, -6, 0, 0, -9, -9, -9]
    # Two payments of 1000 so'm reached the ledger; the cancelled third did not, and nothing was reversed.
    assert legacy.credit("A-1001") == 2 * 100_000
    assert legacy.reversal_messages() == []


def test_postman_suite_fifteen_steps(postman: ClickStack | ClickCore) -> None:
    run = click_run(postman, postman.apartment("A-2002"), cancel_after_confirm=-9)
    postman_suite(run)

    assert run.codes == [-1, -5, 0, -1, -2, 0, -4, -9, 0, -6, 0, 0, -9, -9, -9]
    # Step 8's cancel of a delivered payment was answered -9 but reversed nothing.
    assert postman.credit("A-2002") == 2 * 100_000
    assert postman.reversal_messages() == []
