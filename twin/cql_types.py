"""Type-checks a CQL2 filter against the registry's field types before any SQL exists.

Without it PostgreSQL finds the mistake and says it in its own words (``operator does not
exist: text = smallint``), or fails outright (``gemarkung LIKE 5``, a text property as a
geometry). Here each operand gets a kind (text, number, boolean, temporal, geometry) and every
operator is checked for the kinds it takes; a refusal names the property, its type and what
is expected.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from pygeofilter import ast, values

from twin.registry import Collection, FieldType


class Kind(enum.StrEnum):
    """What an operand of a filter is."""

    TEXT = "text"
    NUMBER = "a number"
    BOOLEAN = "a boolean"
    TEMPORAL = "a date or timestamp"
    GEOMETRY = "a geometry"
    ARRAY = "a list of texts"
    NULL = "NULL"
    UNKNOWN = "unknown"  # left to the translator (an unsupported construct, say)


_FIELD_KINDS = {
    FieldType.TEXT: Kind.TEXT, FieldType.INTEGER: Kind.NUMBER, FieldType.DOUBLE: Kind.NUMBER,
    FieldType.DATE: Kind.TEMPORAL, FieldType.TIMESTAMPTZ: Kind.TEMPORAL,
    FieldType.BOOLEAN: Kind.BOOLEAN, FieldType.TEXT_ARRAY: Kind.ARRAY,
    # A time of day is no CQL2 temporal (those are dates and instants); no field of this type
    # is queryable, so this only keeps the table whole.
    FieldType.TIME: Kind.UNKNOWN,
}
_SPATIAL = (ast.SpatialComparisonPredicate, ast.BBox, ast.DistanceWithin, ast.DistanceBeyond)


class FilterTypeError(ValueError):
    """A filter combines operands of the wrong kinds; the message says which and why."""


def check_types(node: Any, collection: Collection) -> None:
    """Raise :class:`FilterTypeError` when ``node`` (a pygeofilter tree) is ill-typed."""
    _Checker(collection).kind(node)


class _Checker:
    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    def describe(self, node: Any) -> str:
        """An operand in words: "property 'flur' (a number)", "the text 'x'"."""
        if isinstance(node, ast.Attribute):
            return f"property '{node.name}' ({self.kind(node)})"
        if isinstance(node, str):
            return f"the text '{node}'"
        if isinstance(node, bool | int | float):
            return f"the value {node!r}" if isinstance(node, bool) else f"the number {node}"
        return self.kind(node).value

    def kind(self, n: Any) -> Kind:  # noqa: C901 - one dispatch, flat
        if isinstance(n, ast.Attribute):
            if n.name in ("geometry", self.collection.geometry_column):
                return Kind.GEOMETRY
            field = next((f for f in self.collection.all_fields if f.name == n.name), None)
            return _FIELD_KINDS[field.type] if field else Kind.UNKNOWN
        if isinstance(n, bool):
            return Kind.BOOLEAN
        if isinstance(n, int | float):
            return Kind.NUMBER
        if isinstance(n, str):
            return Kind.TEXT
        if isinstance(n, datetime | date | values.Interval):
            return Kind.TEMPORAL
        if n is None:
            return Kind.NULL
        if isinstance(n, list):
            return Kind.ARRAY
        if isinstance(n, values.Geometry | values.Envelope):
            return Kind.GEOMETRY
        if isinstance(n, ast.Function):
            return Kind.GEOMETRY if n.name.lower() == "bbox" else Kind.UNKNOWN
        if isinstance(n, ast.Combination):
            self.condition(n.lhs, n.op.value)
            self.condition(n.rhs, n.op.value)
            return Kind.BOOLEAN
        if isinstance(n, ast.Not):
            self.condition(n.sub_node, "NOT")
            return Kind.BOOLEAN
        if isinstance(n, ast.Comparison):
            # Named in words: pygeoapi HTML-escapes '<' and '>' in its JSON error answers.
            self.comparable(n.lhs, n.rhs, "a comparison",
                            ordered=not isinstance(n, ast.Equal | ast.NotEqual))
            return Kind.BOOLEAN
        if isinstance(n, ast.Between):
            self.comparable(n.lhs, n.low, "BETWEEN", ordered=True)
            self.comparable(n.lhs, n.high, "BETWEEN", ordered=True)
            return Kind.BOOLEAN
        if isinstance(n, ast.Like):
            if self.kind(n.lhs) is Kind.GEOMETRY:
                raise FilterTypeError(f"LIKE compares text; {self.describe(n.lhs)} is not text")
            if not isinstance(n.pattern, str):
                raise FilterTypeError(
                    "LIKE needs a text pattern in single quotes (e.g. gemarkung LIKE 'Str%'), "
                    f"not {self.describe(n.pattern)}")
            return Kind.BOOLEAN
        if isinstance(n, ast.In):
            for item in n.sub_nodes:
                self.comparable(n.lhs, item, "IN", ordered=False)
            return Kind.BOOLEAN
        if isinstance(n, ast.IsNull):
            self.kind(n.lhs)
            return Kind.BOOLEAN
        if isinstance(n, _SPATIAL):
            name = f"S_{n.op.value}" if isinstance(n, ast.SpatialComparisonPredicate) else \
                {ast.BBox: "BBOX", ast.DistanceWithin: "DWITHIN"}.get(type(n), "DBEYOND")
            for operand in (n.lhs, getattr(n, "rhs", None)):
                if operand is not None and self.kind(operand) not in (Kind.GEOMETRY,
                                                                      Kind.UNKNOWN):
                    raise FilterTypeError(
                        f"{name} takes geometries (the property 'geometry' or a geometry "
                        f"literal); {self.describe(operand)} is not one")
            return Kind.BOOLEAN
        if isinstance(n, ast.TemporalPredicate):
            op = n.op.value  # TCONTAINS for CQL2's T_CONTAINS, AFTER for T_AFTER
            for operand in (n.lhs, n.rhs):
                self.temporal(operand, "T_" + (op[1:] if op.startswith("T") else op))
            return Kind.BOOLEAN
        if isinstance(n, ast.ArrayPredicate):
            name = "A_" + n.op.value.upper().removeprefix("A")  # AEQUALS -> A_EQUALS
            for operand in (n.lhs, n.rhs):
                if self.kind(operand) not in (Kind.ARRAY, Kind.UNKNOWN):
                    raise FilterTypeError(
                        f"{name} compares lists (a list property or a list such as "
                        f"('09100107', '09100203')); {self.describe(operand)} is not one")
                if isinstance(operand, list) and not all(isinstance(v, str) for v in operand):
                    raise FilterTypeError(f"{name}: the list properties hold texts; give each "
                                          "element in single quotes")
            return Kind.BOOLEAN
        if isinstance(n, ast.Arithmetic):
            for operand in (n.lhs, n.rhs):
                if self.kind(operand) not in (Kind.NUMBER, Kind.UNKNOWN):
                    raise FilterTypeError(f"arithmetic ({n.op.value}) takes numbers; "
                                          f"{self.describe(operand)} is not one")
            return Kind.NUMBER
        return Kind.UNKNOWN

    def integer(self, node: Any) -> bool:
        """Whether ``node`` is an integer property (a literal for it must be whole)."""
        return isinstance(node, ast.Attribute) and any(
            f.name == node.name and f.type is FieldType.INTEGER
            for f in self.collection.all_fields)

    def condition(self, node: Any, op: str) -> None:
        if self.kind(node) not in (Kind.BOOLEAN, Kind.UNKNOWN):
            raise FilterTypeError(f"{op} combines conditions; {self.describe(node)} is not one")

    def temporal(self, node: Any, op: str) -> None:
        kind = self.kind(node)
        if kind is Kind.TEXT and isinstance(node, str) and _fits(node, Kind.TEMPORAL):
            return
        if kind not in (Kind.TEMPORAL, Kind.UNKNOWN):
            raise FilterTypeError(f"{op} compares dates or timestamps; {self.describe(node)} "
                                  "is not one")

    def comparable(self, lhs: Any, rhs: Any, op: str, *, ordered: bool) -> None:
        left, right = self.kind(lhs), self.kind(rhs)
        for node, kind in ((lhs, left), (rhs, right)):
            if kind is Kind.GEOMETRY:
                raise FilterTypeError(
                    f"{self.describe(node)} cannot be used in {op}; compare geometries with a "
                    "spatial predicate such as S_INTERSECTS or S_EQUALS")
            if kind is Kind.ARRAY and isinstance(node, ast.Attribute):
                raise FilterTypeError(
                    f"{self.describe(node)} cannot be used in {op}; ask a list with an "
                    f"array function, e.g. A_CONTAINS({node.name}, ('09100107'))")
            if ordered and kind is Kind.BOOLEAN:
                raise FilterTypeError(f"{self.describe(node)} has no order, so it cannot be "
                                      f"used in {op}")
        if Kind.UNKNOWN in (left, right) or Kind.NULL in (left, right) or left == right:
            return
        # A quoted literal may spell a number, date or boolean for a property of that type.
        for node, other in ((rhs, lhs), (lhs, rhs)):
            if isinstance(node, str) and _fits(node, self.kind(other), self.integer(other)):
                return
        attr, value = (lhs, rhs) if isinstance(lhs, ast.Attribute) else (rhs, lhs)
        expected = self.kind(attr)
        hint = {Kind.TEXT: " in single quotes", Kind.NUMBER: " (a whole one)"
                if self.integer(attr) else "", Kind.TEMPORAL: " such as DATE('2024-01-31') "
                "or TIMESTAMP('2024-01-31T12:00:00Z')"}.get(expected, "")
        raise FilterTypeError(f"{self.describe(attr)} cannot be compared with "
                              f"{self.describe(value)} ({op}); give {expected.value}{hint}")


def _fits(text: str, kind: Kind, integer: bool = False) -> bool:
    """Whether a quoted literal can stand for a value of ``kind`` (as PostgreSQL reads it)."""
    try:
        if kind is Kind.NUMBER:
            int(text) if integer else float(text)
        elif kind is Kind.TEMPORAL:
            datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        elif kind is Kind.BOOLEAN:
            return text.strip().lower() in ("true", "false", "t", "f", "yes", "no", "1", "0")
        else:
            return kind is Kind.TEXT
    except ValueError:
        return False
    return True

