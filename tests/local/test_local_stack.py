"""``python -m local.stack`` as a subprocess, over real HTTP.

The event shape is checked with a test-only template and echo handler (tests/local/fixtures), so these tests
do not depend on the billing function; the real template is used for the gateway's own answers and for
seeding, the latter with a stand-in billing handler via --root.
"""

import base64
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from local.template import LOCAL_REGION, ROOT, SamTemplate
from local.testing import StackProcess, running_stack, start_stack
from tests.support import together

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parent / "fixtures"
ECHO_TEMPLATE = FIXTURES / "template.yaml"
ECHO_CONFIG = FIXTURES / "local.env"
ECHO_KEY = "echo-test-key"
SHUTDOWN_BOUND_S = 10.0


@pytest.fixture(scope="module")
def echo_stack() -> Iterator[StackProcess]:
    with running_stack(template=ECHO_TEMPLATE, config=ECHO_CONFIG) as stack:
        yield stack


@pytest.fixture(scope="module")
def real_stack() -> Iterator[StackProcess]:
    with running_stack() as stack:
        yield stack


def call(
    stack: StackProcess,
    method: str,
    target: str,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | None = None,
) -> tuple[int, list[tuple[str, str]], bytes]:
    """http.client rather than requests: repeated request headers and exact bytes matter here."""
    url = urlsplit(stack.api_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        connection.putrequest(method, target)
        for name, value in headers or []:
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body or b"")))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def wait_for(condition: Callable[[], bool], explain: Callable[[], str], timeout: float = 5) -> None:
    """Output arrives a moment after the response: the access line is printed once it has gone out."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, explain()
        time.sleep(0.05)


def echoed(stack: StackProcess, method: str, target: str, **kwargs: Any) -> dict[str, Any]:
    status, _, body = call(stack, method, target, **kwargs)
    assert status == 201, body
    result: dict[str, Any] = json.loads(body)
    return result


# ------------------------------------------------------------------------------------------- gateway answers


def test_unknown_route_is_missing_authentication_token(real_stack: StackProcess) -> None:
    for method, target in [("GET", "/nope"), ("DELETE", "/invoices"), ("GET", "/invoices")]:
        status, headers, body = call(real_stack, method, target)
        assert status == 403
        assert json.loads(body) == {"message": "Missing Authentication Token"}
        assert ("x-amzn-ErrorType", "MissingAuthenticationTokenException") in headers


def test_every_billing_route_without_the_key_is_forbidden(real_stack: StackProcess) -> None:
    # Provider webhooks (Payme: Basic auth checked by its function) are deliberately open to the gateway.
    for route in (r for r in SamTemplate.load().api_routes() if r.function == "BillingApiFunction"):
        assert route.api_key_required
        target = re.sub(r"\{[^}]+\}", "abc", route.path)
        for headers in ([], [("x-api-key", "wrong-key")]):
            status, _, body = call(real_stack, route.method, target, headers, b"{}")
            assert (status, json.loads(body)) == (403, {"message": "Forbidden"}), (route, headers)


def test_the_tables_and_secrets_are_in_moto(real_stack: StackProcess) -> None:
    session = boto3.Session("testing", "testing", region_name=LOCAL_REGION)
    tables = session.client("dynamodb", endpoint_url=real_stack.moto_url).list_tables()["TableNames"]
    assert sorted(tables) == sorted(spec["TableName"] for spec in SamTemplate.load().table_specs())
    secrets = session.client("secretsmanager", endpoint_url=real_stack.moto_url)
    value = secrets.get_secret_value(SecretId="PaymeKeySecret")["SecretString"]
    assert value == real_stack.config["PAYME_KEY"]


def test_a_config_without_a_local_subscribe_url_serves_no_simulator(echo_stack: StackProcess) -> None:
    assert echo_stack.subscribe_url == ""
    assert "subscribe=" not in echo_stack.text() and "Payme Subscribe simulator" not in echo_stack.text()


def test_the_banner_names_routes_moto_and_local_credentials(real_stack: StackProcess) -> None:
    output = real_stack.text()
    assert real_stack.api_url in output
    assert real_stack.moto_url in output
    assert "/invoices/{invoice_id}/cancel" in output
    # The local secrets are named, masked: no line the stack prints holds one (the log scan's rule).
    for name in ("BILLING_API_KEY", "PAYME_KEY", "CLICK_SECRET_KEY", "LINK_SIGNING_KEY"):
        value = real_stack.config[name]
        assert f"{name}={value[:3]}… ({len(value)} characters)" in output
        assert value not in output


# ---------------------------------------------------------------------------------------------- the event


def test_event_of_a_get_with_path_parameters(echo_stack: StackProcess) -> None:
    result = echoed(echo_stack, "GET", "/echo/a%20b", headers=[("X-Dup", "1"), ("X-Dup", "2")])
    event = result["event"]
    assert event["resource"] == "/echo/{item_id}"
    assert event["path"] == "/echo/a%20b"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"item_id": "a b"}
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["stageVariables"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    assert event["headers"]["X-Dup"] == "2"
    assert event["multiValueHeaders"]["X-Dup"] == ["1", "2"]
    context = event["requestContext"]
    assert context["resourcePath"] == "/echo/{item_id}"
    assert context["httpMethod"] == "GET"
    assert context["path"] == "/dev/echo/a%20b"
    assert context["stage"] == "dev"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert "apiKey" not in context["identity"]
    assert abs(context["requestTimeEpoch"] - time.time() * 1000) < 60_000
    assert context["requestId"] and context["accountId"] and context["apiId"]


def test_event_query_parameters(echo_stack: StackProcess) -> None:
    event = echoed(echo_stack, "GET", "/echo/x?a=1&a=2&empty=&u=%C3%BC")["event"]
    assert event["queryStringParameters"] == {"a": "2", "empty": "", "u": "ü"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "empty": [""], "u": ["ü"]}


def test_event_of_a_keyed_post(echo_stack: StackProcess) -> None:
    body = json.dumps({"amount": 1500000}).encode()
    headers = [("Content-Type", "application/json"), ("x-api-key", ECHO_KEY)]
    event = echoed(echo_stack, "POST", "/echo/42/keyed", headers=headers, body=body)["event"]
    assert event["body"] == body.decode()
    assert event["isBase64Encoded"] is False
    assert event["pathParameters"] == {"item_id": "42"}
    assert event["requestContext"]["identity"]["apiKey"] == ECHO_KEY


def test_a_keyed_route_rejects_a_missing_or_wrong_key(echo_stack: StackProcess) -> None:
    for headers in ([], [("x-api-key", "nope")]):
        status, _, body = call(echo_stack, "POST", "/echo/42/keyed", headers, b"{}")
        assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
    # "-": the handler was not invoked. The access line follows the reply out, hence the wait.
    wait_for(lambda: "POST /echo/42/keyed → 403 -" in echo_stack.text(), echo_stack.text)


def test_a_binary_request_body_arrives_base64(echo_stack: StackProcess) -> None:
    raw = bytes(range(256))
    headers = [("Content-Type", "application/octet-stream")]
    event = echoed(echo_stack, "PUT", "/files/a/b.bin", headers=headers, body=raw)["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw
    assert event["pathParameters"] == {"path": "a/b.bin"}
    assert event["httpMethod"] == "PUT"


def test_a_literal_route_wins_over_a_parameter(echo_stack: StackProcess) -> None:
    event = echoed(echo_stack, "GET", "/echo/literal")["event"]
    assert event["resource"] == "/echo/literal"
    assert event["pathParameters"] is None


def test_the_lambda_context(echo_stack: StackProcess) -> None:
    context = echoed(echo_stack, "GET", "/echo/1")["context"]
    assert context["function_name"] == "EchoFunction"
    assert context["memory_limit_in_mb"] == "256"
    assert context["invoked_function_arn"].endswith(":function:EchoFunction")
    assert context["aws_request_id"]
    assert 0 < context["remaining_ms"] <= 5000


# ---------------------------------------------------------------------------------------------- the response


def test_the_proxy_response_round_trip(echo_stack: StackProcess) -> None:
    status, headers, body = call(echo_stack, "GET", "/echo/1")
    assert status == 201
    assert ("X-Echo", "yes") in headers
    assert ("Content-Type", "application/json") in headers
    assert [v for k, v in headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert json.loads(body)["event"]["pathParameters"] == {"item_id": "1"}


def test_a_base64_response_is_decoded(echo_stack: StackProcess) -> None:
    status, headers, body = call(echo_stack, "GET", "/binary")
    assert status == 200
    assert ("Content-Type", "image/png") in headers
    assert body == bytes(range(256))


def test_a_handler_exception_is_a_502_with_the_traceback_in_the_log(echo_stack: StackProcess) -> None:
    status, _, body = call(echo_stack, "GET", "/boom")
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
    wait_for(lambda: "RuntimeError: boom: raised on purpose" in echo_stack.log_text(), echo_stack.log_text)
    assert "Traceback (most recent call last)" in echo_stack.log_text()
    wait_for(lambda: "GET /boom → 502 EchoFunction" in echo_stack.text(), echo_stack.text)
    assert "Traceback" not in echo_stack.text()  # the console has the access line, the log the rest


def test_a_malformed_response_is_a_502(echo_stack: StackProcess) -> None:
    status, _, body = call(echo_stack, "GET", "/malformed")
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})


def test_each_functions_log_lines_carry_its_own_name(echo_stack: StackProcess) -> None:
    # Two functions sharing one Powertools logger, invoked at the same time in the stack's threads.
    targets = ["/logs/one", "/logs/two"] * 20
    replies = together([lambda target=target: call(echo_stack, "GET", target)[:3:2] for target in targets])
    names = {"/logs/one": b"LogOneFunction", "/logs/two": b"LogTwoFunction"}
    assert replies == [(200, names[target]) for target in targets]

    def said() -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in echo_stack.log_text().splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("message") == "said"]

    wait_for(lambda: len(said()) == len(targets), echo_stack.log_text)
    for line in said():
        name = line["said_by"]
        assert (line["function_name"], line["function_request_id"]) == (name, line["said_in"]), line
        assert line["function_arn"].endswith(f":function:{name}")
    # A container's first invocation is cold, as in Lambda; requests that found every container of their
    # function busy started one of their own.
    cold = [line["said_by"] for line in said() if line["cold_start"]]
    assert set(cold) == {"LogOneFunction", "LogTwoFunction"} and len(cold) < len(targets)


# ----------------------------------------------------------------------------------------- AWS from handlers


def test_handlers_reach_moto_with_the_resolved_environment(echo_stack: StackProcess) -> None:
    status, _, body = call(echo_stack, "GET", "/aws")
    assert status == 200, body
    view = json.loads(body)
    assert view["tables"] == ["EchoTable"]
    assert view["secret"] == "echo-secret-value"  # Metadata.LocalValueFrom in the fixture's config
    assert view["env"] == {
        "PAYME_MERCHANT_ID": "merchant-from-config",
        "RETENTION_DAYS": "30",
        "AWS_ENDPOINT_URL": echo_stack.moto_url,
    }
    # Set before the handler module was imported, as Lambda does.
    assert view["env_at_import"] == {
        "ECHO_TABLE": "EchoTable",
        "ECHO_SECRET": "EchoSecret",
        "ECHO_GREETING": "salom-from-default",
        "ECHO_NAME": "tolov-local-EchoTable",
    }


# ---------------------------------------------------------------------------------------------- console

ACCESS_LINE = re.compile(r"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /\S* → \d{3} \S+ \d+ ms")


def access_lines(stack: StackProcess) -> list[str]:
    return [line for line in stack.text().splitlines() if ACCESS_LINE.fullmatch(line)]


def test_the_console_has_the_banner_and_one_access_line_per_request() -> None:
    # Seeding creates invoices (EMF metric blobs); the Payme call logs JSON; a balance has no metrics, on
    # which Powertools warns. All of that belongs in the log, as in Lambda's CloudWatch Logs.
    with running_stack(seed=True) as stack:
        payme = base64.b64encode(f"Paycom:{stack.config['PAYME_KEY']}".encode()).decode()
        rpc = json.dumps({"id": 1, "method": "CheckTransaction", "params": {"id": "a" * 24}}).encode()
        key = [("x-api-key", stack.config["BILLING_API_KEY"])]
        requests = [
            ("POST", "/payme", [("Authorization", f"Basic {payme}")], rpc),
            ("GET", "/apartments/apt-chilonzor-12-45/balance", key, None),
            ("GET", "/nope", [], None),
        ]
        for answered, (method, target, headers, body) in enumerate(requests, 1):
            assert call(stack, method, target, headers, body)[0] in (200, 403)
            # The access line follows the reply out: wait for it, or the next one may come first.
            wait_for(lambda answered=answered: len(access_lines(stack)) == answered, stack.text)
        banner, ready, *after = stack.text().split("READY ")
        assert not after
        # The stream poller prints a line per batch too (the seeded invoices' records): not access lines.
        access = [line for line in ready.splitlines()[1:] if not line.startswith("stream ")]
        assert len(access) == len(requests)
        assert all(ACCESS_LINE.fullmatch(line) for line in access), access
        assert [line.split()[:2] for line in access] == [[m, t] for m, t, _, _ in requests]
        assert not [line for line in stack.text().splitlines() if line.startswith("{")]  # JSON lines
        for noise in ("CloudWatchMetrics", "Warning", "function_name", "Traceback"):
            assert noise not in stack.text()
        assert f"logs  {stack.log_path}" in banner
        log = stack.log_text()
        assert '"CloudWatchMetrics"' in log and '"InvoicesCreated"' in log
        assert "UserWarning: No application metrics to publish" in log
        assert '"function_name":"PaymeMerchantFunction"' in log
        assert "POST /payme → 200 PaymeMerchantFunction" in log  # the access lines are there too, in order


def test_verbose_shows_the_function_output_on_the_console_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERBOSE", "1")  # what `make run VERBOSE=1` passes
    with running_stack(template=ECHO_TEMPLATE, config=ECHO_CONFIG) as stack:
        assert call(stack, "GET", "/boom")[0] == 502
        wait_for(lambda: "GET /boom → 502" in stack.text(), stack.text)
        assert "RuntimeError: boom: raised on purpose" in stack.text()
        assert "RuntimeError: boom: raised on purpose" in stack.log_text()
        assert "shown here too" in stack.text()


# ---------------------------------------------------------------------------------------------- seeding


def test_seed_sends_the_demo_data_through_the_routes() -> None:
    seed = json.loads((Path(__file__).parents[2] / "local" / "seed.json").read_text(encoding="utf-8"))
    stand_in = FIXTURES / "billing_root"  # answers the billing routes of the real template
    with running_stack(root=stand_in, seed=True) as stack:
        invoice_ids = re.findall(r"^seed: invoice (\w+) ", stack.text(), re.MULTILINE)
        assert len(invoice_ids) == len(seed["invoices"])
        for apartment in seed["apartments"]:
            assert f"seed: apartment {apartment['apartment_id']}" in stack.text()
        # The stand-in root has only the billing function; other functions' warnings are expected.
        assert "warning: seed" not in stack.text()
        key = [("x-api-key", stack.config["BILLING_API_KEY"])]
        status, _, body = call(stack, "GET", f"/invoices/{invoice_ids[0]}", key)
        assert status == 200
        assert json.loads(body)["items"] == seed["invoices"][0]["items"]


def test_seed_without_the_routes_warns_and_the_stack_still_runs() -> None:
    with running_stack(template=ECHO_TEMPLATE, config=ECHO_CONFIG, seed=True) as stack:
        assert "warning: seed: no route for PUT /apartments/" in stack.text()
        assert "warning: seed: no route for POST /invoices" in stack.text()
        assert call(stack, "GET", "/echo/1")[0] == 201


def test_seed_with_the_billing_function_missing_warns_and_the_stack_still_runs(tmp_path: Path) -> None:
    with running_stack(root=tmp_path, seed=True) as stack:  # an empty code root: no billing handler
        assert "BillingApiFunction: functions/billing_api/app.py does not exist" in stack.text()
        assert "warning: seed: PUT /apartments/" in stack.text()
        status, _, _ = call(stack, "GET", "/nope")
        assert status == 403


def test_seed_data_is_well_formed() -> None:
    seed = json.loads((Path(__file__).parents[2] / "local" / "seed.json").read_text(encoding="utf-8"))
    apartments = {a["apartment_id"] for a in seed["apartments"]}
    assert len(apartments) == 3
    assert all(set(a) == {"apartment_id", "label", "resident_id"} for a in seed["apartments"])
    assert 3 <= len(seed["invoices"]) <= 4
    assert len({invoice["period"] for invoice in seed["invoices"]}) == 2
    for invoice in seed["invoices"]:
        assert invoice["apartment_id"] in apartments
        assert re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", invoice["period"])
        for item in invoice["items"]:
            assert set(item) == {"service", "title", "amount", "count", "ikpu", "package_code", "vat_percent"}
            assert type(item["amount"]) is int and item["amount"] > 0  # tiyin, never a float
            assert type(item["count"]) is int and item["count"] > 0
            assert re.fullmatch(r"\d{17}", item["ikpu"])


# ---------------------------------------------------------------------------------------------- shutdown


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_stack_cleanly(sig: signal.Signals) -> None:
    stack = start_stack(template=ECHO_TEMPLATE, config=ECHO_CONFIG)
    try:
        assert call(stack, "GET", "/echo/1")[0] == 201
        started = time.monotonic()
        code = stack.stop(sig, timeout=SHUTDOWN_BOUND_S)
        assert code == 0, stack.text()
        assert time.monotonic() - started < SHUTDOWN_BOUND_S
        time.sleep(0.1)  # the reader thread collects the last lines
        assert f"{sig.name} received, stopping" in stack.text()
        assert "stopped" in stack.text()
        assert "Traceback" not in stack.text()
        assert "Traceback" not in stack.log_text()
        with pytest.raises(OSError):
            call(stack, "GET", "/echo/1")
    finally:
        if stack.process.poll() is None:
            stack.process.kill()


def refused(stack: StackProcess) -> bool:
    url = urlsplit(stack.api_url)
    try:
        socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=0.5).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        pass  # not answered in time: still in the backlog, which is not refusing
    return False


def test_a_stop_lets_the_request_in_flight_finish_and_refuses_new_connections() -> None:
    stack = start_stack(template=ECHO_TEMPLATE, config=ECHO_CONFIG)
    url = urlsplit(stack.api_url)
    idle = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        idle.request("GET", "/echo/1")
        assert idle.getresponse().read()  # and the connection stays open, idle: keep-alive
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(call, stack, "GET", "/slow?seconds=3")
            wait_for(lambda: "slow: started" in stack.log_text(), stack.log_text)
            stack.process.send_signal(signal.SIGTERM)
            wait_for(lambda: refused(stack), lambda: "new connections are still accepted", timeout=2.5)
            assert not slow.done()  # refused while the slow request was still in flight
            status, headers, body = slow.result(timeout=SHUTDOWN_BOUND_S)
        answered = time.monotonic()
        assert (status, json.loads(body)) == (200, {"slept": 3.0})
        assert ("Connection", "close") in headers
        assert stack.process.wait(SHUTDOWN_BOUND_S) == 0, stack.text()
        assert time.monotonic() - answered < 3.0  # the idle keep-alive connection did not hold it up
        wait_for(lambda: "stopped" in stack.text(), stack.text)
        assert "GET /slow?seconds=3 → 200 EchoFunction" in stack.text()
        assert "Traceback" not in stack.text() + stack.log_text()
    finally:
        idle.close()
        if stack.process.poll() is None:
            stack.process.kill()


def cpu_seconds(pid: int) -> tuple[str, float]:
    """The state and the user plus system CPU time of a process, also once it has exited (a zombie)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return fields[0], (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads CPU time from /proc")
def test_the_stack_exits_without_burning_cpu_after_stopped() -> None:
    # CPU time rather than wall time: a busy machine makes both longer, but only the first measures the cause.
    # The real template: its handlers load the most (pydantic, Powertools, botocore models), as `make run`.
    stack = start_stack()
    try:
        key = [("x-api-key", stack.config["BILLING_API_KEY"])]
        assert call(stack, "GET", "/apartments/nowhere/balance", key)[0] == 404  # moto at work
        stack.process.send_signal(signal.SIGTERM)
        wait_for(lambda: "stopped" in stack.text(), stack.text, timeout=SHUTDOWN_BOUND_S)
        _, at_stopped = cpu_seconds(stack.process.pid)
        deadline = time.monotonic() + SHUTDOWN_BOUND_S
        while (state := cpu_seconds(stack.process.pid))[0] != "Z":  # exited; not reaped until wait()
            assert time.monotonic() < deadline, "still running after stopped"
            time.sleep(0.01)
        assert state[1] - at_stopped < 0.2  # interpreter teardown took 0.5 to 1.5 s of CPU, more after load
        assert stack.process.wait(SHUTDOWN_BOUND_S) == 0
    finally:
        if stack.process.poll() is None:
            stack.process.kill()


PORT_FLAGS = ["--moto-port", "--port", "--subscribe-port"]


@pytest.mark.parametrize("flag", PORT_FLAGS)
def test_a_busy_port_is_an_error_not_a_hang(flag: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        others = [arg for other in PORT_FLAGS if other != flag for arg in (other, "0")]
        command = [sys.executable, "-m", "local.stack", flag, str(busy.getsockname()[1]), *others]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "Address already in use" in result.stderr
    assert "Traceback" not in result.stderr
