"""tolov.frozen.Record, the settings' value type: what a NamedTuple gave them, without its generated code."""

import copy
import pickle

import pytest

from tolov.frozen import Record
from tolov.settings import ApartmentLimits, ConfigError, PaymeSettings, Settings, Tables, load_settings


class Point(Record):
    x: int
    y: int = 0


class Point3(Point):
    z: int = 0


class Shifted(Point):
    y: int = 5  # the same field, another default


def test_fields_in_order_with_defaults_and_keywords_only() -> None:
    assert Point._fields == ("x", "y") and Point3._fields == ("x", "y", "z")
    assert Shifted._fields == ("x", "y") and Shifted(x=1).y == 5 and repr(Shifted(x=1)) == "Shifted(x=1, y=5)"
    point = Point3(x=1, z=3)
    assert (point.x, point.y, point.z) == (1, 0, 3)
    with pytest.raises(TypeError, match="needs 'x'"):
        Point()
    with pytest.raises(TypeError, match="no field 'w'"):
        Point(x=1, w=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1)  # type: ignore[misc]


def test_immutable_equal_by_value_hashable_and_shown_in_full() -> None:
    point = Point(x=1)
    with pytest.raises(AttributeError, match="cannot assign"):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError, match="cannot delete"):
        del point.y  # type: ignore[misc]
    assert point == Point(x=1, y=0) and point != Point(x=1, y=1)
    assert Point3(x=1) != Point(x=1)  # another type is never equal
    assert len({Point(x=1), Point(x=1, y=0), Point(x=2)}) == 2
    assert repr(Point3(x=1, y=2)) == "Point3(x=1, y=2, z=0)"


def test_replace_copy_and_pickle_keep_the_value() -> None:
    point = Point3(x=1, y=2)
    moved = point._replace(z=9)
    assert moved == Point3(x=1, y=2, z=9) and point.z == 0
    assert copy.copy(point) == point and copy.deepcopy(point) == point
    assert pickle.loads(pickle.dumps(point)) == point


def test_check_runs_on_construction_and_replace() -> None:
    with pytest.raises(ConfigError, match="above"):
        ApartmentLimits(min_tiyin=10, max_tiyin=5)
    with pytest.raises(ConfigError, match="positive"):
        ApartmentLimits()._replace(min_tiyin=0)
    assert ApartmentLimits(max_tiyin=200_000).allows_topup(150_000)


def test_settings_nest_records_and_replace_one_part() -> None:
    settings = load_settings({"PAYME_MERCHANT_ID": "m-1", "INVOICES_TABLE": "inv"})
    assert settings.tables == Tables(invoices="inv") and settings.payme.merchant_id == "m-1"
    changed = settings._replace(payme=settings.payme._replace(merchant_id="m-2"))
    assert changed.payme == PaymeSettings(merchant_id="m-2") and changed.tables is settings.tables
    assert settings == load_settings({"PAYME_MERCHANT_ID": "m-1", "INVOICES_TABLE": "inv"})
    assert Settings().tables == Tables()
