"""Load: N concurrent clients send mixed Payme, Click and billing traffic to the local stack on 127.0.0.1.

    python bench/load.py [--clients 8] [--seconds 30] [--max-requests 20000] [--sizes 0,500,1000]
                         [--url http://127.0.0.1:3000 --moto-url http://127.0.0.1:5000] [--save]

Starts `python -m local.stack` (its own free ports, as the e2e tests do), or targets a running stack given
by --url and --moto-url (127.0.0.1 only: anything else is refused). For each table size in --sizes it
first tops the tables up to that many invoices, then runs the clients for --seconds (or --max-requests,
whichever ends first); before the traffic it times one GetItem and one TransactWriteItems in moto alone,
whose cost grows with the tables (see docs/performance.md). Each client is a thread with one keep-alive
connection, looping over flows:

  billing   PUT /apartments/{id}, POST /invoices (joins the shared pool of open invoices), GET the
            invoice, GET the apartment's balance (its debts)
  payme     CheckPerformTransaction → CreateTransaction → PerformTransaction on a pool invoice, then one
            in five CancelTransaction after perform (a refund), one in ten cancelled before perform
  click     Prepare → Complete on a pool invoice (one in twenty Complete with error=-5017: Click cancels)
  topup     Payme or Click paying an apartment (its credit, or its oldest debts)
  statement Payme CheckTransaction of a known transaction and GetStatement of the last ten minutes

Clients pick invoices from the newest few of one shared pool, so Payme and Click race for the same
invoice: the protocol answers of such races (Payme -31008, Click -4/-9 and -7 "Another payment for this
order is in progress") are expected and counted by code.
The protocols' retry answers (Payme -32400, Click -7 without that note: the store answered too late) are
allowed and counted by code: the provider retries them. Failures: an HTTP status the protocol does not
allow (5xx among them), a reply that is not the protocol's shape, a dropped connection, any other code.

After the last size: no double posting. Performed Payme + confirmed Click amounts (as the clients saw
them and as stored) equal the live postings, which equal what the charges hold as paid plus the apartments'
credit; invoice paid totals equal their charges'. Then the ledger invariant checker. Exit 1 on any failure.
--save writes the output, with the command as its first line, to bench/load-output.txt.

Table sizes stop at 1 000 invoices by default: moto's TransactWriteItems copies the tables it touches, so
its time grows with their items (about 1 s at 1 000 invoices, 1.75 s at 5 000 on this machine), and past
about 1 500 it nears the product's 2 s read time-out (tolov.aws): the emulator, not the code, would then
answer -32400 and -7.
"""

import argparse
import base64
import contextlib
import http.client
import io
import itertools
import json
import os
import platform
import random
import secrets
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT)]

import boto3  # noqa: E402  (after the path is set)

from local.template import DEFAULT_CONFIG, LOCAL_REGION, function_environment, load_config  # noqa: E402
from local.testing import running_stack  # noqa: E402
from tolov.click.shop_api import IN_PROGRESS_NOTE  # noqa: E402
from tolov.click.sign import sign_string  # noqa: E402
from tolov.money import tiyin_to_sum_str  # noqa: E402

OUTPUT = ROOT / "bench" / "load-output.txt"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
POOL_WINDOW = 6  # clients pay one of the newest this many open invoices: close enough to race
REQUEST_TIMEOUT_S = 120.0  # a request waits behind moto's one-at-a-time DynamoDB
SEED_APARTMENT = "load-seed-template"
# Protocol answers a race between honest payers produces (another payer holds or paid the invoice). Click's
# -7 is expected only as "another payment is in progress"; any other -7 means the store failed.
EXPECTED_PAYME = {-31008}
EXPECTED_CLICK = {-4, -9}
# The protocols' "the system failed, retry" answers (Payme -32400, Click -7 with any other note): what a
# store that answers too late gets, by design (tolov.aws's time-outs). Allowed (the issue: no errors other
# than protocol ones), counted apart per size, and the ledger checks below still hold: nothing posted twice.
RETRY_PAYME = -32400
RETRIES = 5
RETRY_PAUSE_S = 0.5
CLICK_BUSY = -7
TOPUP_TIYIN = 100_000  # the smallest apartment payment the template's limits allow
ITEM = {"title": "Sovuq suv", "ikpu": "03600001001000000", "package_code": "1500001", "vat_percent": 12}


class Failure(Exception):
    """A reply the protocol does not allow, or no reply."""


# ---------------------------------------------------------------------------------------------- records
@dataclass
class Tally:
    """Everything the clients saw; one per table size, shared by the clients under a lock."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    codes: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    failures: list[str] = field(default_factory=list)
    paid: Counter[str] = field(default_factory=Counter)  # tiyin performed/confirmed, by provider
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, ms: float, code: int | None) -> None:
        with self.lock:
            self.requests += 1
            self.latencies[kind].append(ms)
            if code is not None:
                self.codes[kind][code] += 1

    def fail(self, kind: str, why: str) -> None:
        with self.lock:
            self.failures.append(f"{kind}: {why}")


@dataclass
class Pool:
    """Open invoices (newest last) and the apartments the top-ups go to, shared by all clients."""

    invoices: list[tuple[str, int]] = field(default_factory=list)  # (invoice_id, amount)
    apartments: list[str] = field(default_factory=list)
    payme_ids: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, invoice_id: str, amount: int) -> None:
        with self.lock:
            self.invoices.append((invoice_id, amount))

    def pick(self, rng: random.Random) -> tuple[str, int] | None:
        with self.lock:
            return rng.choice(self.invoices[-POOL_WINDOW:]) if self.invoices else None

    def settled(self, invoice_id: str) -> None:
        with self.lock:
            self.invoices = [entry for entry in self.invoices if entry[0] != invoice_id]


# ---------------------------------------------------------------------------------------------- client
class Client:
    """One keep-alive connection; every request timed and its reply checked against the protocol."""

    def __init__(self, api_url: str, config: dict[str, str], tally: Tally, pool: Pool, seed: int) -> None:
        url = urlsplit(api_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.config = config
        self.tally = tally
        self.pool = pool
        self.rng = random.Random(seed)
        self.connection: http.client.HTTPConnection | None = None
        auth = base64.b64encode(f"Paycom:{config['PAYME_KEY']}".encode()).decode()
        self.payme_headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/json"}
        self.billing_headers = {"x-api-key": config["BILLING_API_KEY"], "Content-Type": "application/json"}

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()

    def send(self, kind: str, method: str, path: str, headers: dict[str, str], body: bytes | None) -> Any:
        """(status, parsed JSON body). A dropped connection is a failure, never retried: a payer's
        provider would see it as a timeout."""
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT_S)
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()
            self.connection = None
            raise Failure(f"dropped connection: {type(error).__name__}: {error}") from error
        elapsed = (time.perf_counter() - started) * 1000
        if response.will_close:
            self.connection.close()
            self.connection = None
        try:
            parsed = json.loads(payload)
        except ValueError:
            raise Failure(f"HTTP {response.status}, not JSON: {payload[:200]!r}") from None
        return response.status, parsed, elapsed

    # ----------------------------------------------------------------------------------- Payme
    def payme(self, method: str, params: dict[str, Any], label: str = "") -> dict[str, Any]:
        """As Payme does: a retry answer is sent again, until another answer comes."""
        for _ in range(RETRIES):
            result = self.payme_once(method, params, label)
            if result.get("error") != RETRY_PAYME:
                return result
            time.sleep(RETRY_PAUSE_S)
        raise Failure(f"payme {method}{label}: {RETRY_PAYME} {RETRIES} times")

    def payme_once(self, method: str, params: dict[str, Any], label: str = "") -> dict[str, Any]:
        """The result, or {"error": code} for an expected protocol error; raises Failure otherwise."""
        kind = f"payme {method}{label}"
        rpc_id = self.rng.randrange(1, 10**9)
        body = json.dumps({"jsonrpc": "2.0", "id": rpc_id, "method": method, "params": params}).encode()
        status, reply, ms = self.send(kind, "POST", "/payme", self.payme_headers, body)
        if status != 200 or not isinstance(reply, dict) or reply.get("id") != rpc_id:
            raise Failure(f"{kind}: HTTP {status}, not a JSON-RPC reply to id {rpc_id}: {str(reply)[:200]}")
        if ("result" in reply) == ("error" in reply):
            raise Failure(f"{kind}: neither or both of result and error: {str(reply)[:200]}")
        if "error" in reply:
            code = reply["error"].get("code") if isinstance(reply["error"], dict) else None
            if not isinstance(code, int):
                raise Failure(f"{kind}: error without an integer code: {str(reply)[:200]}")
            self.tally.record(kind, ms, code)
            if code not in EXPECTED_PAYME and code != RETRY_PAYME:
                raise Failure(f"{kind}: unexpected Payme error {code}: {reply['error'].get('message')}")
            return {"error": code}
        self.tally.record(kind, ms, 0)
        result: dict[str, Any] = reply["result"]
        return result

    def payme_flow(self, account: dict[str, str], amount: int, invoice_id: str | None) -> None:
        label = " invoice" if invoice_id else " apartment"
        check = self.payme("CheckPerformTransaction", {"amount": amount, "account": account}, label)
        if "error" in check:
            return
        payme_id = secrets.token_hex(12)
        created = self.payme(
            "CreateTransaction",
            {"id": payme_id, "time": int(time.time() * 1000), "amount": amount, "account": account},
            label,
        )
        if "error" in created:
            return
        with self.pool.lock:
            self.pool.payme_ids.append(payme_id)
        if self.rng.random() < 0.1:
            self.payme("CancelTransaction", {"id": payme_id, "reason": 3}, " before perform")
            return
        performed = self.payme("PerformTransaction", {"id": payme_id}, label)
        if performed.get("state") != 2:
            raise Failure(f"PerformTransaction answered {performed}")
        with self.tally.lock:
            self.tally.paid["payme"] += amount
        if invoice_id:
            self.pool.settled(invoice_id)
        if self.rng.random() < 0.2:
            cancelled = self.payme("CancelTransaction", {"id": payme_id, "reason": 5}, " after perform")
            if cancelled.get("state") != -2:
                raise Failure(f"CancelTransaction after perform answered {cancelled}")
            with self.tally.lock:
                self.tally.paid["payme"] -= amount

    # ----------------------------------------------------------------------------------- Click
    def click(self, action: str, fields: dict[str, str], label: str) -> dict[str, Any]:
        """As Click does: a retry answer (-7, not "in progress") is sent again, until another answer comes."""
        for _ in range(RETRIES):
            reply = self.click_once(action, fields, label)
            if reply["error"] != CLICK_BUSY or reply.get("error_note") == IN_PROGRESS_NOTE:
                return reply
            time.sleep(RETRY_PAUSE_S)
        raise Failure(f"click action {action}{label}: {CLICK_BUSY} {RETRIES} times")

    def click_once(self, action: str, fields: dict[str, str], label: str) -> dict[str, Any]:
        path = "/click/prepare" if action == "0" else "/click/complete"
        kind = f"click {'prepare' if action == '0' else 'complete'}{label}"
        signed = {**fields, "action": action}
        signed["sign_string"] = sign_string(
            click_trans_id=signed["click_trans_id"],
            service_id=signed["service_id"],
            secret_key=self.config["CLICK_SECRET_KEY"],
            merchant_trans_id=signed["merchant_trans_id"],
            merchant_prepare_id=signed.get("merchant_prepare_id", ""),
            amount=signed["amount"],
            action=action,
            sign_time=signed["sign_time"],
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        status, reply, ms = self.send(kind, "POST", path, headers, urlencode(signed).encode())
        code = reply.get("error") if isinstance(reply, dict) else None
        if status != 200 or not isinstance(code, int) or isinstance(code, bool):
            raise Failure(f"{kind}: HTTP {status}, not a SHOP-API reply: {str(reply)[:200]}")
        self.tally.record(kind, ms, code)
        if code not in EXPECTED_CLICK | {0, CLICK_BUSY}:
            raise Failure(f"{kind}: unexpected Click error {code}: {reply.get('error_note')}")
        result: dict[str, Any] = reply
        return result

    def click_flow(self, account: str, amount: int, invoice_id: str | None, trans_id: int) -> None:
        label = " invoice" if invoice_id else " apartment"
        fields = {
            "click_trans_id": str(trans_id),
            "service_id": self.config["CLICK_SERVICE_ID"],
            "click_paydoc_id": str(trans_id + 1),
            "merchant_trans_id": account,
            "amount": tiyin_to_sum_str(amount),
            "error": "0",
            "error_note": "Success",
            "sign_time": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        }
        prepared = self.click("0", fields, label)
        if prepared["error"] != 0:
            return
        fields["merchant_prepare_id"] = str(prepared["merchant_prepare_id"])
        if self.rng.random() < 0.05:
            self.click("1", {**fields, "error": "-5017", "error_note": "cancelled"}, label)
            return
        completed = self.click("1", fields, label)
        if completed["error"] == 0:
            with self.tally.lock:
                self.tally.paid["click"] += amount
            if invoice_id:
                self.pool.settled(invoice_id)

    # ----------------------------------------------------------------------------------- billing
    def billing(self, kind: str, method: str, path: str, body: Any, ok: set[int]) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        status, reply, ms = self.send(kind, method, path, self.billing_headers, data)
        self.tally.record(kind, ms, None)
        if status not in ok or not isinstance(reply, dict):
            raise Failure(f"{kind}: HTTP {status}: {str(reply)[:200]}")
        return reply

    def invoices_newest(self) -> tuple[str, int]:
        with self.pool.lock:
            return self.pool.invoices[-1]

    def billing_flow(self, apartment_id: str) -> None:
        body = {"label": "Load test", "resident_id": "res-load"}
        self.billing("billing PUT apartment", "PUT", f"/apartments/{apartment_id}", body, {200, 201})
        services = self.rng.sample(["cold_water", "hot_water", "gas", "power"], self.rng.randint(1, 2))
        items = [{**ITEM, "service": s, "amount": self.rng.randrange(100, 5000) * 100} for s in services]
        invoice = {"apartment_id": apartment_id, "period": "2026-11", "items": items}
        created = self.billing("billing POST invoice", "POST", "/invoices", invoice, {201})
        self.pool.add(created["invoice_id"], created["amount"])
        self.billing("billing GET invoice", "GET", f"/invoices/{created['invoice_id']}", None, {200})
        self.billing("billing GET balance", "GET", f"/apartments/{apartment_id}/balance", None, {200})

    def statement_flow(self) -> None:
        with self.pool.lock:
            known = self.pool.payme_ids[-50:]
        if known:
            self.payme("CheckTransaction", {"id": self.rng.choice(known)})
        now = int(time.time() * 1000)
        self.payme("GetStatement", {"from": now - 600_000, "to": now})


def run_client(client: Client, stop: Callable[[], bool], names: Iterator[int]) -> None:
    flows = ["billing"] * 3 + ["payme"] * 3 + ["click"] * 3 + ["topup", "statement"]
    try:
        while not stop():
            flow = client.rng.choice(flows)
            number = next(names)
            try:
                if flow == "billing" or (flow in ("payme", "click") and not client.pool.invoices):
                    client.billing_flow(f"load-{number}")
                elif flow in ("payme", "click"):
                    picked = client.pool.pick(client.rng)
                    if picked is None:
                        continue
                    invoice_id, amount = picked
                    if flow == "payme":
                        client.payme_flow({"order_id": invoice_id}, amount, invoice_id)
                    else:
                        client.click_flow(invoice_id, amount, invoice_id, number)
                elif flow == "topup":
                    with client.pool.lock:
                        apartment = client.rng.choice(client.pool.apartments)
                    if client.rng.random() < 0.5:
                        client.payme_flow({"apartment_id": apartment}, TOPUP_TIYIN, None)
                    else:
                        client.click_flow(apartment, TOPUP_TIYIN, None, number)
                else:
                    client.statement_flow()
            except Failure as failure:
                client.tally.fail(flow, str(failure))
    finally:
        client.close()


# ---------------------------------------------------------------------------------------------- tables
def dynamodb(moto_url: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=moto_url,
        region_name=LOCAL_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def count(client: Any, table: str) -> int:
    pages = client.get_paginator("scan").paginate(TableName=table, Select="COUNT")
    return sum(page["Count"] for page in pages)


def seed_invoices(client: Client, moto_url: str, target: int, settings: Any) -> tuple[int, float]:
    """Tops InvoicesTable up to `target` open invoices. moto's TransactWriteItems copies every table it
    touches, so creating thousands through the API would take an hour here: one invoice is made through
    the billing API and copied with BatchWriteItem, only its ids changed (its apartment, invoice, charge)."""
    ddb = dynamodb(moto_url)
    have = count(ddb, settings.tables.invoices)
    if have >= target:
        return have, 0.0
    started = time.monotonic()
    apartment_id = f"{SEED_APARTMENT}-{target}"
    client.billing_flow(apartment_id)
    invoice_id = client.pool.invoices.pop()[0]
    tables = settings.tables
    apartment = ddb.get_item(TableName=tables.apartments, Key={"apartment_id": {"S": apartment_id}})
    invoice = ddb.get_item(TableName=tables.invoices, Key={"invoice_id": {"S": invoice_id}})
    charges = ddb.query(
        TableName=tables.charges,
        KeyConditionExpression="apartment_id = :a",
        ExpressionAttributeValues={":a": {"S": apartment_id}},
    )
    template = [(tables.apartments, apartment["Item"]), (tables.invoices, invoice["Item"])]
    template += [(tables.charges, item) for item in charges["Items"]]
    # Ids apart from the other sizes' and an earlier run's on the same stack (sizes are seconds apart).
    first = time.time_ns() // 10**6 % 10**8
    puts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for n in range(first, first + target - have):
        ids = {apartment_id: f"load-seed-{n}", invoice_id: str(8 * 10**9 + n)}
        for table, item in template:
            puts[table].append({"PutRequest": {"Item": _renamed(item, ids)}})
    for table, requests in puts.items():
        for start in range(0, len(requests), 25):
            _batch_write(ddb, table, requests[start : start + 25])
    client.pool.apartments.extend(f"load-seed-{n}" for n in range(first, first + min(50, target - have)))
    return count(ddb, settings.tables.invoices), time.monotonic() - started


def moto_probe(moto_url: str, settings: Any, runs: int = 7) -> tuple[float, float]:
    """(GetItem ms, TransactWriteItems ms), medians, with no traffic: what one call costs in moto at this
    table size. The transaction only checks conditions on an invoice and its charge, writing nothing, but
    moto copies both tables whole for it, as for every transaction touching them."""
    ddb = dynamodb(moto_url)
    tables = settings.tables
    invoice = ddb.scan(TableName=tables.invoices, Limit=1)["Items"][0]
    charge_key = invoice["items"]["L"][0]["M"]["charge_key"]
    charge = {"apartment_id": invoice["apartment_id"], "charge_key": charge_key}
    checks = [
        {"TableName": tables.invoices, "Key": {"invoice_id": invoice["invoice_id"]}},
        {"TableName": tables.charges, "Key": charge},
    ]
    condition = {"ConditionExpression": "attribute_exists(amount)"}
    transaction = [{"ConditionCheck": {**check, **condition}} for check in checks]

    def timed(call: Callable[[], Any]) -> float:
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            call()
            samples.append((time.perf_counter() - started) * 1000)
        return statistics.median(samples)

    get = timed(lambda: ddb.get_item(TableName=tables.invoices, Key={"invoice_id": invoice["invoice_id"]}))
    write = timed(lambda: ddb.transact_write_items(TransactItems=transaction))
    return get, write


def _renamed(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: (ids.get(v, v) if k == "S" else _renamed(v, ids)) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, ids) for v in value]
    return value


def _batch_write(ddb: Any, table: str, requests: list[dict[str, Any]]) -> None:
    pending = {table: requests}
    while pending:
        pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


# ---------------------------------------------------------------------------------------------- ledger
def ledger_settings(moto_url: str, config: dict[str, str]) -> Any:
    """The settings a function of the template has against this stack's moto (the reconciliation
    function reads every table the ledger spans)."""
    from tolov.settings import load_settings

    env = function_environment("ReconciliationFunction", config)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # moto's; never the developer's
        os.environ[name] = "testing"
    return load_settings({**env, "AWS_ENDPOINT_URL": moto_url, "AWS_DEFAULT_REGION": LOCAL_REGION})


@dataclass(frozen=True)
class Stored:
    """What the tables hold, in tiyin."""

    payme: int  # performed Payme transactions (a refund's state is -2: not counted)
    click: int  # confirmed Click attempts, posted or not
    click_posted: int  # of which the ledger posted
    unposted: int  # attempts confirmed but refused by the ledger (a reversal is queued)
    postings: int  # live postings (not reversed)
    posted: int
    charges_paid: int
    credit: int
    invoices_paid: int  # invoices not cancelled


def stored_totals(settings: Any) -> Stored:
    from tolov.click.attempt import CONFIRMED_STATES, TxState
    from tolov.payme.transaction import PERFORMED
    from tolov.store.click_models import ClickTransaction
    from tolov.store.models import Apartment, Charge, Invoice, Posting, bind
    from tolov.store.payme_models import PaymeTransactionRecord

    bind(settings)
    payme = click = click_posted = unposted = 0
    # TransactionsTable holds other rows too (Click's prepare-id aliases and counter): they have no state.
    payme_rows = PaymeTransactionRecord.tx_key.startswith("payme#") & PaymeTransactionRecord.state.exists()
    for row in PaymeTransactionRecord.scan(payme_rows):
        payme += int(row.amount) if int(row.state) == PERFORMED else 0
    click_rows = ClickTransaction.tx_key.startswith("click#") & ClickTransaction.state.exists()
    for attempt in ClickTransaction.scan(click_rows):
        if attempt.state in CONFIRMED_STATES:
            click += int(attempt.amount)
            if attempt.state == TxState.CONFIRMED:
                click_posted += int(attempt.amount)
            else:
                unposted += 1
    postings = [p for p in Posting.scan() if p.reversed_at is None]
    return Stored(
        payme=payme,
        click=click,
        click_posted=click_posted,
        unposted=unposted,
        postings=len(postings),
        posted=sum(int(p.amount) for p in postings),
        charges_paid=sum(int(c.paid_amount) for c in Charge.scan()),
        credit=sum(int(a.credit) for a in Apartment.scan()),
        invoices_paid=sum(int(i.paid_amount) for i in Invoice.scan() if i.status != "cancelled"),
    )


def check_ledger_totals(before: Stored, after: Stored, paid: Counter[str]) -> tuple[list[str], list[str]]:
    """(lines to print, failures): no double posting. What the clients saw performed is compared with what
    the run added to the tables (a stack given by --url may hold earlier payments); the ledger's own
    equalities hold for the whole store."""
    payme, click = after.payme - before.payme, after.click - before.click
    lines = [
        f"Payme performed in this run: clients {paid['payme']}, stored {payme} tiyin",
        f"Click confirmed in this run: clients {paid['click']}, stored {click} tiyin ({after.unposted}"
        f" confirmed but refused by the ledger, reversal queued: {after.click - after.click_posted} tiyin)",
        f"whole store: live postings {after.postings}, {after.posted} tiyin;"
        f" charges paid {after.charges_paid} + apartment credit {after.credit}"
        f" = {after.charges_paid + after.credit};"
        f" invoices paid {after.invoices_paid}",
    ]
    failures = []
    if paid["payme"] != payme:
        failures.append(f"Payme: the clients saw {paid['payme']} performed, the store added {payme}")
    if paid["click"] != click:
        failures.append(f"Click: the clients saw {paid['click']} confirmed, the store added {click}")
    if after.payme + after.click_posted != after.posted:
        failures.append(
            f"postings {after.posted} != performed Payme {after.payme} + posted Click {after.click_posted}"
        )
    if after.charges_paid + after.credit != after.posted:
        failures.append(
            f"charges paid {after.charges_paid} + credit {after.credit} != postings {after.posted}"
        )
    if after.invoices_paid != after.charges_paid:
        failures.append(f"invoices paid {after.invoices_paid} != charges paid {after.charges_paid}")
    return lines, failures


def ledger_invariant_violations(settings: Any) -> list[str]:
    """What the ledger invariant checker (provider state, postings, charges, invoices, credit, reservations)
    finds in the stored rows after the traffic."""
    from tolov.reconciliation.invariants import check_ledger

    return [f"{v.kind} {v.key}: {v.detail}" for v in check_ledger(settings)]


# ---------------------------------------------------------------------------------------------- report
def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass
class Level:
    invoices: int
    seed_s: float
    seconds: float
    tally: Tally
    probe: tuple[float, float]  # moto GetItem ms, TransactWriteItems ms, before the traffic


def print_level(level: Level, out: Callable[[str], None]) -> None:
    tally = level.tally
    out(
        f"table size {level.invoices} invoices (topped up in {level.seed_s:.1f} s): {tally.requests} requests"
        f" in {level.seconds:.1f} s = {tally.requests / level.seconds:.1f} req/s,"
        f" {len(tally.failures)} failures"
    )
    out(
        f"  moto alone, before the traffic: GetItem {level.probe[0]:.1f} ms, TransactWriteItems on an invoice"
        f" and its charge {level.probe[1]:.1f} ms (medians of 7)"
    )
    out(f"  {'kind':<44} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8}  protocol answers (code x count)")
    for kind in sorted(tally.latencies):
        samples = tally.latencies[kind]
        codes = ", ".join(f"{c} x{n}" for c, n in sorted(tally.codes[kind].items(), key=lambda cn: -cn[1]))
        out(
            f"  {kind:<44} {len(samples):8d} {statistics.median(samples):8.1f}"
            f" {percentile(samples, 0.99):8.1f}  {codes}"
        )
    for failure in tally.failures[:10]:
        out(f"  FAILURE {failure}")
    if len(tally.failures) > 10:
        out(f"  ... and {len(tally.failures) - 10} more failures")


def warm_up(client: Client, names: Iterator[int]) -> None:
    """Each flow once, untimed: the stack's functions import and wire on their first request (cold
    starts are bench/cold_start.py's subject, not this one's)."""
    try:
        client.billing_flow(f"load-{next(names)}")
        invoice_id, amount = client.invoices_newest()
        client.payme_flow({"order_id": invoice_id}, amount, invoice_id)
        client.billing_flow(f"load-{next(names)}")
        invoice_id, amount = client.invoices_newest()
        client.click_flow(invoice_id, amount, invoice_id, next(names))
        client.payme_flow({"apartment_id": client.pool.apartments[0]}, TOPUP_TIYIN, None)
        client.click_flow(client.pool.apartments[0], TOPUP_TIYIN, None, next(names))
        client.statement_flow()
    except Failure as failure:
        client.tally.fail("warm-up", str(failure))


def run_level(
    api_url: str, config: dict[str, str], pool: Pool, args: argparse.Namespace, names: Iterator[int]
) -> tuple[Tally, float]:
    tally = Tally()
    deadline = time.monotonic() + args.seconds

    def stop() -> bool:
        return time.monotonic() >= deadline or tally.requests >= int(args.max_requests)

    clients = [Client(api_url, config, tally, pool, seed) for seed in range(args.clients)]
    threads = [threading.Thread(target=run_client, args=(c, stop, names)) for c in clients]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally, time.monotonic() - started


def loopback(url: str, option: str) -> str:
    host = urlsplit(url).hostname
    if host not in LOOPBACK:
        raise SystemExit(f"{option} {url}: load goes to 127.0.0.1 only")
    return url.rstrip("/")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (threads)")
    parser.add_argument("--seconds", type=float, default=30.0, help="traffic per table size, at most")
    parser.add_argument("--max-requests", type=int, default=20_000, help="requests per table size, at most")
    parser.add_argument("--sizes", default="0,500,1000", help="invoices in the table before each run")
    parser.add_argument("--url", help="a running stack's API on 127.0.0.1 (default: start one)")
    parser.add_argument("--moto-url", help="that stack's moto (needed with --url)")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="the stack's local.env")
    parser.add_argument("--save", action="store_true", help=f"also write the output to {OUTPUT.name}")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 64 or not 0 < args.seconds <= 600 or args.max_requests < 1:
        parser.error("--clients 1..64, --seconds up to 600, --max-requests at least 1")
    args.sizes = [int(size) for size in args.sizes.split(",")]
    if any(size < 0 or size > 50_000 for size in args.sizes):
        parser.error("--sizes: 0 to 50000 invoices each")
    if bool(args.url) != bool(args.moto_url):
        parser.error("--url and --moto-url go together")
    return args


@contextlib.contextmanager
def target(args: argparse.Namespace) -> Iterator[tuple[str, str, dict[str, str]]]:
    if args.url:
        yield loopback(args.url, "--url"), loopback(args.moto_url, "--moto-url"), load_config(args.config)
        return
    with running_stack(config=Path(args.config)) as stack:
        yield stack.api_url, stack.moto_url, stack.config


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    buffer = io.StringIO()

    def out(line: str = "") -> None:
        print(line, flush=True)
        buffer.write(line + "\n")

    started = time.monotonic()
    names = itertools.count(int(time.time()) % 10**6 * 10**4)  # Click ids and apartment names of this run
    levels: list[Level] = []
    with target(args) as (api_url, moto_url, config):
        settings = ledger_settings(moto_url, config)
        before = stored_totals(settings)
        pool = Pool()
        warmup = Tally()
        seeder = Client(api_url, config, warmup, pool, seed=-1)
        for n in range(args.clients):  # top-up targets for the smallest table, with no invoice
            seeder.billing("billing PUT apartment", "PUT", f"/apartments/load-topup-{n}",
                           {"label": "Top-up", "resident_id": "res-load"}, {200, 201})
            pool.apartments.append(f"load-topup-{n}")
        warm_up(seeder, names)
        for size in args.sizes:
            invoices, seed_s = seed_invoices(seeder, moto_url, size, settings)
            probe = moto_probe(moto_url, settings)
            tally, seconds = run_level(api_url, config, pool, args, names)
            levels.append(Level(invoices, seed_s, seconds, tally, probe))
        seeder.close()
        paid = Counter(warmup.paid)
        for level in levels:
            paid.update(level.tally.paid)
        ledger_lines, ledger_failures = check_ledger_totals(before, stored_totals(settings), paid)
        violations = ledger_invariant_violations(settings)

    out(
        f"Load: {args.clients} clients (threads, one keep-alive connection each) against {api_url},"
        f" {args.seconds:g} s or {args.max_requests} requests per table size;"
        f" {time.monotonic() - started:.0f} s in all; {os.cpu_count()} CPUs,"
        f" Python {platform.python_version()}"
    )
    out("flows: billing 3, payme 3, click 3, topup 1, statement 1 (weights); pool window"
        f" {POOL_WINDOW} invoices; expected protocol answers: Payme {sorted(EXPECTED_PAYME)},"
        f" Click {sorted(EXPECTED_CLICK)} and -7 \"{IN_PROGRESS_NOTE}\"; retry answers (allowed, counted):"
        f" Payme {RETRY_PAYME}, Click {CLICK_BUSY} with another note")
    out("warm-up (untimed, before the first size): each flow once; its failures count")
    for failure in warmup.failures:
        out(f"  FAILURE {failure}")
    out()
    for level in levels:
        print_level(level, out)
        out()
    out("no double posting:")
    for line in ledger_lines:
        out(f"  {line}")
    for failure in ledger_failures:
        out(f"  FAILURE {failure}")
    out(f"ledger invariant checker: {len(violations)} violations")
    for violation in violations[:20]:
        out(f"  FAILURE {violation}")
    failures = sum(len(level.tally.failures) for level in levels)
    failures += len(warmup.failures) + len(ledger_failures) + len(violations)
    out(f"failures: {failures}")
    out(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.save:
        save(buffer.getvalue(), argv)
    return 1 if failures else 0


def save(text: str, argv: list[str] | None) -> None:
    command = shlex.join([".venv/bin/python", "bench/load.py", *(sys.argv[1:] if argv is None else argv)])
    branch = subprocess.run(
        ["git", "branch", "--show-current"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = f"$ {command}   # {when}, branch {branch}, {os.cpu_count()} CPUs shared with other sessions\n"
    OUTPUT.write_text(header + text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
