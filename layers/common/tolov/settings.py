"""The configuration of every function: one typed model, read from the environment once per container.

template.yaml sets the variables (Globals and each function's own); local/local.env the local ones.
Records (tolov.frozen) rather than pydantic: the Payme function needs nothing else of pydantic, and importing
it costs a cold start about 54 ms (150 ms where nothing is compiled). A bad value fails loudly at load, naming
the variable, so a misconfigured stage is seen at its first request and never half-works.

Secrets are not configuration: only their ids are here; get_secret() reads them through Powertools'
cache.
"""

import ipaddress
import os
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING

from tolov.frozen import Record

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpRange = tuple[IpAddress, IpAddress]

# Payme Business sends Merchant API requests only from these addresses (developer.help.paycom.uz).
PAYME_SOURCE_IPS = "185.234.113.1-185.234.113.15"


class ConfigError(ValueError):
    """A variable of the environment has a value the function cannot run with."""


def parse_ip_ranges(text: str) -> tuple[IpRange, ...]:
    """Comma-separated addresses, CIDR blocks or first-last ranges."""
    ranges: list[IpRange] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            if "-" in part:
                first, last = (ipaddress.ip_address(x.strip()) for x in part.split("-", 1))
                if first.version != last.version or first > last:  # type: ignore[operator]
                    raise ValueError(f"bad address range {part!r}")
                ranges.append((first, last))
            else:
                network = ipaddress.ip_network(part, strict=False)
                ranges.append((network[0], network[-1]))
        except ValueError as error:
            raise ConfigError(f"PAYME_ALLOWED_IPS: {error}") from None
    return tuple(ranges)


_PAYME_SOURCE_RANGES = parse_ip_ranges(PAYME_SOURCE_IPS)


# Value types across tolov are typing.NamedTuple, not frozen dataclasses: on Python 3.13 each @dataclass
# execs generated code at import, which no .pyc caches, about 0.5-0.6 ms CPU a class against 0.08 ms for a
# NamedTuple, and a function's cold import creates 20-50 of them (issue 9). A field kept out of the repr or
# equality makes the type a tolov.frozen.Frozen class instead. The settings, which every function defines,
# are tolov.frozen.Record classes: cheaper still to define (no generated code), keyword-only, and their
# checks in _check (ApartmentLimits below).
class Tables(Record):
    apartments: str = "ApartmentsTable"
    invoices: str = "InvoicesTable"
    charges: str = "ChargesTable"
    postings: str = "PostingsTable"
    transactions: str = "TransactionsTable"
    idempotency: str = "IdempotencyTable"  # the billing API's Idempotency-Key replies
    autopay: str = "AutopayTable"  # autopays, their periods and attempts, the one-active-per-apartment keys
    audit: str = "AuditTable"  # every provider request and our reply, masked, kept AUDIT_TTL_DAYS


class ApartmentLimits(Record):
    """One apartment top-up (accumulative account), in tiyin, whichever provider carries it: Payme answers
    -31001 outside the limits, Click -2. Default 1 000 to 50 000 000 sum."""

    min_tiyin: int = 100_000
    max_tiyin: int = 5_000_000_000

    def _check(self) -> None:
        if self.min_tiyin <= 0 or self.max_tiyin <= 0:
            raise ConfigError("APARTMENT_MIN_TIYIN and APARTMENT_MAX_TIYIN must be positive")
        if self.min_tiyin > self.max_tiyin:
            raise ConfigError("APARTMENT_MIN_TIYIN is above APARTMENT_MAX_TIYIN")

    def allows_topup(self, amount: int) -> bool:
        return self.min_tiyin <= amount <= self.max_tiyin


class PaymeSettings(Record):
    merchant_id: str = ""
    checkout_url: str = "https://checkout.paycom.uz"
    # The Subscribe API (cards and receipts, autopay); the sandbox is https://checkout.test.paycom.uz/api.
    subscribe_url: str = "https://checkout.paycom.uz/api"
    key_secret_arn: str = ""
    # Names of the `account` sub-fields as configured on the Payme kassa. An empty name disables that
    # account type (a kassa set up for invoices only, say).
    invoice_field: str = "order_id"
    apartment_field: str = "apartment_id"
    # The fiscal item of an apartment top-up. Without an IKPU code and package code the top-up's
    # CheckPerformTransaction carries no `detail`: a made-up tax code would be worse than none.
    topup_title: str = "Kommunal xizmatlar uchun to'lov"
    topup_ikpu: str = ""
    topup_package_code: str = ""
    topup_vat_percent: int = 0
    # Cancel of a performed transaction: None = always reversible; otherwise only within this many ms
    # after perform_time (0 = never), else -31007.
    reversal_window_ms: int | None = None
    # After ChangePassword the previous key keeps working this long (payme/keys.py).
    key_overlap_seconds: int = 300
    # The source-address allow list: on in prod, off elsewhere, unless PAYME_IP_ALLOWLIST says otherwise.
    ip_check_enabled: bool = False
    allowed_ips: tuple[IpRange, ...] = _PAYME_SOURCE_RANGES
    statement_max_days: int = 366

    @property
    def topup_fiscal_configured(self) -> bool:
        return bool(self.topup_ikpu and self.topup_package_code)


class ClickSettings(Record):
    service_id: str = ""
    merchant_id: str = ""
    merchant_user_id: str = ""
    secret_key_secret_arn: str = ""
    pay_url: str = "https://my.click.uz/services/pay"
    # A Complete cancelling a confirmed payment: -4 (legacy Click tester) or -9 (Postman suite).
    cancel_after_confirm_error: int = -4
    reversal_queue_url: str = ""
    # Completes (error 0) answered while DynamoDB was down, settled by ClickCompleteFunction.
    complete_queue_url: str = ""
    merchant_api_url: str = "https://api.click.uz/v2/merchant"


class AutopaySettings(Record):
    """Recurring charges of saved cards (tolov.autopay)."""

    # Insufficient funds: tried again on each of this many following daily runs, then given up for the period.
    retry_days: int = 3
    kms_key_id: str = ""  # the KMS key card tokens are encrypted with
    queue_url: str = ""  # one message per autopay and period, consumed by AutopayChargerFunction
    # The due index is spread over this many partitions (due_shard); a run reads each with its own Query.
    # Only ever raise it: an autopay keeps the shard it was written with until its due date next moves.
    shards: int = 16
    # How long one charger owns an autopay's period: longer than the charger's timeout, shorter than the
    # charge queue's visibility timeout, so a crashed charger's work is picked up by the redelivery.
    lease_ms: int = 150_000


class PagesSettings(Record):
    """The resident pages (tolov.pages) and the links to them the billing API returns."""

    # Where residents reach the API, stage prefix included (https://x.execute-api.../dev, a custom domain):
    # the QR code and the links the API returns are built from it. Empty: from the request's own host and
    # stage, right for the execute-api domain only.
    public_base_url: str = ""
    # GET /pay/{invoice_id} only with a signed ?t= (invoice ids are ten guessable digits).
    require_signed: bool = False
    # The HMAC key of pay and autopay-enrolment links (a Secrets Manager secret of the template).
    signing_key_secret_arn: str = ""
    # Payme's public offer (oferta), linked from the card form when set.
    payme_offer_url: str = ""


class OpsSettings(Record):
    """The audit trail and reconciliation (tolov.audit, tolov.reconciliation)."""

    audit_ttl_days: int = 180  # how long a provider request and our reply are kept
    reports_bucket: str = ""  # the daily reconciliation reports (JSON and CSV)
    # A Payme transaction still in state 1 this long after Payme created it is stuck (Payme's time-out).
    payme_stuck_ms: int = 43_200_000
    # A Click Prepare not completed after this long is stuck (Click completes within minutes).
    click_stuck_ms: int = 3_600_000
    # How many days before the run date the stuck-state search reads (one by_day Query per day).
    lookback_days: int = 7


class Settings(Record):
    region: str = "us-east-1"
    # PynamoDB does not read AWS_ENDPOINT_URL itself; the local stack and the tests set it.
    dynamodb_endpoint: str | None = None
    tables: Tables = Tables()
    limits: ApartmentLimits = ApartmentLimits()
    payme: PaymeSettings = PaymeSettings()
    click: ClickSettings = ClickSettings()
    autopay: AutopaySettings = AutopaySettings()
    pages: PagesSettings = PagesSettings()
    # TolovEventBus: payment.*, invoice.paid and autopay.* (EventPublisherFunction, tolov.events).
    event_bus: str = ""
    ops: OpsSettings = OpsSettings()


# ---------------------------------------------------------------------- reading the environment
_PAYME_DEFAULTS = PaymeSettings()
_CLICK_DEFAULTS = ClickSettings()
_AUTOPAY_DEFAULTS = AutopaySettings()
_OPS_DEFAULTS = OpsSettings()




class _Env:
    """Typed reads of the environment; each raises ConfigError naming the variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def text(self, name: str, default: str) -> str:
        return self.environ.get(name, default)

    def first(self, names: tuple[str, ...]) -> tuple[str, str] | None:
        """The first of several names that is set, with its value."""
        return next(((n, self.environ[n]) for n in names if n in self.environ), None)

    def integer(self, name: str, default: int, *, low: int | None = None, high: int | None = None) -> int:
        if name not in self.environ:
            return default
        return _bounded(name, self.environ[name], low, high)

    def optional_integer(self, name: str, *, low: int | None = None) -> int | None:
        raw = self.environ.get(name, "")
        return None if raw == "" else _bounded(name, raw, low, None)

    def optional_flag(self, name: str) -> bool | None:
        raw = self.environ.get(name, "").strip().lower()
        if raw == "":
            return None
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _bounded(name: str, raw: str, low: int | None, high: int | None) -> int:
    text = raw.strip()
    if not (text.isascii() and text.lstrip("-").isdigit()):
        raise ConfigError(f"{name} must be a whole number, not {raw!r}")
    value = int(text)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{name} must be within [{low}, {high}], not {value}")
    return value


# Each limit under its provider-neutral name first; PAYME_APARTMENT_* (the names from before Click read the
# same limits) count when the neutral one is absent.
_LIMIT_NAMES = {
    "min_tiyin": ("APARTMENT_MIN_TIYIN", "PAYME_APARTMENT_MIN_TIYIN"),
    "max_tiyin": ("APARTMENT_MAX_TIYIN", "PAYME_APARTMENT_MAX_TIYIN"),
}


def _limits(env: _Env) -> ApartmentLimits:
    defaults = ApartmentLimits()
    values: dict[str, int] = {}
    for attribute, names in _LIMIT_NAMES.items():
        found = env.first(names)
        values[attribute] = (
            getattr(defaults, attribute) if found is None else _bounded(found[0], found[1], 1, None)
        )
    return ApartmentLimits(**values)


def _payme(env: _Env, environment: str) -> PaymeSettings:
    allowlist = env.optional_flag("PAYME_IP_ALLOWLIST")
    return PaymeSettings(
        merchant_id=env.text("PAYME_MERCHANT_ID", ""),
        checkout_url=env.text("PAYME_CHECKOUT_URL", _PAYME_DEFAULTS.checkout_url),
        subscribe_url=env.text("PAYME_SUBSCRIBE_URL", _PAYME_DEFAULTS.subscribe_url),
        key_secret_arn=env.text("PAYME_KEY_SECRET_ARN", ""),
        invoice_field=env.text("PAYME_INVOICE_FIELD", _PAYME_DEFAULTS.invoice_field),
        apartment_field=env.text("PAYME_APARTMENT_FIELD", _PAYME_DEFAULTS.apartment_field),
        topup_title=env.text("PAYME_TOPUP_TITLE", _PAYME_DEFAULTS.topup_title),
        topup_ikpu=env.text("PAYME_TOPUP_IKPU", ""),
        topup_package_code=env.text("PAYME_TOPUP_PACKAGE_CODE", ""),
        topup_vat_percent=env.integer("PAYME_TOPUP_VAT_PERCENT", 0, low=0, high=100),
        reversal_window_ms=env.optional_integer("PAYME_REVERSAL_WINDOW_MS", low=0),
        key_overlap_seconds=env.integer("PAYME_KEY_OVERLAP_SECONDS", 300, low=0),
        ip_check_enabled=environment == "prod" if allowlist is None else allowlist,
        allowed_ips=parse_ip_ranges(env.text("PAYME_ALLOWED_IPS", PAYME_SOURCE_IPS)),
        statement_max_days=env.integer("PAYME_STATEMENT_MAX_DAYS", 366, low=1),
    )


def _click(env: _Env) -> ClickSettings:
    cancel_code = env.integer("CLICK_CANCEL_AFTER_CONFIRM_ERROR", -4)
    if cancel_code not in (-4, -9):
        raise ConfigError("CLICK_CANCEL_AFTER_CONFIRM_ERROR is -4 (legacy tester) or -9 (Postman suite)")
    return ClickSettings(
        service_id=env.text("CLICK_SERVICE_ID", ""),
        merchant_id=env.text("CLICK_MERCHANT_ID", ""),
        merchant_user_id=env.text("CLICK_MERCHANT_USER_ID", ""),
        secret_key_secret_arn=env.text("CLICK_SECRET_KEY_SECRET_ARN", ""),
        pay_url=env.text("CLICK_PAY_URL", _CLICK_DEFAULTS.pay_url),
        cancel_after_confirm_error=cancel_code,
        reversal_queue_url=env.text("CLICK_REVERSAL_QUEUE_URL", ""),
        complete_queue_url=env.text("CLICK_COMPLETE_QUEUE_URL", ""),
        merchant_api_url=env.text("CLICK_MERCHANT_API_URL", _CLICK_DEFAULTS.merchant_api_url),
    )


def _autopay(env: _Env) -> AutopaySettings:
    return AutopaySettings(
        retry_days=env.integer("AUTOPAY_RETRY_DAYS", _AUTOPAY_DEFAULTS.retry_days, low=0, high=27),
        kms_key_id=env.text("AUTOPAY_KMS_KEY_ID", ""),
        queue_url=env.text("AUTOPAY_QUEUE_URL", ""),
        shards=env.integer("AUTOPAY_SHARDS", _AUTOPAY_DEFAULTS.shards, low=1, high=1000),
        lease_ms=env.integer("AUTOPAY_LEASE_MS", _AUTOPAY_DEFAULTS.lease_ms, low=1000),
    )


def _pages(env: _Env) -> PagesSettings:
    base = env.text("PUBLIC_BASE_URL", "").strip().rstrip("/")
    if base and not base.startswith(("https://", "http://")):
        raise ConfigError(f"PUBLIC_BASE_URL must be an http(s) URL, not {base!r}")
    return PagesSettings(
        public_base_url=base,
        require_signed=bool(env.optional_flag("PAY_PAGE_REQUIRE_SIGNED")),
        signing_key_secret_arn=env.text("LINK_SIGNING_KEY_SECRET_ARN", ""),
        payme_offer_url=env.text("PAYME_OFFER_URL", ""),
    )


def _ops(env: _Env) -> OpsSettings:
    return OpsSettings(
        audit_ttl_days=env.integer("AUDIT_TTL_DAYS", _OPS_DEFAULTS.audit_ttl_days, low=1, high=3650),
        reports_bucket=env.text("REPORTS_BUCKET", ""),
        payme_stuck_ms=env.integer("RECON_PAYME_STUCK_MS", _OPS_DEFAULTS.payme_stuck_ms, low=0),
        click_stuck_ms=env.integer("RECON_CLICK_STUCK_MS", _OPS_DEFAULTS.click_stuck_ms, low=0),
        lookback_days=env.integer("RECON_LOOKBACK_DAYS", _OPS_DEFAULTS.lookback_days, low=1, high=60),
    )


_TABLE_VARIABLES: dict[str, str] = {
    "apartments": "APARTMENTS_TABLE",
    "invoices": "INVOICES_TABLE",
    "charges": "CHARGES_TABLE",
    "postings": "POSTINGS_TABLE",
    "transactions": "TRANSACTIONS_TABLE",
    "idempotency": "IDEMPOTENCY_TABLE",
    "autopay": "AUTOPAY_TABLE",
    "audit": "AUDIT_TABLE",
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = _Env(os.environ if environ is None else environ)
    environment = env.text("TOLOV_ENV", "dev")
    defaults = Tables()
    tables = Tables(**{a: env.text(v, getattr(defaults, a)) for a, v in _TABLE_VARIABLES.items()})
    return Settings(
        region=env.text("AWS_REGION", "") or env.text("AWS_DEFAULT_REGION", "") or Settings().region,
        dynamodb_endpoint=env.text("AWS_ENDPOINT_URL_DYNAMODB", "")
        or env.text("AWS_ENDPOINT_URL", "")
        or None,
        tables=tables,
        limits=_limits(env),
        payme=_payme(env, environment),
        click=_click(env),
        autopay=_autopay(env),
        pages=_pages(env),
        event_bus=env.text("EVENT_BUS_NAME", ""),
        ops=_ops(env),
    )


@cache
def get_settings() -> Settings:
    """The container's settings, read on first use."""
    return load_settings()


# Secrets are cached for a few minutes so that a rotated key (Payme ChangePassword, an operator's
# put-secret-value) reaches every warm container without a redeploy.
SECRET_MAX_AGE_SECONDS = 300


def get_secret(secret_id: str, *, force_fetch: bool = False) -> str:
    value = secrets_provider().get(secret_id, max_age=SECRET_MAX_AGE_SECONDS, force_fetch=force_fetch)
    if not isinstance(value, str):
        raise TypeError("secret is not a string")
    return value


def secrets_provider() -> "SecretsProvider":
    """Powertools' secrets provider of the container (the one parameters.get_secret and set_secret use, its
    cache emptied by parameters.clear_caches), on the container's Secrets Manager client: tolov.aws's one
    session and time-outs, not boto3's default session. Called at init by the handlers that read a secret."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    from tolov import aws

    provider = DEFAULT_PROVIDERS.get("secrets")
    if not isinstance(provider, SecretsProvider):
        provider = SecretsProvider(boto3_client=aws.client("secretsmanager"))
        DEFAULT_PROVIDERS["secrets"] = provider
    return provider
