from tests.payme_harness import handler, harness  # noqa: F401
