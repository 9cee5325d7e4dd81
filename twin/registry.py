"""Every published collection, declared once.

The DDL of the published tables, the pygeoapi resources, the README's dataset table and the
allow-list of names that may reach SQL are all derived from :data:`COLLECTIONS`. A field is
public because it is listed here; anything a source file carries beyond it is dropped.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from twin.errors import UnknownNameError
from twin.settings import STORAGE_SRID


class FieldType(enum.StrEnum):
    """Column types a published field may have, with their PostgreSQL and JSON Schema names."""

    TEXT = "text"
    INTEGER = "integer"
    DOUBLE = "double precision"
    DATE = "date"
    TIMESTAMPTZ = "timestamptz"
    BOOLEAN = "boolean"

    @property
    def json_type(self) -> str:
        return {
            FieldType.INTEGER: "integer",
            FieldType.DOUBLE: "number",
            FieldType.BOOLEAN: "boolean",
        }.get(self, "string")

    @property
    def json_format(self) -> str | None:
        return {FieldType.DATE: "date", FieldType.TIMESTAMPTZ: "date-time"}.get(self)


@dataclass(frozen=True)
class Field:
    """One published property of a collection."""

    name: str
    type: FieldType
    title_de: str
    title_en: str
    queryable: bool = True
    nullable: bool = True


@dataclass(frozen=True)
class Collection:
    """A published collection: one table in the ``twin`` schema, one OGC API collection."""

    id: str
    table: str
    title_de: str
    title_en: str
    description_de: str
    description_en: str
    keywords: tuple[str, ...]
    id_field: Field
    fields: tuple[Field, ...]
    geometry_type: str = "MultiPolygon"
    geometry_column: str = "geom"
    srid: int = STORAGE_SRID
    time_field: str | None = None
    schema: str = "twin"
    default_bbox: tuple[float, float, float, float] = (14.25, 51.70, 14.45, 51.83)
    extra_keywords: tuple[str, ...] = field(default=())

    @property
    def all_fields(self) -> tuple[Field, ...]:
        """The identifier followed by the other properties, in table order."""
        return (self.id_field, *self.fields)

    @property
    def property_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.all_fields)

    def field(self, name: str) -> Field:
        """The published field ``name``; refuses any name the registry does not list."""
        for f in self.all_fields:
            if f.name == name:
                return f
        raise UnknownNameError(
            f"unknown property '{name}' of collection '{self.id}'; "
            f"valid: {', '.join(self.property_names)}"
        )


PARCELS = Collection(
    id="parcels",
    table="parcels",
    title_de="Flurstücke (ALKIS)",
    title_en="Cadastral parcels (ALKIS)",
    description_de=(
        "Flurstücke der Stadt Cottbus/Chóśebuz aus dem Liegenschaftskataster (ALKIS vereinfacht). "
        "Ohne Eigentümerangaben."
    ),
    description_en=(
        "Cadastral parcels of the city of Cottbus/Chóśebuz from the Brandenburg cadastre "
        "(simplified ALKIS schema). Owner data is never published."
    ),
    keywords=("ALKIS", "Flurstück", "parcel", "cadastre", "Cottbus"),
    id_field=Field("flstkennz", FieldType.TEXT, "Flurstückskennzeichen", "Parcel key",
                   nullable=False),
    fields=(
        Field("land", FieldType.TEXT, "Land", "State"),
        Field("gemarkung", FieldType.TEXT, "Gemarkung", "Cadastral district"),
        Field("gemaschl", FieldType.TEXT, "Gemarkungsschlüssel", "Cadastral district key"),
        Field("flur", FieldType.INTEGER, "Flur", "Flur (cadastral section)"),
        Field("flstnrzae", FieldType.TEXT, "Flurstücksnummer Zähler", "Parcel number numerator"),
        Field("flstnrnen", FieldType.TEXT, "Flurstücksnummer Nenner",
              "Parcel number denominator"),
        Field("flaeche", FieldType.DOUBLE, "Amtliche Fläche (m²)", "Official area (m²)"),
        Field("lagebeztxt", FieldType.TEXT, "Lagebezeichnung", "Location"),
        Field("tntxt", FieldType.TEXT, "Tatsächliche Nutzung", "Actual land use"),
        Field("kreis", FieldType.TEXT, "Kreis", "District"),
        Field("kreisschl", FieldType.TEXT, "Kreisschlüssel", "District key"),
        Field("gemeinde", FieldType.TEXT, "Gemeinde", "Municipality"),
        Field("gmdschl", FieldType.TEXT, "Gemeindeschlüssel", "Municipality key"),
        Field("aktualit", FieldType.DATE, "Aktualität", "Currency date"),
        Field("idflurst", FieldType.TEXT, "ALKIS-Objektkennung", "ALKIS object id"),
    ),
)

#: Every published collection, in the order the API lists them.
COLLECTIONS: tuple[Collection, ...] = (PARCELS,)


def get_collection(collection_id: str) -> Collection:
    """The collection with id ``collection_id``; the error lists the valid ids."""
    for c in COLLECTIONS:
        if c.id == collection_id:
            return c
    raise UnknownNameError(
        f"unknown collection '{collection_id}'; valid: {', '.join(c.id for c in COLLECTIONS)}"
    )


def by_table(table: str) -> Collection:
    """The collection stored in ``table``."""
    for c in COLLECTIONS:
        if c.table == table:
            return c
    raise UnknownNameError(
        f"no collection is stored in table '{table}'; "
        f"valid: {', '.join(c.table for c in COLLECTIONS)}"
    )
