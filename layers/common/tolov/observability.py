"""Logger and Metrics: one of each per container, shared by every handler and edge module.

Powertools names them after POWERTOOLS_SERVICE_NAME and POWERTOOLS_METRICS_NAMESPACE (template Globals).
Creating them in one place keeps one logger configuration and one metrics buffer per function, whatever
imports them.

Tracing is the template's alone (Tracing: Active: Lambda records a segment per invocation, with its
init, invocation and overhead, under API Gateway's trace). No in-process Tracer: Powertools' Tracer loads
the X-Ray SDK (end of support 2027-02-25), which costs a cold start ~25 ms, every call ~0.3 ms CPU and
the layer 1.8 MB, for a subsegment per AWS call (figures: bench/cold_start.py).

Correlation: correlate() puts the provider's transaction id (and the like) on every line logged for the
rest of the request; the handlers clear it between requests (inject_lambda_context(clear_state=True)).
"""

import os

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()

# Logged ids come from requests: bounded, so garbage cannot flood a line.
MAX_ID_CHARS = 64


def correlate(**ids: object) -> None:
    """Every later line of this request carries these ids (None and empty values are left out)."""
    keys = {name: str(value)[:MAX_ID_CHARS] for name, value in ids.items() if value not in (None, "")}
    if keys:
        logger.append_keys(**keys)


def count_alarmed(name: str, value: float = 1) -> None:
    """A metric with the service dimension only, flushed at once: what an alarm in the template watches,
    whatever dimensions the function's other metrics of the request carry (Payme's `method`)."""
    service = os.environ.get("POWERTOOLS_SERVICE_NAME", "tolov")
    with single_metric(
        name=name, unit=MetricUnit.Count, value=value, default_dimensions={"service": service}
    ):
        pass
