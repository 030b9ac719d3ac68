"""The Click Merchant API simulator: its state (payments by id) and its HTTP server."""

import contextlib
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, cast

from local.sim_http import SimServer, serve_in_thread

DEFAULT_PORT = 3002
BASE_PATH = "/v2/merchant"
PAID = 2
REVERSED = -1
NOT_FOUND = -5  # error_code of a payment Click does not know (Click publishes no table; see click.md §6.2)
ALREADY_REVERSED = -9
MAX_BODY = 64 * 1024
_STATUS = re.compile(rf"^{BASE_PATH}/payment/status/(\d+)/(\d+)$")
_REVERSAL = re.compile(rf"^{BASE_PATH}/payment/reversal/(\d+)/(\d+)$")


class ClickSimulator:
    """Payments by id, each with a payment_status; thread-safe."""

    def __init__(self, service_id: str, merchant_user_id: str, secret_key: str) -> None:
        self.service_id = service_id
        self.merchant_user_id = merchant_user_id
        self._secret = secret_key
        self._lock = threading.Lock()
        self._statuses: dict[int, int | None] = {}  # None: unknown to Click
        self.reversals: list[int] = []

    def authentic(self, header: str | None) -> bool:
        parts = (header or "").split(":")
        if len(parts) != 3 or not parts[2].isdigit():
            return False
        user, digest, timestamp = parts
        expected = hashlib.sha1(f"{timestamp}{self._secret}".encode()).hexdigest()
        return hmac.compare_digest(user, self.merchant_user_id) and hmac.compare_digest(digest, expected)

    def set_status(self, payment_id: int, status: int | None) -> None:
        with self._lock:
            self._statuses[payment_id] = status

    def status(self, payment_id: int) -> int | None:
        with self._lock:
            return self._statuses.get(payment_id, PAID)

    def reverse(self, payment_id: int) -> tuple[int, str]:
        with self._lock:
            status = self._statuses.get(payment_id, PAID)
            if status is None:
                return NOT_FOUND, "Payment not found"
            if status == REVERSED:
                return ALREADY_REVERSED, "Payment already reversed"
            if status != PAID:
                return -8, "Only a successful payment can be reversed"
            self._statuses[payment_id] = REVERSED
            self.reversals.append(payment_id)
            return 0, "Success"


class ClickSimulatorServer(SimServer):

    def __init__(self, address: tuple[str, int], simulator: ClickSimulator) -> None:
        super().__init__(address, _Handler)
        self.simulator = simulator

    @property
    def url(self) -> str:
        """What CLICK_MERCHANT_API_URL names."""
        return self.base_url + BASE_PATH


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "click-merchant-sim"

    @property
    def sim(self) -> ClickSimulator:
        return cast(ClickSimulatorServer, self.server).simulator

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _checked(self, pattern: re.Pattern[str]) -> int | None:
        """The payment id of an authentic request for our service; the error reply already sent if not."""
        match = pattern.match(self.path)
        if match is None:
            self._reply(404, {"error_code": -404, "error_note": "Method not found"})
            return None
        if not self.sim.authentic(self.headers.get("Auth")):
            self._reply(401, {"error_code": -401, "error_note": "Not authorized"})
            return None
        if match.group(1) != self.sim.service_id:
            self._reply(403, {"error_code": -403, "error_note": "Forbidden: another service"})
            return None
        return int(match.group(2))

    def do_GET(self) -> None:
        payment_id = self._checked(_STATUS)
        if payment_id is None:
            return
        status = self.sim.status(payment_id)
        if status is None:
            self._reply(200, {"error_code": NOT_FOUND, "error_note": "Payment not found"})
            return
        note = "Reversed" if status == REVERSED else "Success"
        self._reply(
            200, {"error_code": 0, "error_note": note, "payment_id": payment_id, "payment_status": status}
        )

    def do_DELETE(self) -> None:
        payment_id = self._checked(_REVERSAL)
        if payment_id is None:
            return
        code, note = self.sim.reverse(payment_id)
        self._reply(200, {"error_code": code, "error_note": note, "payment_id": payment_id})

    def do_POST(self) -> None:
        if self.path != "/_sim/payment":
            self._reply(404, {"error_code": -404, "error_note": "Method not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(min(length, MAX_BODY)))
            payment_id = int(body["payment_id"])
            raw = body["status"]
            status = None if raw == "unknown" else int(raw)
        except (ValueError, KeyError, TypeError):
            self._reply(400, {"error": 'want {"payment_id": int, "status": int | "unknown"}'})
            return
        self.sim.set_status(payment_id, status)
        self._reply(200, {"payment_id": payment_id, "status": "unknown" if status is None else status})

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(
    simulator: ClickSimulator, host: str = "127.0.0.1", port: int = DEFAULT_PORT
) -> ClickSimulatorServer:
    """Serve in a daemon thread; port 0 picks a free one. Stop it with .stop()."""
    return serve_in_thread(
        lambda: ClickSimulatorServer((host, port), simulator),
        f"the Click simulator on {host}:{port}",
        "click-sim",
    )


@contextlib.contextmanager
def running(
    simulator: ClickSimulator, host: str = "127.0.0.1", port: int = 0
) -> Iterator[ClickSimulatorServer]:
    server = serve(simulator, host, port)
    try:
        yield server
    finally:
        server.stop()
