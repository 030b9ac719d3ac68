"""Click's two acceptance runs (docs.click.uz, click-api-testing: the legacy tester and the Postman
suite), step by step, on two backends: through ClickShopFunction in-process on moto, and through the
SHOP-API core on the in-memory fakes (no moto). The same steps and the same assertions hold on both.

Both tools reuse one merchant_trans_id for every step, so it names an apartment (accumulative
account), as testers are told to do; the invoice variant is covered in test_click_decisions.py.
"""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.click_support import (
    ClickCore,
    ClickStack,
    click_core,
    click_stack,
    complete_form,
    next_trans_id,
    prepare_form,
)

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


@pytest.mark.parametrize("complete_ids", ["the prepare's", "fresh"])
def test_legacy_tester_fifteen_steps(legacy: ClickStack | ClickCore, complete_ids: str) -> None:
    """Some testers send each Complete under a click_trans_id of its own: matched by prepare id, the run
    answers the same and the ledger sees the same two payments."""
    account = legacy.apartment("A-1001")
    a, b, c = next_trans_id(), next_trans_id(), next_trans_id()
    codes: list[int] = []

    def complete(ctid: str, amount: str, prepare_id: int, **kw: Any) -> dict[str, Any]:
        sent_as = ctid if complete_ids == "the prepare's" else next_trans_id()
        return legacy.complete(complete_form(sent_as, account, amount, prepare_id, **kw))

    codes.append(legacy.prepare(prepare_form(a, account, "1000", bad_sign=True))["error"])  # 1
    first = legacy.prepare(prepare_form(a, account, "1000"))  # 2
    codes.append(first["error"])
    pid = first["merchant_prepare_id"]
    codes.append(complete(a, "1000", pid, bad_sign=True)["error"])  # 3
    codes.append(complete(a, "2000", pid)["error"])  # 4 wrong amount
    done = complete(a, "1000", pid)  # 5
    codes.append(done["error"])
    codes.append(complete(a, "1000", pid)["error"])  # 6 repeat
    codes.append(complete(a, "1000", pid, error="-1")["error"])  # 7 cancel
    codes.append(legacy.prepare(prepare_form(next_trans_id(), "no-such-account", "1000"))["error"])  # 8
    second = legacy.prepare(prepare_form(b, account, "1000"))  # 9
    codes.append(second["error"])
    codes.append(complete(b, "1000", 987654321)["error"])  # 10 unknown id
    pid2 = second["merchant_prepare_id"]
    codes.append(complete(b, "1000", pid2)["error"])  # 11
    third = legacy.prepare(prepare_form(c, account, "1000"))  # 12
    codes.append(third["error"])
    pid3 = third["merchant_prepare_id"]
    codes.append(complete(c, "1000", pid3, error="-5017")["error"])  # 13
    codes.append(complete(c, "1000", pid3, error="-5017")["error"])  # 14
    codes.append(complete(c, "1000", pid3)["error"])  # 15

    assert codes == [-1, 0, -1, -2, 0, -4, -4, -5, 0, -6, 0, 0, -9, -9, -9]
    assert done["merchant_confirm_id"] == pid and isinstance(pid, int)
    # Two payments of 1000 so'm reached the ledger; the cancelled third did not, and nothing was reversed.
    assert legacy.credit(account) == 2 * 100_000
    assert legacy.reversal_messages() == []


def test_postman_suite_fifteen_steps(postman: ClickStack | ClickCore) -> None:
    account = postman.apartment("A-2002")
    a, b, c = next_trans_id(), next_trans_id(), next_trans_id()
    codes: list[int] = []

    codes.append(postman.prepare(prepare_form(a, account, "1000.00", bad_sign=True))["error"])  # 1
    codes.append(postman.prepare(prepare_form(a, "999999999", "1000.00"))["error"])  # 2 unknown account
    first = postman.prepare(prepare_form(a, account, "1000.00"))  # 3
    codes.append(first["error"])
    pid = first["merchant_prepare_id"]
    codes.append(postman.complete(complete_form(a, account, "1000.00", pid, bad_sign=True))["error"])  # 4
    codes.append(postman.complete(complete_form(a, account, "300", pid))["error"])  # 5 forced amount=300
    codes.append(postman.complete(complete_form(a, account, "1000.00", pid))["error"])  # 6
    codes.append(postman.complete(complete_form(a, account, "1000.00", pid))["error"])  # 7 repeat
    codes.append(postman.complete(complete_form(a, account, "1000.00", pid, error="-5017"))["error"])  # 8
    second = postman.prepare(prepare_form(b, account, "1000.00"))  # 9
    codes.append(second["error"])
    codes.append(postman.complete(complete_form(b, account, "1000.00", 999999999))["error"])  # 10
    pid2 = second["merchant_prepare_id"]
    codes.append(postman.complete(complete_form(b, account, "1000.00", pid2))["error"])  # 11
    third = postman.prepare(prepare_form(c, account, "1000.00"))  # 12
    codes.append(third["error"])
    pid3 = third["merchant_prepare_id"]
    codes.append(postman.complete(complete_form(c, account, "1000.00", pid3, error="-5017"))["error"])  # 13
    codes.append(postman.complete(complete_form(c, account, "1000.00", pid3, error="-5017"))["error"])  # 14
    codes.append(postman.complete(complete_form(c, account, "1000.00", pid3))["error"])  # 15

    assert codes == [-1, -5, 0, -1, -2, 0, -4, -9, 0, -6, 0, 0, -9, -9, -9]
    # Step 8's cancel of a delivered payment was answered -9 but reversed nothing.
    assert postman.credit(account) == 2 * 100_000
    assert postman.reversal_messages() == []
