"""OGC API - Environmental Data Retrieval over the sensor observations: our pygeoapi provider.

The sensor collections (``water-gauges``, ``tree-sensors``) are feature collections of stations
(twin/registry.py); their resources in config/pygeoapi.yml carry a second provider of type
``edr``, :class:`SensorEDRProvider`, through pygeoapi's plugin point (no fork). It answers

- ``/collections/{id}/locations``: the stations as GeoJSON (``bbox``, ``limit``);
- ``/collections/{id}/locations/{station}``, ``position`` (the station nearest to ``coords``,
  within :data:`Settings.edr_position_tolerance_m`), ``area`` (stations in a polygon) and
  ``cube`` (stations in a ``bbox``): CoverageJSON, a ``PointSeries`` per station (a
  ``CoverageCollection`` for area and cube), its t axis the observation times, one range per
  parameter, parameters with their UCUM units;
- ``datetime`` (RFC 3339 as for the features: a date is its whole day in Cottbus) and
  ``parameter-name`` (a comma list of :data:`SERIES` parameters);
- ``resolution`` (ours: EDR has no parameter for it): ``PT1H`` hourly means (``date_bin``),
  ``P1D`` daily means of the local (Europe/Berlin) calendar day, each time step named by the
  start of its bin. A raw answer of more than :data:`Settings.edr_max_steps` time steps is
  refused (400, naming ``resolution``), never silently cut.

Coordinates are CRS84 (longitude, latitude), as CoverageJSON clients expect; the stations are
stored in EPSG:25833. Every statement runs in the request's read-only transaction and deadline
(:class:`twin.provider._Cursor`). pygeoapi passes a provider neither unknown query parameters
nor the raw request, so the WSGI layer checks them first (:func:`check_request`) and hands the
resolution over in :data:`RESOLUTION`.
"""

from __future__ import annotations

import enum
import re
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from psycopg import sql
from pygeoapi.provider.base import ProviderInvalidQueryError, ProviderItemNotFoundError
from pygeoapi.provider.base_edr import BaseEDRProvider

from twin.pygeoapi.context import CRS84
from twin.request_checks import bbox_problem, datetime_interval
from twin.settings import get_settings

PROVIDER = "twin.edr.SensorEDRProvider"
#: The time zone whose calendar days P1D means: the city's.
LOCAL_ZONE = "Europe/Berlin"
#: Decimals of CRS84 coordinates in answers: 1e-7 degrees is about a centimetre.
DEGREE_DECIMALS = 7
UCUM = "http://www.opengis.net/def/uom/UCUM/"


class Resolution(enum.StrEnum):
    """Time steps of an answer: as observed, or means over hours or local days."""

    RAW = "raw"
    HOUR = "PT1H"
    DAY = "P1D"


#: The resolution of the current request (pygeoapi does not pass unknown parameters on).
RESOLUTION: ContextVar[Resolution] = ContextVar("edr_resolution", default=Resolution.RAW)


@dataclass(frozen=True)
class Parameter:
    """One observed quantity: a column of the observations, its unit and labels."""

    name: str
    #: UCUM symbol of the values.
    unit: str
    unit_label_en: str
    label_de: str
    label_en: str
    description_en: str


@dataclass(frozen=True)
class Series:
    """Where one sensor collection's time series are: the stations and their observations.

    ``stations`` is the feature collection's table (id column ``station_key``, point
    ``geom``); ``observations`` holds one row per stored uplink, joined to the station by
    ``obs_station``; ``parameters`` name its value columns.
    """

    collection_id: str
    stations: tuple[str, str]
    station_key: str
    observations: tuple[str, str]
    obs_station: str
    obs_time: str
    parameters: tuple[Parameter, ...]
    geom: str = "geom"

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise ProviderInvalidQueryError(
            user_msg=f"unknown parameter-name '{name}' of collection '{self.collection_id}'; "
                     f"valid: {', '.join(p.name for p in self.parameters)}")


WATER_LEVEL = Parameter(
    "water_level_cm", "cm", "centimetre", "Wasserstand (cm am Pegel)",
    "Water level (cm at the gauge)",
    "Water level above the gauge datum (Pegelnullpunkt), in centimetres")
SOIL_MOISTURE = Parameter(
    "soil_moisture", "%", "volumetric percent", "Bodenfeuchte (Vol.-%)",
    "Soil moisture (volumetric %)",
    "Volumetric water content of the soil at the root zone, percent of the soil volume")
SOIL_TEMPERATURE = Parameter(
    "soil_temperature", "Cel", "degree Celsius", "Bodentemperatur (°C)",
    "Soil temperature (°C)", "Temperature of the soil at the sensor, degrees Celsius")
BATTERY = Parameter(
    "battery", "V", "volt", "Batteriespannung (V)", "Battery voltage (V)",
    "Voltage of the sensor's battery; falls as it empties")

#: Every sensor collection with EDR, by collection id.
SERIES: dict[str, Series] = {
    "water-gauges": Series(
        collection_id="water-gauges", stations=("twin", "water_gauges"),
        station_key="device_id", observations=("twin", "sensor_observations"),
        obs_station="device_id", obs_time="observed_at", parameters=(WATER_LEVEL,)),
    "tree-sensors": Series(
        collection_id="tree-sensors", stations=("twin", "tree_sensors"),
        station_key="device_id", observations=("twin", "sensor_observations"),
        obs_station="device_id", obs_time="observed_at",
        parameters=(SOIL_MOISTURE, SOIL_TEMPERATURE, BATTERY)),
}

# -- the request, before pygeoapi sees it -----------------------------------------------------

#: Query types we answer, and the parameters each takes.
QUERY_PARAMS: dict[str, frozenset[str]] = {
    "position": frozenset({"f", "lang", "coords", "datetime", "parameter-name", "crs",
                           "resolution"}),
    "area": frozenset({"f", "lang", "coords", "datetime", "parameter-name", "crs",
                       "resolution"}),
    "cube": frozenset({"f", "lang", "bbox", "datetime", "parameter-name", "crs",
                       "resolution"}),
    "locations": frozenset({"f", "lang", "bbox", "datetime", "limit"}),
    "location": frozenset({"f", "lang", "datetime", "parameter-name", "crs", "resolution"}),
}
EDR_PATH = re.compile(r"^/collections/(?P<cid>[^/]+)/(?P<qt>position|area|cube|locations)"
                      r"(?:/(?P<loc>[^/]+))?/?$")


def is_edr_path(path: str) -> bool:
    """Whether ``path`` is an EDR query of a collection that has EDR."""
    m = EDR_PATH.match(path)
    return bool(m and m["cid"] in SERIES and (m["loc"] is None or m["qt"] == "locations"))


def check_request(path: str, query_string: str) -> tuple[str | None, Token | None]:
    """Check an EDR request before pygeoapi sees it.

    Returns why it is refused (a sentence for a 400 answer) or None, and the token of
    :data:`RESOLUTION` set for it (the caller resets it); (None, None) when ``path`` is no EDR
    query of ours.
    """
    m = EDR_PATH.match(path)
    if not m or m["cid"] not in SERIES or (m["loc"] is not None and m["qt"] != "locations"):
        return None, None
    series = SERIES[m["cid"]]
    kind = "location" if m["loc"] is not None else m["qt"]
    allowed = QUERY_PARAMS[kind]
    params = parse_qsl(query_string, keep_blank_values=True)
    keys = [k for k, _ in params]
    for key, value in params:
        if key not in allowed:
            return (f"unknown query parameter '{key}' for {kind}; valid: "
                    f"{', '.join(sorted(allowed))}"), None
        if not value.strip():
            return f"query parameter '{key}' is empty", None
        if keys.count(key) > 1:
            return f"query parameter '{key}' is given more than once", None
    given = dict(params)
    problem = _check_values(series, kind, given)
    if problem:
        return problem, None
    return None, RESOLUTION.set(Resolution(given.get("resolution", Resolution.RAW.value)))


def _check_values(series: Series, kind: str, given: dict[str, str]) -> str | None:
    # Only CoverageJSON (and GeoJSON for the list of locations): pygeoapi's HTML page for
    # EDR loads its scripts from CDNs, and this service works offline.
    if given.get("f", "json") != "json":
        return f"query parameter 'f' must be json (CoverageJSON), not '{given['f']}'"
    if "crs" in given and given["crs"] != CRS84:
        return f"query parameter 'crs' must be {CRS84} (longitude, latitude), not " \
               f"'{given['crs']}'"
    if "resolution" in given and given["resolution"] not in (r.value for r in Resolution):
        return ("query parameter 'resolution' must be one of "
                f"{', '.join(r.value for r in Resolution)}, not '{given['resolution']}'")
    if "datetime" in given:
        try:
            datetime_interval(given["datetime"])
        except ValueError as exc:
            return str(exc)
    for name in (given.get("parameter-name") or "").split(","):
        if name and name.strip() not in {p.name for p in series.parameters}:
            return (f"unknown parameter-name '{name}' of collection '{series.collection_id}'; "
                    f"valid: {', '.join(p.name for p in series.parameters)}")
    if kind in ("position", "area") and "coords" not in given:
        return f"query parameter 'coords' is required by {kind} queries " \
               f"({'POINT(lon lat)' if kind == 'position' else 'POLYGON((lon lat, ...))'})"
    if kind == "cube" and "bbox" not in given:
        return "query parameter 'bbox' is required by cube queries (lon,lat,lon,lat in CRS84)"
    if "bbox" in given:
        try:
            values = tuple(float(v) for v in given["bbox"].split(","))
        except ValueError:
            return "bbox takes 4 numbers separated by commas (CRS84: lon,lat,lon,lat)"
        if len(values) != 4:
            return f"bbox takes 4 numbers (CRS84: lon,lat,lon,lat), not {len(values)}"
        if problem := bbox_problem(values, CRS84):
            return problem
        if values[0] > values[2] or values[1] > values[3]:
            return "bbox must give the lower corner first (west,south,east,north)"
    if "limit" in given and not given["limit"].isdigit():
        return f"query parameter 'limit' must be a whole number, not '{given['limit']}'"
    return None


# -- the provider ---------------------------------------------------------------------------


class SensorEDRProvider(BaseEDRProvider):
    """EDR queries over the time series of one sensor collection (see the module)."""

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        self.series = SERIES[provider_def["collection"]]
        self.dsn = str(self.data)
        self.get_fields()

    def get_fields(self) -> dict:
        if not self._fields:
            for p in self.series.parameters:
                self._fields[p.name] = {"type": "number", "title": p.label_en,
                                        "description": p.description_en, "x-ogc-unit": p.unit}
        return self._fields

    def get_parameters(self, parameters: set | list = (), as_list: bool = False) -> dict | list:
        """CoverageJSON parameter objects, in German and English, units in UCUM."""
        names = list(parameters) or [p.name for p in self.series.parameters]
        out = {name: parameter_json(self.series.parameter(name)) for name in names}
        return list(out.values()) if as_list else out

    # No `instances` method: pygeoapi registers every method named like a query type, and
    # these series have no instances (versions); /instances answers 404.
    def instance(self, instance: str | None) -> bool:
        return instance is None

    # -- query types (pygeoapi registers a method per EDR query type it finds) -------------
    def locations(self, location_id: str | None = None, datetime_: str | None = None,
                  select_properties: list | None = None, bbox: list | None = None,
                  limit: int | None = None, **kwargs: Any) -> dict:
        if location_id is None:
            return self._location_list(bbox or [], limit or get_settings().max_items)
        stations = self._stations(sql.SQL("s.{} = %s").format(
            sql.Identifier(self.series.station_key)), [location_id])
        if not stations:
            raise ProviderItemNotFoundError(
                user_msg=f"no station '{location_id}' in collection "
                         f"'{self.series.collection_id}'")
        return self._coverages(stations, datetime_, select_properties, single=True)

    def position(self, wkt: Any = None, datetime_: str | None = None,
                 select_properties: list | None = None, **kwargs: Any) -> dict:
        if wkt is None or wkt.geom_type != "Point":
            raise ProviderInvalidQueryError(
                user_msg="coords of a position query must be a POINT(lon lat) in CRS84")
        tolerance = get_settings().edr_position_tolerance_m
        stations = self._stations(
            sql.SQL("ST_DWithin(s.{g}, ST_Transform(ST_GeomFromText(%s, 4326), 25833), %s)"),
            [wkt.wkt, tolerance],
            order=sql.SQL("s.{g} <-> ST_Transform(ST_GeomFromText(%s, 4326), 25833)"),
            order_params=[wkt.wkt], limit=1)
        if not stations:
            raise ProviderItemNotFoundError(
                user_msg=f"no station of '{self.series.collection_id}' within {tolerance:g} m "
                         f"of {wkt.wkt}; /collections/{self.series.collection_id}/locations "
                         "lists them")
        return self._coverages(stations, datetime_, select_properties, single=True)

    def area(self, wkt: Any = None, datetime_: str | None = None,
             select_properties: list | None = None, **kwargs: Any) -> dict:
        if wkt is None or wkt.geom_type not in ("Polygon", "MultiPolygon"):
            raise ProviderInvalidQueryError(
                user_msg="coords of an area query must be a POLYGON or MULTIPOLYGON in CRS84")
        if len(wkt.wkt) > get_settings().max_filter_chars:
            raise ProviderInvalidQueryError(user_msg="coords is too long")
        stations = self._stations(
            sql.SQL("ST_Intersects(s.{g}, ST_Transform(ST_GeomFromText(%s, 4326), 25833))"),
            [wkt.wkt])
        return self._coverages(stations, datetime_, select_properties, single=False)

    def cube(self, bbox: list | None = None, datetime_: str | None = None,
             select_properties: list | None = None, **kwargs: Any) -> dict:
        box = [float(v) for v in (bbox or [])]
        stations = self._stations(
            sql.SQL("ST_Intersects(s.{g}, ST_Transform(ST_MakeEnvelope(%s, %s, %s, %s, 4326), "
                    "25833))"), box[:2] + box[-2:])
        return self._coverages(stations, datetime_, select_properties, single=False)

    # -- SQL -------------------------------------------------------------------------------
    def _cursor(self):
        from twin.provider import _Cursor  # the request's transaction and deadline

        return _Cursor(self.dsn)

    def _stations(self, condition: sql.Composable, params: list, *,
                  order: sql.Composable | None = None, order_params: list | None = None,
                  limit: int | None = None) -> list[dict]:
        """Stations (key, lon, lat) matching ``condition`` on ``s``, by key or ``order``."""
        s = self.series
        g = sql.Identifier(s.geom)
        query = sql.SQL(
            "SELECT s.{key}::text AS key, ST_X(p) AS lon, ST_Y(p) AS lat FROM {t} s, "
            "LATERAL ST_Transform(s.{g}, 4326) p WHERE {cond} ORDER BY {order}{limit}").format(
                key=sql.Identifier(s.station_key), t=sql.Identifier(*s.stations), g=g,
                cond=condition.format(g=g) if isinstance(condition, sql.SQL) else condition,
                order=(order.format(g=g) if order is not None
                       else sql.SQL("s.{}").format(sql.Identifier(s.station_key))),
                limit=sql.SQL(" LIMIT {}").format(sql.Literal(limit)) if limit else sql.SQL(""))
        with self._cursor() as cur:
            cur.execute(query, [*params, *(order_params or [])])
            return list(cur)

    def _location_list(self, bbox: list, limit: int) -> dict:
        if bbox:
            box = [float(v) for v in bbox]
            stations = self._stations(sql.SQL(
                "ST_Intersects(s.{g}, ST_Transform(ST_MakeEnvelope(%s, %s, %s, %s, 4326), "
                "25833))"), box[:2] + box[-2:], limit=limit)
        else:
            stations = self._stations(sql.SQL("TRUE"), [], limit=limit)
        base = get_settings().url
        return {"type": "FeatureCollection", "features": [{
            "type": "Feature", "id": st["key"],
            "geometry": {"type": "Point", "coordinates": [round(st["lon"], DEGREE_DECIMALS),
                                                          round(st["lat"], DEGREE_DECIMALS)]},
            "properties": {"name": st["key"], "parameter-name":
                           [p.name for p in self.series.parameters]},
            "links": [{"rel": "data", "type": "application/vnd.cov+json",
                       "href": f"{base}/collections/{self.series.collection_id}/locations/"
                               f"{st['key']}"}],
        } for st in stations]}

    def _coverages(self, stations: list[dict], datetime_: str | None,
                   select_properties: list | None, *, single: bool) -> dict:
        params = [self.series.parameter(n.strip()) for n in (select_properties or []) if n] \
            or list(self.series.parameters)
        resolution = RESOLUTION.get()
        rows = self._series_rows([st["key"] for st in stations], params, datetime_, resolution)
        by_station: dict[str, list[dict]] = {}
        for row in rows:
            by_station.setdefault(row["station"], []).append(row)
        if single and not rows:
            # CoverageJSON has no empty axis: say so instead.
            raise ProviderItemNotFoundError(
                user_msg=f"station '{stations[0]['key']}' has no observations of "
                         f"{', '.join(p.name for p in params)} within datetime "
                         f"'{datetime_ or '../..'}'")
        # Stations without a value in the interval are left out: an axis cannot be empty.
        coverages = [coverage_json(st, by_station[st["key"]], params, resolution,
                                   standalone=single) for st in stations
                     if st["key"] in by_station]
        if single:
            return coverages[0]
        return {"type": "CoverageCollection", "domainType": "PointSeries",
                "parameters": {p.name: parameter_json(p) for p in params},
                "referencing": referencing(), "coverages": coverages}

    def _series_rows(self, keys: list[str], params: list[Parameter], datetime_: str | None,
                     resolution: Resolution) -> list[dict]:
        """Time steps of ``keys``' series, raw or as means per bin; at most the step budget."""
        if not keys:
            return []
        query, args = series_sql(self.series, keys, params, datetime_, resolution)
        budget = get_settings().edr_max_steps
        with self._cursor() as cur:
            cur.execute(query + sql.SQL(" LIMIT %s"), [*args, budget + 1])
            rows = list(cur)
        if len(rows) > budget:
            hint = {Resolution.RAW: "resolution=PT1H or resolution=P1D",
                    Resolution.HOUR: "resolution=P1D"}.get(resolution, "")
            raise ProviderInvalidQueryError(
                user_msg=f"the answer would hold more than {budget} time steps (all stations "
                         "together); ask for " + (f"{hint}, " if hint else "")
                         + "a shorter datetime interval or fewer stations")
        return rows


def series_sql(series: Series, keys: list[str], params: list[Parameter],
               datetime_: str | None, resolution: Resolution) -> tuple[sql.Composed, list]:
    """SELECT station, t, <parameter>... over the observations of ``keys`` within
    ``datetime_``, ordered by station and time; the bare SQL the answers are built from (the
    tests and the benchmark compare against the same rows)."""
    t = sql.SQL("o.{}").format(sql.Identifier(series.obs_time))
    where = [sql.SQL("o.{} = ANY(%s)").format(sql.Identifier(series.obs_station))]
    args: list[Any] = [keys]
    if datetime_ not in (None, "../.."):
        interval = datetime_interval(datetime_)
        if interval.start is not None:
            where.append(sql.SQL("{} >= %s").format(t))
            args.append(interval.start)
        if interval.end is not None:
            where.append(sql.SQL("{} {} %s").format(
                t, sql.SQL("<" if interval.end_exclusive else "<=")))
            args.append(interval.end)
    station = sql.SQL("o.{}::text").format(sql.Identifier(series.obs_station))
    table = sql.Identifier(*series.observations)
    cond = sql.SQL(" AND ").join(where)
    if resolution is Resolution.RAW:
        cols = sql.SQL(", ").join(sql.SQL("o.{0}::float8 AS {0}").format(sql.Identifier(p.name))
                                  for p in params)
        # A row without any asked-for value is no time step of this answer.
        some = sql.SQL(" OR ").join(sql.SQL("o.{} IS NOT NULL").format(sql.Identifier(p.name))
                                    for p in params)
        return sql.SQL("SELECT {st} AS station, {t} AS t, {cols} FROM {tab} o WHERE {c} "
                       "AND ({some}) ORDER BY 1, 2").format(
            st=station, t=t, cols=cols, tab=table, c=cond, some=some), args
    if resolution is Resolution.HOUR:
        # date_bin on whole hours from the epoch: the same bins in every time zone.
        bin_ = sql.SQL("date_bin('1 hour', {}, TIMESTAMPTZ '2000-01-01 00:00:00+00')").format(t)
    else:
        # A local calendar day: 23 or 25 hours at the clock changes, so no fixed-width bin.
        bin_ = sql.SQL("date_trunc('day', {}, {})").format(t, sql.Literal(LOCAL_ZONE))
    cols = sql.SQL(", ").join(sql.SQL("avg(o.{0})::float8 AS {0}").format(sql.Identifier(p.name))
                              for p in params)
    some = sql.SQL(" OR ").join(sql.SQL("count(o.{}) > 0").format(sql.Identifier(p.name))
                                for p in params)
    return sql.SQL("SELECT {st} AS station, {b} AS t, {cols} FROM {tab} o WHERE {c} "
                   "GROUP BY 1, 2 HAVING {some} ORDER BY 1, 2").format(
        st=station, b=bin_, cols=cols, tab=table, c=cond, some=some), args


# -- CoverageJSON -----------------------------------------------------------------------------


def parameter_json(p: Parameter) -> dict:
    """A CoverageJSON parameter object."""
    return {
        "type": "Parameter", "id": p.name,
        "description": {"de": p.label_de, "en": p.description_en},
        "observedProperty": {"id": p.name, "label": {"de": p.label_de, "en": p.label_en}},
        "unit": {"label": {"en": p.unit_label_en},
                 "symbol": {"value": p.unit, "type": UCUM}},
    }


def referencing() -> list[dict]:
    return [{"coordinates": ["x", "y"],
             "system": {"type": "GeographicCRS", "id": CRS84}},
            {"coordinates": ["t"],
             "system": {"type": "TemporalRS", "calendar": "Gregorian"}}]


def _iso(value: datetime) -> str:
    """RFC 3339 in UTC (the API's connections run in UTC): ``2026-05-01T12:00:00Z``."""
    return value.isoformat().replace("+00:00", "Z")


def coverage_json(station: dict, rows: list[dict], params: list[Parameter],
                  resolution: Resolution, *, standalone: bool) -> dict:
    """One station's series as a CoverageJSON ``PointSeries`` coverage."""
    domain: dict[str, Any] = {
        "type": "Domain", "domainType": "PointSeries",
        "axes": {"x": {"values": [round(station["lon"], DEGREE_DECIMALS)]},
                 "y": {"values": [round(station["lat"], DEGREE_DECIMALS)]},
                 "t": {"values": [_iso(r["t"]) for r in rows]}},
    }
    if standalone:
        domain["referencing"] = referencing()
    cov: dict[str, Any] = {
        "type": "Coverage", "id": station["key"], "domain": domain,
        "ranges": {p.name: {"type": "NdArray", "dataType": "float", "axisNames": ["t"],
                            "shape": [len(rows)], "values": [r[p.name] for r in rows]}
                   for p in params},
        # Not CoverageJSON's: what the time steps are (raw observations or means per bin).
        "twin:resolution": resolution.value,
    }
    if standalone:
        cov["parameters"] = {p.name: parameter_json(p) for p in params}
    return cov


# -- OpenAPI ----------------------------------------------------------------------------------


def _param(name: str, description: str, schema: dict, *, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema, "style": "form", "explode": False}


_COMMON = [
    _param("datetime", "An instant, a date (its whole day in Cottbus) or an interval "
           "(RFC 3339, '..' for an open end)", {"type": "string"}),
    _param("resolution", "Time steps of the answer: raw (as observed), PT1H (hourly means), "
           "P1D (means per local calendar day)", {"type": "string",
                                                  "enum": [r.value for r in Resolution]}),
    _param("crs", "Coordinates of the answer: CRS84 only", {"type": "string", "enum": [CRS84]}),
    _param("f", "Format: CoverageJSON", {"type": "string", "enum": ["json"]}),
    _param("lang", "Language", {"type": "string"}),
]
_COVJSON = {"type": "object", "required": ["type"],
            "properties": {"type": {"type": "string",
                                    "enum": ["Coverage", "CoverageCollection"]}}}
_ERRORS = {"400": {"$ref": "#/components/responses/InvalidParameter"},
           "404": {"$ref": "#/components/responses/NotFound"},
           "500": {"$ref": "#/components/responses/ServerError"}}


def openapi(doc: dict) -> None:
    """Put our description of the sensor collections' EDR queries in place of pygeoapi's in
    ``doc['paths']`` (its references point online; it offers ``z``, which we refuse, and
    lacks ``resolution``)."""
    paths = doc["paths"]
    for path in [p for p in paths if EDR_PATH.match(p.replace("{locId}", "x"))]:
        del paths[path]
    for cid, series in SERIES.items():
        names = {"type": "string", "description": "Comma-separated: "
                 + ", ".join(p.name for p in series.parameters)}
        pname = _param("parameter-name", "Parameters to return (default: all)", names)
        coverage = {"200": {"description": "CoverageJSON", "content": {
            "application/vnd.cov+json": {"schema": _COVJSON}}}, **_ERRORS}
        ops = {
            "position": [_param("coords", "POINT(lon lat) in CRS84: the nearest station within "
                                "the tolerance answers", {"type": "string"}, required=True)],
            "area": [_param("coords", "POLYGON((lon lat, ...)) in CRS84: its stations answer",
                            {"type": "string"}, required=True)],
            "cube": [_param("bbox", "lon,lat,lon,lat in CRS84: its stations answer",
                            {"type": "string"}, required=True)],
        }
        for qt, spatial in ops.items():
            paths[f"/collections/{cid}/{qt}"] = {"get": {
                "summary": f"{series.collection_id}: time series by {qt}",
                "operationId": f"edr-{qt}-{cid}", "tags": [cid],
                "parameters": [*spatial, pname, *_COMMON], "responses": coverage}}
        paths[f"/collections/{cid}/locations"] = {"get": {
            "summary": f"{series.collection_id}: the stations", "tags": [cid],
            "operationId": f"edr-locations-{cid}",
            "parameters": [_param("bbox", "lon,lat,lon,lat in CRS84", {"type": "string"}),
                           _param("datetime", "Accepted, not used", {"type": "string"}),
                           _param("limit", "Most stations", {"type": "integer", "minimum": 0}),
                           _param("f", "Format: GeoJSON", {"type": "string", "enum": ["json"]}),
                           _param("lang", "Language", {"type": "string"})],
            "responses": {"200": {"description": "GeoJSON", "content": {
                "application/geo+json": {"schema": {"type": "object"}}}}, **_ERRORS}}}
        paths[f"/collections/{cid}/locations/{{locId}}"] = {"get": {
            "summary": f"{series.collection_id}: one station's time series", "tags": [cid],
            "operationId": f"edr-location-{cid}",
            "parameters": [{"name": "locId", "in": "path", "required": True,
                            "schema": {"type": "string"},
                            "description": "The station (its feature id)"}, pname, *_COMMON],
            "responses": coverage}}
