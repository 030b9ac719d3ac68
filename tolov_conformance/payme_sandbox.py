"""Payme's sandbox (test.paycom.uz) scenarios 1 and 2, step by step, over any transport.

A transport takes the JSON body and the Authorization header and returns (HTTP status, reply). The
conformance runner sends over HTTP to any stage; the tests also send through the Lambda handler
in-process. Create, Perform and Cancel are sent twice, byte-identical, and the second reply must equal
the first, as the sandbox demands; a little time passes in between so that a "now" in a repeat shows.
Every reply must also be HTTP 200 with the request's id and exactly one of result or error, an error's
message in ru, uz and en.
"""

import base64
import json
import time
from collections.abc import Callable
from typing import Any

from tolov_conformance.report import ABSENT, Between, Languages, OfType, Report

Transport = Callable[[str, str], tuple[int, dict[str, Any]]]

# The Merchant API's methods: the six required, SetFiscalData, and ChangePassword of the older
# specification. The sandbox's "wrong authorization" step expects -32504 from each one a merchant serves.
METHODS = (
    "CancelTransaction",
    "ChangePassword",
    "CheckPerformTransaction",
    "CheckTransaction",
    "CreateTransaction",
    "GetStatement",
    "PerformTransaction",
    "SetFiscalData",
)
REPEAT_PAUSE_S = 0.005
GHOST_ACCOUNT = "9999999999"


def basic_auth(key: str, login: str = "Paycom") -> str:
    return "Basic " + base64.b64encode(f"{login}:{key}".encode()).decode()


class Sandbox:
    """One merchant account (an invoice, or an apartment with field="apartment_id") and its checks. Without
    a report, the first failed check raises AssertionError, as a test wants."""

    def __init__(
        self,
        transport: Transport,
        order_id: str,
        amount: int,
        *,
        key: str,
        field: str = "order_id",
        report: Report | None = None,
        scenario: str = "Payme",
    ) -> None:
        self.transport = transport
        self.account = {field: order_id}
        self.amount = amount
        self.auth = basic_auth(key)
        self.report = report if report is not None else Report(strict=True)
        self.scenario = scenario
        self.next_id = 100
        self.number = ""  # the step's number in payme.md's list of the scenario, set as it goes

    def send(
        self,
        step: str,
        method: str,
        params: dict[str, Any],
        *,
        auth: str | None = None,
        request_id: int | None = None,
        expected: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The reply with its HTTP status as "http", checked against the envelope and `expected`."""
        if request_id is None:
            self.next_id += 1
            request_id = self.next_id
        body = {"method": method, "params": params, "id": request_id}
        try:
            status, reply = self.transport(json.dumps(body), auth or self.auth)
        except OSError as failure:
            self.report.abort(self.scenario, f"{self.number} {step}", f"{method}: no reply ({failure})")
        got = {"http": status, **reply}
        envelope: dict[str, Any] = {"http": 200, "id": request_id}
        if expected and "error.code" in expected:
            envelope |= {"result": ABSENT, "error.message": Languages()}
        else:
            envelope |= {"error": ABSENT}
        self.report.expect(self.scenario, f"{self.number} {step}", got, expected or {}, envelope)
        return got

    def twice(
        self, step: str, method: str, params: dict[str, Any], expected: dict[str, Any]
    ) -> dict[str, Any]:
        """The same request twice; the second reply must equal the first."""
        self.next_id += 1
        first = self.send(step, method, params, request_id=self.next_id, expected=expected)
        time.sleep(REPEAT_PAUSE_S)
        again = self.send(f"{step} (repeat)", method, params, request_id=self.next_id, expected=expected)
        self.report.same(self.scenario, f"{self.number} {step} (repeat = first)", first, again)
        return first

    def ok(self, step: str, reply: dict[str, Any]) -> dict[str, Any]:
        """The result, or the scenario stops here (its failure is in the report already)."""
        result = reply.get("result")
        if not isinstance(result, dict):
            self.report.abort(self.scenario, f"{self.number} {step}", "no result to go on with")
        return result  # type: ignore[return-value]

    # ------------------------------------------------------------------ steps
    def wrong_authorization(self, payme_id: str) -> None:
        params = {
            "CheckPerformTransaction": {"amount": self.amount, "account": self.account},
            "CreateTransaction": self.create_params(payme_id),
            "PerformTransaction": {"id": payme_id},
            "CancelTransaction": {"id": payme_id, "reason": 1},
            "CheckTransaction": {"id": payme_id},
            "GetStatement": {"from": 0, "to": int(time.time() * 1000)},
            "SetFiscalData": {"id": payme_id, "type": "PERFORM", "fiscal_data": {"receipt_id": 1}},
            "ChangePassword": {"password": "sandbox-new-key"},
        }
        wrong = basic_auth("wrong-key")
        for method in METHODS:
            self.send(
                f"wrong auth: {method}", method, params[method], auth=wrong, expected={"error.code": -32504}
            )

    def wrong_amount(self, payme_id: str) -> None:
        wrong = self.amount + 100
        self.send(
            "wrong amount: CheckPerformTransaction",
            "CheckPerformTransaction",
            {"amount": wrong, "account": self.account},
            expected={"error.code": -31001},
        )
        self.send(
            "wrong amount: CreateTransaction",
            "CreateTransaction",
            self.create_params(payme_id) | {"amount": wrong},
            expected={"error.code": -31001},
        )

    def unknown_account(self, payme_id: str) -> None:
        (field,) = self.account
        ghost = {field: GHOST_ACCOUNT}
        expected = {"error.code": Between(-31099, -31050), "error.data": field}
        self.send(
            "unknown account: CheckPerformTransaction",
            "CheckPerformTransaction",
            {"amount": self.amount, "account": ghost},
            expected=expected,
        )
        self.send(
            "unknown account: CreateTransaction",
            "CreateTransaction",
            self.create_params(payme_id) | {"account": ghost},
            expected=expected,
        )

    def check_perform(self) -> None:
        self.send(
            "CheckPerformTransaction",
            "CheckPerformTransaction",
            {"amount": self.amount, "account": self.account},
            expected={"result.allow": True},
        )

    def create(self, payme_id: str, other_id: str) -> dict[str, Any]:
        expected = {
            "result.state": 1,
            "result.transaction": OfType(str, positive=True),
            "result.create_time": OfType(int, positive=True),
        }
        step = "CreateTransaction"
        created = self.ok(step, self.twice(step, "CreateTransaction", self.create_params(payme_id), expected))
        self.check(
            "CheckTransaction after Create",
            payme_id,
            {
                "result.create_time": created.get("create_time"),
                "result.transaction": created.get("transaction"),
                "result.state": 1,
                "result.perform_time": 0,
                "result.cancel_time": 0,
                "result.reason": None,
            },
        )
        self.send(
            "CreateTransaction, new id, same account",
            "CreateTransaction",
            self.create_params(other_id),
            expected={"error.code": -31008},
        )
        return created

    def perform(self, payme_id: str) -> dict[str, Any]:
        expected = {
            "result.state": 2,
            "result.transaction": OfType(str, positive=True),
            "result.perform_time": OfType(int, positive=True),
        }
        step = "PerformTransaction"
        performed = self.ok(step, self.twice(step, "PerformTransaction", {"id": payme_id}, expected))
        self.check(
            "CheckTransaction after Perform",
            payme_id,
            {
                "result.perform_time": performed.get("perform_time"),
                "result.state": 2,
                "result.cancel_time": 0,
            },
        )
        return performed

    def cancel(self, payme_id: str, reason: int, state: int) -> dict[str, Any]:
        expected = {
            "result.state": state,
            "result.transaction": OfType(str, positive=True),
            "result.cancel_time": OfType(int, positive=True),
        }
        step = f"CancelTransaction (state {state})"
        params = {"id": payme_id, "reason": reason}
        cancelled = self.ok(step, self.twice(step, "CancelTransaction", params, expected))
        self.check(
            "CheckTransaction after Cancel",
            payme_id,
            {
                "result.cancel_time": cancelled.get("cancel_time"),
                "result.state": state,
                "result.reason": reason,
            },
        )
        return cancelled

    def check(self, step: str, payme_id: str, expected: dict[str, Any]) -> dict[str, Any]:
        return self.ok(step, self.send(step, "CheckTransaction", {"id": payme_id}, expected=expected))

    def create_params(self, payme_id: str) -> dict[str, Any]:
        return {
            "id": payme_id,
            "time": int(time.time() * 1000),
            "amount": self.amount,
            "account": self.account,
        }


def scenario_1(sandbox: Sandbox, payme_id: str, other_id: str) -> None:
    """Create, then cancel an unconfirmed transaction (with the security checks first)."""
    sandbox.scenario = "Payme scenario 1"
    sandbox.number = "1"
    sandbox.wrong_authorization(payme_id)
    sandbox.number = "2"
    sandbox.wrong_amount(payme_id)
    sandbox.number = "3"
    sandbox.unknown_account(payme_id)
    sandbox.number = "4"
    sandbox.check_perform()
    sandbox.number = "5"
    sandbox.create(payme_id, other_id)
    sandbox.number = "6"
    sandbox.cancel(payme_id, reason=3, state=-1)


def scenario_2(sandbox: Sandbox, payme_id: str, other_id: str) -> None:
    """Create, perform, then cancel the performed transaction."""
    sandbox.scenario = "Payme scenario 2"
    sandbox.number = "1"  # scenario 1's steps 4 and 5 again
    sandbox.check_perform()
    sandbox.create(payme_id, other_id)
    sandbox.number = "2"
    sandbox.perform(payme_id)
    sandbox.number = "3"
    sandbox.cancel(payme_id, reason=5, state=-2)
