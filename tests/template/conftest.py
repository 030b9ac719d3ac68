"""Shared fixtures of the template tests: the Payme harness on moto, and the AWS calls a run makes."""

from collections.abc import Iterator
from typing import Any

import botocore.client
import pytest

from tests.payme_harness import harness  # noqa: F401

Grant = tuple[
    str, str
]  # (IAM action, resource: logical id, "<table>/index/<name>", "<bucket>/<key prefix>*")

TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "ConditionCheck": "ConditionCheckItem",
    "Delete": "DeleteItem",
}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[Grant]]:
    """Every DynamoDB, Secrets Manager and S3 call, as the IAM action and resource it needs (a
    TransactWriteItems needs PutItem/UpdateItem/ConditionCheckItem on each item's table; an S3 object is
    named by its bucket's logical id, locally its lower-cased name, and the first segment of its key)."""
    needed: set[Grant] = set()
    original = botocore.client.BaseClient._make_api_call

    def record(self: Any, operation: str, params: dict[str, Any]) -> Any:
        service = self.meta.service_model.service_name
        if service == "dynamodb":
            if operation == "TransactWriteItems":
                for item in params["TransactItems"]:
                    ((kind, body),) = item.items()
                    needed.add((f"dynamodb:{TRANSACT_ACTIONS[kind]}", body["TableName"]))
            elif operation == "BatchGetItem":
                needed.update((f"dynamodb:{operation}", table) for table in params["RequestItems"])
            elif "IndexName" in params:
                needed.add((f"dynamodb:{operation}", f"{params['TableName']}/index/{params['IndexName']}"))
            else:
                needed.add((f"dynamodb:{operation}", params["TableName"]))
        elif service == "secretsmanager":
            needed.add((f"secretsmanager:{operation}", params["SecretId"]))
        elif service == "s3":
            bucket = {"reportsbucket": "ReportsBucket"}.get(
                params.get("Bucket", ""), params.get("Bucket", "")
            )
            key = params.get("Key")
            needed.add((f"s3:{operation}", bucket if key is None else f"{bucket}/{key.split('/')[0]}/*"))
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    yield needed
