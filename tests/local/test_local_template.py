"""local/template.py against the real template.yaml (and the echo fixture where the real one has no case)."""

import re
from pathlib import Path
from typing import Any

import pytest

from local.template import (
    DEFAULT_TEMPLATE,
    SamTemplate,
    api_routes,
    function_environment,
    load_config,
    parse_template,
    secret_specs,
    table_specs,
    upper_snake,
)

FIXTURES = Path(__file__).parent / "fixtures"
BILLING_ROUTES = {
    ("PUT", "/apartments/{apartment_id}"),
    ("GET", "/apartments/{apartment_id}/balance"),
    ("POST", "/invoices"),
    ("GET", "/invoices/{invoice_id}"),
    ("POST", "/invoices/{invoice_id}/cancel"),
    ("GET", "/openapi.json"),
    ("POST", "/autopay"),
    ("POST", "/autopay/runs"),
    ("GET", "/autopay/{autopay_id}"),
    ("DELETE", "/autopay/{autopay_id}"),
    ("GET", "/apartments/{apartment_id}/autopay"),
    ("POST", "/apartments/{apartment_id}/autopay-links"),
    ("GET", "/invoices/{invoice_id}/audit"),
    ("GET", "/apartments/{apartment_id}/audit"),
    ("GET", "/transactions/{provider}/{transaction_id}/audit"),
}


@pytest.fixture(scope="module")
def template() -> SamTemplate:
    return SamTemplate.load(DEFAULT_TEMPLATE)


@pytest.fixture(scope="module")
def echo() -> SamTemplate:
    return SamTemplate.load(FIXTURES / "template.yaml")


@pytest.fixture(scope="module")
def config() -> dict[str, str]:
    return load_config()


def _tables_in_template(template: SamTemplate) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in template.resources_of_type("AWS::DynamoDB::Table").items()}


# ---------------------------------------------------------------------------------------------- YAML


def test_short_tags_are_read_as_long_form_data() -> None:
    data = parse_template(
        """
        a: !Ref Thing
        b: !GetAtt Table.StreamArn
        c: !Sub "${AWS::StackName}-x"
        d: !If [IsProd, 1, 2]
        e: !Equals [!Ref Environment, prod]
        f: !Not [!Condition IsProd]
        g: !Join ["-", [a, !Ref B]]
        h: !GetAtt [Table, Arn]
        i: !Sub ["${X}", {X: !Ref Y}]
        """
    )
    assert data == {
        "a": {"Ref": "Thing"},
        "b": {"Fn::GetAtt": ["Table", "StreamArn"]},
        "c": {"Fn::Sub": "${AWS::StackName}-x"},
        "d": {"Fn::If": ["IsProd", 1, 2]},
        "e": {"Fn::Equals": [{"Ref": "Environment"}, "prod"]},
        "f": {"Fn::Not": [{"Condition": "IsProd"}]},
        "g": {"Fn::Join": ["-", ["a", {"Ref": "B"}]]},
        "h": {"Fn::GetAtt": ["Table", "Arn"]},
        "i": {"Fn::Sub": ["${X}", {"X": {"Ref": "Y"}}]},
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("PaymeMerchantId", "PAYME_MERCHANT_ID"),
        ("LogLevel", "LOG_LEVEL"),
        ("Environment", "ENVIRONMENT"),
        ("ClickMerchantUserId", "CLICK_MERCHANT_USER_ID"),
        ("ApiURLPrefix", "API_URL_PREFIX"),
    ],
)
def test_upper_snake(name: str, expected: str) -> None:
    assert upper_snake(name) == expected


def test_load_config(tmp_path: Path) -> None:
    path = tmp_path / "local.env"
    path.write_text("# comment\n\nA=1\nexport B = two words \nC='quoted # not a comment'\nD=x=y\n")
    assert load_config(path) == {"A": "1", "B": "two words", "C": "quoted # not a comment", "D": "x=y"}


def test_load_config_rejects_a_line_without_equals(tmp_path: Path) -> None:
    path = tmp_path / "local.env"
    path.write_text("A=1\nnonsense\n")
    with pytest.raises(ValueError, match=":2:"):
        load_config(path)


def test_the_repository_config_has_what_the_stack_needs(config: dict[str, str]) -> None:
    assert {"PAYME_KEY", "CLICK_SECRET_KEY", "BILLING_API_KEY", "PAYME_MERCHANT_ID"} <= set(config)


# ---------------------------------------------------------------------------------------------- tables


def test_a_spec_for_every_table_named_by_logical_id(template: SamTemplate) -> None:
    names = [spec["TableName"] for spec in table_specs(template)]
    assert names == list(_tables_in_template(template))
    assert {"ApartmentsTable", "InvoicesTable", "ChargesTable", "PostingsTable", "TransactionsTable"} <= set(
        names
    )


def test_table_specs_keep_keys_indexes_and_billing_mode(template: SamTemplate) -> None:
    in_template = _tables_in_template(template)
    for spec in table_specs(template):
        props = in_template[spec["TableName"]]
        assert spec["KeySchema"] == props["KeySchema"]
        assert spec["AttributeDefinitions"] == props["AttributeDefinitions"]
        assert spec["BillingMode"] == props["BillingMode"]
        expected_indexes = [
            {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
            for index in props.get("GlobalSecondaryIndexes", [])
        ]
        assert spec.get("GlobalSecondaryIndexes", []) == expected_indexes


def test_table_specs_only_carry_what_create_table_accepts(template: SamTemplate) -> None:
    accepted = {
        "TableName",
        "AttributeDefinitions",
        "KeySchema",
        "BillingMode",
        "ProvisionedThroughput",
        "LocalSecondaryIndexes",
        "GlobalSecondaryIndexes",
        "StreamSpecification",
    }
    for spec in table_specs(template):
        assert set(spec) <= accepted, spec["TableName"]


def test_invoice_index_by_apartment_and_period(template: SamTemplate) -> None:
    invoices = next(s for s in table_specs(template) if s["TableName"] == "InvoicesTable")
    (index,) = invoices["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by_apartment"
    assert index["KeySchema"] == [
        {"AttributeName": "apartment_id", "KeyType": "HASH"},
        {"AttributeName": "period", "KeyType": "RANGE"},
    ]


def test_streams_become_enabled_stream_specifications(template: SamTemplate) -> None:
    in_template = _tables_in_template(template)
    for spec in table_specs(template):
        stream = in_template[spec["TableName"]].get("StreamSpecification")
        if stream is None:
            assert "StreamSpecification" not in spec
        else:
            assert spec["StreamSpecification"] == {"StreamEnabled": True, **stream}
    streamed = {s["TableName"] for s in table_specs(template) if "StreamSpecification" in s}
    assert {"PostingsTable", "TransactionsTable"} <= streamed


# ---------------------------------------------------------------------------------------------- secrets


def test_secrets_take_their_values_from_the_config(template: SamTemplate, config: dict[str, str]) -> None:
    specs = {spec["Name"]: spec["SecretString"] for spec in secret_specs(config, template)}
    assert specs == {
        "PaymeKeySecret": config["PAYME_KEY"],
        "BillingApiKeySecret": config["BILLING_API_KEY"],
        "ClickSecretKeySecret": config["CLICK_SECRET_KEY"],
        "LinkSigningKeySecret": config["LINK_SIGNING_KEY"],
    }


def test_a_secret_whose_config_key_is_missing_is_an_error(template: SamTemplate) -> None:
    with pytest.raises(ValueError, match="PAYME_KEY"):
        template.secret_specs({"CLICK_SECRET_KEY": "x"})


# ---------------------------------------------------------------------------------------------- routes


def test_billing_routes_need_the_api_key(template: SamTemplate) -> None:
    routes = [r for r in api_routes(template) if r.function == "BillingApiFunction"]
    assert {(r.method, r.path) for r in routes} == BILLING_ROUTES
    for route in routes:
        assert route.api_key_required, route
        assert route.handler_file == "functions/billing_api/app.py"
        assert route.handler_attr == "lambda_handler"
        assert route.rest_api == "TolovApi"


def test_every_handler_is_functions_name_app_py(template: SamTemplate) -> None:
    for function in template.function_ids():
        settings = template.function_settings(function)
        assert re.fullmatch(r"functions/[a-z0-9_]+/app\.py", settings.handler_file), settings


def test_routes_of_the_fixture_follow_auth_precedence(echo: SamTemplate) -> None:
    routes = {(r.method, r.path): r for r in echo.api_routes()}
    assert routes["GET", "/echo/{item_id}"].api_key_required is False  # the Api's Auth says false
    assert routes["POST", "/echo/{item_id}/keyed"].api_key_required is True  # the event overrides it
    assert routes["ANY", "/files/{path+}"].method == "ANY"


def test_globals_api_auth_applies_when_nothing_closer_says_otherwise() -> None:
    template = SamTemplate(
        parse_template(
            """
            Globals: {Api: {Auth: {ApiKeyRequired: true}}}
            Resources:
              Fn:
                Type: AWS::Serverless::Function
                Properties:
                  CodeUri: functions/fn/
                  Handler: app.handler
                  Events:
                    Inherits: {Type: Api, Properties: {Path: /a, Method: get}}
                    Opts: {Type: Api, Properties: {Path: /b, Method: get, Auth: {ApiKeyRequired: false}}}
            """
        )
    )
    required = {r.path: r.api_key_required for r in template.api_routes()}
    assert required == {"/a": True, "/b": False}
    assert template.stage_name(None) == "Prod"  # the implicit API's stage


def test_the_stage_is_the_environment(template: SamTemplate, config: dict[str, str]) -> None:
    assert template.stage_name("TolovApi", config) == "dev"
    assert template.stage_name("TolovApi", {**config, "ENVIRONMENT": "prod"}) == "prod"


# ---------------------------------------------------------------------------------------------- environment


def test_environment_resolves_tables_to_local_names(template: SamTemplate, config: dict[str, str]) -> None:
    env = function_environment("BillingApiFunction", config, template)
    assert env["APARTMENTS_TABLE"] == "ApartmentsTable"
    assert env["INVOICES_TABLE"] == "InvoicesTable"
    assert env["TRANSACTIONS_TABLE"] == "TransactionsTable"
    table_names = {spec["TableName"] for spec in table_specs(template)}
    assert {v for k, v in env.items() if k.endswith("_TABLE")} <= table_names


def test_environment_parameters_come_from_config_else_default(template: SamTemplate) -> None:
    env = template.function_environment("BillingApiFunction", {"PAYME_MERCHANT_ID": "from-config"})
    assert env["PAYME_MERCHANT_ID"] == "from-config"
    assert env["PAYME_CHECKOUT_URL"] == "https://checkout.paycom.uz"  # the parameter's Default
    assert env["TOLOV_ENV"] == "dev"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"


def test_environment_uses_the_local_config(template: SamTemplate, config: dict[str, str]) -> None:
    env = template.function_environment("BillingApiFunction", config)
    for key in ("PAYME_MERCHANT_ID", "PAYME_CHECKOUT_URL", "CLICK_SERVICE_ID", "CLICK_MERCHANT_ID"):
        assert env[key] == config[key]


def test_environment_of_the_fixture_covers_sub_if_and_secrets(echo: SamTemplate) -> None:
    dev = echo.function_environment("EchoFunction", {"PAYME_MERCHANT_ID": "m"})
    assert dev == {
        "ECHO_TABLE": "EchoTable",
        "ECHO_SECRET": "EchoSecret",  # a secret resolves to its local name, usable as SecretId
        "ECHO_GREETING": "salom-from-default",
        "PAYME_MERCHANT_ID": "m",
        "RETENTION_DAYS": "30",  # !If takes the false branch in dev; numbers become strings
        "ECHO_NAME": "tolov-local-EchoTable",  # the function's own variables join the Globals
    }
    prod = echo.function_environment("EchoFunction", {"ENVIRONMENT": "prod"})
    assert prod["RETENTION_DAYS"] == "365"


def test_function_settings_apply_globals(template: SamTemplate) -> None:
    settings = template.function_settings("PaymeMerchantFunction")
    assert (settings.memory_mb, settings.timeout_s) == (512, 10)
    billing = template.function_settings("BillingApiFunction")  # its own Timeout wins over the Globals'
    assert (billing.memory_mb, billing.timeout_s) == (512, 29)


def test_layers_are_the_layer_content_uris(template: SamTemplate) -> None:
    assert template.layer_dirs() == ["layers/common"]


NAMING_TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Required: {Type: String}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fn/
      Handler: app.handler
      Environment:
        Variables:
          TABLE_ARN: !GetAtt Table.Arn
          STREAM_ARN: !GetAtt Table.StreamArn
          INDEX_ARN: !Sub "${Table.Arn}/index/by_day"
          QUEUE_URL: !Ref Queue
          QUEUE_ARN: !GetAtt Queue.Arn
          QUEUE_NAME: !GetAtt Queue.QueueName
          SECRET: !Ref Secret
          REQUIRED: !Ref Required
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Queue: {Type: AWS::SQS::Queue}
  Secret: {Type: AWS::SecretsManager::Secret}
"""


def test_references_resolve_to_the_names_and_arns_moto_gives() -> None:
    template = SamTemplate(parse_template(NAMING_TEMPLATE))
    env = template.function_environment("Fn", {"REQUIRED": "given"})
    assert env == {
        "TABLE_ARN": "arn:aws:dynamodb:us-east-1:123456789012:table/Table",
        "STREAM_ARN": "arn:aws:dynamodb:us-east-1:123456789012:table/Table/stream/local",
        "INDEX_ARN": "arn:aws:dynamodb:us-east-1:123456789012:table/Table/index/by_day",
        "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/Queue",
        "QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:Queue",
        "QUEUE_NAME": "Queue",
        "SECRET": "Secret",
        "REQUIRED": "given",
    }
    assert [spec["TableName"] for spec in template.table_specs({"REQUIRED": "given"})] == ["Table"]


def test_a_parameter_without_default_or_config_value_is_an_error() -> None:
    template = SamTemplate(parse_template(NAMING_TEMPLATE))
    with pytest.raises(ValueError, match="REQUIRED"):
        template.function_environment("Fn", {})


def test_a_value_the_local_stack_cannot_resolve_is_an_error() -> None:
    text = NAMING_TEMPLATE.replace("!GetAtt Queue.QueueName", "!GetAtt Table.NoSuchAttribute")
    with pytest.raises(ValueError, match="NoSuchAttribute"):
        SamTemplate(parse_template(text)).function_environment("Fn", {"REQUIRED": "given"})


def test_only_rest_api_events_become_routes() -> None:
    template = SamTemplate(
        parse_template(
            """
            Resources:
              Fn:
                Type: AWS::Serverless::Function
                Properties:
                  CodeUri: functions/fn/
                  Handler: app.handler
                  Events:
                    Rest: {Type: Api, Properties: {Path: /rest, Method: get}}
                    Http: {Type: HttpApi, Properties: {Path: /http, Method: get}}
                    Queue: {Type: SQS, Properties: {Queue: arn:aws:sqs:us-east-1:123456789012:q}}
            """
        )
    )
    assert [(r.method, r.path, r.event, r.rest_api) for r in template.api_routes()] == [
        ("GET", "/rest", "Rest", None)
    ]
