"""The layer carries what the handlers import at run time in Lambda, beyond boto3/botocore, and no more.

The layer is built as `sam build` builds it (layers/common/Makefile) and every handler of template.yaml
is imported from it the way Lambda imports it: a fresh python3.13 with only the function's code, the
layer and the runtime's own packages on sys.path, and the function's template environment.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cold_start import (
    LAYER_LIMIT_BYTES,
    RUNTIME_PACKAGES,
    build_layer,
    import_handler,
    linked_packages,
    native_platform,
    template_functions,
    tree_bytes,
)

ROOT = Path(__file__).resolve().parents[2]
CODE = [*sorted((ROOT / "functions").glob("*/app.py")), *sorted((ROOT / "layers/common/tolov").rglob("*.py"))]
pytestmark = pytest.mark.checks


def _pinned() -> set[str]:
    lines = (ROOT / "layers" / "common" / "requirements.txt").read_text().splitlines()
    return {
        re.split(r"[=<>\[]", line)[0].strip().lower()
        for line in lines
        if line.strip() and not line.startswith("#")
    }


@pytest.fixture(scope="module")
def native_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_layer(tmp_path_factory.mktemp("native"), native_platform())


def test_no_code_creates_a_tracer_since_the_layer_has_no_xray_sdk() -> None:
    """Tracing is the template's (Tracing: Active); a Powertools Tracer would need the X-Ray SDK."""
    tracers = [str(path) for path in CODE if re.search(r"\bTracer\(", path.read_text())]
    assert not tracers
    assert not {"aws-xray-sdk", "wrapt"} & _pinned()


def test_a_tracer_in_lambda_imports_the_xray_sdk() -> None:
    """Why the check above: in a Lambda environment with tracing on, creating a Tracer loads the SDK."""
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


def test_the_arm64_layer_is_compiled_pruned_and_within_its_size(tmp_path: Path) -> None:
    layer = build_layer(tmp_path)
    assert list(layer.glob("pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so"))
    assert tree_bytes(layer) <= LAYER_LIMIT_BYTES, f"{tree_bytes(layer)} bytes unzipped"
    assert (layer / "tolov" / "billing" / "__pycache__" / "ledger.cpython-313.pyc").is_file()
    assert not list(layer.glob("*.dist-info")) and not list(layer.rglob("*.pyi"))
    for pruned in ("pydantic/v1", "jmespath", "aws_xray_sdk", "aws_lambda_powertools/utilities/kafka"):
        assert not (layer / pruned).exists(), pruned
    assert not list(layer.rglob("swagger-ui-bundle*.js"))


def test_the_layer_pycs_are_used_without_checking_the_source(native_layer: Path) -> None:
    """unchecked-hash: flags 0b01 in the .pyc header; Lambda's /opt is read-only, so nothing recompiles."""
    pyc = native_layer / "tolov" / "billing" / "__pycache__" / "ledger.cpython-313.pyc"
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01


def test_every_handler_imports_from_the_layer_as_built(native_layer: Path, tmp_path: Path) -> None:
    runtime = linked_packages(tmp_path / "runtime", RUNTIME_PACKAGES)
    functions = template_functions()
    assert len(functions) == len(list((ROOT / "functions").glob("*/app.py")))
    for function in functions:
        result = import_handler(function, native_layer, runtime)  # raises with the child's traceback
        assert result["ms"] > 0, function.logical_id
