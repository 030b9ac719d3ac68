"""The base of the few immutable value types that cannot be a typing.NamedTuple.

A NamedTuple is the cheap value type (settings.py says why not a dataclass), but it is a tuple: every
field is in its repr and its equality, and json.dumps writes it as an array, so a structured log line
that meets one (Powertools' json_default=str never sees a tuple) would print a secret field as well.
Types with a field kept out of the repr or out of equality derive from Frozen instead and name, per
class, the fields their __init__ sets, the ones compared and hashed, and the ones shown.
"""

from typing import Any, ClassVar


class Frozen:
    __slots__ = ()

    _fields: ClassVar[tuple[str, ...]]  # every field, in the constructor's order; the class's __slots__
    _compared: ClassVar[tuple[str, ...]]  # equality and hash, as a dataclass field with compare=True
    _shown: ClassVar[tuple[str, ...]]  # the repr; a secret is never among them

    def _init(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of {type(self).__qualname__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of {type(self).__qualname__}")

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._compared)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frozen) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    # copy and pickle restore slots through setattr, which is refused above.
    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._fields}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._init(**state)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._shown)
        return f"{type(self).__qualname__}({shown})"
