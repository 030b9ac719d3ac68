"""Shared fixtures: AWS mocked with moto, tables and secrets built from template.yaml."""

import os
from collections.abc import Iterator

import pytest

# Before any tolov import: models read table names and endpoints at import time.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Tolov",
        "POWERTOOLS_SERVICE_NAME": "tolov",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)

from moto import mock_aws

from local.moto_atomic import make_dynamodb_atomic
from local.template import function_environment, load_config, provision

make_dynamodb_atomic()


@pytest.fixture
def local_config() -> dict[str, str]:
    return load_config()


@pytest.fixture
def function_env(local_config: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment template.yaml gives the functions, resolved with the local configuration."""
    from tolov.settings import get_settings

    env = function_environment("BillingApiFunction", local_config)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return env


@pytest.fixture
def aws(local_config: dict[str, str], function_env: dict[str, str]) -> Iterator[None]:
    """A fresh moto account with every table and secret of template.yaml."""
    with mock_aws():
        provision(local_config)
        yield
