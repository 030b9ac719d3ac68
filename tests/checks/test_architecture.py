"""The import graph keeps the shape docs/architecture.md draws: which part may import which, and that
PynamoDB stays inside the store."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOLOV = ROOT / "layers" / "common" / "tolov"

# A module belongs to the first part whose prefix its name starts with.
PARTS = {
    "Handlers": ("functions.",),
    "Pages": ("tolov.pages",),
    "BillingApi": ("tolov.billing_api",),
    "Events": ("tolov.events",),
    "Autopay": ("tolov.autopay",),
    "Audit": ("tolov.audit",),
    "Reconciliation": ("tolov.reconciliation",),
    "Payme": ("tolov.payme",),
    "Click": ("tolov.click",),
    "Billing": ("tolov.billing",),
    "Store": ("tolov.store",),
    "Kernel": ("tolov.money", "tolov.clock", "tolov.settings", "tolov.observability", "tolov.wiring",
               "tolov.signing", "tolov.aws", "tolov.frozen"),
}
NEVER = {
    ("Billing", "Payme"): "billing knows no provider",
    ("Billing", "Click"): "billing knows no provider",
    ("Billing", "BillingApi"): "the core knows nothing of its API edge",
    ("Store", "Payme"): "storage knows no protocol",
    ("Store", "Click"): "storage knows no protocol",
    ("Store", "Billing"): "storage knows no ledger rule",
    ("Store", "BillingApi"): "storage knows no API",
    ("Payme", "Click"): "providers are independent",
    ("Click", "Payme"): "providers are independent",
    ("Payme", "BillingApi"): "providers know nothing of the billing platform's API",
    ("Click", "BillingApi"): "providers know nothing of the billing platform's API",
    ("Kernel", "Billing"): "the kernel is the bottom floor",
    ("Kernel", "Payme"): "the kernel is the bottom floor",
    ("Kernel", "Click"): "the kernel is the bottom floor",
    ("Kernel", "Store"): "the kernel is the bottom floor",
    ("Kernel", "BillingApi"): "the kernel is the bottom floor",
    ("Kernel", "Autopay"): "the kernel is the bottom floor",
    ("Billing", "Autopay"): "billing knows nothing of who pays into it",
    ("Store", "Autopay"): "storage knows no payment path",
    ("Payme", "Autopay"): "the Payme protocol knows nothing of the schedule that uses it",
    ("Click", "Autopay"): "Click has no part in Payme autopay",
    ("Autopay", "Click"): "autopay charges Payme cards only",
    ("Autopay", "BillingApi"): "autopay knows nothing of the API edge that enrols",
    # The resident pages sit on top, beside the billing API: nothing but their handler knows them.
    **{
        (part, "Pages"): "only the pages' handler knows the pages"
        for part in (
            "BillingApi", "Events", "Autopay", "Audit", "Reconciliation", "Payme", "Click", "Billing",
            "Store", "Kernel",
        )
    },
    # The outbox reads the tables' streams; no payment path publishes an event itself (one way). Only
    # reconciliation puts one through tolov.events.bus: a mismatch is a finding, no table's change.
    **{
        (part, "Events"): "payment paths write state; the stream publishes it"
        for part in (
            "Pages", "BillingApi", "Autopay", "Audit", "Payme", "Click", "Billing", "Store", "Kernel"
        )
    },
    ("Events", "BillingApi"): "events know nothing of the API edge",
    ("Events", "Audit"): "events are read off the tables, not off the trail",
    ("Events", "Reconciliation"): "events know nothing of the daily check",
    ("Audit", "Payme"): "the trail knows no protocol: each gateway hands it what to keep",
    ("Audit", "Click"): "the trail knows no protocol: each gateway hands it what to keep",
    ("Audit", "Billing"): "the trail keeps exchanges, not ledger rules",
    ("Store", "Audit"): "storage knows no trail",
    ("Billing", "Audit"): "billing knows nothing of who records its payers",
    ("Kernel", "Audit"): "the kernel is the bottom floor",
    ("Kernel", "Reconciliation"): "the kernel is the bottom floor",
    ("Payme", "Reconciliation"): "the protocols know nothing of the daily check over them",
    ("Click", "Reconciliation"): "the protocols know nothing of the daily check over them",
    ("Billing", "Reconciliation"): "the ledger knows nothing of the daily check over it",
    ("Autopay", "Reconciliation"): "autopay knows nothing of the daily check over it",
}


def _modules() -> dict[str, Path]:
    found = {".".join(p.relative_to(TOLOV.parent).with_suffix("").parts): p for p in TOLOV.rglob("*.py")}
    found.update({f"functions.{p.parent.name}": p for p in (ROOT / "functions").glob("*/app.py")})
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _part(module: str) -> str | None:
    return next((part for part, prefixes in PARTS.items() if module.startswith(prefixes)), None)


MODULES = _modules()


def test_every_module_belongs_to_a_part() -> None:
    assert [m for m in MODULES if _part(m) is None and m not in ("tolov", "tolov.__init__")] == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_arrow_that_must_never_exist(module: str) -> None:
    source = _part(module)
    wrong = [
        f"{module} imports {name}: {NEVER[(source, target)]}"
        for name in sorted(_imports(MODULES[module]))
        if (target := _part(name)) is not None and (source, target) in NEVER
    ]
    assert wrong == []


def test_nothing_outside_the_store_imports_pynamodb() -> None:
    outside = [
        f"{module} imports {name}"
        for module, path in MODULES.items()
        if _part(module) != "Store"
        for name in _imports(path)
        if name.split(".")[0] == "pynamodb"
    ]
    assert outside == []


def test_no_code_splits_a_payment_key_by_hand() -> None:
    """PaymentKey parses "<provider>#<id>"; a hand-made partition("#") drifts from it."""
    hand_made = [
        f"{module}: {line.strip()}"
        for module, path in MODULES.items()
        if module != "tolov.billing.keys"
        for line in path.read_text().splitlines()
        if 'partition("#")' in line or "split('#')" in line or 'split("#")' in line
    ]
    assert hand_made == []


@pytest.mark.parametrize(
    "handler", sorted((ROOT / "functions").glob("*/app.py")), ids=lambda p: p.parent.name
)
def test_handlers_are_thin(handler: Path) -> None:
    """Parse, call the core, reply: the work lives in the layer, where it is tested without Lambda."""
    assert len(handler.read_text().splitlines()) <= 60
