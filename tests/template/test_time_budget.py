"""Every AWS call of a function ends inside the function's Timeout, with room to answer (tolov.aws)."""

import pytest

from local.template import SamTemplate
from tolov import aws

TEMPLATE = SamTemplate.load()
FUNCTIONS = sorted(TEMPLATE.resources_of_type("AWS::Serverless::Function"))
# S3 carries whole reports, with a longer read time-out; only this function writes to S3.
S3_USERS = {"ReconciliationFunction"}


def test_every_function_is_checked() -> None:
    assert {"PaymeMerchantFunction", "ClickShopFunction", "BillingApiFunction"} <= set(FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_one_call_with_its_retries_ends_before_the_function_times_out(function: str) -> None:
    timeout_s = TEMPLATE.function_settings(function).timeout_s
    services = ["dynamodb", "secretsmanager", "sqs", "kms", "events"]
    services += ["s3"] if function in S3_USERS else []
    worst = max(aws.worst_case_seconds(service) for service in services)
    assert worst + aws.ANSWER_ROOM_SECONDS <= timeout_s


def test_the_clients_carry_the_budget() -> None:
    config = aws.config_for("dynamodb")
    assert (config.connect_timeout, config.read_timeout) == (
        aws.CONNECT_TIMEOUT_SECONDS,
        aws.READ_TIMEOUT_SECONDS,
    )
    assert config.retries == {"mode": "standard", "total_max_attempts": aws.ATTEMPTS}
