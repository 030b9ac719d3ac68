"""Logger, Tracer and Metrics: one of each per container, shared by every handler and edge module.

Powertools names them after POWERTOOLS_SERVICE_NAME and POWERTOOLS_METRICS_NAMESPACE (template Globals).
Creating them in one place keeps one logger configuration and one metrics buffer per function, whatever
imports them.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
