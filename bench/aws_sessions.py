"""botocore sessions and clients of one Payme container, and GetStatement over 31 and 366 days.

    python bench/aws_sessions.py [--root DIR] [--repeats 5]

A moto server on 127.0.0.1 holds the tables and the Payme key. The Payme handler module is executed as a
new container executes it (its top level: the init phase) with PaymeMerchantFunction's template
environment; then Check -> Create -> Perform of one invoice, then GetStatement. Every
botocore.session.Session made and every client made (botocore's create_client, which boto3's clients go
through too) is counted from the moment the container starts, by wrapping both methods.

GetStatement is then timed (median of --repeats) over 31 and 366 days with one transaction a day: one Query
per UTC day. --root runs the same against another checkout (e.g. /work/main, for the figures before).
"""

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

DAY_MS = 86_400_000


def made_by_xray_sdk() -> bool:
    """The X-Ray SDK makes a session and an xray client of its own for its sampling poller (which Lambda
    does not run) when it is imported: counted apart, since tolov's code cannot route them."""
    return any("aws_xray_sdk" in frame.filename for frame in traceback.extract_stack())


class Counts:
    def __init__(self) -> None:
        self.sessions = 0
        self.xray_sessions = 0
        self.clients: Counter[str] = Counter()

    def install(self) -> None:
        import botocore.session

        init = botocore.session.Session.__init__
        create = botocore.session.Session.create_client
        counts = self

        def counted_init(self: Any, *args: Any, **kwargs: Any) -> None:
            if made_by_xray_sdk():
                counts.xray_sessions += 1
            else:
                counts.sessions += 1
            init(self, *args, **kwargs)

        def counted_create(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
            counts.clients[service_name] += 1
            return create(self, service_name, *args, **kwargs)

        botocore.session.Session.__init__ = counted_init  # type: ignore[method-assign]
        botocore.session.Session.create_client = counted_create  # type: ignore[method-assign]

    def line(self, label: str) -> str:
        clients = ", ".join(f"{name} {n}" for name, n in sorted(self.clients.items())) or "none"
        xray = f"   + X-Ray SDK's own: {self.xray_sessions} sessions" if self.xray_sessions else ""
        total = sum(self.clients.values())
        return f"{label:36} sessions {self.sessions:2}   clients {total:2} ({clients}){xray}"


class Context:
    function_name = "PaymeMerchantFunction"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:PaymeMerchantFunction"

    def get_remaining_time_in_millis(self) -> int:
        # Far more than the template's 10 s: this measures the statement, not the deadline (tolov.aws), which
        # on a loaded machine would answer a long statement -32400 before the time is measured.
        return 900_000


def event(root: Path, method: str, params: dict[str, Any], request_id: int) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads((root / "events" / "payme" / f"{method}.json").read_text())
    sample["body"] = json.dumps({"method": method, "params": params, "id": request_id})
    return sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    root: Path = args.root.resolve()
    sys.path[:0] = [str(root / "layers" / "common"), str(root)]
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
        }
    )
    from local.stack import start_moto

    server, url = start_moto(0)

    from local.template import function_environment, load_config, provision

    config = load_config()
    os.environ.update(function_environment("PaymeMerchantFunction", config))
    os.environ["AWS_ENDPOINT_URL"] = url
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = url
    os.environ["PAYME_IP_ALLOWLIST"] = "false"
    provision(config, endpoint_url=url)

    from tolov.billing.invoices import Billing, NewItem
    from tolov.settings import get_settings
    from tolov.store import models

    # The invoices and the statement's transactions, written before the container under test starts.
    billing = Billing()
    billing.put_apartment("apt-1", "Flat 1", "resident")
    items = [NewItem("water", "Sovuq suv", 2_500_000, 1, "10301001001000000", "1503826", 12)]
    invoice = billing.create_invoice("apt-1", "2026-09", items)
    get_settings.cache_clear()
    models.bind(get_settings())  # forget every connection made so far: the container starts with none
    try:
        from tolov import aws

        aws.reset()
    except ImportError:  # a checkout from before tolov.aws
        pass

    counts = Counts()
    counts.install()
    handler_file = root / "functions" / "payme_merchant" / "app.py"
    spec = importlib.util.spec_from_file_location("payme_app", handler_file)
    assert spec and spec.loader
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    print(f"Payme container ({root}), moto server {url}")
    print(counts.line("after init (module top level)"))

    request_id = 0

    def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
        nonlocal request_id
        request_id += 1
        response = app.lambda_handler(event(root, method, params, request_id), Context())
        reply: dict[str, Any] = json.loads(response["body"])
        if "error" in reply:
            raise SystemExit(f"{method}: {reply}")
        return reply

    now = int(time.time() * 1000)
    account = {"order_id": invoice.invoice_id}
    amount = int(invoice.amount)
    call("CheckPerformTransaction", {"amount": amount, "account": account})
    call("CreateTransaction", {"id": "b" * 24, "time": now, "amount": amount, "account": account})
    call("PerformTransaction", {"id": "b" * 24})
    print(counts.line("after Check -> Create -> Perform"))
    call("GetStatement", {"from": now - 30 * DAY_MS, "to": now + 1000})
    print(counts.line("after a GetStatement of 31 days"))

    # One transaction a day over the past year, written straight to the table (the statement only reads).
    from tolov.payme.dynamo import to_row
    from tolov.payme.transaction import PERFORMED, Transaction

    for day in range(366):
        at = now - (day + 1) * DAY_MS
        tx = Transaction(f"{day:024d}", at, 100_000, account, "invoice", invoice.invoice_id, at, str(day))
        tx = tx._replace(state=PERFORMED, perform_time=at)
        to_row(tx).save()
    print()
    print(f"GetStatement, one transaction a day, median of {args.repeats} (ms)")
    for days in (31, 366):
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            # `days` UTC days, today's included: the most Payme's statement_max_days (366) allows.
            reply = call("GetStatement", {"from": now - now % DAY_MS - (days - 1) * DAY_MS, "to": now - 1})
            found = reply["result"]["transactions"]
            seconds.append(time.perf_counter() - start)
        print(f"  {days:3} days: {statistics.median(seconds) * 1000:7.1f} ms   ({len(found)} transactions)")
    print(counts.line("after the timed statements"))
    server.stop()


if __name__ == "__main__":
    main()
