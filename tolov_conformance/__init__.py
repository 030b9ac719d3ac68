"""The conformance runner: Payme's sandbox scenarios and Click's tester lists against any base URL.

Tooling, not product: it talks to a stage over HTTP only, with the standard library, and nothing in
layers/ or functions/ imports it (tests/checks/test_architecture.py holds both).
"""
