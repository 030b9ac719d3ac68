"""The log scan over e2e tests at DEBUG: a Payme and a Click payment, the Subscribe simulator's cards and
an autopay run leave lines at DEBUG, none with a key, a token or a card number. (The whole suite:
``python -m local.log_scan``; its figures are in the closing note.)"""

from pathlib import Path

import pytest

from local.log_scan import run_e2e, scan_run
from local.template import load_config

pytestmark = pytest.mark.e2e


def test_e2e_tests_at_debug_leave_no_secret_in_any_line(tmp_path: Path) -> None:
    code = run_e2e(tmp_path, ["tests/e2e/test_events_http.py", "tests/e2e/payme/test_subscribe_sim_http.py"])
    assert code == 0, (tmp_path / "pytest.out").read_text()[-3000:]
    result = scan_run(tmp_path, load_config())
    assert result.files >= 3 and result.lines > 100 and result.debug_lines > 0
    assert result.hits == []
