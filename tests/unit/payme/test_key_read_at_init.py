"""The Payme key is read in the init phase (the merchant's build), so the first request in a fresh container
waits for no Secrets Manager read; a key that cannot be read at init is left to the requests."""

from aws_lambda_powertools.utilities import parameters

from local.template import function_environment
from tolov import aws as tolov_aws
from tolov.payme.gateway import build_merchant
from tolov.settings import Settings, load_settings


def payme_settings(local_config: dict[str, str], **override: str) -> Settings:
    return load_settings({**function_environment("PaymeMerchantFunction", local_config), **override})


def test_the_build_reads_the_key_so_a_request_needs_no_read(aws: None, local_config: dict[str, str]) -> None:
    settings = payme_settings(local_config)
    parameters.clear_caches()
    merchant = build_merchant(settings)
    # Secrets Manager no longer has the key: only a read made by the build can still serve it.
    tolov_aws.client("secretsmanager").delete_secret(
        SecretId=settings.payme.key_secret_arn, ForceDeleteWithoutRecovery=True
    )
    assert merchant.keys.ring().key
    parameters.clear_caches()


def test_a_key_unreadable_at_init_leaves_the_build_standing(aws: None, local_config: dict[str, str]) -> None:
    parameters.clear_caches()
    merchant = build_merchant(payme_settings(local_config, PAYME_KEY_SECRET_ARN="NoSuchSecret"))
    assert merchant.keys.secret_id == "NoSuchSecret"  # built; each request reads (and fails) again
