"""The sandbox scenarios through the Lambda handler in-process (moto), as API Gateway would call it."""

import json
from typing import Any

import pytest

from tests.payme_harness import EVENTS, LOCAL_KEY, Handler, gas, load_event, served_methods, water
from tolov.billing.ledger import Ledger
from tolov_conformance.payme_sandbox import METHODS, Sandbox, scenario_1, scenario_2


def transport(handler: Handler) -> Any:
    def send(body: str, authorization: str) -> tuple[int, dict[str, Any]]:
        event = load_event("CheckTransaction")
        event["body"] = body
        event["headers"]["Authorization"] = authorization
        event["multiValueHeaders"]["Authorization"] = [authorization]
        response = handler.respond(event)
        return response["statusCode"], json.loads(response["body"])

    return send


def seed() -> tuple[str, int]:
    from tolov.billing.invoices import Billing

    billing = Billing()
    billing.put_apartment("apt-sandbox", "Sandbox 1-1-1", "resident-1")
    invoice = billing.create_invoice("apt-sandbox", "2026-11", [water(), gas()])
    return invoice.invoice_id, int(invoice.amount)


def test_scenario_1_create_then_cancel(handler: Handler) -> None:
    order_id, amount = seed()
    sandbox = Sandbox(transport(handler), order_id, amount, key=LOCAL_KEY)
    scenario_1(sandbox, "5e730e8e0b852a417aa49c01", "5e730e8e0b852a417aa49c02")
    assert Ledger.invoice(order_id).active_payment is None and Ledger.invoice(order_id).status == "open"


def test_scenario_2_create_perform_cancel(handler: Handler) -> None:
    order_id, amount = seed()
    sandbox = Sandbox(transport(handler), order_id, amount, key=LOCAL_KEY)
    scenario_2(sandbox, "5e730e8e0b852a417aa49c03", "5e730e8e0b852a417aa49c04")
    posting = Ledger.posting("payme#5e730e8e0b852a417aa49c03")
    assert posting is not None and posting.reversed_at is not None
    assert Ledger.invoice(order_id).status == "open"


def test_scenarios_one_after_the_other_on_one_invoice(handler: Handler) -> None:
    """As in the sandbox: scenario 1 first, then scenario 2 on the same order."""
    order_id, amount = seed()
    sandbox = Sandbox(transport(handler), order_id, amount, key=LOCAL_KEY)
    scenario_1(sandbox, "5e730e8e0b852a417aa49c05", "5e730e8e0b852a417aa49c06")
    scenario_2(sandbox, "5e730e8e0b852a417aa49c07", "5e730e8e0b852a417aa49c08")


def test_scenario_2_on_an_apartment(handler: Handler) -> None:
    seed()
    sandbox = Sandbox(transport(handler), "apt-sandbox", 1_000_000, key=LOCAL_KEY, field="apartment_id")
    sandbox.check_perform()
    params = sandbox.create_params("5e730e8e0b852a417aa49c09")
    sandbox.twice("CreateTransaction", "CreateTransaction", params, {"result.state": 1})
    sandbox.perform("5e730e8e0b852a417aa49c09")
    sandbox.cancel("5e730e8e0b852a417aa49c09", reason=5, state=-2)


def test_the_wrong_authorization_step_covers_every_method_served() -> None:
    """The sandbox's step 1 expects -32504 from every method a merchant serves: the runner's list is ours."""
    assert sorted(METHODS) == served_methods()


# A reply that means the request never reached its method: unreadable, malformed, unknown, refused.
ENVELOPE_ERRORS = {-32700, -32600, -32601, -32504, -32300}


@pytest.mark.parametrize("method", served_methods())
def test_the_transport_is_answered_as_the_sample_event_is(handler: Handler, method: str) -> None:
    """The transport sends every body inside the CheckTransaction sample. A sample's own body and
    Authorization sent through it get the answer the sample event itself gets: nothing the transport keeps
    of its template (headers, source address, request context) changes what the handler does."""
    sample = json.loads((EVENTS / f"{method}.json").read_text())
    status, sent = transport(handler)(sample["body"], sample["headers"]["Authorization"])
    assert status == 200
    assert sent == handler.invoke(sample)
    assert sent.get("error", {}).get("code") not in ENVELOPE_ERRORS, sent
