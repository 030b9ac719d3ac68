"""The local Click Merchant API simulator, driven by tolov's own client (tolov.click.merchant_api) and by
the reversal worker, as ClickReversalFunction uses it in the local stack."""

from collections.abc import Iterator

import pytest

from local.click_sim import ClickSimulator, ClickSimulatorServer, running
from local.template import function_environment, load_config
from tolov.billing.errors import StateChanged
from tolov.click.attempt import AccountKind, ClickTx, ReversalRequest, TxState
from tolov.click.merchant_api import ClickHttpError, ClickMerchantClient, ClickMerchantError
from tolov.click.reversal import ReversalOutcome, ReversalWorker


@pytest.fixture
def sim() -> Iterator[ClickSimulatorServer]:
    with running(ClickSimulator("12345", "777", "local-click-secret")) as server:
        yield server


def client(server: ClickSimulatorServer, secret: str = "local-click-secret") -> ClickMerchantClient:
    return ClickMerchantClient(
        service_id=12345, merchant_user_id="777", secret_key=secret, base_url=server.url
    )


def test_status_as_set_and_paid_by_default(sim: ClickSimulatorServer) -> None:
    assert client(sim).payment_status(1574969493).payment_status == 2
    sim.simulator.set_status(1574969494, -1)
    assert client(sim).payment_status(1574969494).declined
    sim.simulator.set_status(1574969495, None)
    with pytest.raises(ClickMerchantError) as unknown:
        client(sim).payment_status(1574969495)
    assert unknown.value.error_code == -5


def test_auth_is_checked_as_click_does(sim: ClickSimulatorServer) -> None:
    with pytest.raises(ClickHttpError) as refused:
        client(sim, secret="wrong").payment_status(1)
    assert refused.value.status == 401
    other = ClickMerchantClient(
        service_id=999, merchant_user_id="777", secret_key="local-click-secret", base_url=sim.url
    )
    with pytest.raises(ClickHttpError) as forbidden:
        other.payment_status(1)
    assert forbidden.value.status == 403


def test_a_reversal_once_then_refused(sim: ClickSimulatorServer) -> None:
    assert client(sim).reverse_payment(42).payment_id == 42
    assert client(sim).payment_status(42).payment_status == -1
    with pytest.raises(ClickMerchantError):
        client(sim).reverse_payment(42)
    assert sim.simulator.reversals == [42]


class Store:
    def __init__(self, tx: ClickTx) -> None:
        self.tx = tx

    def get(self, click_trans_id: str) -> ClickTx | None:
        return self.tx if click_trans_id == self.tx.click_trans_id else None

    def mark_reversed(self, click_trans_id: str, now: int) -> None:
        if self.tx.state is not TxState.CONFIRMED_UNPOSTED:
            raise StateChanged(click_trans_id)
        self.tx = self.tx._replace(state=TxState.REVERSED)


def test_the_reversal_worker_refunds_through_the_simulator(sim: ClickSimulatorServer) -> None:
    tx = ClickTx(
        "9001",
        "1574969493",
        "1234567890",
        AccountKind.INVOICE,
        1_000_000,
        17,
        TxState.CONFIRMED_UNPOSTED,
        "2026-12-01 10:00:00",
        1,
        reason="invoice cancelled",
    )
    store = Store(tx)
    request = ReversalRequest("9001", "1574969493", "1234567890", 1_000_000, "invoice cancelled")
    assert ReversalWorker(store, client(sim)).process(request)[0] is ReversalOutcome.REVERSED
    assert store.tx.state is TxState.REVERSED and sim.simulator.reversals == [1574969493]


def test_the_local_stack_points_every_function_at_the_simulator() -> None:
    config = load_config()
    for function in ("ClickReversalFunction", "ReconciliationFunction"):
        assert (
            function_environment(function, config)["CLICK_MERCHANT_API_URL"]
            == config["CLICK_MERCHANT_API_URL"]
        )
    assert config["CLICK_MERCHANT_API_URL"] == "http://127.0.0.1:3002/v2/merchant"
