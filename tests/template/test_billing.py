"""template.yaml wiring of the billing API: the Idempotency-Key table and what the function may do with it."""

from local.template import SamTemplate


def test_the_template_declares_the_table_and_grants_only_what_powertools_calls() -> None:
    template = SamTemplate.load()
    table = template.resources["IdempotencyTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}
    function = template.resources["BillingApiFunction"]["Properties"]
    assert function["Environment"]["Variables"]["IDEMPOTENCY_TABLE"] == {"Ref": "IdempotencyTable"}
    table_arn = {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
    grants = [
        (sorted(s["Action"]), s["Resource"])
        for p in function["Policies"]
        for s in p.get("Statement", [])
        if s["Resource"] == table_arn
    ]
    assert grants == [
        (
            ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            {"Fn::GetAtt": ["IdempotencyTable", "Arn"]},
        )
    ]
