"""ReconciliationFunction's edge: the daily schedule (yesterday, Tashkent) and the billing API's report
routes (GET /reports/{date}, POST /reports/{date}/run), errors in the billing API's shape."""

from datetime import date
from http import HTTPStatus
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from tolov.autopay.charge_queue import SqsChargeQueue
from tolov.billing_api import replies
from tolov.billing_api.resolver import JsonResolver
from tolov.click.dynamo import DynamoClickRepository
from tolov.click.merchant_api import ClickMerchantClient
from tolov.click.reversal import SqsReversalQueue
from tolov.clock import now_ms
from tolov.events.bus import EventBus
from tolov.observability import logger
from tolov.payme.dynamo import DynamoRepository
from tolov.payme.subscribe_api import build_subscribe_client
from tolov.reconciliation.dynamo import DynamoSources
from tolov.reconciliation.reports import S3Reports
from tolov.reconciliation.run import Reconciliation, yesterday
from tolov.reconciliation.stuck import Resolver
from tolov.settings import Settings, get_secret
from tolov.wiring import Wiring

DatePath = Annotated[date, Path()]
Format = Annotated[Literal["json", "csv"], Query()]


def build_reconciliation(settings: Settings) -> Reconciliation:
    click = settings.click
    ops = settings.ops
    payme_repository = DynamoRepository()
    sources = DynamoSources(payme_repository)

    def click_client() -> ClickMerchantClient:  # per run: the secret from the five-minute cache
        return ClickMerchantClient(
            service_id=int(click.service_id),
            merchant_user_id=click.merchant_user_id,
            secret_key=get_secret(click.secret_key_secret_arn),
            base_url=click.merchant_api_url,
        )

    subscribe = Wiring(lambda: build_subscribe_client(settings), eager=False)
    resolver = Resolver(
        sources,
        receipts=subscribe.get,
        click=click_client,
        payme_writes=payme_repository,
        click_writes=DynamoClickRepository(),
        reversals=SqsReversalQueue(click.reversal_queue_url),
        charges=SqsChargeQueue(settings.autopay.queue_url),
        payme_stuck_ms=ops.payme_stuck_ms,
        click_stuck_ms=ops.click_stuck_ms,
        lookback_days=ops.lookback_days,
        shards=settings.autopay.shards,
    )
    events = EventBus(settings.event_bus)
    return Reconciliation(sources, resolver, S3Reports(ops.reports_bucket), events, subscribe.get)


def build_api(reconciliation: Wiring[Reconciliation]) -> JsonResolver:
    app = JsonResolver()
    replies.register(app)

    @app.get("/reports/<day>")
    def get_report(day: DatePath, format: Format = "json") -> Response[Any]:
        body = reconciliation.get().report(day, format)
        if body is None:
            return replies.error(HTTPStatus.NOT_FOUND, f"no report for {day.isoformat()} yet: it has not run")
        kind = content_types.APPLICATION_JSON if format == "json" else "text/csv; charset=utf-8"
        return Response(HTTPStatus.OK, kind, body)

    @app.post("/reports/<day>/run")
    def run_report(day: DatePath) -> Response[dict[str, str]]:
        reconciliation.get().run(day)
        return Response(HTTPStatus.ACCEPTED, content_types.APPLICATION_JSON, {"date": day.isoformat()})

    return app


def answer(
    reconciliation: Wiring[Reconciliation], api: JsonResolver, event: dict[str, Any], context: LambdaContext
) -> dict[str, Any]:
    """An API Gateway event is a report route; anything else is the schedule's run of yesterday."""
    if "httpMethod" in event:
        result: dict[str, Any] = api.resolve(event, context)
        return result
    day = yesterday(now_ms()) if not event.get("date") else date.fromisoformat(str(event["date"]))
    built = reconciliation.get().run(day)
    logger.info("scheduled reconciliation", extra={"date": built["date"], "matches": built["matches"]})
    return {"date": built["date"], "matches": built["matches"], "mismatches": len(built["mismatches"])}
