"""The audit trail: every provider request and our reply, masked, kept for a while, read by support."""
