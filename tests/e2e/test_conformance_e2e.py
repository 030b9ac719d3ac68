"""`python -m tolov_conformance` against the local stack, as ops run it against a stage: a subprocess with
the merchant's credentials in its environment, without the layer or the tests on its path."""

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.template import ROOT
from local.testing import StackProcess, running_stack
from tolov_conformance.__main__ import CREDENTIALS

pytestmark = pytest.mark.e2e

SCENARIOS = ("Payme scenario 1", "Payme scenario 2", "Click legacy tester", "Click Postman suite")
RUN_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def stack() -> Iterator[StackProcess]:
    with running_stack() as running:
        yield running


def conformance(stack: StackProcess, *args: str, **credentials: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS and k != "PYTHONPATH"}
    env |= {name: stack.config[name] for name in CREDENTIALS} | credentials
    return subprocess.run(
        [sys.executable, "-m", "tolov_conformance", "--url", stack.api_url, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def rows(table: str, scenario: str) -> list[str]:
    return [line for line in table.splitlines() if line.startswith(scenario + "  ")]


def steps(table: str, scenario: str) -> list[int]:
    """The step numbers the table lists for a scenario, in order and without repeats."""
    numbers = [int(re.split(r"\s{2,}", line)[1].split()[0]) for line in rows(table, scenario)]
    return list(dict.fromkeys(numbers))


def test_the_local_stack_passes_every_scenario(stack: StackProcess) -> None:
    run = conformance(stack)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert steps(out, "Payme scenario 1") == [1, 2, 3, 4, 5, 6]
    assert steps(out, "Payme scenario 2") == [1, 2, 3]
    assert steps(out, "Click legacy tester") == list(range(1, 16))
    assert steps(out, "Click Postman suite") == list(range(1, 16))
    # Step 1 of scenario 1 asks every method; Create, Perform and Cancel are each sent twice and compared.
    assert len([r for r in rows(out, "Payme scenario 1") if " 1 wrong auth: " in r]) == 8
    assert len([r for r in out.splitlines() if "(repeat = first)" in r]) == 5
    assert all(line.rstrip().endswith("PASS") for s in SCENARIOS for line in rows(out, s))
    assert re.search(r"^\d+ checks in 4 scenarios: 0 failed$", out, re.MULTILINE)
    secrets = [stack.config[name] for name in CREDENTIALS if name != "CLICK_SERVICE_ID"]  # an id, no secret
    assert [s for s in secrets if s in out + run.stderr] == []


def test_a_given_invoice_is_paid_with_its_own_amount_and_reported_as_json(stack: StackProcess) -> None:
    key = {"x-api-key": stack.config["BILLING_API_KEY"]}
    requests.put(
        stack.url("/apartments/e2e-conf"),
        json={"label": "Flat", "resident_id": "r-1"},
        headers=key,
        timeout=10,
    ).raise_for_status()
    item = {
        "service": "gas",
        "title": "Gaz",
        "amount": 1_234_567,
        "ikpu": "10302001001000000",
        "package_code": "1503827",
        "vat_percent": 12,
    }
    body = {"apartment_id": "e2e-conf", "period": "2026-11", "items": [item]}
    invoice = requests.post(stack.url("/invoices"), json=body, headers=key, timeout=10).json()

    run = conformance(stack, "--invoice", invoice["invoice_id"], "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    report: dict[str, Any] = json.loads(run.stdout)
    assert (report["passed"], report["invoice_id"], report["apartment_id"]) == (
        True,
        invoice["invoice_id"],
        "e2e-conf",
    )
    assert {c["scenario"] for c in report["checks"]} == set(SCENARIOS)
    assert all(c["passed"] and c["differed"] == [] for c in report["checks"])
    check_perform = next(c for c in report["checks"] if c["step"] == "4 CheckPerformTransaction")
    assert check_perform["got"] == "result.allow=true"  # asked with the invoice's own 1 234 567 tiyin
    got = requests.get(stack.url(f"/invoices/{invoice['invoice_id']}"), headers=key, timeout=10).json()
    # Payme's scenario 2 refunded what it performed; the Click lists' four top-ups of the flat (1 000 so'm
    # each, two per list) then went to its open charges, this invoice's: paid in part, still open.
    assert (got["status"], got["paid_amount"]) == ("open", 4 * 100_000)
    assert [(p["provider"], p["amount"]) for p in got["payments"]] == [("click", 100_000)] * 4


def test_wrong_keys_fail_and_the_fields_that_differed_are_printed(stack: StackProcess) -> None:
    run = conformance(stack, PAYME_KEY="not-the-payme-key", CLICK_SECRET_KEY="not-the-click-secret")
    assert run.returncode == 1, run.stdout + run.stderr
    out = run.stdout
    # The wrong-auth step still passes (the runner's own wrong key), every step with the key does not.
    assert all(r.rstrip().endswith("PASS") for r in rows(out, "Payme scenario 1") if " 1 wrong auth: " in r)
    assert (
        "FAIL Payme scenario 1 / 2 wrong amount: CheckPerformTransaction\n"
        "  expected: error.code=-31001\n"
        "  got:      error.code=-32504\n"
        "  differed: error.code"
    ) in out
    assert "FAIL Payme scenario 2 / 1 CheckPerformTransaction\n" in out
    assert "FAIL Click legacy tester / 2 Prepare\n" in out
    assert "got:      error=-1 merchant_prepare_id=null\n  differed: error, merchant_prepare_id" in out
    assert "FAIL Click Postman suite / 3 Prepare\n" in out
    assert "not-the-payme-key" not in out + run.stderr and "not-the-click-secret" not in out + run.stderr


def test_a_wrong_billing_key_runs_nothing_and_says_why(stack: StackProcess) -> None:
    run = conformance(stack, BILLING_API_KEY="not-the-billing-key")
    assert run.returncode == 2
    assert run.stdout == ""
    assert "no account to run on: PUT /apartments/conformance-" in run.stderr and "HTTP 403" in run.stderr
    assert "not-the-billing-key" not in run.stderr


def test_the_cancel_after_confirm_answer_is_the_one_the_stage_is_told_to_give(stack: StackProcess) -> None:
    """This stack answers -4 (the template's default); told -9, the runner fails that step of each list."""
    run = conformance(stack, "--click-cancel-after-confirm", "-9")
    assert run.returncode == 1, run.stdout + run.stderr
    failed = [line.split("\n")[0] for line in run.stdout.split("FAIL ")[1:]]
    assert failed == [
        "Click legacy tester / 7 Complete error=-1, confirmed payment (the tool expects -4)",
        "Click Postman suite / 8 Complete error=-5017, confirmed payment",
    ]
