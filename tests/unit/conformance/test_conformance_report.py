"""The runner's checks: a field that differs is named, a repeat is compared field by field, JSON types
are not loosened (a string "-9" is not -9, true is not 1), and a strict report stops at the first failure."""

import json

import pytest

from tolov_conformance.click_tester import click_sign, form, som
from tolov_conformance.report import ABSENT, Between, OfType, Report


def test_a_field_that_differs_is_named_and_shown() -> None:
    report = Report()
    assert not report.expect(
        "Payme scenario 1",
        "wrong amount",
        {"http": 200, "error": {"code": -31050}},
        {"error.code": -31001},
        {"http": 200, "result": ABSENT},
    )
    (check,) = report.failures
    assert check.differed == ("error.code",)
    assert (check.expected, check.got) == ("error.code=-31001", "error.code=-31050")


def test_the_envelope_is_shown_only_where_it_differs() -> None:
    report = Report()
    report.expect("s", "ok", {"http": 200, "error": 0}, {"error": 0}, {"http": 200})
    report.expect("s", "bad", {"http": 502, "error": 0}, {"error": 0}, {"http": 200})
    passed, failed = report.checks
    assert (passed.expected, passed.differed) == ("error=0", ())
    assert (failed.expected, failed.got, failed.differed) == (
        "error=0 http=200",
        "error=0 http=502",
        ("http",),
    )


@pytest.mark.parametrize(
    ("expected", "got", "passes"),
    [
        (-9, -9, True),
        (-9, "-9", False),  # Click wants JSON integers
        (1, True, False),
        (None, None, True),
        (0, None, False),  # Payme wants 0, not null, for times that have not happened
        (Between(-31099, -31050), -31050, True),
        (Between(-31099, -31050), -31008, False),
        (OfType(int, positive=True), 5, True),
        (OfType(int, positive=True), -5, False),
        (OfType(int, positive=True), True, False),
        (OfType(str, positive=True), "", False),
        (ABSENT, ABSENT, True),
    ],
)
def test_rules(expected: object, got: object, passes: bool) -> None:
    report = Report()
    assert (
        report.expect("s", "step", {"field": got} if got is not ABSENT else {}, {"field": expected}) is passes
    )


def test_a_repeat_must_equal_the_first_reply_field_for_field() -> None:
    report = Report()
    first = {"http": 200, "id": 7, "result": {"state": 2, "perform_time": 1000, "transaction": "5"}}
    assert report.same("s", "repeat", first, json.loads(json.dumps(first)))
    again = {"http": 200, "id": 7, "result": {"state": 2, "perform_time": 1005, "transaction": "5"}}
    assert not report.same("s", "repeat", first, again)
    assert report.failures[0].differed == ("result.perform_time",)
    assert report.failures[0].got == "result.perform_time=1005"


def test_a_strict_report_raises_at_the_first_failure() -> None:
    report = Report(strict=True)
    report.expect("s", "fine", {"error": 0}, {"error": 0})
    with pytest.raises(AssertionError, match="differed: error"):
        report.expect("s", "broken", {"error": -1}, {"error": 0})


def test_the_table_lists_every_check_and_every_failure_in_full() -> None:
    report = Report()
    report.expect("Click legacy tester", "1 Prepare, bad sign", {"error": -1}, {"error": -1})
    report.expect(
        "Click legacy tester", "2 Prepare", {"error": -1, "note": "x" * 200}, {"error": 0, "note": "x"}
    )
    table = report.table()
    assert "1 Prepare, bad sign" in table and "PASS" in table and "FAIL" in table
    assert "2 checks in 1 scenarios: 1 failed" in table
    assert "FAIL Click legacy tester / 2 Prepare\n" in table and "x" * 200 in table  # in full below the table
    assert json.loads(report.as_json())["passed"] is False


def fields(action: str, **more: str) -> dict[str, str]:
    base = dict(click_trans_id="1", service_id="2", merchant_trans_id="m", amount="10", sign_time="t")
    return base | {"action": action} | more


def test_click_signature_is_clicks_formula() -> None:
    """md5 over click_trans_id service_id secret merchant_trans_id [merchant_prepare_id] amount action
    sign_time: the prepare id only in Complete. Digests worked out with md5sum ("12sm100t", "12sm9101t")."""
    assert click_sign(fields("0", merchant_prepare_id="9"), "s") == "16c7dbe1e9bb8e78c844133d3d0f1cbf"
    assert click_sign(fields("1", merchant_prepare_id="9"), "s") == "9261b4bf373775faeadcf210f60741d7"


def test_forms_are_signed_and_a_bad_sign_is_no_signature() -> None:
    signed = form("1", "1", "m", "10", service_id="2", secret="s", sign_time="t", prepare_id=9)
    assert signed["sign_string"] == "9261b4bf373775faeadcf210f60741d7"
    assert form("0", "1", "m", "10", service_id="2", secret="s", sign_time="t")["sign_string"] == (
        "16c7dbe1e9bb8e78c844133d3d0f1cbf"
    )
    bad = form("0", "1", "m", "10", service_id="2", secret="s", sign_time="t", bad_sign=True)
    assert bad["sign_string"] == "0" * 32


@pytest.mark.parametrize(
    ("tiyin", "decimals", "text"),
    [
        (100_000, False, "1000"),
        (100_000, True, "1000.00"),
        (1_234_567, False, "12345.67"),
        (5, True, "0.05"),
    ],
)
def test_amounts_are_written_as_each_tool_writes_them(tiyin: int, decimals: bool, text: str) -> None:
    assert som(tiyin, decimals=decimals) == text
