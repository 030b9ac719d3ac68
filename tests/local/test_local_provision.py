"""provision() creates the template's tables and secrets, under moto.mock_aws()."""

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from local.template import LOCAL_REGION, SamTemplate, function_environment, load_config, provision

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A developer's AWS_ENDPOINT_URL or profile would send boto3 past mock_aws.
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield


def test_provision_creates_every_table_as_specified() -> None:
    template, config = SamTemplate.load(), load_config()
    created = provision(config, template=template)

    specs = template.table_specs(config)
    assert created["tables"] == [spec["TableName"] for spec in specs]
    dynamodb = boto3.client("dynamodb", region_name=LOCAL_REGION)
    assert sorted(dynamodb.list_tables()["TableNames"]) == sorted(created["tables"])
    for spec in specs:
        table = dynamodb.describe_table(TableName=spec["TableName"])["Table"]
        assert table["KeySchema"] == spec["KeySchema"]
        assert {(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]} == {
            (a["AttributeName"], a["AttributeType"]) for a in spec["AttributeDefinitions"]
        }
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        indexes = {i["IndexName"]: i["KeySchema"] for i in table.get("GlobalSecondaryIndexes", [])}
        assert indexes == {i["IndexName"]: i["KeySchema"] for i in spec.get("GlobalSecondaryIndexes", [])}
        if "StreamSpecification" in spec:
            assert table["StreamSpecification"]["StreamEnabled"] is True


def test_provision_creates_the_secrets_with_the_config_values() -> None:
    config = load_config()
    created = provision(config)

    assert created["secrets"] == [
        "PaymeKeySecret", "BillingApiKeySecret", "ClickSecretKeySecret", "LinkSigningKeySecret"
    ]
    secrets = boto3.client("secretsmanager", region_name=LOCAL_REGION)
    link_key = secrets.get_secret_value(SecretId="LinkSigningKeySecret")["SecretString"]
    assert link_key == config["LINK_SIGNING_KEY"]
    assert secrets.get_secret_value(SecretId="PaymeKeySecret")["SecretString"] == config["PAYME_KEY"]
    assert (
        secrets.get_secret_value(SecretId="ClickSecretKeySecret")["SecretString"]
        == config["CLICK_SECRET_KEY"]
    )
    # The billing API key's secret holds the local key the stack checks x-api-key against.
    billing_key = secrets.get_secret_value(SecretId="BillingApiKeySecret")["SecretString"]
    assert billing_key == config["BILLING_API_KEY"] == "local-billing-key"


def test_provision_is_idempotent() -> None:
    config = load_config()
    provision(config)
    again = provision(config)
    assert again == {"tables": [], "secrets": [], "queues": [], "keys": [], "buses": [], "buckets": []}


def test_provision_follows_another_template() -> None:
    echo = SamTemplate.load(FIXTURES / "template.yaml")
    created = echo.provision(load_config(FIXTURES / "local.env"))
    assert created == {
        "tables": ["EchoTable"],
        "secrets": ["EchoSecret"],
        "queues": [],
        "keys": [],
        "buses": [],
        "buckets": [],
    }
    secrets = boto3.client("secretsmanager", region_name=LOCAL_REGION)
    assert secrets.get_secret_value(SecretId="EchoSecret")["SecretString"] == "echo-secret-value"


def test_kms_keys_and_event_buses_are_created_where_their_refs_point() -> None:
    """A KMS key's !Ref is alias/<logical id> (moto draws key ids itself), an event bus is named by its
    logical id: what the functions' environment names is what provision() created."""
    config = load_config()
    created = provision(config)
    assert (created["keys"], created["buses"]) == (["AutopayCardKey"], ["TolovEventBus"])
    env = function_environment("AutopayChargerFunction", config)
    kms = boto3.client("kms", region_name=LOCAL_REGION)
    sealed = kms.encrypt(KeyId=env["AUTOPAY_KMS_KEY_ID"], Plaintext=b"token")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"token"
    events = boto3.client("events", region_name=LOCAL_REGION)
    assert events.describe_event_bus(Name=env["EVENT_BUS_NAME"])["Name"] == "TolovEventBus"


def test_queues_are_created_and_a_queue_ref_is_a_working_url() -> None:
    import boto3
    from moto import mock_aws

    from local.template import function_environment, load_config, provision

    config = load_config()
    with mock_aws():
        created = provision(config)
        assert "ClickReversalQueue" in created["queues"]
        assert provision(config)["queues"] == []  # idempotent
        url = function_environment("ClickShopFunction", config)["CLICK_REVERSAL_QUEUE_URL"]
        sqs = boto3.client("sqs", region_name="us-east-1")
        sqs.send_message(QueueUrl=url, MessageBody="{}")
        assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "{}"


def test_the_reports_bucket_is_created_where_its_ref_points() -> None:
    config = load_config()
    created = provision(config)
    assert created["buckets"] == ["reportsbucket"]
    env = function_environment("ReconciliationFunction", config)
    s3 = boto3.client("s3", region_name=LOCAL_REGION)
    s3.put_object(Bucket=env["REPORTS_BUCKET"], Key="reports/x.json", Body=b"{}")
    assert s3.get_object(Bucket=env["REPORTS_BUCKET"], Key="reports/x.json")["Body"].read() == b"{}"
