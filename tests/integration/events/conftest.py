from tests.payme_harness import harness  # noqa: F401
