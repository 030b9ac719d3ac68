"""The local stack's HTTP server in-process with a stand-in function: backlog, Nagle, one send a response."""

import http.client
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from local.apigw import LocalApi
from local.stack import LocalHttpServer, start_http
from local.template import ApiRoute
from tests.support import together

SIMULTANEOUS = 160  # the issue asks for at least 128 simultaneous connections
BIG = 256 * 1024  # larger than any socket or buffer default, so a split write would show


def route(method: str, path: str) -> ApiRoute:
    return ApiRoute(
        method, path, "StandInFunction", False, "functions/x/app.py", "lambda_handler", "Ev", None
    )


def stand_in(_route: ApiRoute, event: dict[str, Any]) -> dict[str, Any]:
    size = int((event["queryStringParameters"] or {}).get("size", "4"))
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "x" * size}


@pytest.fixture
def server() -> Iterator[LocalHttpServer]:
    api = LocalApi([route("GET", "/ping"), route("POST", "/ping")], stand_in, None, {})
    http_server, _ = start_http(api, "127.0.0.1", 0)
    try:
        yield http_server
    finally:
        http_server.shutdown()
        http_server.server_close()


def port_of(server: LocalHttpServer) -> int:
    return int(server.server_address[1])


def get(connection: http.client.HTTPConnection, target: str) -> tuple[int, bytes]:
    connection.request("GET", target)
    response = connection.getresponse()
    return response.status, response.read()


def test_simultaneous_new_connections_are_all_answered(server: LocalHttpServer) -> None:
    # With socketserver's backlog of 5 most of these were reset or never answered.
    def one() -> str:
        connection = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=10)
        try:
            status, body = get(connection, "/ping")
            return f"{status} {body.decode()}"
        except OSError as error:
            return type(error).__name__
        finally:
            connection.close()

    outcomes = together([one] * SIMULTANEOUS)
    assert outcomes == ["200 xxxx"] * SIMULTANEOUS


def test_the_listen_backlog_holds_the_simultaneous_connections() -> None:
    assert LocalHttpServer.request_queue_size >= SIMULTANEOUS


def test_accepted_connections_have_nagle_off(
    server: LocalHttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    accepted: list[socket.socket] = []
    process_request = server.process_request

    def recording(request: Any, client_address: Any) -> None:
        accepted.append(request)
        process_request(request, client_address)

    monkeypatch.setattr(server, "process_request", recording)
    connection = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=10)
    try:
        assert get(connection, "/ping")[0] == 200  # the connection stays open: keep-alive
        [server_side] = accepted
        assert server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        connection.close()


def test_each_response_goes_out_in_one_send(server: LocalHttpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    sends: list[int] = []
    lock = threading.Lock()

    def counting(name: str) -> Any:
        original = getattr(socket.socket, name)

        def send(sock: socket.socket, data: Any, *args: Any) -> Any:
            if sock.getsockname()[1] == port_of(server):  # the server's end, not the client's
                with lock:
                    sends.append(len(data))
            return original(sock, data, *args)

        return send

    for name in ("send", "sendall"):
        monkeypatch.setattr(socket.socket, name, counting(name))
    connection = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=10)
    try:
        for target, size in [("/ping", 4), (f"/ping?size={BIG}", BIG), ("/nope", None), ("/ping?size=0", 0)]:
            sends.clear()
            status, body = get(connection, target)
            assert (status, len(body)) == ((200, size) if size is not None else (403, len(body)))
            assert len(sends) == 1, (target, sends)
            assert sends[0] > len(body)  # status line and headers went with the body
    finally:
        connection.close()
