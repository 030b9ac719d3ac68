"""The billing platform's API on us: routes, contract, error replies, Idempotency-Key, payment links."""
