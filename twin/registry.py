"""Every published collection, declared once.

The DDL of the published tables, the pygeoapi resources, the README's dataset table and the
allow-list of names that may reach SQL are all derived from :data:`COLLECTIONS`. A field is
public because it is listed here; anything a source file carries beyond it is dropped.

Coverages (gridded data: the terrain) are no tables; they are declared in :data:`COVERAGES`,
from which their pygeoapi resources, their range type and the loader's checks are derived.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from twin.errors import UnknownNameError
from twin.settings import STORAGE_SRID


class FieldType(enum.StrEnum):
    """Column types a published field may have, with their PostgreSQL and JSON Schema names."""

    TEXT = "text"
    INTEGER = "integer"
    DOUBLE = "double precision"
    DATE = "date"
    TIMESTAMPTZ = "timestamptz"
    #: A local time of day (no date, no zone): served as ISO 8601 "HH:MM:SS", which GDAL and
    #: QGIS read as a time field.
    TIME = "time"
    BOOLEAN = "boolean"
    #: A list of texts (e.g. the ID numbers of the monuments on a parcel): a JSON array of
    #: strings, which GDAL reads as a StringList; CQL2 queries it with A_CONTAINS & co.
    TEXT_ARRAY = "text[]"

    @property
    def json_type(self) -> str:
        return {
            FieldType.INTEGER: "integer",
            FieldType.DOUBLE: "number",
            FieldType.BOOLEAN: "boolean",
            FieldType.TEXT_ARRAY: "array",
        }.get(self, "string")

    @property
    def json_items(self) -> dict[str, str] | None:
        """JSON Schema of an array's items; None for a scalar type."""
        return {"type": "string"} if self is FieldType.TEXT_ARRAY else None

    def json_schema(self) -> dict[str, object]:
        """``type``, and ``format`` or ``items`` where they apply, of a property's schema."""
        out: dict[str, object] = {"type": self.json_type}
        if self.json_format:
            out["format"] = self.json_format
        if self.json_items:
            out["items"] = self.json_items
        return out

    @property
    def json_format(self) -> str | None:
        return {FieldType.DATE: "date", FieldType.TIMESTAMPTZ: "date-time",
                FieldType.TIME: "time"}.get(self)


@dataclass(frozen=True)
class Field:
    """One published property of a collection."""

    name: str
    type: FieldType
    title_de: str
    title_en: str
    queryable: bool = True
    nullable: bool = True
    #: Computed in the database after loads (see twin/derive.py), never read from a source.
    derived: bool = False
    #: Id of the collection whose item keys this field lists: each feature links to them
    #: (twin/item_links.py).
    links_to: str | None = None


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

    @property
    def all_fields(self) -> tuple[Field, ...]:
        """The identifier followed by the other properties, in table order."""
        return (self.id_field, *self.fields)

    @property
    def property_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.all_fields)

    @property
    def loaded_fields(self) -> tuple[Field, ...]:
        """The fields a source fills; derived ones are the database's business."""
        return tuple(f for f in self.all_fields if not f.derived)

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
        Field("heritage", FieldType.TEXT, "Denkmalschutz (Denkmal, Denkmalbereich)",
              "Heritage protection (listed monument, heritage area)", derived=True),
        # Lists, not comma-joined text: `denkmalnummern=09100107` and A_CONTAINS find every
        # parcel of a monument (issue 10), and a link leads to each one.
        Field("denkmalnummern", FieldType.TEXT_ARRAY, "Denkmale auf dem Flurstück (ID-Nummern)",
              "Monuments on the parcel (ID numbers)", derived=True, links_to="heritage"),
        Field("nachbardenkmale", FieldType.TEXT_ARRAY,
              "Angrenzende Denkmale (ID-Nummern; Umgebungsschutz, nicht auf dem Flurstück)",
              "Adjoining monuments (ID numbers; setting protection, not on the parcel)",
              derived=True, links_to="heritage"),
    ),
)

HERITAGE = Collection(
    id="heritage",
    table="heritage",
    title_de="Denkmalliste (Bau-, Garten- und technische Denkmale, Denkmalbereiche)",
    title_en="Heritage list (listed buildings, gardens, technical monuments, heritage areas)",
    description_de=(
        "Denkmale der Stadt Cottbus/Chóśebuz aus der Denkmalliste des Landes Brandenburg "
        "(BLDAM) mit ihrer Geometrie. Bodendenkmale werden zu ihrem Schutz nicht veröffentlicht."
    ),
    description_en=(
        "Listed monuments of Cottbus/Chóśebuz from the Brandenburg heritage list (BLDAM) with "
        "their geometry. Archaeological sites are never published, to protect them."
    ),
    keywords=("Denkmal", "Denkmalliste", "heritage", "BLDAM", "Cottbus"),
    id_field=Field("denkmalnummer", FieldType.TEXT, "ID-Nummer", "Heritage ID number",
                   nullable=False),
    fields=(
        Field("bezeichnung", FieldType.TEXT, "Bezeichnung", "Name"),
        Field("adresse", FieldType.TEXT, "Lage (Adresse)", "Location (address)"),
        Field("beschreibung", FieldType.TEXT, "Beschreibung", "Description"),
        Field("denkmalart", FieldType.TEXT,
              "Denkmalart (Baudenkmal, Gartendenkmal, Technisches Denkmal, Denkmal, "
              "Denkmalbereich)",
              "Kind of monument (Baudenkmal: building, Gartendenkmal: garden, Technisches "
              "Denkmal: technical, Denkmal, Denkmalbereich: heritage area)"),
        Field("gemeinde", FieldType.TEXT, "Gemeinde", "Municipality"),
        Field("ortsteil", FieldType.TEXT, "Ortsteil", "District"),
        Field("flurstuecke", FieldType.TEXT_ARRAY, "Flurstücke des Denkmals",
              "Parcels holding the monument", derived=True, links_to="parcels"),
        Field("flurstueck_anzahl", FieldType.INTEGER, "Anzahl der Flurstücke des Denkmals",
              "Number of parcels holding the monument", derived=True),
        Field("nachbarflurstuecke", FieldType.TEXT_ARRAY,
              "Angrenzende Flurstücke (Umgebungsschutz; berühren das Denkmal oder seine "
              "Flurstücke nur an der Grenze)",
              "Adjoining parcels (setting protection; they share only a boundary with the "
              "monument or its parcels)", derived=True, links_to="parcels"),
    ),
    geometry_type="Geometry",
)

STREET_DAMAGE = Collection(
    id="street-damage",
    table="street_damage",
    title_de="Straßenschäden (Bürgermeldungen und Schadenskataster)",
    title_en="Street damage (citizen reports and damage register)",
    description_de=(
        "Schäden im Straßenraum aus Bürgermeldungen (Open311) und dem städtischen "
        "Schadenskataster, mit Zustandsklasse (ZEB) und Reparaturpriorität. Ohne Angaben zu "
        "Meldenden; Freitext ist um Kontaktdaten und Namen bereinigt."
    ),
    description_en=(
        "Street damage from citizen reports (Open311) and the city's damage register, with "
        "condition class (ZEB) and repair priority. No reporter data; free text is redacted."
    ),
    keywords=("Straßenschaden", "Open311", "ZEB", "street damage", "Cottbus"),
    id_field=Field("damage_id", FieldType.TEXT, "Schadenskennung", "Damage id",
                   nullable=False),
    fields=(
        Field("source", FieldType.TEXT, "Quelle (open311, register, field)",
              "Source (open311, register, field: written by a field crew)"),
        Field("category", FieldType.TEXT, "Schadensart", "Damage type"),
        Field("service_code", FieldType.TEXT, "Open311-Dienstcode", "Open311 service code"),
        Field("status", FieldType.TEXT, "Status", "Status (open, in_progress, closed)"),
        Field("street", FieldType.TEXT, "Straße", "Street"),
        Field("description", FieldType.TEXT, "Beschreibung (bereinigt)",
              "Description (redacted)"),
        Field("condition_class", FieldType.DOUBLE, "Zustandsklasse (ZEB 1,0–5,0)",
              "Condition class (ZEB 1.0-5.0)"),
        Field("condition_rating", FieldType.TEXT,
              "Bewertung: below_warning, warning (ab Warnwert 3,5), threshold (ab "
              "Schwellenwert 4,5)",
              "Rating: below_warning, warning (from warning value 3.5), threshold (from "
              "threshold value 4.5)"),
        Field("reported_at", FieldType.TIMESTAMPTZ, "Gemeldet/erfasst am",
              "Reported or surveyed at"),
        Field("updated_at", FieldType.TIMESTAMPTZ, "Aktualisiert am", "Updated at"),
        Field("traffic_dtv", FieldType.INTEGER, "Verkehrsbelastung der Straße (DTV)",
              "Traffic load of the street (AADT)", derived=True),
        Field("repair_priority", FieldType.DOUBLE, "Reparaturpriorität (0–100)",
              "Repair priority (0-100)", derived=True),
        Field("traffic_basis", FieldType.TEXT,
              "Verkehrsgrundlage der Priorität: station (Zählstelle derselben Straße), "
              "road_class (Median der Zählstellen der Straßenklasse), path (Geh-/Radweg), "
              "unknown (neutral)",
              "Traffic basis of the priority: station (a station on the same road), "
              "road_class (median of the stations of the road class), path (footway or "
              "cycle path), unknown (neutral)", derived=True),
        Field("traffic_station", FieldType.TEXT, "Zählstelle der Verkehrsbelastung",
              "Counting station of the traffic load", derived=True),
    ),
    geometry_type="Point",
    time_field="reported_at",
)

TRAFFIC_STATIONS = Collection(
    id="traffic-stations",
    table="traffic_stations",
    title_de="Verkehrszählstellen",
    title_en="Traffic counting stations",
    description_de=(
        "Zählstellen mit abgeleiteten Kennwerten: Zählart (Kurzzeit- oder Dauerzählung), "
        "mittlere tägliche Verkehrsstärke des Zählzeitraums (Wochentage gleich gewichtet; "
        "kein Jahres-DTV), DTV nach BASt nur bei Zählung über ein ganzes Kalenderjahr, "
        "Schwerverkehrsanteil, Beginn der Spitzenstunde, Zeitraum."
    ),
    description_en=(
        "Counting stations with derived figures: count type (short or permanent), the "
        "counting period's mean daily traffic (weekdays weighted equally; not an annual "
        "AADT), BASt's annual DTV only for counts covering a whole calendar year, "
        "heavy-vehicle share, start of the peak hour, period covered."
    ),
    keywords=("Verkehrszählung", "DTV", "BASt", "traffic count", "Cottbus"),
    id_field=Field("station_id", FieldType.TEXT, "Zählstellennummer", "Station number",
                   nullable=False),
    fields=(
        Field("name", FieldType.TEXT, "Name", "Name"),
        Field("road", FieldType.TEXT, "Straße", "Road"),
        Field("direction_1", FieldType.TEXT, "Richtung 1", "Direction 1"),
        Field("direction_2", FieldType.TEXT, "Richtung 2", "Direction 2"),
        Field("count_type", FieldType.TEXT,
              "Zählart: short (Kurzzeitzählung) oder permanent (Dauerzählung, ab 365 "
              "Zähltagen)",
              "Count type: short (short-term count) or permanent (continuous, 365 or more "
              "counted days)", derived=True),
        Field("mean_daily_traffic", FieldType.INTEGER,
              "Mittlere tägliche Verkehrsstärke im Zählzeitraum (Kfz/24 h, beide Richtungen, "
              "jeder Wochentag gleich gewichtet; kein Jahres-DTV)",
              "Mean daily traffic of the counting period (vehicles/24 h, both directions, "
              "each weekday weighted equally; not an annual AADT)", derived=True),
        Field("dtv_annual", FieldType.INTEGER,
              "DTV nach BASt (Jahresmittel, Kfz/24 h); nur bei Zählung über ein ganzes "
              "Kalenderjahr, sonst leer",
              "BASt DTV (annual average daily traffic, vehicles/24 h); only for counts "
              "covering a whole calendar year, else empty", derived=True),
        Field("heavy_share", FieldType.DOUBLE,
              "Schwerverkehrsanteil (%, dieselben Stunden und Gewichte wie die mittlere "
              "tägliche Verkehrsstärke)",
              "Heavy-vehicle share (%, the same hours and weights as the mean daily traffic)",
              derived=True),
        # Not queryable: CQL2 has no time-of-day literal to compare it with.
        Field("peak_hour_start", FieldType.TIME,
              "Beginn der Spitzenstunde (Ortszeit; 16:00 = Spitzenstunde 16:00–17:00 Uhr)",
              "Start of the peak hour (local time; 16:00 = peak hour 16:00-17:00)",
              queryable=False, derived=True),
        Field("period_start", FieldType.DATE, "Zeitraum von", "Period from", derived=True),
        Field("period_end", FieldType.DATE, "Zeitraum bis", "Period to", derived=True),
        Field("days_counted", FieldType.INTEGER,
              "Zähltage (Tage mit mindestens einer gültigen Stunde)",
              "Days counted (days with at least one usable hour)", derived=True),
        Field("hours_counted", FieldType.INTEGER, "Gezählte Stunden", "Hours counted",
              derived=True),
        Field("hours_flagged", FieldType.INTEGER, "Markierte Stunden (Lücke, unplausibel)",
              "Flagged hours (gap, implausible)", derived=True),
    ),
    geometry_type="Point",
)

TRAFFIC_COUNTS = Collection(
    id="traffic-counts",
    table="traffic_counts",
    title_de="Verkehrszählungen (Stundenwerte)",
    title_en="Traffic counts (hourly)",
    description_de="Stündliche Zählwerte je Richtung und Fahrzeugart, mit Plausibilitätsmarken.",
    description_en="Hourly counts per direction and vehicle class, with plausibility flags.",
    keywords=("Verkehrszählung", "Stundenwerte", "BASt", "traffic count", "Cottbus"),
    id_field=Field("observation_id", FieldType.TEXT, "Messungskennung", "Observation id",
                   nullable=False),
    fields=(
        Field("station_id", FieldType.TEXT, "Zählstellennummer", "Station number"),
        Field("observed_at", FieldType.TIMESTAMPTZ, "Beginn der Stunde", "Start of the hour"),
        Field("hour", FieldType.INTEGER, "Stunde (1–24, Ortszeit)", "Hour (1-24, local time)"),
        Field("kfz_r1", FieldType.INTEGER, "Kfz Richtung 1", "Vehicles direction 1"),
        Field("kfz_r2", FieldType.INTEGER, "Kfz Richtung 2", "Vehicles direction 2"),
        Field("lkw_r1", FieldType.INTEGER, "Lkw Richtung 1", "Heavy vehicles direction 1"),
        Field("lkw_r2", FieldType.INTEGER, "Lkw Richtung 2", "Heavy vehicles direction 2"),
        Field("pkw_r1", FieldType.INTEGER, "Pkw Richtung 1", "Cars direction 1"),
        Field("pkw_r2", FieldType.INTEGER, "Pkw Richtung 2", "Cars direction 2"),
        Field("bus_r1", FieldType.INTEGER, "Bus Richtung 1", "Buses direction 1"),
        Field("bus_r2", FieldType.INTEGER, "Bus Richtung 2", "Buses direction 2"),
        Field("flag", FieldType.TEXT, "Marke (Lücke, negativ, Spitze, Qualität)",
              "Flag (gap, negative, spike, quality)"),
    ),
    geometry_type="Point",
    time_field="observed_at",
)

COMMERCIAL_LAND = Collection(
    id="commercial-land",
    table="commercial_land",
    title_de="Gewerbeflächen mit Potenzialbewertung",
    title_en="Commercial land with potential score",
    description_de=(
        "Gewerbe- und Industrieflächen (Standortblätter der Wirtschaftsförderung) mit "
        "Potenzialwert 0–100 und Aufschlüsselung je Kriterium. Eigentum nur als Fläche je "
        "Eigentümerart, ohne Namen."
    ),
    description_en=(
        "Commercial and industrial sites (site sheets of economic development) with a potential "
        "score 0-100 and a per-criterion breakdown. Ownership only as area by owner type."
    ),
    keywords=("Gewerbefläche", "Industriegebiet", "commercial land", "TIP Cottbus", "Cottbus"),
    id_field=Field("site_id", FieldType.TEXT, "Flächenkennung", "Site id", nullable=False),
    fields=(
        Field("name", FieldType.TEXT, "Name", "Name"),
        Field("district", FieldType.TEXT, "Ortsteil", "District"),
        Field("gemarkung", FieldType.TEXT, "Gemarkung", "Cadastral district"),
        Field("flur", FieldType.TEXT, "Flur", "Flur"),
        Field("flurstuecke", FieldType.TEXT, "Flurstücke", "Parcels"),
        Field("gross_area_ha", FieldType.DOUBLE, "Bruttofläche (ha)", "Gross area (ha)"),
        Field("net_area_ha", FieldType.DOUBLE, "Nettofläche (ha)", "Net area (ha)"),
        Field("gi_area_ha", FieldType.DOUBLE, "davon GI (ha)", "of which industrial GI (ha)"),
        Field("ge_area_ha", FieldType.DOUBLE, "davon GE (ha)", "of which commercial GE (ha)"),
        Field("free_area_ha", FieldType.DOUBLE, "Freie Reserve (ha)", "Free reserve (ha)"),
        Field("occupancy_pct", FieldType.DOUBLE, "Auslastung (%)", "Occupancy (%)"),
        Field("owner_city_ha", FieldType.DOUBLE, "Eigentum Stadt (ha)", "Owned by the city (ha)"),
        Field("owner_private_ha", FieldType.DOUBLE, "Eigentum privat (ha)",
              "Privately owned (ha)"),
        Field("owner_other_ha", FieldType.DOUBLE, "Eigentum sonstige (ha)",
              "Other owners (ha)"),
        Field("road_access", FieldType.BOOLEAN, "Straßenerschließung", "Road access"),
        Field("utilities", FieldType.TEXT, "Medienerschließung: full, partial, none",
              "Utilities: full, partial, none"),
        Field("rail_siding", FieldType.BOOLEAN, "Gleisanschluss", "Rail siding"),
        Field("broadband", FieldType.TEXT, "Breitband: gigabit, high, basic, none",
              "Broadband: gigabit, high, basic, none"),
        Field("funding", FieldType.TEXT, "Förderung", "Funding"),
        Field("price_eur_m2", FieldType.DOUBLE, "Kaufpreis (EUR/m²)", "Asking price (EUR/m²)"),
        Field("land_value_eur_m2", FieldType.DOUBLE, "Bodenrichtwert (EUR/m²)",
              "Standard land value (EUR/m²)"),
        Field("contamination", FieldType.TEXT,
              "Altlasten: none, remediated, suspected, known",
              "Known contamination: none, remediated, suspected, known"),
        Field("a15_distance_km", FieldType.DOUBLE, "Entfernung A15-Anschluss (km)",
              "Distance to A15 junction (km)", derived=True),
        Field("heritage_overlap_ha", FieldType.DOUBLE, "Überlagerung Denkmal (ha)",
              "Overlap with heritage (ha)", derived=True),
        Field("parcel_count", FieldType.INTEGER, "Betroffene Flurstücke",
              "Parcels concerned", derived=True),
        Field("score", FieldType.DOUBLE, "Potenzialwert (0–100)", "Potential score (0-100)",
              derived=True),
        Field("score_breakdown", FieldType.TEXT, "Aufschlüsselung (JSON)",
              "Breakdown per criterion (JSON)", derived=True, queryable=False),
        Field("rank", FieldType.INTEGER, "Rang (keiner bei Ausschlusskriterium)",
              "Rank (none when knocked out)", derived=True),
        Field("rank_best", FieldType.INTEGER, "Bester Rang im Sensitivitätsband",
              "Best rank in the sensitivity band", derived=True),
        Field("rank_worst", FieldType.INTEGER, "Schlechtester Rang im Sensitivitätsband",
              "Worst rank in the sensitivity band", derived=True),
        Field("score_min", FieldType.DOUBLE, "Niedrigster Potenzialwert im Sensitivitätsband",
              "Lowest score in the sensitivity band", derived=True),
        Field("score_max", FieldType.DOUBLE, "Höchster Potenzialwert im Sensitivitätsband",
              "Highest score in the sensitivity band", derived=True),
        Field("missing_inputs", FieldType.TEXT,
              "Fehlende Angaben (Felder; ihr Kriterium zählt neutral)",
              "Missing inputs (fields; their criterion counts as neutral)", derived=True),
        Field("knockout", FieldType.TEXT, "Ausschlussgrund (dann kein Rang)",
              "Knock-out reason (then no rank)", derived=True),
    ),
)

BUILDINGS = Collection(
    id="buildings",
    table="buildings",
    title_de="Gebäude (3D-Stadtmodell LoD2)",
    title_en="Buildings (3D city model, LoD2)",
    description_de=(
        "Gebäude des 3D-Stadtmodells (LoD2, CityJSON) mit Grundriss, Höhen, Gebäudefunktion "
        "und Dachform nach AdV-Katalog, dem Flurstück unter dem größten Teil des Grundrisses "
        "und dem Denkmalstatus (Denkmal, im Denkmalbereich). Die Dach- und Wandflächen "
        "zeigt der 3D-Viewer."
    ),
    description_en=(
        "Buildings of the 3D city model (LoD2, CityJSON) with footprint, heights, building "
        "function and roof form decoded from the AdV catalogue, the parcel under most of the "
        "footprint and the heritage status (listed, in a heritage area). The 3D viewer shows "
        "their roof and wall surfaces."
    ),
    keywords=("LoD2", "CityJSON", "3D-Stadtmodell", "building", "Cottbus"),
    id_field=Field("building_id", FieldType.TEXT, "Gebäudekennung (CityJSON-Objekt)",
                   "Building id (CityJSON object)", nullable=False),
    fields=(
        Field("tile", FieldType.TEXT, "Kachel (Quelldatei)", "Tile (source file)"),
        Field("lod", FieldType.TEXT, "Detaillierungsgrad (LoD)", "Level of detail (LoD)"),
        Field("function_code", FieldType.TEXT, "Gebäudefunktion (AdV-Code)",
              "Building function (AdV code)"),
        Field("function_de", FieldType.TEXT, "Gebäudefunktion", "Building function (German)"),
        Field("function_en", FieldType.TEXT, "Gebäudefunktion (englisch)", "Building function"),
        Field("roof_type_code", FieldType.TEXT, "Dachform (AdV-Code)", "Roof form (AdV code)"),
        Field("roof_type_de", FieldType.TEXT, "Dachform", "Roof form (German)"),
        Field("roof_type_en", FieldType.TEXT, "Dachform (englisch)", "Roof form"),
        Field("height", FieldType.DOUBLE, "Gebäudehöhe (m, gemessen)", "Measured height (m)"),
        Field("storeys", FieldType.INTEGER, "Geschosse über Grund", "Storeys above ground"),
        Field("ground_height", FieldType.DOUBLE, "Geländehöhe (m ü. Höhenbezug)",
              "Ground height (m above the height datum)"),
        Field("eave_height", FieldType.DOUBLE, "Traufhöhe (m ü. Höhenbezug)",
              "Eave height (m above the height datum)"),
        Field("roof_height", FieldType.DOUBLE, "Höchster Punkt des Dachs (m ü. Höhenbezug)",
              "Highest point of the roof (m above the height datum)"),
        Field("height_datum", FieldType.TEXT,
              "Höhenbezug (EPSG:7837 = DHHN2016; leer: in der Quelle nicht angegeben)",
              "Height datum (EPSG:7837 = DHHN2016; empty: not stated by the source)"),
        Field("address", FieldType.TEXT, "Adresse", "Address"),
        Field("parcel", FieldType.TEXT, "Flurstück (unter dem größten Teil des Grundrisses)",
              "Parcel (under most of the footprint)", derived=True),
        Field("heritage_status", FieldType.TEXT,
              "Denkmalstatus: listed (Denkmal), area (im Denkmalbereich), none",
              "Heritage status: listed, area (in a heritage area), none", derived=True),
        Field("heritage_id", FieldType.TEXT, "Denkmal-ID-Nummer", "Heritage ID number",
              derived=True),
        Field("heritage_name", FieldType.TEXT, "Denkmal (Bezeichnung)", "Heritage name",
              derived=True),
    ),
)

SENSOR_ALERTS = Collection(
    id="sensor-alerts",
    table="sensor_alerts",
    title_de="Sensor-Warnungen (Pegel-Alarmstufen, trockene Stadtbäume)",
    title_en="Sensor alerts (gauge alarm levels, dry city trees)",
    description_de=(
        "Eine Meldung je Überschreitung einer Schwelle: ein Pegel erreicht oder verlässt "
        "eine Alarmstufe (1-4, cm), die Bodenfeuchte an einem Stadtbaum fällt unter den "
        "Welkepunkt oder steigt wieder darüber. Jede Meldung geht auch über MQTT hinaus "
        "(AsyncAPI-Dokument unter /asyncapi)."
    ),
    description_en=(
        "One event per threshold crossing: a gauge reaches or leaves an alarm level (1-4, "
        "cm), the soil moisture at a city tree falls below its wilting point or rises above it "
        "again. Each event is also published over MQTT (AsyncAPI document at /asyncapi)."
    ),
    keywords=("Hochwasser", "Alarmstufe", "Trockenheit", "alert", "flood", "drought",
              "Cottbus"),
    id_field=Field("alert_id", FieldType.TEXT, "Meldungskennung (Gerät/Zeitpunkt)",
                   "Alert id (device/time)", nullable=False),
    fields=(
        Field("device_id", FieldType.TEXT, "Gerätekennung (LoRaWAN)", "Device id (LoRaWAN)"),
        Field("station", FieldType.TEXT, "Pegel oder Standort", "Gauge or station"),
        Field("kind", FieldType.TEXT, "Art: gauge (Pegel) oder tree (Baum)",
              "Kind: gauge or tree"),
        Field("parameter", FieldType.TEXT, "Messgröße", "Observed parameter"),
        Field("state", FieldType.TEXT,
              "Neuer Zustand: ok, alarm_1 … alarm_4 (Pegel), dry (Baum)",
              "New state: ok, alarm_1 … alarm_4 (gauge), dry (tree)"),
        Field("previous_state", FieldType.TEXT, "Vorheriger Zustand", "Previous state"),
        Field("direction", FieldType.TEXT, "Richtung: rising (verschärft) oder falling "
              "(entspannt)", "Direction: rising (worse) or falling (easing)"),
        Field("value", FieldType.DOUBLE, "Messwert", "Observed value"),
        Field("threshold", FieldType.DOUBLE, "Überschrittene Schwelle",
              "Threshold crossed"),
        Field("unit", FieldType.TEXT, "Einheit (UCUM)", "Unit (UCUM)"),
        Field("observed_at", FieldType.TIMESTAMPTZ, "Zeitpunkt des Messwerts",
              "Time of the observation"),
        Field("message", FieldType.TEXT, "Meldung", "Message (German)"),
    ),
    geometry_type="Point",
    time_field="observed_at",
)

#: States of a sensor station, set by ``twin.sensor_refresh_stations`` (twin/sql/): no value
#: yet, a value newer than the staleness limit, or an older one. Thresholds (issue 12's
#: alerts) may add their own states there.
_STATE_DE = ("Zustand: no_data (noch kein Messwert), ok, stale (letzter Wert älter als 6 h) "
             "oder eine Schwellenstufe")
_STATE_EN = ("State: no_data (no value yet), ok, stale (latest value older than 6 h) or a "
             "threshold level")

WATER_GAUGES = Collection(
    id="water-gauges",
    table="water_gauges",
    title_de="Pegel (Wasserstand der Spree)",
    title_en="Water gauges (Spree water level)",
    description_de=(
        "Pegel an der Spree in Cottbus mit LoRaWAN-Sensor: Standort, Gerät, letzter "
        "Wasserstand (cm über Pegelnull) mit Zeitpunkt und Zustand. Die Zeitreihen liefert "
        "die EDR-Schnittstelle."
    ),
    description_en=(
        "Gauges on the Spree in Cottbus with a LoRaWAN sensor: station, device, latest water "
        "level (cm above gauge datum) with its time, and state. The time series are served "
        "through OGC API EDR."
    ),
    keywords=("Pegel", "Wasserstand", "Spree", "LoRaWAN", "water level", "gauge", "Cottbus"),
    id_field=Field("device_id", FieldType.TEXT, "Gerätekennung (LoRaWAN)",
                   "Device id (LoRaWAN)", nullable=False),
    fields=(
        Field("station", FieldType.TEXT, "Pegelname", "Gauge name"),
        Field("water_level_cm", FieldType.DOUBLE, "Letzter Wasserstand (cm über Pegelnull)",
              "Latest water level (cm above gauge datum)", derived=True),
        Field("latest_at", FieldType.TIMESTAMPTZ, "Zeitpunkt des letzten Werts",
              "Time of the latest value", derived=True),
        Field("state", FieldType.TEXT, _STATE_DE, _STATE_EN, derived=True),
    ),
    geometry_type="Point",
    time_field="latest_at",
)

TREE_SENSORS = Collection(
    id="tree-sensors",
    table="tree_sensors",
    title_de="Baumsensoren (Bodenfeuchte an Stadtbäumen)",
    title_en="Tree sensors (soil moisture at city trees)",
    description_de=(
        "Bodenfeuchtesensoren (LoRaWAN) an Cottbuser Stadtbäumen: Baum, Art, Pflanzjahr, "
        "letzte volumetrische Bodenfeuchte, Bodentemperatur und Batteriespannung mit "
        "Zeitpunkt und Zustand. Die Zeitreihen liefert die EDR-Schnittstelle."
    ),
    description_en=(
        "Soil moisture sensors (LoRaWAN) at Cottbus city trees: tree, species, planting year, "
        "latest volumetric soil moisture, soil temperature and battery voltage with their "
        "time, and state. The time series are served through OGC API EDR."
    ),
    keywords=("Stadtbaum", "Bodenfeuchte", "LoRaWAN", "soil moisture", "tree", "Cottbus"),
    id_field=Field("device_id", FieldType.TEXT, "Gerätekennung (LoRaWAN)",
                   "Device id (LoRaWAN)", nullable=False),
    fields=(
        Field("station", FieldType.TEXT, "Bezeichnung des Standorts", "Station label"),
        Field("tree_id", FieldType.TEXT, "Baumnummer (Baumkataster)",
              "Tree number (tree register)"),
        Field("species", FieldType.TEXT, "Baumart (botanisch)", "Tree species (botanical)"),
        Field("planting_year", FieldType.INTEGER, "Pflanzjahr", "Planting year"),
        Field("soil_moisture", FieldType.DOUBLE, "Letzte Bodenfeuchte (Vol.-%)",
              "Latest soil moisture (volumetric %)", derived=True),
        Field("soil_temperature", FieldType.DOUBLE, "Letzte Bodentemperatur (°C)",
              "Latest soil temperature (°C)", derived=True),
        Field("battery", FieldType.DOUBLE, "Letzte Batteriespannung (V)",
              "Latest battery voltage (V)", derived=True),
        Field("latest_at", FieldType.TIMESTAMPTZ, "Zeitpunkt des letzten Werts",
              "Time of the latest value", derived=True),
        Field("state", FieldType.TEXT, _STATE_DE, _STATE_EN, derived=True),
    ),
    geometry_type="Point",
    time_field="latest_at",
)

#: Every published collection, in the order the API lists them.
COLLECTIONS: tuple[Collection, ...] = (
    PARCELS, HERITAGE, STREET_DAMAGE, TRAFFIC_STATIONS, TRAFFIC_COUNTS, COMMERCIAL_LAND,
    BUILDINGS, WATER_GAUGES, TREE_SENSORS, SENSOR_ALERTS,
)


#: Where the formula of each derived field is written down: a page under docs/ (served by the
#: API at the same path, see twin/docs.py) and its section. Per collection, with exceptions
#: per field; the queryables link every derived field to it (``x-ogc-definition``).
DEFINITION_PAGES: dict[str, str] = {
    "parcels": "docs/sources/heritage.md",
    "heritage": "docs/sources/heritage.md",
    "street-damage": "docs/sources/street-damage.md#derived-after-every-load",
    "traffic-stations": "docs/sources/traffic-counts.md#derived-station-figures",
    "commercial-land": "docs/sources/commercial-land.md#derived-after-every-load",
    "buildings": "docs/sources/buildings.md",
    "water-gauges": "docs/sources/sensors.md#latest-values-and-state",
    "tree-sensors": "docs/sources/sensors.md#latest-values-and-state",
}
DEFINITION_FIELDS: dict[tuple[str, str], str] = {
    ("commercial-land", "score"): "docs/sources/commercial-land.md#the-potential-score",
    ("commercial-land", "score_breakdown"):
        "docs/sources/commercial-land.md#the-potential-score",
}


def definition(c: Collection, field_name: str) -> str | None:
    """The docs page (path and section) that defines a derived field; None for others."""
    if not c.field(field_name).derived:
        return None
    return DEFINITION_FIELDS.get((c.id, field_name)) or DEFINITION_PAGES.get(c.id)


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


@dataclass(frozen=True)
class Coverage:
    """A published coverage: one Cloud-Optimised GeoTIFF in ``Settings.data_dir``, one band,
    one OGC API coverage collection."""

    id: str
    #: File name in the data directory (written by the loader, read by the API).
    file: str
    title_de: str
    title_en: str
    description_de: str
    description_en: str
    keywords: tuple[str, ...]
    #: The one range field: its name is what `properties=` selects.
    band: Field
    #: UCUM symbol of the band's values.
    unit: str
    #: What the values are measured against, e.g. the height datum.
    reference_de: str
    reference_en: str
    #: Vertical CRS of the values (EPSG code), recorded as metadata; None for other bands.
    vertical_srid: int | None
    #: Values outside this range cannot be what the band measures (a wrong unit, a wrong band).
    valid_range: tuple[float, float]
    #: Marks cells without a value in the stored file.
    nodata: float = -9999.0
    srid: int = STORAGE_SRID
    default_bbox: tuple[float, float, float, float] = (14.25, 51.70, 14.45, 51.83)


TERRAIN = Coverage(
    id="terrain",
    file="terrain.tif",
    title_de="Digitales Geländemodell (DGM)",
    title_en="Digital terrain model (DTM)",
    description_de=(
        "Höhe der Geländeoberfläche ohne Bebauung und Bewuchs, als Gitter in EPSG:25833 "
        "(DGM1 der LGB: 1 m Maschenweite), Höhen in Metern über NHN (DHHN2016)."
    ),
    description_en=(
        "Height of the bare ground without buildings and vegetation, as a grid in EPSG:25833 "
        "(the state survey's DGM1: 1 m cells), in metres above sea level (DHHN2016)."
    ),
    keywords=("DGM", "DGM1", "Geländemodell", "terrain", "elevation", "Cottbus"),
    band=Field("height", FieldType.DOUBLE, "Geländehöhe (m über NHN, DHHN2016)",
               "Terrain height (m above sea level, DHHN2016)"),
    unit="m",
    reference_de="Normalhöhennull im DHHN2016 (EPSG:7837)",
    reference_en="sea level as defined by DHHN2016 (EPSG:7837)",
    vertical_srid=7837,
    # Germany reaches from 3.5 m below sea level to 2,962 m (Zugspitze).
    valid_range=(-50.0, 3000.0),
)

#: Every published coverage, in the order the API lists them (after the collections).
COVERAGES: tuple[Coverage, ...] = (TERRAIN,)


def get_coverage(coverage_id: str) -> Coverage:
    """The coverage with id ``coverage_id``; the error lists the valid ids."""
    for c in COVERAGES:
        if c.id == coverage_id:
            return c
    raise UnknownNameError(
        f"unknown coverage '{coverage_id}'; valid: {', '.join(c.id for c in COVERAGES)}")
