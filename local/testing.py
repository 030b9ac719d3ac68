"""Run ``python -m local.stack`` in a subprocess for end-to-end tests.

    from local.testing import running_stack

    @pytest.fixture(scope="session")
    def stack() -> Iterator[StackProcess]:
        with running_stack(seed=True) as running:
            yield running

    def test_something(stack: StackProcess) -> None:
        requests.get(stack.url("/invoices/x"), headers={"x-api-key": stack.config["BILLING_API_KEY"]})

Ports are chosen by the stack itself (port 0), the Payme Subscribe simulator's too, so parallel test runs
never collide; the stack's READY line says which ones it got (``api_url``, ``moto_url``, ``subscribe_url``,
``click_url``).
Startup and shutdown are bounded by timeouts and the stack's output is kept for failure messages.
``text()`` is the console (banner and access lines); ``log_text()`` is the stack's log file, where the
functions' logs, metrics, warnings and tracebacks go (a temporary file per stack, removed when the process
that started it exits).
"""

import functools
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import boto3
from boto3.dynamodb.types import TypeDeserializer

from local.stack import READY_PREFIX
from local.template import DEFAULT_CONFIG, LOCAL_REGION, ROOT, load_config

STARTUP_TIMEOUT_S = 60.0
# A folder: the stacks' logs are kept there, each with its console output (<log>.console) and its audit
# trail's rows (<log>.audit, one JSON line per AuditTable item, as stored: masked), for local.log_scan.
KEEP_LOGS_ENV = "TOLOV_STACK_LOG_DIR"
AUDIT_TABLE = "AuditTable"
SHUTDOWN_TIMEOUT_S = 15.0


class StackFailed(RuntimeError):
    pass


@dataclass
class StackProcess:
    process: subprocess.Popen[str]
    api_url: str
    moto_url: str
    config: dict[str, str]
    log_path: Path
    output: list[str] = field(default_factory=list)  # appended by a reader thread while the stack runs
    subscribe_url: str = ""  # the Payme Subscribe simulator's /api; "" when the stack serves none
    click_url: str = ""  # the Click Merchant API simulator's /v2/merchant; "" when the stack serves none
    events_url: str = ""  # GET: what the template's event buses received, newest first

    def url(self, path: str) -> str:
        return self.api_url + path

    def simulator_url(self, path: str) -> str:
        """A URL of the Subscribe simulator, e.g. simulator_url("/_sim/balance")."""
        if not self.subscribe_url:
            raise StackFailed("this stack serves no Payme Subscribe simulator")
        return self.subscribe_url.removesuffix("/api") + path

    def text(self) -> str:
        return "".join(self.output)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = SHUTDOWN_TIMEOUT_S) -> int:
        """Signal the stack and wait for it; kill it if it does not exit in time. Returns the exit code."""
        if os.environ.get(KEEP_LOGS_ENV) and self.process.poll() is None:
            self.keep_audit_trail()  # moto stops with the stack
        try:
            if self.process.poll() is None:
                self.process.send_signal(sig)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout)
                    raise StackFailed(f"the stack ignored {sig.name} for {timeout}s\n{self.text()}") from None
            return self.process.returncode
        finally:
            if os.environ.get(KEEP_LOGS_ENV):  # the console beside the log, for the log scan
                self.log_path.with_suffix(".console").write_text(self.text(), encoding="utf-8")


    def keep_audit_trail(self) -> None:
        """AuditTable's rows beside the log, one JSON line each: what a provider sent and we replied, as
        kept. A stack of another template has no such table."""
        client = boto3.client(
            "dynamodb",
            endpoint_url=self.moto_url,
            region_name=LOCAL_REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        read = TypeDeserializer()
        try:
            pages = client.get_paginator("scan").paginate(TableName=AUDIT_TABLE)
            items = [item for page in pages for item in page["Items"]]
        except client.exceptions.ResourceNotFoundException:
            return
        rows = ({k: read.deserialize(v) for k, v in item.items()} for item in items)
        lines = (json.dumps(row, default=str, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)
        self.log_path.with_suffix(".audit").write_text("".join(lines), encoding="utf-8")


def start_stack(
    *,
    template: Path | None = None,
    root: Path | None = None,
    config: Path = DEFAULT_CONFIG,
    seed: bool | Path = False,
    extra_args: Sequence[str] = (),
    timeout: float = STARTUP_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
) -> StackProcess:
    """``env`` adds to the stack's environment, e.g. {"PAYME_SIM_MERCHANT_CALLBACKS": "0"}."""
    folder = os.environ.get(KEEP_LOGS_ENV) or _log_folder().name
    descriptor, log_name = tempfile.mkstemp(prefix="stack-", suffix=".log", dir=folder)
    os.close(descriptor)
    command = [
        sys.executable,
        "-m",
        "local.stack",
        "--port",
        "0",
        "--moto-port",
        "0",
        "--subscribe-port",
        "0",
        "--click-port",
        "0",
        "--config",
        str(config),
        "--log-file",
        log_name,
    ]
    if template is not None:
        command += ["--template", str(template)]
    if root is not None:
        command += ["--root", str(root)]
    if seed:
        command += ["--seed"] + ([] if seed is True else [str(seed)])
    command += list(extra_args)

    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**_child_environment(), **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    output: list[str] = []
    ready_lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_output, args=(process, output, ready_lines), daemon=True).start()
    try:
        ready = _wait_for_ready_line(process, output, ready_lines, timeout, Path(log_name))
        fields = dict(part.split("=", 1) for part in ready.split()[1:])
        stack = StackProcess(
            process,
            fields["api"],
            fields["moto"],
            load_config(config),
            Path(log_name),
            output,
            subscribe_url=fields.get("subscribe", ""),
            click_url=fields.get("click", ""),
            events_url=fields.get("events", ""),
        )
        _wait_for_http(stack.api_url, timeout)
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait(SHUTDOWN_TIMEOUT_S)
        raise
    return stack


@contextmanager
def running_stack(
    *,
    template: Path | None = None,
    root: Path | None = None,
    config: Path = DEFAULT_CONFIG,
    seed: bool | Path = False,
    extra_args: Sequence[str] = (),
    timeout: float = STARTUP_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
) -> Iterator[StackProcess]:
    """start_stack() for the duration of a with block; always stopped, also when the test fails."""
    stack = start_stack(
        template=template,
        root=root,
        config=config,
        seed=seed,
        extra_args=extra_args,
        timeout=timeout,
        env=env,
    )
    try:
        yield stack
    finally:
        stack.stop()


@functools.cache
def _log_folder() -> tempfile.TemporaryDirectory[str]:
    """One temporary folder for the logs of the stacks this process starts, removed when it exits."""
    return tempfile.TemporaryDirectory(prefix="tolov-stack-logs-")


def _child_environment() -> dict[str, str]:
    # The stack sets its own fake AWS credentials and endpoint; nothing of the developer's must leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def _read_output(process: subprocess.Popen[str], output: list[str], ready_lines: queue.Queue[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
        if line.startswith(READY_PREFIX + " "):
            ready_lines.put(line.strip())


def _wait_for_ready_line(
    process: subprocess.Popen[str],
    output: list[str],
    ready_lines: queue.Queue[str],
    timeout: float,
    log_path: Path,
) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return ready_lines.get(timeout=0.2)
        except queue.Empty:
            if process.poll() is not None:
                time.sleep(0.2)  # let the reader thread collect the last lines
                why = f"the stack exited with {process.returncode}"
                raise StackFailed(_failure(why, output, log_path)) from None
    raise StackFailed(_failure(f"the stack was not ready within {timeout}s", output, log_path))


def _failure(why: str, output: list[str], log_path: Path) -> str:
    log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    return f"{why}:\n{''.join(output)}\n--- the end of {log_path}:\n{log[-4000:]}"


def _wait_for_http(api_url: str, timeout: float) -> None:
    """The API accepts connections. A TCP connect, not a request: a request could reach a handler."""
    url = urlsplit(api_url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
