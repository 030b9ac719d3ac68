"""The layer carries what the handlers import at run time in Lambda, beyond boto3/botocore."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = [*sorted((ROOT / "functions").glob("*/app.py")), *sorted((ROOT / "layers/common/tolov").rglob("*.py"))]


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
    tracers = [path for path in CODE if re.search(r"\bTracer\(", path.read_text())]
    if tracers:
        assert {"aws-xray-sdk", "wrapt"} <= _pinned(), f"{tracers} create a Tracer"


def test_a_tracer_in_lambda_imports_the_xray_sdk() -> None:
    """Why the pins above: in a Lambda environment with tracing on, creating a Tracer loads the SDK."""
    probe = (
        "import sys; from aws_lambda_powertools import Tracer; Tracer(); print('aws_xray_sdk' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_")}
    env["AWS_LAMBDA_FUNCTION_NAME"] = "probe"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
