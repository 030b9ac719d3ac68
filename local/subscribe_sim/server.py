"""The simulator over HTTP: /api (JSON-RPC, CORS for the browser), /_sim/* (controls for tests and demos)."""

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, cast

from local.sim_http import SimServer, serve_in_thread
from local.subscribe_sim.cards import CardStatus
from local.subscribe_sim.errors import SimError
from local.subscribe_sim.simulator import MAX_BODY_BYTES, SubscribeSimulator

DEFAULT_PORT = 3001
API_PATH = "/api"
MAX_REQUESTS_AT_ONCE = 128

CORS_HEADERS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "POST, OPTIONS"),
    ("Access-Control-Allow-Headers", "X-Auth, Content-Type"),
    ("Access-Control-Max-Age", "600"),
]


class SimulatorServer(SimServer):
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], simulator: SubscribeSimulator) -> None:
        super().__init__(address, _SimulatorHandler)
        self.simulator = simulator
        self.slots = threading.BoundedSemaphore(MAX_REQUESTS_AT_ONCE)

    @property
    def url(self) -> str:
        """The Subscribe API's URL, what PAYME_SUBSCRIBE_URL names."""
        return self.base_url + API_PATH


class _SimulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "payme-subscribe-sim"
    disable_nagle_algorithm = True

    @property
    def _server(self) -> SimulatorServer:
        return cast(SimulatorServer, self.server)

    def do_OPTIONS(self) -> None:
        if self._path() != API_PATH:
            self._reply(404, {"error": "not found"})
            return
        self._reply(204, None, CORS_HEADERS)

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    do_PUT = do_DELETE = do_PATCH = do_GET

    def _serve(self) -> None:
        try:
            body = self._body()
        except ValueError as error:
            self.close_connection = True
            self._reply(413, {"error": str(error)}, self._cors())
            return
        path = self._path()
        if path == API_PATH:
            self._api(body)
        elif path.startswith("/_sim/") and self.command == "POST":
            self._control(path.removeprefix("/_sim/"), body)
        else:
            self._reply(404, {"error": "not found"})

    def _api(self, body: bytes) -> None:
        simulator = self._server.simulator
        if not self._server.slots.acquire(blocking=False):
            self._reply(503, {"error": "too many requests at once"}, CORS_HEADERS[:1])
            return
        try:
            if simulator.latency_ms:
                time.sleep(simulator.latency_ms / 1000)
            if self.command != "POST":
                reply = {"jsonrpc": "2.0", "id": None, "error": SimError("not_post").to_json()}
            else:
                reply = simulator.handle(body, self.headers.get("X-Auth"))
        finally:
            self._server.slots.release()
        self._reply(200, reply, CORS_HEADERS[:1])

    def _control(self, what: str, body: bytes) -> None:
        simulator = self._server.simulator
        try:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError("a JSON object, please")
            if what == "balance":
                number, balance = data.get("number"), data.get("balance")
                if not isinstance(number, str) or not number.isdigit():
                    raise ValueError("number: the card number's digits")
                if isinstance(balance, bool) or not isinstance(balance, int) or balance < 0:
                    raise ValueError("balance: a non-negative number of tiyin")
                answer: Any = simulator.set_balance(number, balance)
            elif what == "card":
                number, recurrent = data.get("number"), data.get("recurrent")
                if not isinstance(number, str) or not number.isdigit():
                    raise ValueError("number: the card number's digits")
                if recurrent is not None and not isinstance(recurrent, bool):
                    raise ValueError("recurrent: true or false")
                answer = simulator.set_card(number, CardStatus(str(data.get("status"))), recurrent)
            elif what == "latency":
                ms = data.get("ms")
                if isinstance(ms, bool) or not isinstance(ms, int) or not 0 <= ms <= 60_000:
                    raise ValueError("ms: 0 to 60000")
                simulator.latency_ms = ms
                answer = {"ms": ms}
            elif what == "callbacks":
                enabled = data.get("enabled")
                if not isinstance(enabled, bool):
                    raise ValueError("enabled: true or false")
                simulator.callbacks = enabled
                answer = {"enabled": enabled}
            else:
                self._reply(404, {"error": "not found"})
                return
        except ValueError as error:  # a bad CardStatus is a ValueError too
            self._reply(400, {"error": str(error)})
            return
        self._reply(200, answer)

    def _cors(self) -> list[tuple[str, str]]:
        """A browser reads no reply of /api without Access-Control-Allow-Origin, an error's neither."""
        return CORS_HEADERS[:1] if self._path() == API_PATH else []

    def _path(self) -> str:
        return self.path.partition("?")[0]

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit():
            raise ValueError("bad Content-Length")
        if int(length) > MAX_BODY_BYTES:
            raise ValueError("body too large")
        return self.rfile.read(int(length))

    def _reply(self, status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> None:
        data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        for name, value in headers or []:
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the stack prints its own lines; the simulator stays quiet


def serve(
    simulator: SubscribeSimulator, host: str = "127.0.0.1", port: int = DEFAULT_PORT
) -> SimulatorServer:
    """Serve in a daemon thread; port 0 picks a free one. Stop it with .stop()."""
    return serve_in_thread(
        lambda: SimulatorServer((host, port), simulator),
        f"the Subscribe simulator on {host}:{port}",
        "subscribe-sim",
    )


@contextlib.contextmanager
def running(
    simulator: SubscribeSimulator, host: str = "127.0.0.1", port: int = 0
) -> Iterator[SimulatorServer]:
    """serve() for the duration of a with block (tests)."""
    server = serve(simulator, host, port)
    try:
        yield server
    finally:
        server.stop()
