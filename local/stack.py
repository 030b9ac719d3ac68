"""The local stack without Docker: ``python -m local.stack [--seed] [--port 3000] [--moto-port 5000]``.

moto runs in server mode inside this process and serves DynamoDB, SQS, Secrets Manager and EventBridge over
real HTTP; the tables, secrets and queues of template.yaml are created in it. The template's Api routes are
served on http://127.0.0.1:3000 by ``local.apigw`` with every handler imported once and invoked in-process,
so a breakpoint in a handler just works; its SQS event sources are polled in-process too (``local.sqs``).
A Payme Subscribe API simulator (``local.subscribe_sim``) answers at PAYME_SUBSCRIBE_URL of the config,
http://127.0.0.1:3001/api, and calls the served ``/payme`` as Payme calls a cashbox's Merchant API.
Port 0 picks a free port; the last startup line is machine-readable:

    READY api=http://127.0.0.1:3000 moto=http://127.0.0.1:5000 subscribe=http://127.0.0.1:3001/api
          click=http://127.0.0.1:3002/v2/merchant events=http://127.0.0.1:3000/_local/events  (one line)

A Click Merchant API simulator (``local.click_sim``, payment status and reversal) answers at
CLICK_MERCHANT_API_URL, http://127.0.0.1:3002/v2/merchant; the reversal worker and reconciliation use it.
The tables' DynamoDB streams feed their consumers in-process too (``local.streams``: the outbox of
EventPublisherFunction), and what the template's event buses receive is kept at GET /_local/events,
newest first (``local.events_tap``).
"""

import argparse
import contextlib
import io
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn, cast
from urllib.parse import quote, unquote, urlsplit

import boto3

from local.apigw import LocalApi, Request, Response
from local.click_sim import ClickSimulator, ClickSimulatorServer
from local.click_sim import serve as serve_click
from local.console import VERBOSE_ENV, function_output_to, say, verbose_from_env, warn
from local.event_sources import Poller
from local.events_tap import PATH as EVENTS_PATH
from local.events_tap import EventsTap, start_events_tap
from local.runtime import Functions, LocalFunction, load_function, stamp_invocations_on_logs
from local.sqs import SqsPoller, start_pollers
from local.streams import StreamPoller, start_stream_pollers
from local.subscribe_sim import (
    CALLBACKS_SETTING,
    SimulatorServer,
    SubscribeSimulator,
    callbacks_enabled,
    serve,
)
from local.template import (
    DEFAULT_CONFIG,
    DEFAULT_TEMPLATE,
    LOCAL_REGION,
    ROOT,
    ApiRoute,
    SamTemplate,
    load_config,
)

DEFAULT_SEED = ROOT / "local" / "seed.json"
DEFAULT_LOG = ROOT / ".local-run" / "stack.log"
DRAIN_TIMEOUT_S = 10.0  # how long a stop waits for the requests in flight
READY_PREFIX = "READY"
API_KEY_CONFIG = "BILLING_API_KEY"  # the value API Gateway's usage plan key has locally
LOG_LEVEL_CONFIG = "LOG_LEVEL"  # the LogLevel parameter; also taken from the environment
SUBSCRIBE_URL_CONFIG = "PAYME_SUBSCRIBE_URL"
PUBLIC_BASE_URL_CONFIG = "PUBLIC_BASE_URL"
CLICK_URL_CONFIG = "CLICK_MERCHANT_API_URL"
PAYME_MERCHANT_PATH = "/payme"  # where the simulator calls our Merchant API, as Payme does
POLLER_STOP_TIMEOUT_S = 10.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.stack",
        description="Serve the API routes of a SAM template in-process, with moto for AWS; no Docker.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="API port, 0 for a free one (default 3000)")
    parser.add_argument(
        "--moto-port", type=int, default=5000, help="moto port, 0 for a free one (default 5000)"
    )
    parser.add_argument(
        "--subscribe-port",
        type=int,
        default=None,
        help=f"Payme Subscribe simulator port, 0 for a free one (default: that of {SUBSCRIBE_URL_CONFIG})",
    )
    parser.add_argument(
        "--click-port",
        type=int,
        default=None,
        help=f"Click Merchant API simulator port, 0 for a free one (default: that of {CLICK_URL_CONFIG})",
    )
    parser.add_argument(
        "--template", type=Path, default=DEFAULT_TEMPLATE, help="SAM template (default template.yaml)"
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="where CodeUri and ContentUri resolve (default: the template's folder)",
    )
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help="KEY=VALUE file (default local/local.env)"
    )
    parser.add_argument(
        "--seed",
        nargs="?",
        type=Path,
        const=DEFAULT_SEED,
        default=None,
        help="create demo apartments and invoices through the API (default file local/seed.json)",
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        default=DEFAULT_LOG,
        help="function logs, metrics, warnings, tracebacks; new each run (default .local-run/stack.log)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        default=verbose_from_env(os.environ.get(VERBOSE_ENV)),
        help=f"show those on the console too (also {VERBOSE_ENV}=1)",
    )
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------- moto


def check_port_free(host: str, port: int) -> None:
    """ThreadedMotoServer.start() waits forever if its server fails to bind, so find out first."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise SystemExit(f"error: cannot use {host}:{port} for moto: {error.strerror}") from error


def start_moto(port: int) -> tuple[Any, str]:
    from moto.server import ThreadedMotoServer  # imported late: it takes a second and is only needed here

    from local.moto_atomic import make_dynamodb_atomic

    make_dynamodb_atomic()  # DynamoDB's transactions are atomic; moto's are not without this

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access line per AWS call
    check_port_free("127.0.0.1", port)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, actual_port = server.get_host_and_port()
    return server, f"http://{host}:{actual_port}"


def configure_aws(endpoint_url: str) -> None:
    """Point every boto3/PynamoDB client in this process at moto, with credentials that only moto takes."""
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_REGION": LOCAL_REGION,
            "AWS_ENDPOINT_URL": endpoint_url,
        }
    )


# ---------------------------------------------------------------------------------------------- functions


def add_layers_to_path(template: SamTemplate, root: Path, config: Mapping[str, str]) -> list[Path]:
    """Lambda puts layer content on sys.path; SAM builds ContentUri into python/, locally it is used as is."""
    added = []
    for layer in template.layer_dirs(config):
        path = (root / layer).resolve()
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
        added.append(path)
    return added


def merged_environment(template: SamTemplate, config: Mapping[str, str]) -> dict[str, str]:
    """One process hosts every function, so their environments are merged; a clash is worth knowing about."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for function in template.function_ids(config):
        for key, value in template.function_environment(function, config).items():
            if key in merged and merged[key] != value:
                warn(f"{key} is {merged[key]!r} for {owner[key]}, {value!r} for {function}; using the first")
                continue
            merged.setdefault(key, value)
            owner.setdefault(key, function)
    return merged


def load_functions(template: SamTemplate, root: Path, config: Mapping[str, str]) -> dict[str, LocalFunction]:
    functions = {}
    for function_id in template.function_ids(config):
        function = load_function(template.function_settings(function_id, config), root)
        if function.problem:
            warn(f"{function_id}: {function.problem.rstrip()} — its routes answer 502 until it loads")
        functions[function_id] = function
    return functions


# ---------------------------------------------------------------------------------------------- HTTP


class LocalHttpServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its open connections, so a stop lets the requests in flight finish."""

    daemon_threads = True  # drain() waits for what matters; nothing else may hold up the exit
    # socketserver's default backlog of 5 reset most of a burst of new connections (a load test, a client
    # pool opening at once); the kernel caps this at net.core.somaxconn.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], api: LocalApi) -> None:
        super().__init__(address, _ProxyRequestHandler)
        self.api = api
        self.events_tap: EventsTap | None = None  # GET /_local/events, once the tap is running
        self.stopping = False
        self.serving = False  # serve_forever has been started
        self._changed = threading.Condition()
        self._busy: dict[socket.socket, bool] = {}  # every open connection: is a request on it in flight?

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._changed:
            self._busy[request] = False
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        try:
            super().shutdown_request(request)
        finally:
            with self._changed:
                self._busy.pop(request, None)
                self._changed.notify_all()

    def request_started(self, connection: socket.socket) -> None:
        with self._changed:
            self._busy[connection] = True

    def request_finished(self, connection: socket.socket) -> bool:
        """Marks the connection idle; True if it is to be closed now, because the stack is stopping."""
        with self._changed:
            if connection in self._busy:
                self._busy[connection] = False
            return self.stopping

    def drain(self, timeout: float) -> int:
        """Stop accepting, let the requests in flight finish within timeout seconds, close every connection.

        Returns how many requests were still running at the deadline.
        """
        with self._changed:
            self.stopping = True
        self.shutdown()  # serve_forever has returned: nothing more is accepted
        self.socket.close()  # and a new connection is refused rather than left waiting in the backlog
        with self._changed:
            for connection, busy in self._busy.items():
                if not busy:
                    _stop_reading(connection)  # an idle keep-alive connection reads end of stream
            self._changed.wait_for(lambda: not self._busy, timeout)
            return sum(self._busy.values())


def _stop_reading(connection: socket.socket) -> None:
    """Wakes a handler waiting for the next request; a request already received can still be read."""
    with contextlib.suppress(OSError):  # the client has gone already
        connection.shutdown(socket.SHUT_RD)


class _ProxyRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tolov-local"
    # With Nagle's algorithm on, whatever followed a small write waited for the client's delayed ACK: about
    # 40 ms on every keep-alive request. _write also sends each response in one piece.
    disable_nagle_algorithm = True

    def parse_request(self) -> bool:
        # Called once a request line has arrived: from here until it is answered, the request is in flight.
        cast(LocalHttpServer, self.server).request_started(self.connection)
        return super().parse_request()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        finally:
            if cast(LocalHttpServer, self.server).request_finished(self.connection):
                self.close_connection = True

    def _serve(self) -> None:
        started = time.monotonic()
        try:
            body = self._read_body()
        except ValueError as error:
            self.close_connection = True  # the rest of the stream cannot be trusted
            self._write(Response(400, [("Content-Type", "text/plain")], str(error).encode()))
            return
        request = Request(
            method=self.command,
            target=_origin_form(self.path),
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            host=self.headers.get("Host") or _address(self.server.server_address),
        )
        server = cast(LocalHttpServer, self.server)
        if urlsplit(request.target).path == EVENTS_PATH and server.events_tap is not None:
            response = _events_reply(request, server.events_tap)
        else:
            response = server.api.handle(request)
        self._write(response)
        elapsed_ms = (time.monotonic() - started) * 1000
        answered_by = response.function or "-"
        say(f"{request.method} {request.target} → {response.status} {answered_by} {elapsed_ms:.0f} ms")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        if not length.isdigit():
            raise ValueError("bad Content-Length")
        return self.rfile.read(int(length))

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _write(self, response: Response) -> None:
        """Status line, headers and body as one bytes object, written once: one send per response."""
        phrase = self.responses[response.status][0] if response.status in self.responses else ""
        head = [
            f"{self.protocol_version} {response.status} {phrase}",
            f"Server: {self.version_string()}",
            f"Date: {self.date_time_string()}",
            *(f"{name}: {value}" for name, value in response.headers),
            f"Content-Length: {len(response.body)}",
        ]
        if cast(LocalHttpServer, self.server).stopping:
            self.close_connection = True
        if self.close_connection:
            head.append("Connection: close")
        body = b"" if self.command == "HEAD" else response.body
        self.wfile.write("\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # _serve prints one line per request with the function that answered


def _events_reply(request: Request, tap: EventsTap) -> Response:
    """GET /_local/events: what the buses received, newest first (the stack's route, not the template's)."""
    if request.method not in ("GET", "HEAD"):
        headers = [("Content-Type", "application/json"), ("Allow", "GET")]
        return Response(405, headers, b'{"message": "GET only"}')
    body = json.dumps({"events": tap.events()}, ensure_ascii=False).encode()
    return Response(200, [("Content-Type", "application/json")], body, function="local-events")


def _address(server_address: Any) -> str:
    host, port = server_address[:2]
    return f"{host!s}:{port}"


def _origin_form(target: str) -> str:
    """An absolute-form request target (a proxy's http://host/path) becomes /path."""
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return target


def bind_http(host: str, port: int) -> tuple[LocalHttpServer, str]:
    """The API's socket, bound before the functions load: port 0 is known then, and PUBLIC_BASE_URL can
    name it. serve_http() starts answering."""
    try:
        server = LocalHttpServer((host, port), cast(LocalApi, None))
    except OSError as error:
        raise SystemExit(f"error: cannot serve the API on {host}:{port}: {error.strerror}") from error
    return server, f"http://{_address(server.server_address)}"


def serve_http(server: LocalHttpServer, api: LocalApi) -> None:
    server.api = api
    server.serving = True
    threading.Thread(target=server.serve_forever, name="local-api", daemon=True).start()


def start_http(api: LocalApi, host: str, port: int) -> tuple[LocalHttpServer, str]:
    server, url = bind_http(host, port)
    serve_http(server, api)
    return server, url


def local_public_base_url(config: Mapping[str, str], api_url: str) -> dict[str, str]:
    """PUBLIC_BASE_URL as the stack serves it: a local one (http://127.0.0.1:3000) becomes the address the
    API got (another port in tests); one elsewhere (a tunnel, say) is left as it is."""
    url = urlsplit(config.get(PUBLIC_BASE_URL_CONFIG, ""))
    if url.scheme == "http" and url.hostname in ("127.0.0.1", "localhost"):
        return {**config, PUBLIC_BASE_URL_CONFIG: api_url}
    return dict(config)


def stop_http(server: LocalHttpServer) -> None:
    if not server.serving:  # startup failed before it answered: nothing to drain (shutdown() would wait)
        server.server_close()
        return
    unfinished = server.drain(DRAIN_TIMEOUT_S)
    if unfinished:
        warn(f"{unfinished} request(s) still running after {DRAIN_TIMEOUT_S:.0f} s; stopping without them")
    server.server_close()


# ---------------------------------------------------------------------------------------------- Payme


def start_subscribe_simulator(config: Mapping[str, str], port: int | None) -> SimulatorServer | None:
    """The simulator where the config's PAYME_SUBSCRIBE_URL points, when that is this machine.

    A PAYME_SUBSCRIBE_URL elsewhere (Payme's sandbox, say) is left to the functions as it is.
    """
    url = urlsplit(config.get(SUBSCRIBE_URL_CONFIG, ""))
    if url.scheme != "http" or url.hostname not in ("127.0.0.1", "localhost"):
        return None
    merchant_id, key = config.get("PAYME_MERCHANT_ID"), config.get("PAYME_KEY")
    if not merchant_id or not key:
        warn(f"PAYME_MERCHANT_ID or PAYME_KEY is not in the config: no Subscribe simulator at {url.geturl()}")
        return None
    callbacks = callbacks_enabled(os.environ, config)
    simulator = SubscribeSimulator(merchant_id, key, callbacks=callbacks)
    return serve(simulator, "127.0.0.1", (url.port or 80) if port is None else port)


def start_click_simulator(config: Mapping[str, str], port: int | None) -> ClickSimulatorServer | None:
    """The Click Merchant API simulator where the config's CLICK_MERCHANT_API_URL points, when that is this
    machine (status and reversal; the reversal worker and reconciliation call it)."""
    url = urlsplit(config.get(CLICK_URL_CONFIG, ""))
    if url.scheme != "http" or url.hostname not in ("127.0.0.1", "localhost"):
        return None
    service, user, secret = (
        config.get(k) for k in ("CLICK_SERVICE_ID", "CLICK_MERCHANT_USER_ID", "CLICK_SECRET_KEY")
    )
    if not service or not user or not secret:
        warn(
            "CLICK_SERVICE_ID, CLICK_MERCHANT_USER_ID or CLICK_SECRET_KEY is not in the config: "
            f"no Click simulator at {url.geturl()}"
        )
        return None
    return serve_click(
        ClickSimulator(service, user, secret), "127.0.0.1", (url.port or 80) if port is None else port
    )


def connect_simulator_to_merchant_api(simulator: SimulatorServer | None, api: LocalApi, api_url: str) -> None:
    if simulator is None:
        return
    if api.router.match("POST", PAYME_MERCHANT_PATH) is None:
        warn(f"no POST {PAYME_MERCHANT_PATH} in the template: the Subscribe simulator calls no Merchant API")
        simulator.simulator.callbacks = False
        return
    simulator.simulator.set_merchant_url(api_url + PAYME_MERCHANT_PATH)


# ---------------------------------------------------------------------------------------------- SQS


def stop_pollers(pollers: Sequence[Poller]) -> None:
    for poller in pollers:
        poller.stop(POLLER_STOP_TIMEOUT_S)


# ---------------------------------------------------------------------------------------------- seed


def seed(api: LocalApi, seed_file: Path, api_key: str | None) -> list[str]:
    """Send the demo data through the served routes, as the billing platform would; warn, never raise.

    Returns the ids of the created invoices.
    """
    try:
        data = json.loads(seed_file.read_text(encoding="utf-8"))
        apartments = [
            ("PUT", f"/apartments/{quote(item['apartment_id'], safe='')}", _without(item, "apartment_id"))
            for item in data.get("apartments", [])
        ]
        invoices = [("POST", "/invoices", item) for item in data.get("invoices", [])]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        warn(f"seed: cannot use {seed_file}: {error!r}")
        return []
    # A group cut short returns fewer responses than calls, hence strict=False.
    for (_, path, _), response in zip(
        apartments, _seed_group(api, "apartments", apartments, api_key), strict=False
    ):
        if response is not None:
            say(f"seed: apartment {unquote(path.rsplit('/', 1)[1])}")
    invoice_ids = []
    for (_, _, invoice), response in zip(
        invoices, _seed_group(api, "invoices", invoices, api_key), strict=False
    ):
        invoice_id = _invoice_id(response)
        if invoice_id:
            invoice_ids.append(invoice_id)
            say(f"seed: invoice {invoice_id} ({invoice.get('apartment_id')}, {invoice.get('period')})")
    return invoice_ids


def _without(item: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != key}


def _seed_group(
    api: LocalApi, what: str, calls: list[tuple[str, str, Any]], api_key: str | None
) -> list[Response | None]:
    """One call per item; a missing route or a 5xx (the function is absent or broken) skips the rest."""
    responses: list[Response | None] = []
    for index, (method, path, body) in enumerate(calls):
        if api.router.match(method, path) is None:
            warn(f"seed: no route for {method} {path} in the template; {len(calls) - index} {what} skipped")
            break
        response = _seed_call(api, method, path, body, api_key)
        if response.status >= 500:
            warn(f"seed: {method} {path} → {response.status}; {len(calls) - index} {what} skipped")
            break
        if response.status >= 300:
            warn(f"seed: {method} {path} → {response.status} {response.body[:300].decode(errors='replace')}")
        responses.append(response if response.status < 300 else None)
    return responses


def _seed_call(api: LocalApi, method: str, path: str, body: Any, api_key: str | None) -> Response:
    headers = [("Content-Type", "application/json"), ("User-Agent", "tolov-local-seed")]
    if api_key:
        headers.append(("x-api-key", api_key))
    return api.handle(Request(method, path, headers, json.dumps(body).encode()))


def _invoice_id(response: Response | None) -> str | None:
    if response is None:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    nested = body.get("invoice")
    nested_id = nested.get("invoice_id") if isinstance(nested, dict) else None
    invoice_id = body.get("invoice_id") or nested_id or body.get("id")
    return str(invoice_id) if invoice_id else None


# ---------------------------------------------------------------------------------------------- banner

SECRET_CONFIG = ("PAYME_KEY", "CLICK_SECRET_KEY", API_KEY_CONFIG, "LINK_SIGNING_KEY")  # in the config file


def mask_secret(key: str, value: str) -> str:
    """No secret in any line the stack prints, local ones included: the log scan holds the stack to it."""
    return f"{value[:3]}… ({len(value)} characters)" if key in SECRET_CONFIG and value else value



def print_banner(
    template: SamTemplate,
    routes: Sequence[ApiRoute],
    api_url: str,
    moto_url: str,
    provisioned: Mapping[str, list[str]],
    config: Mapping[str, str],
    config_path: Path,
    log_file: Path,
    verbose: bool,
    *,
    subscribe: SimulatorServer | None = None,
    click: ClickSimulatorServer | None = None,
    pollers: Sequence[SqsPoller] = (),
    streams: Sequence[StreamPoller] = (),
    events_url: str | None = None,
) -> None:
    say(f"tolov local stack — {template.path}")
    say(f"  API   {api_url}")
    for route in routes:
        key = "  [x-api-key]" if route.api_key_required else ""
        say(f"    {route.method:<7} {route.path:<40} {route.function}{key}")
    say(f"  moto  {moto_url}  (DynamoDB, SQS, Secrets Manager, KMS, EventBridge; region {LOCAL_REGION})")
    say(f"    tables:  {', '.join(provisioned['tables']) or '-'}")
    say(f"    secrets: {', '.join(provisioned['secrets']) or '-'}")
    say(f"    queues:  {', '.join(provisioned['queues']) or '-'}")
    say(f"    keys:    {', '.join(provisioned.get('keys', [])) or '-'}  (KMS, as alias/<name>)")
    say(f"    buses:   {', '.join(provisioned.get('buses', [])) or '-'}")
    say(f"    buckets: {', '.join(provisioned.get('buckets', [])) or '-'}  (S3)")
    for poller in pollers:
        source = poller.source
        partial = ", partial batch failures" if source.report_batch_item_failures else ""
        say(
            f"    SQS {source.queue} → {source.function} "
            f"(batch {source.batch_size}{partial}, {poller.concurrency} pollers)"
        )
    for stream in streams:
        feed = stream.source
        partial = ", partial batch failures" if feed.report_batch_item_failures else ""
        failure = f", on failure → {feed.on_failure_queue}" if feed.on_failure_queue else ""
        say(f"    stream {feed.table} → {feed.function} (batch {feed.batch_size}{partial}{failure})")
    if events_url is not None:
        say(f"  events  {events_url}  (what the buses received, newest first)")
    if subscribe is not None:
        simulator = subscribe.simulator
        say(f"  Payme Subscribe simulator  {subscribe.url}  (test cards: expire 0399, SMS code 666666)")
        if simulator.callbacks and simulator.merchant is not None:
            calls = f"on → {simulator.merchant.url} ({CALLBACKS_SETTING}=0 turns them off)"
        else:
            calls = "off"
        say(f"    merchant callbacks: {calls}")
        say(f"    controls: POST {subscribe.base_url}/_sim/balance | card | latency | callbacks")
    if click is not None:
        say(f"  Click Merchant API simulator  {click.url}  (payment/status, payment/reversal)")
        say(f'    controls: POST {click.base_url}/_sim/payment {{"payment_id", "status"}}')
    say(f"  local configuration from {config_path} (local-only values; secrets shown masked):")
    for key, value in config.items():
        say(f"    {key}={mask_secret(key, value)}")
    shown = "shown here too" if verbose else f"{VERBOSE_ENV}=1 shows them here too"
    say(f"  logs  {log_file}  (what the functions print; {shown})")
    say("  Ctrl-C stops the stack.")


# ---------------------------------------------------------------------------------------------- lifecycle


class StopSignal:
    """SIGINT and SIGTERM end the stack the same orderly way: no KeyboardInterrupt traceback, exit 0.

    The handler only records the signal: printing from a signal handler can collide with a print in
    progress on the same stream.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.received: str | None = None
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        self.received = signal.Signals(signum).name
        self.event.set()

    def wait(self) -> str:
        while not self.event.wait(0.5):  # a timed wait keeps the main thread responsive on every platform
            pass
        return self.received or "stop"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)  # handler output shows up at once, also when piped
    stop = StopSignal()
    with contextlib.ExitStack() as cleanup:  # stops whatever has started, also when startup fails
        cleanup.enter_context(function_output_to(args.log_file, args.verbose))  # restored last
        template = SamTemplate.load(args.template)
        root = (args.root or args.template.parent).resolve()
        config = load_config(args.config)
        if os.environ.get(LOG_LEVEL_CONFIG):  # the template's LogLevel for this run (the log scan: DEBUG)
            config = {**config, LOG_LEVEL_CONFIG: os.environ[LOG_LEVEL_CONFIG]}
        api_key = config.get(API_KEY_CONFIG)
        if api_key is None:
            warn(f"{API_KEY_CONFIG} is not in {args.config}: every route that needs an API key answers 403")

        moto, moto_url = start_moto(args.moto_port)
        cleanup.callback(moto.stop)
        configure_aws(moto_url)
        subscribe = start_subscribe_simulator(config, args.subscribe_port)
        if subscribe is not None:
            cleanup.callback(subscribe.stop)
            config = {**config, SUBSCRIBE_URL_CONFIG: subscribe.url}  # the port it got, for the functions
        click = start_click_simulator(config, args.click_port)
        if click is not None:
            cleanup.callback(click.stop)
            config = {**config, CLICK_URL_CONFIG: click.url}
        http, api_url = bind_http(args.host, args.port)
        cleanup.callback(stop_http, http)  # callbacks run last-in first-out: before moto stops
        config = local_public_base_url(config, api_url)
        provisioned = template.provision(config, endpoint_url=moto_url)

        # Handlers read their configuration at import time, as in Lambda: environment before import.
        add_layers_to_path(template, root, config)
        os.environ.update(merged_environment(template, config))
        functions = Functions(load_functions(template, root, config))
        stamp_invocations_on_logs()

        routes = template.api_routes(config)
        stages = {route.rest_api: template.stage_name(route.rest_api, config) for route in routes}
        api = LocalApi(routes, functions.invoke, api_key, stages)
        serve_http(http, api)
        connect_simulator_to_merchant_api(subscribe, api, api_url)
        invokers = {name: function.invoke for name, function in functions.by_id.items()}
        pollers = start_pollers(template.sqs_event_sources(config), boto3.client("sqs"), invokers)
        cleanup.callback(stop_pollers, pollers)  # first of all: a batch may still call the API or Payme
        session = boto3.Session()
        tap = start_events_tap(session, list(template.resources_of_type("AWS::Events::EventBus")))
        cleanup.callback(stop_pollers, [tap])
        http.events_tap = tap
        streams = start_stream_pollers(template.stream_event_sources(config), session, invokers)
        cleanup.callback(stop_pollers, streams)
        events_url = api_url + EVENTS_PATH

        print_banner(
            template,
            routes,
            api_url,
            moto_url,
            provisioned,
            config,
            args.config,
            args.log_file,
            args.verbose,
            subscribe=subscribe,
            click=click,
            pollers=pollers,
            streams=streams,
            events_url=events_url,
        )
        if args.seed:
            seed(api, args.seed, api_key)
        served = f"{READY_PREFIX} api={api_url} moto={moto_url}"
        if subscribe is not None:
            served += f" subscribe={subscribe.url}"
        if click is not None:
            served += f" click={click.url}"
        served += f" events={events_url}"
        say(served)
        say(f"\n{stop.wait()} received, stopping")
    say("stopped")
    return 0


def exit_now(code: int) -> NoReturn:
    """Ends the process once main() has stopped everything in order and the output is flushed.

    Interpreter teardown would then garbage-collect what moto and botocore loaded, burning a CPU for
    seconds after "stopped" (tens of them on a busy machine); nothing of it is needed.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
