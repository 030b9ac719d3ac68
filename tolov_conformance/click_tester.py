"""Click's two acceptance runs against SHOP-API (docs.click.uz click-api-testing): the legacy Windows
tester's fifteen steps and the Postman suite's fifteen, in each tool's own order, over any transport.

A transport takes the path ("/click/prepare" or "/click/complete") and the form fields and returns
(HTTP status, reply). Both tools reuse one merchant_trans_id for every step, so it must name an
accumulative account (an apartment): a one-time invoice would answer -4 once paid, where the tools expect 0.

The two tools disagree on a Complete that cancels a confirmed payment: the legacy tester expects -4, the
Postman suite -9. A stage answers one of them (CLICK_CANCEL_AFTER_CONFIRM_ERROR): `cancel_after_confirm`
says which, and that step of both lists expects it.
"""

import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from tolov_conformance.report import OfType, Report

Transport = Callable[[str, dict[str, str]], tuple[int, dict[str, Any]]]
PREPARE, COMPLETE = "/click/prepare", "/click/complete"
UNKNOWN_PREPARE_ID = 999999999  # the Postman suite's; no stage has handed it out yet
LEGACY_UNKNOWN_ACCOUNT = "no-such-account"
POSTMAN_UNKNOWN_ACCOUNT = "999999999"
CLICK_CANCELLED = "-5017"  # what Click's tools send for "cancelled at Click"


def click_sign(fields: Mapping[str, str], secret: str) -> str:
    """Click's sign_string of the fields as posted: md5 over click_trans_id, service_id, the secret,
    merchant_trans_id, merchant_prepare_id (in Complete only), amount, action and sign_time.

    The product's own is tolov.click.sign; this one stays apart on purpose: the runner talks HTTP only and
    never imports the layer, and the tests sign with it, so that they check the product against the
    formula rather than against itself."""
    parts = [fields["click_trans_id"], fields["service_id"], secret, fields["merchant_trans_id"]]
    if fields["action"] == "1":
        parts.append(fields.get("merchant_prepare_id", ""))
    parts += [fields["amount"], fields["action"], fields["sign_time"]]
    return hashlib.md5("".join(parts).encode()).hexdigest()


def form(
    action: str,
    click_trans_id: str,
    merchant_trans_id: str,
    amount: str,
    *,
    service_id: str,
    secret: str,
    sign_time: str,
    prepare_id: str | int | None = None,
    error: str = "0",
    error_note: str = "Success",
    paydoc_id: str | None = None,
    bad_sign: bool = False,
) -> dict[str, str]:
    """The fields Click posts, signed with `secret` (or deliberately wrong with bad_sign)."""
    fields = {
        "click_trans_id": click_trans_id,
        "service_id": service_id,
        "click_paydoc_id": paydoc_id or str(int(click_trans_id) + 1_000_000_000),
        "merchant_trans_id": merchant_trans_id,
        "amount": amount,
        "action": action,
        "error": error,
        "error_note": error_note,
        "sign_time": sign_time,
    }
    if prepare_id is not None:
        fields["merchant_prepare_id"] = str(prepare_id)
    fields["sign_string"] = "0" * 32 if bad_sign else click_sign(fields, secret)
    return fields


def som(tiyin: int, *, decimals: bool) -> str:
    """An amount as Click writes it: the legacy tester "1000" (decimals only when there are tiyin), the
    Postman suite "1000.00"."""
    whole, cents = divmod(tiyin, 100)
    return f"{whole}.{cents:02d}" if decimals or cents else str(whole)


class ClickRun:
    """One run of one tool on one account. Without a report, the first failed check raises AssertionError.

    fresh_complete_ids: each Complete under a click_trans_id of its own (some testers do that; the
    attempt is found by merchant_prepare_id)."""

    def __init__(
        self,
        transport: Transport,
        account: str,
        amount: int,
        *,
        service_id: str,
        secret: str,
        sign_time: str,
        trans_ids: Iterator[int],
        cancel_after_confirm: int = -4,
        report: Report | None = None,
        scenario: str = "Click",
        fresh_complete_ids: bool = False,
    ) -> None:
        self.transport = transport
        self.account = account
        self.amount = amount
        self.service_id, self.secret, self.sign_time = service_id, secret, sign_time
        self.trans_ids = trans_ids
        self.cancel_after_confirm = cancel_after_confirm
        self.report = report if report is not None else Report(strict=True)
        self.scenario = scenario
        self.fresh_complete_ids = fresh_complete_ids
        self.codes: list[int] = []
        self.decimals = False  # how the tool writes amounts; each list sets its own

    def new_id(self) -> str:
        return str(next(self.trans_ids))

    def call(self, step: str, path: str, fields: dict[str, str], error: int, id_field: str) -> dict[str, Any]:
        try:
            status, reply = self.transport(path, fields)
        except OSError as failure:
            self.report.abort(self.scenario, step, f"{path}: no reply ({failure})")
        got = {"http": status, **reply}
        if isinstance(reply.get("error"), int):
            self.codes.append(reply["error"])
        # Our id in a success; an error reply may carry null or nothing there, so not checked.
        expected = {"error": error, **({id_field: OfType(int, positive=True)} if error == 0 else {})}
        envelope = {
            "http": 200,
            "click_trans_id": int(fields["click_trans_id"]),
            "merchant_trans_id": fields["merchant_trans_id"],
            "error_note": OfType(str),
        }
        self.report.expect(self.scenario, step, got, expected, envelope)
        return got

    def prepare(
        self, step: str, trans_id: str, error: int, *, account: str | None = None, bad_sign: bool = False
    ) -> dict[str, Any]:
        fields = form(
            "0",
            trans_id,
            account or self.account,
            self.text(self.amount),
            service_id=self.service_id,
            secret=self.secret,
            sign_time=self.sign_time,
            bad_sign=bad_sign,
        )
        return self.call(step, PREPARE, fields, error, "merchant_prepare_id")

    def complete(
        self,
        step: str,
        trans_id: str,
        prepare_id: Any,
        error: int,
        *,
        amount: str | None = None,
        click_error: str = "0",
        bad_sign: bool = False,
    ) -> dict[str, Any]:
        sent_as = self.new_id() if self.fresh_complete_ids else trans_id
        fields = form(
            "1",
            sent_as,
            self.account,
            amount or self.text(self.amount),
            service_id=self.service_id,
            secret=self.secret,
            sign_time=self.sign_time,
            prepare_id=prepare_id,
            error=click_error,
            error_note="Success" if click_error == "0" else "Cancelled",
            bad_sign=bad_sign,
        )
        return self.call(step, COMPLETE, fields, error, "merchant_confirm_id")

    def prepared_id(self, step: str, reply: dict[str, Any]) -> int:
        prepare_id = reply.get("merchant_prepare_id")
        if type(prepare_id) is not int:
            self.report.abort(self.scenario, step, "no merchant_prepare_id to go on with")
        return prepare_id  # type: ignore[return-value]

    def text(self, tiyin: int) -> str:
        return som(tiyin, decimals=self.decimals)


def cancel_confirmed(tool_expects: int, configured: int) -> str:
    """The step's name, saying so when the stage is configured for the other tool's answer."""
    sent = CLICK_CANCELLED if tool_expects == -9 else "-1"
    note = "" if tool_expects == configured else f" (the tool expects {tool_expects})"
    return f"Complete error={sent}, confirmed payment{note}"


def cancelled_at_click(t: ClickRun, trans_id: str) -> None:
    """Steps 12 to 15, the same in both tools: a payment Click cancels, cancels again, then confirms."""
    pid = t.prepared_id("12", t.prepare("12 Prepare", trans_id, 0))
    cancel = f"(error={CLICK_CANCELLED})"
    t.complete(f"13 Complete, cancel {cancel}", trans_id, pid, -9, click_error=CLICK_CANCELLED)
    t.complete(f"14 Complete, cancel again {cancel}", trans_id, pid, -9, click_error=CLICK_CANCELLED)
    t.complete("15 Complete error=0 on the cancelled payment", trans_id, pid, -9)


def legacy_tester(t: ClickRun) -> None:
    """The legacy tester's order (the yetimdasturchi/clickuz-tester clone of click_api.exe)."""
    t.scenario, t.decimals = "Click legacy tester", False
    a, b, c = t.new_id(), t.new_id(), t.new_id()
    t.prepare("1 Prepare, bad sign", a, -1, bad_sign=True)
    pid = t.prepared_id("2", t.prepare("2 Prepare", a, 0))
    t.complete("3 Complete, bad sign", a, pid, -1, bad_sign=True)
    t.complete("4 Complete, wrong amount", a, pid, -2, amount=t.text(2 * t.amount))
    t.complete("5 Complete", a, pid, 0)
    t.complete("6 Complete again on the confirmed payment", a, pid, -4)
    t.complete(
        "7 " + cancel_confirmed(-4, t.cancel_after_confirm), a, pid, t.cancel_after_confirm, click_error="-1"
    )
    t.prepare("8 Prepare, unknown account", t.new_id(), -5, account=LEGACY_UNKNOWN_ACCOUNT)
    pid = t.prepared_id("9", t.prepare("9 Prepare", b, 0))
    t.complete("10 Complete, unknown merchant_prepare_id", b, UNKNOWN_PREPARE_ID, -6)
    t.complete("11 Complete", b, pid, 0)
    cancelled_at_click(t, c)


def postman_suite(t: ClickRun) -> None:
    """The Postman collection's order (docs.click.uz/testing/postman); its wrong amount is forced to 300."""
    t.scenario, t.decimals = "Click Postman suite", True
    a, b, c = t.new_id(), t.new_id(), t.new_id()
    t.prepare("1 Prepare, bad sign", a, -1, bad_sign=True)
    t.prepare("2 Prepare, unknown account", a, -5, account=POSTMAN_UNKNOWN_ACCOUNT)
    pid = t.prepared_id("3", t.prepare("3 Prepare", a, 0))
    t.complete("4 Complete, bad sign", a, pid, -1, bad_sign=True)
    # The suite forces amount=300; an account priced at 300 so'm would need another wrong amount.
    wrong = "300" if t.amount != 30_000 else "301"
    t.complete(f"5 Complete, amount={wrong}", a, pid, -2, amount=wrong)
    t.complete("6 Complete", a, pid, 0)
    t.complete("7 Complete again on the confirmed payment", a, pid, -4)
    t.complete(
        "8 " + cancel_confirmed(-9, t.cancel_after_confirm),
        a,
        pid,
        t.cancel_after_confirm,
        click_error=CLICK_CANCELLED,
    )
    pid = t.prepared_id("9", t.prepare("9 Prepare", b, 0))
    t.complete("10 Complete, merchant_prepare_id=999999999", b, UNKNOWN_PREPARE_ID, -6)
    t.complete("11 Complete", b, pid, 0)
    cancelled_at_click(t, c)
