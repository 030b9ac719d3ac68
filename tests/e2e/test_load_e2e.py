"""bench/load.py in a tiny configuration against its own local stack: mixed Payme, Click and billing
traffic from two concurrent clients ends with no failure and the ledger's totals equal to what the
clients saw performed (the script exits 1 otherwise)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_mixed_load_has_no_failure_and_no_double_posting() -> None:
    command = [sys.executable, "bench/load.py", "--clients", "2", "--seconds", "3", "--sizes", "0,50"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "\nfailures: 0\n" in result.stdout, output
    assert "FAILURE" not in result.stdout, output
    assert "\nledger invariant checker: 0 violations\n" in result.stdout, output
    performed = [line for line in result.stdout.splitlines() if "Payme performed in this run" in line]
    assert performed and "clients 0," not in performed[0], output  # Payme flows did run
