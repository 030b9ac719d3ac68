"""Immutable value types cheaper to define than a dataclass or a typing.NamedTuple.

Frozen: the base of the value types that cannot be a typing.NamedTuple. A NamedTuple is a tuple: every
field is in its repr and its equality, and json.dumps writes it as an array, so a structured log line
that meets one (Powertools' json_default=str never sees a tuple) would print a secret field as well.
Types with a field kept out of the repr or out of equality derive from Frozen instead and name, per
class, the fields their __init__ sets, the ones compared and hashed, and the ones shown.

Record: a Frozen whose fields are its annotated class attributes, each with its default, set by keyword.
For the configuration (tolov.settings), which every function defines at its cold start: on Python 3.13 a
@dataclass execs generated code at import and a NamedTuple evals its __new__, which no .pyc caches; the
nine settings classes cost every cold start about 8 M instructions more as NamedTuples (bench/cold_start.py).
"""

import inspect
from typing import Any, ClassVar, Self, dataclass_transform


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


@dataclass_transform(kw_only_default=True, frozen_default=True)
class Record(Frozen):
    """Fields: the class's own annotated attributes, in order, each with its default (immutable values
    only: a default is shared by every instance). Every field is compared and shown, as in a NamedTuple:
    no secret goes in a Record. _check() runs after the fields are set: a subclass's validation."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = tuple(inspect.get_annotations(cls))  # the class body's own, not its bases'
        # A field annotated again (a new default) keeps its base's place, as in a dataclass.
        cls._fields = cls._compared = cls._shown = tuple(dict.fromkeys((*getattr(cls, "_fields", ()), *own)))

    def __init__(self, **values: Any) -> None:
        unknown = values.keys() - set(self._fields)
        if unknown:
            raise TypeError(f"{type(self).__qualname__} has no field {sorted(unknown)[0]!r}")
        # A field not given reads its class attribute, the default; one without a default must be given.
        for name in self._fields:
            if name not in values and not hasattr(type(self), name):
                raise TypeError(f"{type(self).__qualname__} needs {name!r}")
        self._init(**values)
        self._check()

    def _check(self) -> None:
        """Raise if the fields do not make a valid value."""

    def _replace(self, **changes: Any) -> Self:
        return type(self)(**{**self.__getstate__(), **changes})
