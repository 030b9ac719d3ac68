"""The published events' JSON Schemas (docs/events/*.schema.json): validate an event's detail against
the schema of its type, refs between the files resolved locally."""

import json
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "events"


def _load() -> tuple[Registry, dict[str, dict[str, Any]]]:
    registry: Registry = Registry()
    by_type: dict[str, dict[str, Any]] = {}
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
        by_type[path.name.removesuffix(".schema.json")] = schema
    return registry, by_type


REGISTRY, BY_TYPE = _load()


def validator(event_type: str) -> Draft202012Validator:
    return Draft202012Validator(BY_TYPE[event_type], registry=REGISTRY, format_checker=FormatChecker())


def validate(detail: dict[str, Any]) -> None:
    """Raises jsonschema.ValidationError when the detail does not match its type's schema. JSON Schema
    counts 25000.0 as an integer; tiyin are written without a fraction, so that is refused too."""
    validator(str(detail["type"])).validate(detail)
    if type(detail["amount"]) is not int:
        raise jsonschema.ValidationError(f"amount {detail['amount']!r} is not written as an integer")


def validate_delivered(event: dict[str, Any]) -> None:
    """An event as EventBridge delivers it: source tolov, detail-type = detail.type."""
    assert event["source"] == "tolov", event
    assert event["detail-type"] == event["detail"]["type"], event
    validate(event["detail"])
