"""The daily reconciliation: stuck states resolved through the providers' status APIs, and a report of the
day's payments per provider checked against the ledger."""
