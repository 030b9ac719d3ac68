"""Local stack benchmark: keep-alive latency through `python -m local.stack` on 127.0.0.1.

    python bench/local_stack.py [--requests 300] [--warmup 20]

Starts the stack as `make run SEED=1` would (its own free ports), then sends each kind of call --requests
times, one after another, over one keep-alive connection, and prints p50/p99 of the time from the request to
the last byte of the reply. What the stack adds on top of the handler shows in the gap between these and the
in-process figures of bench/payme_merchant.py. Bounded: a fixed number of requests, 127.0.0.1 only.
"""

import argparse
import base64
import http.client
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.testing import StackProcess, running_stack  # noqa: E402  (after the path is set)

Call = tuple[str, str, dict[str, str], bytes | None]  # method, path, headers, body


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300, help="timed requests per kind of call")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per kind first")
    return parser.parse_args()


def calls(stack: StackProcess, connection: http.client.HTTPConnection) -> dict[str, Call]:
    invoice_id = re.findall(r"^seed: invoice (\w+) \((\S+),", stack.text(), re.MULTILINE)[0]
    payme_auth = base64.b64encode(f"Paycom:{stack.config['PAYME_KEY']}".encode()).decode()
    payme = {"Authorization": f"Basic {payme_auth}", "Content-Type": "application/json"}
    billing = {"x-api-key": stack.config["BILLING_API_KEY"]}
    transaction = os.urandom(12).hex()  # Payme's ids are 24 hex characters
    invoice = _request(connection, ("GET", f"/invoices/{invoice_id[0]}", billing, None))
    create = {
        "id": transaction,
        "time": int(time.time() * 1000),
        "amount": invoice["amount"],
        "account": {"order_id": invoice_id[0]},
    }
    created = _request(connection, ("POST", "/payme", payme, _rpc("CreateTransaction", create)))
    if "result" not in created:
        raise SystemExit(f"CreateTransaction failed: {created}")
    check = _rpc("CheckTransaction", {"id": transaction})
    return {
        "POST /payme CheckTransaction": ("POST", "/payme", payme, check),
        "GET /invoices/{invoice_id}": ("GET", f"/invoices/{invoice_id[0]}", billing, None),
        "GET /apartments/{apartment_id}/balance": (
            "GET",
            f"/apartments/{invoice_id[1]}/balance",
            billing,
            None,
        ),
    }


def _rpc(method: str, params: dict[str, Any]) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()


def _request(connection: http.client.HTTPConnection, call: Call) -> Any:
    method, path, headers, body = call
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    if response.status != 200 or response.will_close:
        raise SystemExit(
            f"{method} {path} → {response.status} (will_close={response.will_close}): {payload!r}"
        )
    return json.loads(payload)


def timed(send: Callable[[], Any], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        send()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    args = parse_args()
    started = time.monotonic()
    with running_stack(seed=True) as stack:
        url = urlsplit(stack.api_url)
        connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
        try:
            kinds = calls(stack, connection)
            rows = []
            for name, call in kinds.items():
                timed(lambda call=call: _request(connection, call), args.warmup)
                samples = timed(lambda call=call: _request(connection, call), args.requests)
                rows.append((name, statistics.median(samples), percentile(samples, 0.99), min(samples)))
        finally:
            connection.close()
    print(
        f"Local stack: {args.requests} requests per call over one keep-alive connection to {stack.api_url}"
        f" (after {args.warmup} warm-up requests), seeded; {time.monotonic() - started:.1f} s;"
        f" {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print()
    print(f"{'call':<42} {'p50 ms':>8} {'p99 ms':>8} {'min ms':>8}")
    print("-" * 69)
    for name, p50, p99, fastest in rows:
        print(f"{name:<42} {p50:8.2f} {p99:8.2f} {fastest:8.2f}")
    print()
    print(
        "Time from sending the request to the last byte of the reply, measured by the client (http.client)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
