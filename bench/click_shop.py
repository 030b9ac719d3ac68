"""Click SHOP-API benchmark, per action, through ClickShopFunction's handler in-process:

- DynamoDB calls, counted with a botocore `before-call.dynamodb` hook on the sessions PynamoDB creates;
- warm latency p50/p99 against a moto server on 127.0.0.1 (small tables: one invoice per iteration);
- our own CPU time with DynamoDB stubbed: each action's DynamoDB responses are recorded once from moto
  and replayed from the same hook, so botocore sends nothing and only our code (parsing, signature,
  decisions, PynamoDB and botocore serialisation, logging, metrics) runs.

Logs and metrics are written as in Lambda (INFO, EMF) to /dev/null while measuring.

    /tmp/probe/bin/python bench/click_shop.py [--iterations 200] [--cpu-iterations 500]
"""

import argparse
import copy
import cProfile
import itertools
import logging
import os
import platform
import pstats
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
# This file is named click.py: keep its folder off the path, or Flask (inside moto's server) imports it
# instead of the click package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT)]

from moto.server import ThreadedMotoServer  # noqa: E402

SECRET = "local-click-secret"
SERVICE_ID = "12345"
SIGN_TIME = "2026-05-01 12:00:00"
RESET_EVERY = 25  # runs between table resets: at most this many invoices and attempts per table
# The fewest DynamoDB calls the design allows (issue 9's table), next to what was measured; "-" where the
# issue sets none. Reads are GetItem, BatchGetItem or Query; a write one TransactWriteItems or PutItem.
MINIMUM = {
    "prepare, invoice, new attempt": "2-3",  # 1-2 reads + 1 write
    "complete, invoice: confirm + post": "2-3",  # 1-2 reads + TransactWrite
    "complete, apartment: confirm + allocate": "~4",  # ~2 reads + Query + TransactWrite
    "complete, apartment: part of one charge": "~4",
}


class DynamoHook:
    """One handler on the container's botocore session: count, record or replay DynamoDB calls."""

    def __init__(self) -> None:
        self.mode = "off"
        self.calls: list[str] = []
        self.recorded: list[tuple[str, int, dict[str, Any]]] = []
        self.replay: Iterator[tuple[str, int, dict[str, Any]]] = iter(())

    def before_call(self, event_name: str, **_: Any) -> Any:
        operation = event_name.rsplit(".", 1)[-1]
        if self.mode in ("count", "record"):
            self.calls.append(operation)
        if self.mode == "replay":
            from botocore.awsrequest import AWSResponse

            expected, status, parsed = next(self.replay)
            assert expected == operation, f"replay expected {expected}, code called {operation}"
            return AWSResponse("http://stub", status, {}, None), parsed
        return None

    def after_call(self, event_name: str, http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        if self.mode == "record":
            operation = event_name.rsplit(".", 1)[-1]
            self.recorded.append((operation, http_response.status_code, copy.deepcopy(parsed)))

    def install(self) -> None:
        """On the container's one session (tolov.aws), before its DynamoDB client is made: a client
        takes the session's handlers when it is created."""
        from tolov import aws

        aws.reset()
        aws.session().register("before-call.dynamodb", self.before_call)
        aws.session().register("after-call.dynamodb", self.after_call)


def sign(fields: dict[str, str]) -> dict[str, str]:
    import hashlib

    prepare_id = fields.get("merchant_prepare_id", "") if fields["action"] == "1" else ""
    text = (
        fields["click_trans_id"] + fields["service_id"] + SECRET + fields["merchant_trans_id"] + prepare_id
        + fields["amount"] + fields["action"] + fields["sign_time"]
    )
    return {**fields, "sign_string": hashlib.md5(text.encode()).hexdigest()}


def click_fields(action: str, ctid: str, account: str, amount: str, **extra: str) -> dict[str, str]:
    fields = {
        "click_trans_id": ctid,
        "service_id": SERVICE_ID,
        "click_paydoc_id": str(int(ctid) + 10**9),
        "merchant_trans_id": account,
        "amount": amount,
        "action": action,
        "error": "0",
        "error_note": "Success",
        "sign_time": SIGN_TIME,
        **extra,
    }
    return sign(fields)


def event(path: str, fields: dict[str, str]) -> dict[str, Any]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": {"resourcePath": path, "httpMethod": "POST", "stage": "dev"},
        "body": urlencode(fields),
        "isBase64Encoded": False,
    }


@dataclass
class Scenario:
    name: str
    expected_error: int
    setup: Callable[[], tuple[str, dict[str, str]]]  # untimed: builds the state, returns (path, fields)


@contextmanager
def stdout_to_devnull() -> Iterator[None]:
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(devnull)
        os.close(saved)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=200, help="timed runs per action against moto")
    parser.add_argument("--cpu-iterations", type=int, default=500, help="replayed runs per action")
    parser.add_argument("--profile", action="store_true", help="print where the replayed runs spend CPU")
    args = parser.parse_args()
    if not 10 <= args.iterations <= 5000 or not 10 <= args.cpu_iterations <= 20000:
        parser.error("iterations out of range")

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": "tolov",
            "POWERTOOLS_METRICS_NAMESPACE": "Tolov",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    hook = DynamoHook()
    hook.install()

    import boto3

    from local.moto_atomic import make_dynamodb_atomic
    from local.template import function_environment, load_config, provision

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    make_dynamodb_atomic()
    config = load_config()
    provision(config, endpoint_url=endpoint)
    dynamodb = boto3.client("dynamodb")

    def reset_tables() -> None:
        """Keep the tables small: moto copies every table a transaction touches, so its latency grows
        with table size, which a real DynamoDB does not."""
        for name in dynamodb.list_tables()["TableNames"]:
            dynamodb.delete_table(TableName=name)
        provision(config, endpoint_url=endpoint)
    env = function_environment("ClickShopFunction", config)
    queue = boto3.client("sqs").create_queue(QueueName="ClickReversalQueue")
    env["CLICK_REVERSAL_QUEUE_URL"] = queue["QueueUrl"]
    os.environ.update(env)

    from tests.support import FakeContext, load_handler

    app = load_handler("click_shop")
    context = FakeContext("bench")

    from tolov.billing.invoices import Billing, NewItem

    billing = Billing()
    ids = itertools.count(5_000_000_001)
    apartments = itertools.count(1)
    water = [NewItem("water", "Water", 1_500_000, 1, "10101001001000000", "123456", 12)]

    def call(path: str, fields: dict[str, str]) -> dict[str, Any]:
        import json

        reply: dict[str, Any] = json.loads(app.lambda_handler(event(path, fields), context)["body"])
        return reply

    def invoice() -> str:
        apartment = f"bench-apt-{next(apartments)}"
        billing.put_apartment(apartment, "Flat", "resident")
        return billing.create_invoice(apartment, "2026-05", water).invoice_id

    def prepared(account: str, amount: str = "15000.00") -> tuple[str, int]:
        ctid = str(next(ids))
        reply = call("/click/prepare", click_fields("0", ctid, account, amount))
        assert reply["error"] == 0, reply
        return ctid, reply["merchant_prepare_id"]

    def prepare_new() -> tuple[str, dict[str, str]]:
        return "/click/prepare", click_fields("0", str(next(ids)), invoice(), "15000.00")

    def prepare_repeat() -> tuple[str, dict[str, str]]:
        account = invoice()
        ctid, _ = prepared(account)
        return "/click/prepare", click_fields("0", ctid, account, "15000.00")

    def prepare_supersede() -> tuple[str, dict[str, str]]:
        account = invoice()
        prepared(account)
        return "/click/prepare", click_fields("0", str(next(ids)), account, "15000.00")

    def complete_invoice() -> tuple[str, dict[str, str]]:
        account = invoice()
        ctid, pid = prepared(account)
        return "/click/complete", click_fields("1", ctid, account, "15000.00", merchant_prepare_id=str(pid))

    def complete_repeat() -> tuple[str, dict[str, str]]:
        path, fields = complete_invoice()
        assert call(path, fields)["error"] == 0
        return path, fields

    def complete_cancel() -> tuple[str, dict[str, str]]:
        account = invoice()
        ctid, pid = prepared(account)
        extra = {"merchant_prepare_id": str(pid), "error": "-5017", "error_note": "Insufficient funds"}
        return "/click/complete", click_fields("1", ctid, account, "15000.00", **extra)

    def apartment_with_one_open_charge() -> str:
        account = f"bench-apt-{next(apartments)}"
        billing.put_apartment(account, "Flat", "resident")
        billing.create_invoice(account, "2026-05", water)
        return account

    def prepare_apartment() -> tuple[str, dict[str, str]]:
        return "/click/prepare", click_fields("0", str(next(ids)), apartment_with_one_open_charge(), "20000")

    def complete_apartment(amount: str = "20000") -> tuple[str, dict[str, str]]:
        account = apartment_with_one_open_charge()
        ctid, pid = prepared(account, amount)
        return "/click/complete", click_fields("1", ctid, account, amount, merchant_prepare_id=str(pid))

    def bad_signature() -> tuple[str, dict[str, str]]:
        fields = click_fields("0", str(next(ids)), "bench-apt-1", "15000.00")
        return "/click/prepare", {**fields, "sign_string": "0" * 32}

    scenarios = [
        Scenario("prepare, invoice, new attempt", 0, prepare_new),
        Scenario("prepare, invoice, repeated", 0, prepare_repeat),
        Scenario("prepare, invoice, supersedes a live attempt", 0, prepare_supersede),
        Scenario("prepare, apartment", 0, prepare_apartment),
        Scenario("prepare, bad signature", -1, bad_signature),
        Scenario("complete, invoice: confirm + post", 0, complete_invoice),
        Scenario("complete, apartment: confirm + allocate", 0, complete_apartment),
        Scenario("complete, apartment: part of one charge", 0, lambda: complete_apartment("5000")),
        Scenario("complete, repeat after confirm", -4, complete_repeat),
        Scenario("complete, cancel (error -5017)", -9, complete_cancel),
    ]

    results = []
    profiler = cProfile.Profile() if args.profile else _NoProfile()
    with stdout_to_devnull():
        for _ in range(20):  # warm up: imports, clients, the secret cache, moto's code paths
            for scenario in scenarios:
                call(*scenario.setup())
        for scenario in scenarios:
            reset_tables()
            # DynamoDB calls of one warm run.
            path, fields = scenario.setup()
            hook.calls, hook.mode = [], "count"
            reply = call(path, fields)
            hook.mode = "off"
            assert reply["error"] == scenario.expected_error, (scenario.name, reply)
            calls = list(hook.calls)

            # Warm latency against moto.
            latencies = []
            for i in range(args.iterations):
                if i % RESET_EVERY == 0:
                    reset_tables()
                path, fields = scenario.setup()
                started = time.perf_counter()
                reply = call(path, fields)
                latencies.append((time.perf_counter() - started) * 1000)
                assert reply["error"] == scenario.expected_error, (scenario.name, reply)

            # Our CPU time with DynamoDB replayed.
            path, fields = scenario.setup()
            hook.recorded, hook.calls, hook.mode = [], [], "record"
            call(path, fields)
            hook.mode = "off"
            recording = list(hook.recorded)
            cpu = []
            profiler.enable()
            for _ in range(args.cpu_iterations):
                hook.replay = iter(copy.deepcopy(recording))
                hook.mode = "replay"
                started = time.process_time()
                reply = call(path, fields)
                cpu.append((time.process_time() - started) * 1e6)
                hook.mode = "off"
                assert reply["error"] == scenario.expected_error, (scenario.name, reply)
                assert next(hook.replay, None) is None, "the replay was not consumed exactly"
            profiler.disable()
            results.append((scenario, calls, latencies, cpu))

    import moto

    print(
        f"Click SHOP-API benchmark: ClickShopFunction handler in-process, Python {platform.python_version()},"
        f" moto {moto.__version__} server on {endpoint}"
    )
    print(
        f"latency: {args.iterations} warm runs per action, one fresh invoice/apartment per run, tables reset"
        f" every {RESET_EVERY} runs; CPU: {args.cpu_iterations} runs per action with DynamoDB replayed"
    )
    print()
    header = (
        f"{'action':46} {'error':>5} {'DynamoDB':>8} {'minimum':>7} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'CPU p50 µs':>11} {'CPU p99 µs':>11}"
    )
    print(header)
    print("-" * len(header))
    for scenario, calls, latencies, cpu in results:
        print(
            f"{scenario.name:46} {scenario.expected_error:>5} {len(calls):>8}"
            f" {MINIMUM.get(scenario.name, '-'):>7}"
            f" {percentile(latencies, 50):>8.2f} {percentile(latencies, 99):>8.2f}"
            f" {percentile(cpu, 50):>11.0f} {percentile(cpu, 99):>11.0f}"
        )
    print()
    print("minimum: the fewest DynamoDB calls the design allows (issue 9), where it names one.")
    print("DynamoDB calls per action:")
    for scenario, calls, _, _ in results:
        counted = Counter(calls)
        breakdown = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in counted.items()) or "none"
        print(f"  {scenario.name:46} {breakdown}")
    if isinstance(profiler, cProfile.Profile):
        print()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    server.stop()


class _NoProfile:
    def enable(self) -> None:
        pass

    def disable(self) -> None:
        pass


if __name__ == "__main__":
    main()
