"""The log scan: run the e2e suite with tolov's loggers at DEBUG and look at every line it left for the
local secrets, card tokens and card numbers. ``python -m local.log_scan [pytest arguments]``

Every stack the suite starts runs with LOG_LEVEL=DEBUG (the template's LogLevel, so POWERTOOLS_LOG_LEVEL
of every function) and keeps its function log, its console output and its audit trail's rows (AuditTable,
one JSON line per provider request and our reply, as stored: masked) (local.testing, TOLOV_STACK_LOG_DIR);
pytest's own output (``-rA``: the captured output of passing tests too) is kept beside them. Then every
line of every file is searched for:

- the local Payme key, Click secret, billing API key and link signing key (local/local.env), and Payme's
  Basic credential made of the key (base64 of ``Paycom:<key>``);
- every card token the Payme Subscribe simulator issued in the run (TOLOV_SIM_TOKENS_FILE);
- full card numbers: the sandbox's test cards, and any 16-digit run of a card prefix passing Luhn's check.

Prints the lines and files scanned and each hit (file, line, what: never the value); exits 1 on a hit.
"""

import base64
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from local.subscribe_sim.cards import TEST_CARDS
from local.subscribe_sim.simulator import ISSUED_TOKENS_ENV
from local.template import DEFAULT_CONFIG, ROOT, load_config
from local.testing import KEEP_LOGS_ENV

SECRET_CONFIG = {
    "PAYME_KEY": "Payme key",
    "CLICK_SECRET_KEY": "Click secret",
    "BILLING_API_KEY": "API key",
    "LINK_SIGNING_KEY": "link signing key",
}
CARD_LIKE = re.compile(r"(?<!\d)(?:8600|9860|5614|3333|4\d{3}|5\d{3})\d{12}(?!\d)")
TOKENS_FILE = "issued-tokens.txt"
PYTEST_OUTPUT = "pytest.out"


@dataclass(frozen=True)
class Hit:
    path: str
    line: int
    what: str


@dataclass
class ScanResult:
    files: int = 0
    lines: int = 0
    debug_lines: int = 0  # tolov's DEBUG lines among them: proof the loggers ran at DEBUG
    hits: list[Hit] = field(default_factory=list)


def luhn(number: str) -> bool:
    total = 0
    for index, digit in enumerate(int(d) for d in reversed(number)):
        total += digit if index % 2 == 0 else (digit * 2 - 9 if digit > 4 else digit * 2)
    return total % 10 == 0


def needles(config: Mapping[str, str], tokens: Iterable[str] = ()) -> dict[str, str]:
    """value -> what it is, for every secret the scan looks for."""
    found: dict[str, str] = {}
    for key, what in SECRET_CONFIG.items():
        value = config.get(key)
        if value:
            found[value] = what
    payme_key = config.get("PAYME_KEY")
    if payme_key:
        found[base64.b64encode(f"Paycom:{payme_key}".encode()).decode()] = "Payme Basic credential"
    for number in TEST_CARDS:
        found[number] = "card number"
    for token in tokens:
        if token.strip():
            found[token.strip()] = "card token"
    return found


def scan_lines(name: str, lines: Iterable[str], secrets: Mapping[str, str], result: ScanResult) -> None:
    result.files += 1
    for number, line in enumerate(lines, start=1):
        result.lines += 1
        if '"level":"DEBUG"' in line:
            result.debug_lines += 1
        for value, what in secrets.items():
            if value in line:
                result.hits.append(Hit(name, number, what))
        for match in CARD_LIKE.finditer(line):
            if match.group() not in secrets and luhn(match.group()):
                result.hits.append(Hit(name, number, "card-like number"))


def scan_paths(paths: Iterable[Path], secrets: Mapping[str, str]) -> ScanResult:
    result = ScanResult()
    for path in sorted(paths):
        with path.open(encoding="utf-8", errors="replace") as text:
            scan_lines(str(path), text, secrets, result)
    return result


def run_e2e(folder: Path, pytest_args: Sequence[str] = ()) -> int:
    """The e2e suite at DEBUG, everything kept in folder; pytest's exit code."""
    env = {
        **os.environ,
        "LOG_LEVEL": "DEBUG",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        KEEP_LOGS_ENV: str(folder),
        ISSUED_TOKENS_ENV: str(folder / TOKENS_FILE),
    }
    command = [sys.executable, "-m", "pytest", "-m", "e2e", "-rA", "-p", "no:cacheprovider"]
    command += list(pytest_args) or ["tests/e2e"]
    with (folder / PYTEST_OUTPUT).open("w", encoding="utf-8") as output:
        return subprocess.run(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT).returncode


def scan_run(folder: Path, config: Mapping[str, str]) -> ScanResult:
    tokens_file = folder / TOKENS_FILE
    tokens = tokens_file.read_text(encoding="utf-8").splitlines() if tokens_file.exists() else []
    logs = [p for p in folder.iterdir() if p.name != TOKENS_FILE and p.is_file()]
    return scan_paths(logs, needles(config, tokens))


def report(result: ScanResult, tokens: int) -> str:
    lines = [
        f"log scan: {result.lines} lines ({result.debug_lines} at DEBUG) in {result.files} files, "
        f"{len(result.hits)} hits "
        f"(looked for the Payme key and its Basic credential, the Click secret, the API key, the link key, "
        f"{tokens} issued card tokens, {len(TEST_CARDS)} test card numbers, card-like numbers)"
    ]
    lines += [f"  HIT {hit.path}:{hit.line}: {hit.what}" for hit in result.hits]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    config = load_config(DEFAULT_CONFIG)
    with tempfile.TemporaryDirectory(prefix="tolov-log-scan-") as name:
        folder = Path(name)
        code = run_e2e(folder, args)
        summary = (folder / PYTEST_OUTPUT).read_text(encoding="utf-8", errors="replace").strip().splitlines()
        failed = [line for line in summary if line.startswith(("FAILED ", "ERROR "))]
        result = scan_run(folder, config)
        tokens_file = folder / TOKENS_FILE
        tokens = len(tokens_file.read_text().splitlines()) if tokens_file.exists() else 0
    print(f"e2e suite at DEBUG: {summary[-1] if summary else 'no output'} (pytest exit {code})")
    for line in failed:
        print(f"  {line[:200]}")
    print(report(result, tokens))
    return 1 if result.hits else 0


if __name__ == "__main__":
    sys.exit(main())
