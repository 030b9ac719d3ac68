"""The template checks: sam validate --lint, cfn-lint, and sam build without Docker."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.checks


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_sam_validate_lint() -> None:
    result = run(str(BIN / "sam"), "validate", "--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint() -> None:
    result = run(str(BIN / "cfn-lint"), "template.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_build_makes_a_lean_arm64_layer(tmp_path: Path) -> None:
    build = tmp_path / "build"
    result = run(str(BIN / "sam"), "build", "--build-dir", str(build))
    assert result.returncode == 0, result.stdout + result.stderr
    layer = build / "CommonLayer" / "python"
    assert (layer / "tolov" / "billing" / "ledger.py").is_file()
    assert not (layer / "botocore").exists() and not (layer / "boto3").exists()
    assert list(layer.glob("pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so"))
    assert (build / "BillingApiFunction" / "app.py").is_file()
