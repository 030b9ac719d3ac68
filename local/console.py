"""Where the local stack's output goes: its own lines to the terminal, the functions' output to a log file.

The terminal gets the banner and one access line per request. What the functions print (Powertools JSON
logs, EMF metric blobs, Python warnings, tracebacks) goes where Lambda would send it, CloudWatch Logs: here
the log file the banner names, and with ``VERBOSE=1`` the terminal as well. The stack's own lines go to the
log too, so it reads in order on its own.
"""

import contextlib
import io
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO, cast

VERBOSE_ENV = "VERBOSE"


def verbose_from_env(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class LineStream(io.TextIOBase):
    """A text stream that many threads share, written out to its targets one whole line at a time.

    print() writes a line and its newline separately; from two request threads at once, two lines could
    end up on one, which breaks the JSON lines of the log.
    """

    _lock = threading.Lock()  # one for every stream: several of them write to the same terminal and log

    def __init__(self, *targets: TextIO) -> None:
        super().__init__()
        self._targets = targets
        self._pending = threading.local()  # each thread's text after its last newline

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._targets[0].fileno()

    def write(self, text: str) -> int:
        lines, newline, rest = (getattr(self._pending, "text", "") + text).rpartition("\n")
        self._pending.text = rest
        if newline:
            self._emit(lines + newline)
        return len(text)

    def flush(self) -> None:
        rest, self._pending.text = getattr(self._pending, "text", ""), ""
        self._emit(rest)

    def _emit(self, text: str) -> None:
        with self._lock:
            for target in self._targets:
                if text:
                    target.write(text)
                target.flush()


class _Console:
    stream: TextIO | None = None  # None: print to sys.stdout (the stack's functions used in-process)


def say(message: str = "") -> None:
    stream = _Console.stream or sys.stdout
    stream.write(f"{message}\n")
    stream.flush()


def warn(message: str) -> None:
    say(f"warning: {message}")


@contextlib.contextmanager
def function_output_to(log_file: Path, verbose: bool) -> Iterator[None]:
    """sys.stdout and sys.stderr go to the log (and the terminal if verbose) while the block runs.

    Set before the handlers are imported: a Powertools Logger keeps the sys.stdout it was created with.
    The log stays open afterwards, as a daemon thread may still write to it until the process ends.
    """
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log = log_file.open("w", encoding="utf-8")  # one run's log: a fresh file each time
    except OSError as error:
        raise SystemExit(f"error: cannot write the log {log_file}: {error.strerror}") from error
    terminal_out, terminal_err = sys.stdout, sys.stderr
    sys.stdout = cast(TextIO, LineStream(log, terminal_out) if verbose else LineStream(log))
    sys.stderr = cast(TextIO, LineStream(log, terminal_err) if verbose else LineStream(log))
    _Console.stream = cast(TextIO, LineStream(terminal_out, log))
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr, _Console.stream):
            stream.flush()
        sys.stdout, sys.stderr = terminal_out, terminal_err
        _Console.stream = None
