"""Payme's sandbox (test.paycom.uz) scenarios, step by step, over any transport.

A transport takes the JSON body and the Authorization header and returns (HTTP status, reply). The
scenarios run in-process through the Lambda handler (tests/integration) and over HTTP on the local
stack (tests/e2e). Create, Perform and Cancel are sent twice, byte-identical, and the replies must be
equal, as the sandbox demands; a little time passes in between so a "now" in a repeat would show.
"""

import base64
import json
import time
from collections.abc import Callable
from typing import Any

from tests.payme_harness import served_methods

Transport = Callable[[str, str], tuple[int, dict[str, Any]]]
GOOD_AUTH = "Basic " + base64.b64encode(b"Paycom:local-payme-key").decode()
BAD_AUTH = "Basic " + base64.b64encode(b"Paycom:wrong-key").decode()


class Sandbox:
    def __init__(self, transport: Transport, order_id: str, amount: int, field: str = "order_id") -> None:
        self.transport = transport
        self.account = {field: order_id}
        self.amount = amount
        self.next_id = 100
        self.transcript: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def send(
        self, method: str, params: dict[str, Any], *, auth: str = GOOD_AUTH, request_id: int | None = None
    ) -> dict[str, Any]:
        if request_id is None:
            self.next_id += 1
            request_id = self.next_id
        body = {"method": method, "params": params, "id": request_id}
        status, reply = self.transport(json.dumps(body), auth)
        self.transcript.append((body, reply))
        assert status == 200, (body, status, reply)
        assert reply["id"] == request_id, (body, reply)
        assert ("result" in reply) != ("error" in reply), reply
        return reply

    def twice(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The same request twice; the second reply must equal the first."""
        self.next_id += 1
        first = self.send(method, params, request_id=self.next_id)
        time.sleep(0.005)
        second = self.send(method, params, request_id=self.next_id)
        assert second == first, (method, first, second)
        return first

    def ok(self, reply: dict[str, Any]) -> dict[str, Any]:
        assert "result" in reply, (self.transcript[-1][0], reply)
        return reply["result"]  # type: ignore[no-any-return]

    def code(self, reply: dict[str, Any]) -> int:
        assert "error" in reply, (self.transcript[-1][0], reply)
        message = reply["error"]["message"]
        assert isinstance(message, dict) and set(message) == {"ru", "uz", "en"}
        return int(reply["error"]["code"])

    # ------------------------------------------------------------------ steps
    def wrong_authorization(self, payme_id: str) -> None:
        params = {
            "CheckPerformTransaction": {"amount": self.amount, "account": self.account},
            "CreateTransaction": self._create_params(payme_id),
            "PerformTransaction": {"id": payme_id},
            "CancelTransaction": {"id": payme_id, "reason": 1},
            "CheckTransaction": {"id": payme_id},
            "GetStatement": {"from": 0, "to": int(time.time() * 1000)},
            "SetFiscalData": {"id": payme_id, "type": "PERFORM", "fiscal_data": {"receipt_id": 1}},
            "ChangePassword": {"password": "sandbox-new-key"},
        }
        for method in served_methods():  # every method the core serves, each with its params here
            assert self.code(self.send(method, params[method], auth=BAD_AUTH)) == -32504, method

    def wrong_amount(self, payme_id: str) -> None:
        wrong = self.amount + 100
        assert (
            self.code(self.send("CheckPerformTransaction", {"amount": wrong, "account": self.account}))
            == -31001
        )
        params = self._create_params(payme_id) | {"amount": wrong}
        assert self.code(self.send("CreateTransaction", params)) == -31001

    def unknown_account(self, payme_id: str) -> None:
        (field,) = self.account
        ghost = {field: "9999999999"}
        for method, params in (
            ("CheckPerformTransaction", {"amount": self.amount, "account": ghost}),
            ("CreateTransaction", self._create_params(payme_id) | {"account": ghost}),
        ):
            reply = self.send(method, params)
            assert -31099 <= self.code(reply) <= -31050 and reply["error"]["data"] == field

    def check_perform(self) -> None:
        assert (
            self.ok(self.send("CheckPerformTransaction", {"amount": self.amount, "account": self.account}))[
                "allow"
            ]
            is True
        )

    def create(self, payme_id: str, other_id: str) -> dict[str, Any]:
        created = self.ok(self.twice("CreateTransaction", self._create_params(payme_id)))
        assert created["state"] == 1 and isinstance(created["transaction"], str)
        checked = self.check(payme_id)
        assert (checked["create_time"], checked["transaction"], checked["state"]) == (
            created["create_time"],
            created["transaction"],
            1,
        )
        assert (checked["perform_time"], checked["cancel_time"], checked["reason"]) == (0, 0, None)
        assert self.code(self.send("CreateTransaction", self._create_params(other_id))) == -31008
        return created

    def perform(self, payme_id: str) -> dict[str, Any]:
        performed = self.ok(self.twice("PerformTransaction", {"id": payme_id}))
        assert performed["state"] == 2
        checked = self.check(payme_id)
        assert (checked["perform_time"], checked["state"], checked["cancel_time"]) == (
            performed["perform_time"],
            2,
            0,
        )
        return performed

    def cancel(self, payme_id: str, reason: int, state: int) -> dict[str, Any]:
        cancelled = self.ok(self.twice("CancelTransaction", {"id": payme_id, "reason": reason}))
        assert cancelled["state"] == state
        checked = self.check(payme_id)
        assert (checked["cancel_time"], checked["state"], checked["reason"]) == (
            cancelled["cancel_time"],
            state,
            reason,
        )
        return cancelled

    def check(self, payme_id: str) -> dict[str, Any]:
        return self.ok(self.send("CheckTransaction", {"id": payme_id}))

    def _create_params(self, payme_id: str) -> dict[str, Any]:
        return {
            "id": payme_id,
            "time": int(time.time() * 1000),
            "amount": self.amount,
            "account": self.account,
        }


def scenario_1(sandbox: Sandbox, payme_id: str, other_id: str) -> None:
    """Create, then cancel an unconfirmed transaction (with the security checks first)."""
    sandbox.wrong_authorization(payme_id)
    sandbox.wrong_amount(payme_id)
    sandbox.unknown_account(payme_id)
    sandbox.check_perform()
    sandbox.create(payme_id, other_id)
    sandbox.cancel(payme_id, reason=3, state=-1)


def scenario_2(sandbox: Sandbox, payme_id: str, other_id: str) -> None:
    """Create, perform, then cancel the performed transaction."""
    sandbox.check_perform()
    sandbox.create(payme_id, other_id)
    sandbox.perform(payme_id)
    sandbox.cancel(payme_id, reason=5, state=-2)
