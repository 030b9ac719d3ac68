"""Checks of one reply against what the provider's acceptance tool expects, and the table they make.

A check compares named fields of a reply (dotted paths: "error.code", "result.state"; "http" is the HTTP
status) with expected values, literal or a rule (Between, OfType, Languages). A Report collects checks; a
strict one (what a test wants) raises AssertionError at the first failure instead.
"""

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol


class Rule(Protocol):
    def matches(self, got: object) -> bool: ...


class _Absent:
    """A field that is not in the reply (expected absent, or missing)."""

    def __repr__(self) -> str:
        return "absent"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class Between:
    low: int
    high: int

    def matches(self, got: object) -> bool:
        return type(got) is int and self.low <= got <= self.high

    def __str__(self) -> str:
        return f"{self.low}..{self.high}"


@dataclass(frozen=True)
class OfType:
    kind: type
    positive: bool = False

    def matches(self, got: object) -> bool:
        # type() rather than isinstance(): a JSON true is no integer id.
        if type(got) is not self.kind:
            return False
        if not self.positive:
            return True
        return got > 0 if isinstance(got, int) else bool(got)

    def __str__(self) -> str:
        if not self.positive:
            return f"a {self.kind.__name__}"
        return "a positive int" if self.kind is int else f"a non-empty {self.kind.__name__}"


@dataclass(frozen=True)
class Languages:
    """Payme's payer-facing message: an object in ru, uz and en."""

    def matches(self, got: object) -> bool:
        return isinstance(got, dict) and set(got) == {"ru", "uz", "en"}

    def __str__(self) -> str:
        return "{ru, uz, en}"


def lookup(reply: Mapping[str, Any], path: str) -> Any:
    value: Any = reply
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return ABSENT
        value = value[part]
    return value


def matches(expected: object, got: object) -> bool:
    if hasattr(expected, "matches"):
        return bool(expected.matches(got))
    # A JSON integer is not equal to a string or a boolean here, though Python would say 1 == True.
    return type(expected) is type(got) and expected == got


def shown(value: object) -> str:
    if isinstance(value, (Between, OfType, Languages, _Absent)):
        return str(value) if not isinstance(value, _Absent) else "absent"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """Every scalar of a JSON value by its dotted path."""
    if isinstance(value, Mapping) and value:
        found: dict[str, Any] = {}
        for key, item in value.items():
            found.update(leaves(item, f"{prefix}.{key}" if prefix else str(key)))
        return found
    return {prefix: value}


@dataclass(frozen=True)
class Check:
    scenario: str
    step: str
    expected: str
    got: str
    differed: tuple[str, ...]  # the fields that did not match; empty when the step passed

    @property
    def passed(self) -> bool:
        return not self.differed


class Aborted(Exception):
    """A step failed in a way that leaves the rest of its scenario nothing to work with."""


class Report:
    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict
        self.checks: list[Check] = []

    def expect(
        self,
        scenario: str,
        step: str,
        reply: Mapping[str, Any],
        expected: Mapping[str, Any],
        envelope: Mapping[str, Any] | None = None,
    ) -> bool:
        """`expected` is what the step is about; `envelope` is checked as well but shown only where it
        differs, so that the table's columns say what each step tests."""
        checked = {**(envelope or {}), **expected}
        differed = tuple(path for path, want in checked.items() if not matches(want, lookup(reply, path)))
        shown_paths = [*expected, *(p for p in differed if p not in expected)]
        return self.add(
            Check(
                scenario,
                step,
                " ".join(f"{path}={shown(checked[path])}" for path in shown_paths),
                " ".join(f"{path}={shown(lookup(reply, path))}" for path in shown_paths),
                differed,
            ),
            reply,
        )

    def same(self, scenario: str, step: str, first: Mapping[str, Any], again: Mapping[str, Any]) -> bool:
        """A repeated request: its reply must equal the first one, field for field."""
        want, got = leaves(first), leaves(again)
        differed = tuple(
            sorted(p for p in want.keys() | got.keys() if want.get(p, ABSENT) != got.get(p, ABSENT))
        )
        return self.add(
            Check(
                scenario,
                step,
                "the first reply",
                " ".join(f"{p}={shown(got.get(p, ABSENT))}" for p in differed) or "identical",
                differed,
            ),
            again,
        )

    def abort(self, scenario: str, step: str, why: str) -> None:
        self.add(Check(scenario, step, "a reply", why, ("reply",)), {})
        raise Aborted(why)

    def add(self, check: Check, reply: Mapping[str, Any]) -> bool:
        self.checks.append(check)
        if self.strict and not check.passed:
            raise AssertionError(f"{format_detail(check)}\n  reply: {json.dumps(reply, ensure_ascii=False)}")
        return check.passed

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def scenarios(self) -> list[str]:
        return list(dict.fromkeys(c.scenario for c in self.checks))

    def table(self, width: int = 48) -> str:
        """One row per check, long cells cut to `width`; then every failure in full."""
        head = ("scenario", "step", "expected", "got", "differed", "result")
        rows = [head] + [
            (c.scenario, c.step, c.expected, c.got, ",".join(c.differed), "PASS" if c.passed else "FAIL")
            for c in self.checks
        ]
        # Only expected and got are cut: the step names what was sent, and the failures follow in full.
        cut = [
            tuple(
                cell if i not in (2, 3) or len(cell) <= width else cell[: width - 1] + "…"
                for i, cell in enumerate(row)
            )
            for row in rows
        ]
        widths = [max(len(row[i]) for row in cut) for i in range(len(head))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in cut
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        failures = self.failures
        lines.append("")
        lines.append(f"{len(self.checks)} checks in {len(self.scenarios)} scenarios: {len(failures)} failed")
        lines.extend(format_detail(c) for c in failures)
        return "\n".join(lines)

    def as_json(self) -> str:
        return json.dumps(
            {
                "passed": not self.failures,
                "checks": [asdict(c) | {"passed": c.passed} for c in self.checks],
            },
            ensure_ascii=False,
            indent=2,
        )


def format_detail(check: Check) -> str:
    return (
        f"FAIL {check.scenario} / {check.step}\n  expected: {check.expected}\n  got:      {check.got}\n"
        f"  differed: {', '.join(check.differed)}"
    )
