"""Autopay benchmark: N due autopays charged through a Subscribe API with injected latency, and what that
projects to for 100 000 in one schedule window on AWS.

    python bench/autopay.py [--autopays 1000] [--latency-ms 200] [--concurrency 10 50] [--window-h 3]

Set-up: moto server in a subprocess (DynamoDB made atomic as in the local stack; SQS, KMS, Secrets
Manager, EventBridge), with the template's resources. The Subscribe API is the local stack's Payme
Subscribe simulator (local/subscribe_sim) in a subprocess of its own on 127.0.0.1, with its merchant
callbacks off (no /payme is served here: the charger posts every receipt), and POST /_sim/latency
{"ms": --latency-ms} delaying every call of the charge phase. Cards are enrolled as a resident's pay page
does it (cards.create with expire 0399, cards.get_verify_code, cards.verify with 666666), then POST
/autopay's enrolment (cards.check), with no latency. The product code is what Lambda runs: the scheduler's
run() fills AutopayChargeQueue; the charger is functions/autopay_charger/app.py's lambda_handler, with the
real Subscribe client, called by --concurrency poller threads that do what Lambda's SQS event source does
(receive up to BatchSize=5, invoke, delete what did not fail); each thread stands for one concurrent Lambda
execution of the charger.

Measured: the run (Query per shard, SendMessageBatch of 10), the charge phase (wall time, charges/s,
per-charge latency), the calls per charge by service, the Subscribe calls in flight at once (the
concurrency Payme sees, counted in the client), peak RSS of this process during the charge phase, and that
every autopay was paid exactly once (one paid receipt at the simulator, receipts.get_all, and one posting
each).
"""

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT)]

RUN_DATE = date(2026, 10, 5)
BATCH_SIZE = 5  # the template's AutopayChargerFunction SQS BatchSize
CHARGER_TIMEOUT_MS = 90_000  # the template's AutopayChargerFunction Timeout: each batch's time left
CARD = "8600495473316478"  # the simulator's OK test card
AWS_LATENCY_MS = {"dynamodb": 8.0, "kms": 8.0, "sqs": 15.0, "events": 15.0, "secretsmanager": 20.0}

MOTO = """
import logging, sys, time
sys.path[:0] = [{layers!r}, {root!r}]
logging.getLogger("werkzeug").setLevel(logging.WARNING)
from local.moto_atomic import make_dynamodb_atomic
make_dynamodb_atomic()
import bench.autopay
bench.autopay.backup_touched_items_only()
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print("http://%s:%d" % server.get_host_and_port(), flush=True)
while True:
    time.sleep(3600)
"""


def backup_touched_items_only() -> None:
    """moto's TransactWriteItems deep-copies every table it touches, once per operation, to roll back a
    cancelled transaction: with thousands of items that copy is most of the bench's time, measuring moto
    rather than autopay. Here (in the bench's moto process only) the rollback restores just the items the
    transaction names, which are the only items it writes."""
    import copy

    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models import copy as moto_copy

    original = DynamoDBBackend.transact_write_items

    class _NoTableCopy:
        @staticmethod
        def deepcopy(value: Any) -> Any:
            return value  # moto's own "rollback" then assigns each table to itself

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        for entry in transact_items:
            op = next(iter(entry.values()))
            table = self.get_table(op["TableName"])
            if "Key" in op:
                key = op["Key"]
            else:
                names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
                key = {name: op["Item"][name] for name in names}
            current = self.get_item(op["TableName"], key)
            saved.append(
                (op["TableName"], key, copy.deepcopy(current.to_json()["Attributes"]) if current else None)
            )
        moto_copy_module = sys.modules["moto.dynamodb.models"]
        moto_copy_module.copy = _NoTableCopy  # type: ignore[attr-defined]
        try:
            original(self, transact_items)
        except Exception:
            for table_name, key, attributes in reversed(saved):
                if attributes is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attributes)
            raise
        finally:
            moto_copy_module.copy = moto_copy  # type: ignore[attr-defined]

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


# ---------------------------------------------------------------------- counting AWS calls
@dataclass
class Wiretap:
    """botocore before/after-call hooks (every session gets them): calls and their wall time by service,
    counted only in threads inside the code measured (`measured`), not the bench's own poller calls."""

    calls: Counter[str] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)
    started: threading.local = field(default_factory=threading.local)
    lock: threading.Lock = field(default_factory=threading.Lock)
    everywhere: bool = False  # count every thread's calls (the scheduler's shard threads)

    @contextlib.contextmanager
    def measured(self) -> Any:
        self.started.on = True
        try:
            yield
        finally:
            self.started.on = False

    def before(self, model: Any, **_: Any) -> None:
        self.started.at = time.perf_counter()

    def after(self, model: Any, **_: Any) -> None:
        if not (self.everywhere or getattr(self.started, "on", False)):
            return
        service = model.service_model.service_name
        with self.lock:
            self.calls[service] += 1
            self.seconds[service] += time.perf_counter() - getattr(self.started, "at", time.perf_counter())

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.seconds.clear()


WIRETAP = Wiretap()


def install_hooks() -> None:
    from botocore.handlers import BUILTIN_HANDLERS

    BUILTIN_HANDLERS.append(("before-call", WIRETAP.before))
    BUILTIN_HANDLERS.append(("after-call", WIRETAP.after))


# ---------------------------------------------------------------------- the Subscribe API
SIMULATOR = """
import sys, time
sys.path[:0] = [{layers!r}, {root!r}]
from local.subscribe_sim import SubscribeSimulator, serve
server = serve(SubscribeSimulator({merchant!r}, {key!r}, callbacks=False), port=0)
print(server.url, flush=True)
while True:
    time.sleep(3600)
"""


class InFlight:
    """Wraps the client's calls: how many Subscribe requests are in flight at once, and which methods."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()

    def install(self) -> None:
        from tolov.payme.subscribe_api import SubscribeClient

        call = SubscribeClient._call
        counter = self

        def counted(client: Any, method: str, *args: Any, **kwargs: Any) -> Any:
            with counter.lock:
                counter.now += 1
                counter.peak = max(counter.peak, counter.now)
                counter.calls[method] += 1
            try:
                return call(client, method, *args, **kwargs)
            finally:
                with counter.lock:
                    counter.now -= 1

        SubscribeClient._call = counted  # type: ignore[method-assign]

    def reset(self) -> None:
        with self.lock:
            self.peak = 0
            self.calls.clear()


class Simulator:
    """The simulator in its own process, and our client of it (the bench's view, never the charger's)."""

    def __init__(self) -> None:
        from local.template import load_config
        from tolov.payme.subscribe_api import SubscribeClient

        config = load_config()
        code = SIMULATOR.format(
            layers=str(ROOT / "layers" / "common"),
            root=str(ROOT),
            merchant=config["PAYME_MERCHANT_ID"],
            key=config["PAYME_KEY"],
        )
        self.process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        key = config["PAYME_KEY"]
        self.client = SubscribeClient(self.url, config["PAYME_MERCHANT_ID"], lambda: key)

    def control(self, what: str, body: dict[str, Any]) -> None:
        import requests

        reply = requests.post(self.url.removesuffix("/api") + f"/_sim/{what}", json=body, timeout=10)
        reply.raise_for_status()

    def saved_card(self) -> str:
        created = self.client.cards_create(CARD, "0399")
        self.client.cards_get_verify_code(created.token)
        return self.client.cards_verify(created.token, "666666").token

    def receipts(self, from_ms: int, to_ms: int) -> list[Any]:
        found: list[Any] = []
        while page := self.client.receipts_get_all(50, from_ms, to_ms, len(found)):
            found.extend(page)
        return found

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


# ---------------------------------------------------------------------- memory
class RssSampler:
    def __init__(self) -> None:
        self.peak_kib = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss_kib() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak_kib = max(self.peak_kib, self.rss_kib())

    def __enter__(self) -> "RssSampler":
        self.peak_kib = self.rss_kib()
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop.set()
        self.thread.join()


@contextlib.contextmanager
def silenced_stdout() -> Any:
    """Powertools' logger holds the stdout of its creation: silence the file descriptor itself."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


# ---------------------------------------------------------------------- set-up
def environment(moto_url: str, subscribe_url: str) -> None:
    from local.template import SamTemplate, load_config

    template, config = SamTemplate.load(), load_config()
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": moto_url,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    os.environ.update(template.function_environment("AutopayChargerFunction", config))
    os.environ["PAYME_SUBSCRIBE_URL"] = subscribe_url
    template.provision(config, endpoint_url=moto_url)


def seed(count: int, prefix: str, simulator: Simulator) -> list[str]:
    """count apartments with one invoice each and an autopay due on RUN_DATE (latency off meanwhile)."""
    from tolov.billing.invoices import Billing, NewItem
    from tolov.billing_api.autopay_enrolment import build_enrolment
    from tolov.clock import TASHKENT
    from tolov.settings import get_settings

    settings = get_settings()
    enrolled_at = int(datetime(2026, 10, 5, 9, tzinfo=TASHKENT).timestamp() * 1000)  # due RUN_DATE
    enrolment = build_enrolment(settings, clock=lambda: enrolled_at)
    billing = Billing()
    item = NewItem("water", "Sovuq suv", 250_000, 1, "10301001001000000", "1503826", 12)

    def one(n: int) -> str:
        apartment = f"{prefix}-{n:06d}"
        billing.put_apartment(apartment, f"Flat {n}", "r")
        billing.create_invoice(apartment, "2026-09", [item])
        token = simulator.saved_card()
        return enrolment.enrol(apartment, token, 5, 1_000_000)[0].autopay.autopay_id

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(count)))


# ---------------------------------------------------------------------- the charge phase
@dataclass
class Phase:
    seconds: float
    latencies: list[float]
    invocations: int
    failures: int


def charge_all(handler: Any, concurrency: int, expected: int) -> Phase:
    import boto3

    from tests.support import sqs_event

    sqs = boto3.client("sqs")
    url = os.environ["AUTOPAY_QUEUE_URL"]
    done = threading.Semaphore(0)
    settled = [0]
    lock = threading.Lock()
    latencies: list[float] = []
    counters = {"invocations": 0, "failures": 0}
    stop = threading.Event()

    class Context:
        function_name = "AutopayChargerFunction"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:AutopayChargerFunction"
        aws_request_id = "bench"

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return CHARGER_TIMEOUT_MS  # a fresh invocation: the charger starts every record

    def poller() -> None:
        client = boto3.client("sqs")
        while not stop.is_set():
            messages = client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=BATCH_SIZE,
                WaitTimeSeconds=1,
                VisibilityTimeout=360,
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                continue
            event = sqs_event(messages)
            started = time.perf_counter()
            with WIRETAP.measured():
                reply = handler.lambda_handler(event, Context())
            elapsed = time.perf_counter() - started
            failed = {f["itemIdentifier"] for f in reply["batchItemFailures"]}
            ok = [m for m in messages if m["MessageId"] not in failed]
            if ok:
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(ok)]
                client.delete_message_batch(QueueUrl=url, Entries=entries)
            with lock:
                counters["invocations"] += 1
                counters["failures"] += len(failed)
                latencies.extend([elapsed / len(messages)] * len(messages))
                settled[0] += len(ok)
                if settled[0] >= expected:
                    done.release()

    started = time.perf_counter()
    threads = [threading.Thread(target=poller, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    done.acquire(timeout=3600)
    seconds = time.perf_counter() - started
    stop.set()
    for thread in threads:
        thread.join()
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return Phase(seconds, latencies, counters["invocations"], counters["failures"])


# ---------------------------------------------------------------------- one measured round
def round_(
    args: argparse.Namespace, concurrency: int, simulator: Simulator, in_flight: InFlight, handler: Any
) -> dict[str, Any]:
    from tolov.autopay.scheduler_gateway import build_scheduler
    from tolov.billing.keys import PaymentKey
    from tolov.billing.ledger import Ledger
    from tolov.settings import get_settings

    prefix = f"c{concurrency}"
    simulator.control("latency", {"ms": 0})
    ids = seed(args.autopays, prefix, simulator)
    simulator.control("balance", {"number": CARD, "balance": 10**15})
    simulator.control("latency", {"ms": args.latency_ms})
    since = int(time.time() * 1000)
    WIRETAP.reset()
    scheduler = build_scheduler(get_settings())
    started = time.perf_counter()
    WIRETAP.everywhere = True  # nothing else runs now; the run's shard threads are its own
    queued = scheduler.run(RUN_DATE)
    WIRETAP.everywhere = False
    run_s = time.perf_counter() - started
    run_calls = dict(WIRETAP.calls)
    assert queued == args.autopays, (queued, args.autopays)
    WIRETAP.reset()
    in_flight.reset()
    baseline = RssSampler.rss_kib()
    with silenced_stdout(), RssSampler() as rss:  # the handler's EMF metrics and JSON logs
        phase = charge_all(handler, concurrency, args.autopays)
    subscribe = dict(in_flight.calls)
    peak_in_flight = in_flight.peak
    simulator.control("latency", {"ms": 0})
    receipts = simulator.receipts(since, int(time.time() * 1000) + 1000)
    paid = [r for r in receipts if r.paid]
    paid_for = Counter(a["value"] for r in paid for a in r.account if isinstance(a, dict))
    ledger = Ledger()
    posted = sum(1 for r in paid if ledger.posting(PaymentKey("payme", r.id)) is not None)
    return {
        "concurrency": concurrency,
        "autopays": len(ids),
        "queued": queued,
        "run_s": run_s,
        "run_calls": run_calls,
        "phase": phase,
        "paid": len(paid),
        "paid_apartments": len(paid_for),
        "paid_twice": sum(1 for n in paid_for.values() if n > 1),
        "receipts": len(receipts),
        "posted": posted,
        "calls": dict(WIRETAP.calls),
        "aws_seconds": dict(WIRETAP.seconds),
        "subscribe": subscribe,
        "peak_in_flight": peak_in_flight,
        "rss_mib": (baseline / 1024, rss.peak_kib / 1024),
    }


def container_mib() -> float:
    """RSS of a fresh process that has imported the charger handler and built its wiring: one container."""
    code = (
        "import sys; sys.path[:0] = [{!r}, {!r}]\n"
        "from tests.support import load_handler\n"
        "handler = load_handler('autopay_charger'); handler.charger.get()\n"
        "print(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1])"
    ).format(str(ROOT / "layers" / "common"), str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    return int(out.stdout.split()[-1]) / 1024


def report(args: argparse.Namespace, rounds: list[dict[str, Any]]) -> None:
    say = print
    say(
        f"Autopay: {args.autopays} due autopays per round, Subscribe latency {args.latency_ms} ms per call, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    say(
        f"Subscribe API: the local Payme Subscribe simulator in its own process, POST /_sim/latency "
        f'{{"ms": {args.latency_ms}}}, merchant callbacks off (the charger posts); the real client'
    )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    say(f"load average at the end: {load} (other work shares these CPUs)")
    say("")
    head = (
        f"{'chargers':>9} {'charge s':>9} {'charges/s':>10} {'p50 s':>7} {'p95 s':>7} "
        f"{'Payme in flight':>16} {'moto ms':>8} {'RSS MiB':>11} {'paid once':>10} {'retried':>8}"
    )
    say(head)
    say("-" * len(head))
    for r in rounds:
        phase: Phase = r["phase"]
        latencies = sorted(phase.latencies)
        p50, p95 = statistics.median(latencies), latencies[int(len(latencies) * 0.95) - 1]
        once = r["paid"] == r["paid_apartments"] == r["autopays"] == r["receipts"] == r["posted"]
        once = once and r["paid_twice"] == 0
        rss = f"{r['rss_mib'][0]:.0f}-{r['rss_mib'][1]:.0f}"
        moto_ms = 1000 * r["aws_seconds"].get("dynamodb", 0) / max(1, r["calls"].get("dynamodb", 0))
        say(
            f"{r['concurrency']:>9} {phase.seconds:>9.1f} {r['autopays'] / phase.seconds:>10.1f} "
            f"{p50:>7.2f} {p95:>7.2f} {r['peak_in_flight']:>16} {moto_ms:>8.1f} {rss:>11} {once!s:>10} "
            f"{phase.failures:>8}"
        )
    say(
        "chargers: poller threads, each one concurrent charger execution; Payme in flight: the most Subscribe"
    )
    say("calls at once; moto ms: a DynamoDB call's wall time here, waiting included (one at a time in moto);")
    say("p50/p95: one record's share of its invocation (a batch of 5 is charged one record after another);")
    say("paid once: every autopay has exactly one paid receipt and one posting; RSS: this whole process")
    say("(bench and every charger thread; the simulator and moto run apart), before the charge phase to")
    say("its peak.")
    say("Where moto's DynamoDB time per charge passes the Subscribe time, more chargers only queue on moto.")
    first = rounds[0]
    n = first["autopays"]
    per_charge = {k: v / n for k, v in first["calls"].items()}
    subscribe_per_charge = sum(first["subscribe"].values()) / n
    say("")
    subscribe_calls = ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(first["subscribe"].items()))
    say(f"per charge: Subscribe calls {subscribe_per_charge:.2f} ({subscribe_calls})")
    say(f"per charge: AWS calls {', '.join(f'{k} {v:.2f}' for k, v in sorted(per_charge.items()))}")
    moto_ms = {k: 1000 * first["aws_seconds"][k] / first["calls"][k] for k in first["calls"]}
    say(
        "AWS call time here (moto, one DynamoDB request at a time): "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in sorted(moto_ms.items()))
    )
    run_calls = ", ".join(f"{k} {v}" for k, v in sorted(first["run_calls"].items()))
    say(f"run: {first['queued']} queued in {first['run_s']:.2f} s ({run_calls})")
    say(f"one charger container (imported and wired, before any charge): {container_mib():.0f} MiB RSS")

    # ------------------------------------------------------------------ projection
    latency_s = args.latency_ms / 1000
    aws_s = sum(v * AWS_LATENCY_MS.get(k, 10) / 1000 for k, v in per_charge.items())
    charge_s = subscribe_per_charge * latency_s + aws_s
    total, window_s = 100_000, args.window_h * 3600
    shards = int(os.environ.get("AUTOPAY_SHARDS", "16"))
    batches = total // 10
    run_s = batches * AWS_LATENCY_MS["sqs"] / 1000 / min(8, shards)
    say("")
    say(
        f"Projection: {total} due in one run on AWS (Subscribe {args.latency_ms} ms a call; AWS calls at "
        + ", ".join(f"{k} {v:.0f} ms" for k, v in AWS_LATENCY_MS.items())
        + ")"
    )
    say(
        f"  one charge: {subscribe_per_charge:.2f} x {latency_s:.2f} s + {aws_s:.3f} s AWS"
        f" = {charge_s:.2f} s; a busy charger makes {subscribe_per_charge / charge_s:.1f} Subscribe calls/s"
    )
    say(
        f"  scheduler: {shards} shard Queries of ~{total // shards} keys, {batches} SendMessageBatch"
        f" on 8 threads: ~{run_s:.0f} s (Lambda allows 900 s); queue depth at the start: {total}"
    )
    say(
        "  queue: messages in flight = chargers x BatchSize 5, far below SQS's 120 000; retention 4 days;"
        " what the queue gives up on is still due and sent again by the next run"
    )
    say(
        "  callbacks: on AWS Payme calls our /payme (Check, Create, Perform) inside each receipts.pay, so"
        " the pay's latency holds those three; PaymeMerchantFunction sees 3 calls per charge, at the"
        " chargers' rate"
    )
    say(
        f"  {'Payme limit calls/s':>20} {'chargers':>9} {'charges/s':>10} {'100 000 take':>13} "
        f"{'in ' + str(args.window_h) + ' h':>8}"
    )
    for limit in (20, 50, 100, 200, 500):
        chargers = max(2, int(limit * charge_s / subscribe_per_charge))  # calls/s of them <= limit
        rate = chargers / charge_s
        hours = total / rate / 3600
        fits = "yes" if hours <= args.window_h else "no"
        say(f"  {limit:>20} {chargers:>9} {rate:>10.1f} {hours:>11.1f} h {fits:>8}")
    need = total * charge_s / window_s
    rate_needed = need * subscribe_per_charge / charge_s
    say(
        f"  finishing in {args.window_h} h needs {need:.0f} chargers making {rate_needed:.0f} Subscribe"
        " calls/s: AutopayChargerConcurrency, if Payme's limit allows that rate"
    )


def main() -> None:
    warnings.filterwarnings("ignore", "No application metrics to publish")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--autopays", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--window-h", type=float, default=3.0)
    args = parser.parse_args()
    install_hooks()
    moto = subprocess.Popen(
        [sys.executable, "-c", MOTO.format(layers=str(ROOT / "layers" / "common"), root=str(ROOT))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert moto.stdout is not None
        moto_url = moto.stdout.readline().strip()
        simulator = Simulator()
        try:
            environment(moto_url, simulator.url)
            in_flight = InFlight()
            in_flight.install()
            from tests.support import load_handler

            handler = load_handler("autopay_charger")
            rounds = [round_(args, c, simulator, in_flight, handler) for c in args.concurrency]
            report(args, rounds)
        finally:
            simulator.stop()
    finally:
        moto.kill()
        moto.wait()


if __name__ == "__main__":
    main()
