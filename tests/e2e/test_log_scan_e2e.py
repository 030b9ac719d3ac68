"""The log scan over e2e tests at DEBUG: a Payme and a Click payment, the Subscribe simulator's cards and
an autopay run leave lines at DEBUG and rows in the audit trail, none with a key, a token or a card
number. (The whole suite:
``python -m local.log_scan``; its figures are in the closing note.)"""

from pathlib import Path

import pytest

from local.log_scan import run_e2e, scan_run
from local.template import load_config

pytestmark = pytest.mark.e2e


def test_e2e_tests_at_debug_leave_no_secret_in_any_line(tmp_path: Path) -> None:
    code = run_e2e(tmp_path, ["tests/e2e/test_events_http.py", "tests/e2e/payme/test_subscribe_sim_http.py"])
    assert code == 0, (tmp_path / "pytest.out").read_text()[-3000:]
    # The audit trail's rows are scanned too: the Payme and Click requests of the events test, as kept.
    audit = [line for path in tmp_path.glob("*.audit") for line in path.read_text().splitlines()]
    providers = {p for line in audit for p in ("payme", "click") if f'"provider": "{p}"' in line}
    assert providers == {"payme", "click"}
    result = scan_run(tmp_path, load_config())
    assert result.files >= 4 and result.lines > 100 + len(audit) and result.debug_lines > 0
    assert result.hits == []
