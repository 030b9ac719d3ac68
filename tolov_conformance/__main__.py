"""python -m tolov_conformance --url URL [--invoice ID] [--json]: Payme's sandbox scenarios 1 and 2, then
Click's legacy tester and Postman suite, against a stage; a pass/fail table; exit 0 only if all passed."""

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import secrets
import sys
from collections.abc import Sequence

from tolov_conformance import click_tester, payme_sandbox
from tolov_conformance.billing import BillingApi, SetupFailed
from tolov_conformance.http import click, payme
from tolov_conformance.report import Aborted, Report

# The merchant's credentials, named as the local stack's local/local.env names them. Nothing defaults.
CREDENTIALS = {
    "PAYME_KEY": "the Payme kassa key (TEST_KEY on a sandbox stage)",
    "CLICK_SERVICE_ID": "the Click service id",
    "CLICK_SECRET_KEY": "the Click SHOP-API secret key",
    "BILLING_API_KEY": "the billing API's x-api-key",
}
PASSED, FAILED, NOT_RUN = 0, 1, 2
TASHKENT = dt.timezone(dt.timedelta(hours=5))


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tolov_conformance",
        description=__doc__,
        epilog="Credentials from the environment: "
        + "; ".join(f"{name}: {what}" for name, what in CREDENTIALS.items()),
    )
    parser.add_argument("--url", required=True, help="the stage's base URL, e.g. http://127.0.0.1:3000")
    parser.add_argument("--invoice", help="an open invoice to pay (default: a test apartment and invoice)")
    parser.add_argument(
        "--click-cancel-after-confirm",
        type=int,
        choices=(-4, -9),
        default=-4,
        help="what the stage answers to a Complete cancelling a confirmed payment "
        "(CLICK_CANCEL_AFTER_CONFIRM_ERROR; default -4, the template's)",
    )
    parser.add_argument(
        "--click-amount",
        type=int,
        default=100_000,
        help="tiyin of each Click payment into the apartment (default 100000 = 1 000 so'm)",
    )
    parser.add_argument("--json", action="store_true", help="the checks as JSON instead of the table")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    missing = [name for name in CREDENTIALS if not os.environ.get(name)]
    if missing:
        print(f"set {', '.join(missing)} in the environment (see --help)", file=sys.stderr)
        return NOT_RUN
    base_url = args.url.rstrip("/")
    run_id = secrets.token_hex(4)
    billing = BillingApi(base_url, os.environ["BILLING_API_KEY"])
    try:
        account = billing.given_account(args.invoice) if args.invoice else billing.test_account(run_id)
    except SetupFailed as failure:
        print(f"no account to run on: {failure}", file=sys.stderr)
        return NOT_RUN

    report = Report()
    sandbox = payme_sandbox.Sandbox(
        payme(base_url), account.invoice_id, account.due, key=os.environ["PAYME_KEY"], report=report
    )
    ids = [secrets.token_hex(12) for _ in range(4)]  # Payme transaction ids: 24 hex digits
    # A step that leaves nothing to go on with ends its scenario (the report has why), not the run.
    with contextlib.suppress(Aborted):
        payme_sandbox.scenario_1(sandbox, ids[0], ids[1])
    with contextlib.suppress(Aborted):
        payme_sandbox.scenario_2(sandbox, ids[2], ids[3])

    # click_trans_id: a bigint; a random start keeps runs on one stage apart.
    trans_ids = itertools.count(secrets.randbelow(9 * 10**11) + 10**11)
    for tool in (click_tester.legacy_tester, click_tester.postman_suite):
        tester = click_tester.ClickRun(
            click(base_url),
            account.apartment_id,
            args.click_amount,
            service_id=os.environ["CLICK_SERVICE_ID"],
            secret=os.environ["CLICK_SECRET_KEY"],
            sign_time=dt.datetime.now(TASHKENT).strftime("%Y-%m-%d %H:%M:%S"),
            trans_ids=trans_ids,
            cancel_after_confirm=args.click_cancel_after_confirm,
            report=report,
        )
        with contextlib.suppress(Aborted):
            tool(tester)

    if args.json:
        run = {"url": base_url, "invoice_id": account.invoice_id, "apartment_id": account.apartment_id}
        print(json.dumps(run | json.loads(report.as_json()), ensure_ascii=False, indent=2))
    else:
        print(f"{base_url}: invoice {account.invoice_id} ({account.due} tiyin due),", end=" ")
        print(f"apartment {account.apartment_id}")
        print(report.table())
    return FAILED if report.failures else PASSED


if __name__ == "__main__":
    sys.exit(main())
