"""template.yaml wiring of PaymeMerchantFunction: its route, and an IAM policy granting exactly what the
function calls.

Every DynamoDB and Secrets Manager call of a run through all methods and paths is recorded and mapped
to the IAM action it needs (a TransactWriteItems needs PutItem/UpdateItem/ConditionCheckItem on each
item's table); the set must equal what the template grants: nothing missing, nothing to spare."""

from typing import Any

from local.template import SamTemplate
from tests.payme_harness import HOUR, TIMEOUT, Harness, gas, water
from tests.template.conftest import Grant
from tolov.audit.dynamo import build_trail
from tolov.audit.trail import AuditEntry
from tolov.settings import get_settings


def granted(function_id: str = "PaymeMerchantFunction") -> set[Grant]:
    function = SamTemplate.load().resources[function_id]["Properties"]
    grants: set[Grant] = set()
    for policy in function["Policies"]:
        if "AWSSecretsManagerGetSecretValuePolicy" in policy:
            secret = policy["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"]["Ref"]
            grants.add(("secretsmanager:GetSecretValue", secret))
            grants.add(("secretsmanager:DescribeSecret", secret))  # part of that SAM policy template
            continue
        for statement in policy["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"]
            resources = resources if isinstance(resources, list) else [resources]
            grants.update((action, _resource(resource)) for action in actions for resource in resources)
    return grants


def _resource(value: dict[str, Any]) -> str:
    if "Ref" in value:
        return str(value["Ref"])
    if "Fn::GetAtt" in value:
        table, attribute = value["Fn::GetAtt"]
        assert attribute == "Arn"
        return str(table)
    return str(value["Fn::Sub"]).replace("${", "").replace(".Arn}", "")


def exercise_everything(h: Harness, invoice_id: str, amount: int) -> None:
    """Every method, both account kinds, every state change, the timeout and the takeover."""
    order = {"order_id": invoice_id}
    flat = {"apartment_id": "apt-1"}
    ids = iter(f"{i:024x}" for i in range(1, 100))
    h.result("CheckPerformTransaction", {"amount": amount, "account": order})
    h.result("CheckPerformTransaction", {"amount": 500_000, "account": flat})
    a, b, c, d = next(ids), next(ids), next(ids), next(ids)
    h.create(a, amount, order)
    h.create(a, amount, order)
    h.call("CreateTransaction", {"id": b, "time": h.clock.now, "amount": amount, "account": order})
    h.result("CancelTransaction", {"id": a, "reason": 3})
    h.create(b, amount, order)
    h.clock.advance(TIMEOUT + 1)
    h.create(c, amount, order)  # takes the invoice over from the expired b
    h.result("PerformTransaction", {"id": c})
    h.result("CancelTransaction", {"id": c, "reason": 5})
    h.create(d, 500_000, flat)
    h.result("PerformTransaction", {"id": d})
    h.call("CheckPerformTransaction", {"amount": amount, "account": order})  # part paid: charges are read
    h.result("CancelTransaction", {"id": d, "reason": 5})
    e = next(ids)
    h.create(e, 500_000, flat)
    h.result("CancelTransaction", {"id": e, "reason": 3})
    f = next(ids)
    h.create(f, 500_000, flat)
    h.clock.advance(TIMEOUT + 1)
    h.call("PerformTransaction", {"id": f})
    g = next(ids)  # more than the debt: the rest becomes apartment credit, and the refund takes it back
    h.create(g, 10_000_000, flat)
    h.result("PerformTransaction", {"id": g})
    h.result("CancelTransaction", {"id": g, "reason": 5})
    h.result("CheckTransaction", {"id": c})
    h.result("GetStatement", {"from": h.clock.now - 2 * TIMEOUT - HOUR, "to": h.clock.now})
    h.result("SetFiscalData", {"id": c, "type": "PERFORM", "fiscal_data": {"receipt_id": 1}})
    h.result("ChangePassword", {"password": "rotated-key-0001"})
    # The gateway keeps each exchange (tests/integration/audit drives that through the handler).
    assert build_trail(get_settings()).record(AuditEntry("payme", "CheckTransaction", {}, {}))


def test_policy_grants_exactly_what_the_function_uses(harness: Harness, calls: set[Grant]) -> None:
    invoice_id, amount = harness.invoice(water(), gas())
    calls.clear()  # seeding is the billing API's business, not this function's
    exercise_everything(harness, invoice_id, amount)
    used = {
        (action, resource) for action, resource in calls if not action.startswith("secretsmanager:Describe")
    }
    missing = used - granted()
    assert not missing, f"the function needs {sorted(missing)}"
    spare = {g for g in granted() - used if g[0] != "secretsmanager:DescribeSecret"}
    assert not spare, f"granted but never used: {sorted(spare)}"


def test_the_payme_route_takes_every_method() -> None:
    routes = [r for r in SamTemplate.load().api_routes() if r.function == "PaymeMerchantFunction"]
    assert [(r.method, r.path, r.api_key_required) for r in routes] == [("ANY", "/payme", False)]
