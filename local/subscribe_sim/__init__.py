"""A local Payme Subscribe API: cards and receipts in memory, Payme's test cards, Payme's errors.

``make run`` serves it at http://127.0.0.1:3001/api (``PAYME_SUBSCRIBE_URL`` in local/local.env; a stack
started by the tests takes a free port, named by its READY line). It speaks the Subscribe API's JSON-RPC
(``{"id", "method", "params"}`` in, HTTP 200 ``{"jsonrpc", "id", "result" | "error"}`` out), checks
``X-Auth`` as Payme does (the cashbox id alone for cards.create, cards.get_verify_code and cards.verify,
``id:key`` for the rest; cards.check takes either) and answers a browser's CORS preflight, so a card form
can call the front-end methods directly.

Test cards (reference §5.5): every one takes ``expire`` "0399" (cards.create's MMYY; replies show "03/99";
receipts show "9903", YYMM) and the SMS code 666666.

====================  =====================================================================================
card                  behaviour
====================  =====================================================================================
8600495473316478      OK, recurrent
8600069195406311      OK, recurrent
8600060921090842      cards.get_verify_code fails: −31301 SMS notification not connected
3333336415804657      expired: cards.create −31301
4444445987459073      blocked: cards.create −31301
8600143417770323      receipts.pay −32400 unknown system error (the receipt stays 0, nothing is called)
8600134301849596      receipts.pay answers after 10 s (state 2 meanwhile), then −31002 and the receipt is 50
====================  =====================================================================================

Every card has a balance, 10 000 000 sum to begin with. ``POST /_sim/balance {"number", "balance"}``
(tiyin) sets it; ``POST /_sim/card {"number", "status": "ok"|"expired"|"blocked"|"removed", "recurrent"?}``
changes a card later ("removed" removes its saved tokens; a number that is no test card becomes one);
``POST /_sim/latency {"ms"}`` delays every answer of /api; ``POST /_sim/callbacks {"enabled"}`` switches
the merchant callbacks.

Errors carry Payme's code and a ``{ru, uz, en}`` message; ``data`` names the field or the state. Payme
publishes no Subscribe code table: these follow reference §5.5 and §3.3.

======  ===========================================================================================
code    when
======  ===========================================================================================
−32300  the HTTP method is not POST
−32700  the body is not JSON
−32600  not a JSON-RPC request (no method, params not an object), or a body over 64 KiB
−32601  unknown method (``data`` the method)
−32602  a parameter missing or of the wrong type (``data`` the field)
−32504  X-Auth missing, another cashbox id, a wrong key, or the id alone for a back-end method
−32400  receipts.pay with 8600143417770323
−31002  receipts.pay with 8600134301849596, after 10 s
−31101  cards.verify with no code requested, or after the code's 60 s
−31102  cards.verify: a third wrong code (request a new one)
−31103  cards.verify: a wrong code
−31300  cards.create: a number that is no test card, or an expiry that is not the card's
−31301  cards.create of an expired or blocked card, cards.check of one; get_verify_code, SMS not connected
−31400  a token that is unknown, removed (cards.remove, /_sim/card "removed", a used single-use
        token, the token cards.verify replaced) or, for receipts.pay, not verified
−31008  receipts.pay of a receipt that is not in state 0; receipts.cancel of one in flight
−31602  no receipt with that id
−31610  receipts.create: amount, account or detail invalid; receipts.send: the phone (``data``)
−31611  receipts.create: amount below 1 sum;  −31612: above 50 000 000 sum
−31622  receipts.pay: our Merchant API endpoint did not answer, answered garbage, or −32400
−31623  receipts.pay: our Merchant API endpoint refused (any other error; ``data`` has its method and code)
−31630  receipts.pay: insufficient funds, or the card expired or blocked (the message says which; the
        receipt path has one code for them all, cards.check tells them apart). −31303, the
        insufficient-funds code of payme-pkg's map, is not used: no card method checks a balance.
======  ===========================================================================================

Receipts follow Payme's states: 0 created; receipts.pay 1 (checks, CreateTransaction on our endpoint),
2 (debiting), 3 (PerformTransaction), 4 paid; a failed debit cancels (50). receipts.cancel: 0 → 50,
4 → 21 (queued; refunded and 50 at the next receipts.check/get), 50 stays. A PerformTransaction our
endpoint did not accept leaves the receipt in 30 until a later check gets it through.

Merchant callbacks, as a cashbox with a Merchant API endpoint: receipts.pay first calls our ``POST /payme``
(Basic ``Paycom:<key>``) with CheckPerformTransaction and CreateTransaction (the receipt's id as Payme's
transaction id, its account and amount), then PerformTransaction once the card is debited, or
CancelTransaction reason 2 when the debit fails; refunding a paid receipt sends CancelTransaction reason 5.
``PAYME_SIM_MERCHANT_CALLBACKS=0`` (environment or local.env) starts with them off.

Thread-safe: one lock over the state, never held across a callback, a delay or a socket. Bounded: 50 000
tokens and 50 000 receipts (the oldest are forgotten first), 64 KiB bodies, 128 requests at once (more
answer HTTP 503).
"""

from local.subscribe_sim.cards import (
    DEFAULT_BALANCE,
    SMS_CODE,
    TEST_CARDS,
    TEST_EXPIRE,
    Behaviour,
    CardStatus,
)
from local.subscribe_sim.errors import ERRORS, SimError
from local.subscribe_sim.merchant import MerchantEndpoint
from local.subscribe_sim.server import API_PATH, DEFAULT_PORT, SimulatorServer, running, serve
from local.subscribe_sim.simulator import CALLBACKS_SETTING, SubscribeSimulator, callbacks_enabled

__all__ = [
    "API_PATH",
    "CALLBACKS_SETTING",
    "DEFAULT_BALANCE",
    "DEFAULT_PORT",
    "ERRORS",
    "SMS_CODE",
    "TEST_CARDS",
    "TEST_EXPIRE",
    "Behaviour",
    "CardStatus",
    "MerchantEndpoint",
    "SimError",
    "SimulatorServer",
    "SubscribeSimulator",
    "callbacks_enabled",
    "running",
    "serve",
]
