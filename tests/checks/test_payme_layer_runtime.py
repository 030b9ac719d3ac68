"""The layer carries what the handlers import at run time in Lambda, beyond boto3/botocore."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pinned() -> set[str]:
    lines = (ROOT / "layers" / "common" / "requirements.txt").read_text().splitlines()
    return {
        re.split(r"[=<>\[]", line)[0].strip().lower()
        for line in lines
        if line.strip() and not line.startswith("#")
    }


def test_tracer_users_get_the_xray_sdk() -> None:
    """Powertools' Tracer imports aws_xray_sdk (which needs wrapt) as soon as it is created in Lambda,
    where tracing is on; the Python runtime ships neither, and the layer is built with --no-deps."""
    handlers = sorted((ROOT / "functions").glob("*/app.py"))
    uses_tracer = [h for h in handlers if re.search(r"\bTracer\(", h.read_text())]
    assert uses_tracer  # the payme and billing handlers trace
    assert {"aws-xray-sdk", "wrapt"} <= _pinned()
