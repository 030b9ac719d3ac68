"""Payme Merchant API benchmark: DynamoDB calls, warm latency against a moto server, our own CPU time.

    python bench/payme_merchant.py [--iterations 100] [--reset-every 20] [--cpu-repeats 300]

1. DynamoDB calls per method, counted with a botocore `before-call` event hook (registered as a builtin
   handler, so every session PynamoDB creates, one per thread, carries it).
2. Warm latency per method, in-process (Merchant.handle) against a moto server on 127.0.0.1, p50/p99.
   The tables are reset every --reset-every iterations: moto's TransactWriteItems slows as tables grow,
   which would measure moto rather than us.
3. Our own CPU time per method (thread CPU) with every AWS response replayed from the moto run by a
   `before-call` hook returning the recorded response, as botocore's Stubber does: botocore still builds
   and serialises each request, nothing is sent.
"""

import argparse
import base64
import copy
import json
import logging
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT)]

KEY = "local-payme-key"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"Paycom:{KEY}".encode()).decode()}


# ---------------------------------------------------------------------- botocore hooks
@dataclass
class Call:
    service: str
    operation: str
    status: int = 0
    response: dict[str, Any] = field(default_factory=dict)


class Wiretap:
    """before-call/after-call hooks: count and record calls, or answer them from a recording."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.replay: list[Call] | None = None

    def before_call(self, model: Any, **_: Any) -> Any:
        call = Call(model.service_model.service_name, model.name)
        if self.replay is None:
            self.calls.append(call)
            return None
        if self.replay and (self.replay[0].service, self.replay[0].operation) == (
            call.service,
            call.operation,
        ):
            recorded = self.replay.pop(0)
            return _Http(recorded.status), copy.deepcopy(recorded.response)
        if call.service == "dynamodb":
            raise AssertionError(f"replay: {call.operation} was not recorded here")
        return None  # a secret re-read the recording did not have (the refresh throttle): let it through

    def after_call(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if self.replay is None and self.calls and self.calls[-1].operation == model.name:
            self.calls[-1].status = http_response.status_code
            self.calls[-1].response = copy.deepcopy(parsed)

    def take(self) -> list[Call]:
        calls, self.calls = self.calls, []
        return calls


@dataclass
class _Http:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""


WIRETAP = Wiretap()


def install_hooks() -> None:
    # Before any boto3/botocore session exists: each new session registers the builtin handlers.
    from botocore.handlers import BUILTIN_HANDLERS

    BUILTIN_HANDLERS.append(("before-call", WIRETAP.before_call))
    BUILTIN_HANDLERS.append(("after-call", WIRETAP.after_call))


# ---------------------------------------------------------------------- the run
@dataclass
class Sample:
    seconds: float
    calls: list[Call]
    reply: dict[str, Any]
    body: str
    headers: dict[str, str]


@dataclass
class Bench:
    merchant: Any
    samples: dict[str, list[Sample]] = field(default_factory=lambda: defaultdict(list))
    request_id: int = 0

    def rpc(
        self,
        label: str,
        method: str,
        params: dict[str, Any],
        headers: dict[str, str] = AUTH,
        expect: int | None = None,
    ) -> dict[str, Any]:
        """One timed call; `expect` is the error code it must answer (None: a result)."""
        from tolov.payme.merchant_api import PaymeRequest

        self.request_id += 1
        body = json.dumps({"method": method, "params": params, "id": self.request_id})
        WIRETAP.take()
        start = time.perf_counter()
        reply: dict[str, Any] = self.merchant.handle(PaymeRequest(body, headers)).reply
        elapsed = time.perf_counter() - start
        self.samples[label].append(Sample(elapsed, WIRETAP.take(), reply, body, headers))
        if reply.get("error", {}).get("code") != expect:
            raise SystemExit(f"{label}: unexpected {reply}")
        return reply

    def iteration(self, i: int) -> None:
        from tolov.billing.invoices import Billing, NewItem

        billing = Billing()
        apartment = f"apt-{i}"
        billing.put_apartment(apartment, f"Flat {i}", "resident")
        items = [
            NewItem("water", "Sovuq suv", 2_500_000, 1, "10301001001000000", "1503826", 12),
            NewItem("gas", "Gaz", 750_000, 2, "10302001001000000", "1503827", 12),
        ]
        first = billing.create_invoice(apartment, "2026-11", items)
        second = billing.create_invoice(apartment, "2026-12", items[:1])
        now = int(time.time() * 1000)
        a, b, c, d = (f"{i:020x}{n:04x}" for n in range(4))
        order = {"order_id": first.invoice_id}
        amount = int(first.amount)
        flat = {"apartment_id": apartment}

        self.rpc(
            "CheckPerformTransaction  invoice",
            "CheckPerformTransaction",
            {"amount": amount, "account": order},
        )
        create = {"id": a, "time": now, "amount": amount, "account": order}
        self.rpc("CreateTransaction        invoice", "CreateTransaction", create)
        self.rpc("CreateTransaction        repeat", "CreateTransaction", create)
        self.rpc(
            "CreateTransaction        new id, -31008",
            "CreateTransaction",
            {"id": b, "time": now, "amount": amount, "account": order},
            expect=-31008,
        )
        self.rpc("CheckTransaction", "CheckTransaction", {"id": a})
        self.rpc("PerformTransaction       invoice", "PerformTransaction", {"id": a})
        self.rpc("PerformTransaction       repeat", "PerformTransaction", {"id": a})
        self.rpc(
            "SetFiscalData",
            "SetFiscalData",
            {"id": a, "type": "PERFORM", "fiscal_data": {"receipt_id": i, "status_code": 0}},
        )
        self.rpc(
            "CancelTransaction        invoice, after perform", "CancelTransaction", {"id": a, "reason": 5}
        )
        self.rpc("CancelTransaction        repeat", "CancelTransaction", {"id": a, "reason": 5})

        second_order = {"order_id": second.invoice_id}
        self.rpc(
            "CreateTransaction        invoice",
            "CreateTransaction",
            {"id": b, "time": now, "amount": int(second.amount), "account": second_order},
        )
        self.rpc(
            "CancelTransaction        invoice, before perform", "CancelTransaction", {"id": b, "reason": 3}
        )

        self.rpc(
            "CheckPerformTransaction  apartment",
            "CheckPerformTransaction",
            {"amount": 1_000_000, "account": flat},
        )
        self.rpc(
            "CreateTransaction        apartment",
            "CreateTransaction",
            {"id": c, "time": now, "amount": 1_000_000, "account": flat},
        )
        self.rpc("PerformTransaction       apartment", "PerformTransaction", {"id": c})
        self.rpc(
            "CancelTransaction        apartment, after perform", "CancelTransaction", {"id": c, "reason": 5}
        )
        self.rpc(
            "CreateTransaction        apartment",
            "CreateTransaction",
            {"id": d, "time": now, "amount": 1_000_000, "account": flat},
        )
        self.rpc(
            "CancelTransaction        apartment, before perform", "CancelTransaction", {"id": d, "reason": 3}
        )
        self.rpc("GetStatement             1 day", "GetStatement", {"from": now - 60_000, "to": now + 60_000})
        bad = {"Authorization": "Basic " + base64.b64encode(b"Paycom:wrong").decode()}
        self.rpc(
            "CheckTransaction         bad key (refused)",
            "CheckTransaction",
            {"id": a},
            headers=bad,
            expect=-32504,
        )
        self.rpc("ChangePassword           same key", "ChangePassword", {"password": KEY})


# The fewest DynamoDB calls the design allows (issue 9's table), next to what was measured; "-" where the
# issue sets none. A read is a GetItem, BatchGetItem or Query; the write one TransactWriteItems.
MINIMUM = {
    "CreateTransaction        invoice": "2",  # 1 read + TransactWrite
    "CreateTransaction        new id, -31008": "2",  # 2 reads
    "PerformTransaction       invoice": "2",  # 1 read + TransactWrite
    "PerformTransaction       apartment": "3",  # 1 read + Query + TransactWrite
    "CancelTransaction        invoice, after perform": "3",  # 2 reads (transaction, posting) + TW
}


def percentile(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def breakdown(calls: list[Call], service: str) -> str:
    counts = Counter(c.operation for c in calls if c.service == service)
    return ", ".join(f"{op}×{n}" for op, n in sorted(counts.items())) or "-"


def cpu_per_method(bench: Bench, repeats: int) -> dict[str, float]:
    """Replay each method's recorded AWS responses `repeats` times; median thread CPU per call, µs."""
    from tolov.payme.merchant_api import PaymeRequest

    cpu: dict[str, float] = {}
    for label, samples in bench.samples.items():
        sample = samples[-1]
        timings: list[float] = []
        for _ in range(repeats):
            WIRETAP.replay = list(sample.calls)
            start = time.thread_time()
            reply = bench.merchant.handle(PaymeRequest(sample.body, sample.headers)).reply
            timings.append(time.thread_time() - start)
            left = [c.operation for c in WIRETAP.replay if c.service == "dynamodb"]
            if left or reply.get("error") != sample.reply.get("error"):
                raise AssertionError(f"{label}: replay diverged ({left}, {reply})")
        WIRETAP.replay = None
        cpu[label] = statistics.median(timings) * 1e6
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--reset-every", type=int, default=20)
    parser.add_argument("--cpu-repeats", type=int, default=300)
    args = parser.parse_args()

    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "TOLOV_ENV": "dev",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    install_hooks()

    from moto.server import ThreadedMotoServer

    from local.moto_atomic import make_dynamodb_atomic

    make_dynamodb_atomic()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # PynamoDB models read their endpoint when imported: set it first.
    os.environ["AWS_ENDPOINT_URL"] = url
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = url

    import requests

    from local.template import load_config, provision
    from tolov.payme.dynamo import DynamoRepository
    from tolov.payme.keys import SecretKeyStore
    from tolov.payme.merchant_api import Merchant
    from tolov.settings import ApartmentLimits, PaymeSettings

    config = load_config()
    provision(config, endpoint_url=url)
    merchant = Merchant(
        DynamoRepository(),
        SecretKeyStore("PaymeKeySecret"),
        PaymeSettings(key_secret_arn="PaymeKeySecret"),
        ApartmentLimits(),
    )
    bench = Bench(merchant)

    bench.iteration(-1)  # warm-up: imports, connections, the secret cache
    bench.samples.clear()
    started = time.perf_counter()
    for i in range(args.iterations):
        if i and i % args.reset_every == 0:
            requests.post(f"{url}/moto-api/reset", timeout=10)
            provision(config, endpoint_url=url)
        bench.iteration(i)
    wall = time.perf_counter() - started
    cpu = cpu_per_method(bench, args.cpu_repeats)
    server.stop()

    print(
        f"Payme Merchant API: {args.iterations} iterations against moto server {url}, tables reset every "
        f"{args.reset_every} iterations (at most {args.reset_every * 4} transactions); {wall:.1f} s"
    )
    print()
    columns = f"{'method':52} {'DynamoDB':>8} {'minimum':>7} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs':>8}"
    header = f"{columns}  DynamoDB calls (Secrets Manager)"
    print(header)
    print("-" * len(header))
    for label, samples in bench.samples.items():
        latencies = [s.seconds * 1000 for s in samples]
        calls = samples[-1].calls
        counts = {sum(1 for c in s.calls if c.service == "dynamodb") for s in samples}
        count = "/".join(str(n) for n in sorted(counts))
        secrets = breakdown(calls, "secretsmanager")
        print(
            f"{label:52} {count:>8} {MINIMUM.get(label, '-'):>7} {percentile(latencies, 50):8.2f} "
            f"{percentile(latencies, 99):8.2f} "
            f"{cpu.get(label, float('nan')):8.0f}  {breakdown(calls, 'dynamodb')}"
            + (f" ({secrets})" if secrets != "-" else "")
        )
    print()
    print("DynamoDB: calls per request (a TransactWriteItems counts once; a/b when runs differed).")
    print("minimum: the fewest calls the design allows (issue 9), where it names one.")
    print(
        f"CPU: median thread CPU of Merchant.handle over {args.cpu_repeats} runs, every AWS response replayed"
        " by a botocore before-call hook."
    )


if __name__ == "__main__":
    main()
