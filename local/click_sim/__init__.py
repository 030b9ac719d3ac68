"""A local Click Merchant API: payment status and reversal, as Click answers them.

``make run`` serves it at http://127.0.0.1:3002/v2/merchant (``CLICK_MERCHANT_API_URL`` in
local/local.env; a stack started by the tests takes a free port, named ``click=`` on its READY line).

- ``GET /v2/merchant/payment/status/{service_id}/{payment_id}`` → ``{"error_code": 0, "error_note",
  "payment_id", "payment_status"}`` (2 paid, 1 processing, 0 created, < 0 failed or reversed);
- ``DELETE /v2/merchant/payment/reversal/{service_id}/{payment_id}`` → ``{"error_code": 0, "error_note",
  "payment_id"}``; the payment's status is then −1 ("reversed"), and a second reversal is refused.

The ``Auth`` header is checked as Click does: ``<merchant_user_id>:sha1(<timestamp><secret>):<timestamp>``
(HTTP 401 otherwise); a foreign service id is HTTP 403. Click debited every payment the local callbacks
were posted for, so an id it was not told about is paid (2); ``POST /_sim/payment {"payment_id",
"status"}`` sets a status (an int, or "unknown" for a payment Click does not know: error_code −5).
It shares no code with tolov's client (tolov.click.merchant_api): a mistake in one is not copied into
the other.
"""

from local.click_sim.server import DEFAULT_PORT, ClickSimulator, ClickSimulatorServer, running, serve

__all__ = ["DEFAULT_PORT", "ClickSimulator", "ClickSimulatorServer", "running", "serve"]
