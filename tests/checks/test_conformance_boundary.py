"""The conformance runner is tooling: it reaches a stage over HTTP only, with the standard library, and
no product code imports it (it is not in the Lambda layer)."""

import sys

from tests.checks.test_architecture import ROOT, _imports

RUNNER = "tolov_conformance"


def test_no_product_code_imports_the_runner() -> None:
    product = [*(ROOT / "layers").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in product
        for name in _imports(path)
        if name.split(".")[0] == RUNNER
    ]
    assert product and wrong == []


def test_the_runner_imports_only_the_standard_library_and_itself() -> None:
    modules = sorted((ROOT / RUNNER).rglob("*.py"))
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules
        for name in _imports(path)
        if name.split(".")[0] not in sys.stdlib_module_names | {RUNNER}
    ]
    assert modules and wrong == []
