"""LoD2 buildings from CityJSON 1.0-2.0: `twin load buildings PATH...` -> collection `buildings`.

One row per Building (its BuildingParts folded in) with a 2D footprint, heights, the LoD and
the AdV function and roof form decoded (etl/adv_codes.py); one row per face in
twin.building_surfaces (PolygonZ, EPSG:25833) with its semantic type, loaded with the building
(a detail table of the ETL core).

- Files are read and upgraded by cjio (etl/cityjson.py); their CRS, in any spelling, by
  etl/city_crs.py. x and y are reprojected into EPSG:25833 with pyproj; z is left as it is, in
  the height datum the file names (recorded in ``height_datum``), since a vertical
  transformation needs geoid grids the twin does not carry. cjio's ``reproject()`` is not used:
  it takes the EPSG code from ``get_epsg()`` (the height datum for a compound CRS), transforms
  heights too, fetches grids from the network, loops over the vertices in Python and
  re-quantises the result.
- A file without a CRS is refused unless ``--crs`` names it; coordinates that cannot lie in
  Germany after reprojection are refused as the sign of a wrong CRS (a model may reach beyond
  the city and the state).
- Of several LoDs per object the LoD2 geometry is kept (the finest LoD2.x), else the finest
  there is; ``lod`` says which. Faces of MultiSurface, CompositeSurface, Solid, MultiSolid and
  CompositeSolid are kept with their holes and without asking for planarity; a face with fewer
  than three distinct points or no area is skipped and counted, never a reason to refuse.
- Attributes by allow-list (:data:`ATTRIBUTES`); the names of the others are said in the notes,
  their values go nowhere.
- Tiles: each file is a tile (its name without ``.city.json``, or ``--tile``); in replace mode
  a load replaces the buildings of the tiles it reads and keeps every other tile.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer

from etl import adv_codes, geometry
from etl.city_crs import CityCRS, CRSNotUnderstood, parse_city_crs
from etl.cityjson import (
    MULTI_SOLID_GEOMETRIES,
    SOLID_GEOMETRIES,
    SURFACE_GEOMETRIES,
    CityModel,
    Faces,
    face_polygons,
    faces_of,
    lod_key,
    read_city_model,
)
from etl.io.vector import Batch
from etl.sources.base import Detail, LoadOptions, Part, Source
from etl.street_names import street_name
from twin.errors import LoadRefusedError, RecordError, SourceError
from twin.redact import PLACEHOLDER, redact
from twin.registry import BUILDINGS, Collection
from twin.settings import STORAGE_SRID

STORAGE_CRS = f"EPSG:{STORAGE_SRID}"

#: Faces seen from above with less area than this (m²) are walls: no part of a footprint.
MIN_FOOTPRINT_AREA = 0.01

#: Published field <- attribute names a file may use for it (the allow-list). Heights are
#: absolute, in the file's height datum: relative ones (above ground) are not taken.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "function": ("function",),
    "roof_type": ("roofType",),
    "height": ("measuredHeight",),
    "storeys": ("storeysAboveGround",),
    # GeoSN/AdV shape deliveries write H_Boden and H_Traufe; 3DBAG h_maaiveld; Rotterdam
    # TerrainHeight; the Hague AbsoluteEavesHeight.
    "ground_height": ("groundHeight", "H_Boden", "TerrainHeight", "h_maaiveld"),
    "eave_height": ("eaveHeight", "eavesHeight", "H_Traufe", "AbsoluteEavesHeight"),
    "address": ("address",),
}
#: What of a CityJSON address (xAL field names) is published, and only in these forms: the
#: street as a clean street name, a house number, a postcode, a locality of known words.
HOUSE_NUMBER = re.compile(r"\d{1,4}\s?[a-zA-Z]?(?:\s?[-/]\s?\d{1,4}\s?[a-zA-Z]?)?")
POSTCODE = re.compile(r"\d{5}")
#: A building id: what CityJSON writers use (ALKIS ids, GUIDs, BAG ids); no spaces.
KEY_PATTERN = re.compile(r"[A-Za-z0-9{][A-Za-z0-9._:{}\-]{0,99}")

SURFACES = Detail(
    table="building_surfaces",
    parent_key="building_id",
    key=("building_id", "surface_no"),
    columns=("building_id", "surface_no", "part_id", "surface_type", "geom"),
)


def tile_of(path: Path) -> str:
    """The tile a file is: its name without ``.city.json`` (or ``.json``)."""
    name = path.name
    for suffix in (".city.json", ".json"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


@dataclass
class _FileCounts:
    """What a file held beside its buildings, for the notes."""

    degenerate_faces: int = 0
    degenerate_holes: int = 0
    other_objects: Counter = field(default_factory=Counter)
    instances: int = 0
    lod_fallback: Counter = field(default_factory=Counter)
    several_lods: int = 0
    dropped_attributes: set[str] = field(default_factory=set)
    not_adv: Counter = field(default_factory=Counter)
    unknown_function: int = 0
    withheld_addresses: int = 0


class BuildingsSource(Source):
    """LoD2 building models as CityJSON 1.0, 1.1 and 2.0."""

    name = "buildings"
    collections = (BUILDINGS,)
    details = (SURFACES,)
    sample_globs = ("*.json",)
    region = geometry.GERMANY

    def __init__(self) -> None:
        super().__init__()
        self._tiles: set[str] = set()

    # -- the contract -----------------------------------------------------------------------
    def read(self, paths: list[Path], options: LoadOptions) -> Iterator[Part]:
        self._tiles = set()
        for path in paths:
            tile = options.tile or tile_of(path)
            self._tiles.add(tile)
            buildings = self._read_file(path, tile, options)
            for start in range(0, len(buildings), self.batch_size):
                yield buildings.part(start, start + self.batch_size)

    def replace_scope(self, collection: Any) -> tuple[str, Any] | None:
        # A tile replaces its own buildings and keeps the others.
        return ("tile", sorted(self._tiles))

    def key_problem(self, collection: Collection, key: str) -> str | None:
        if not KEY_PATTERN.fullmatch(key):
            return ("the building id is not an object id (up to 100 letters, digits and "
                    "'.', '_', ':', '-', '{', '}'; no spaces)")
        return None

    # -- one file ----------------------------------------------------------------------------
    def _read_file(self, path: Path, tile: str, options: LoadOptions) -> _FileBuildings:
        model = read_city_model(path)
        crs = self._crs(model, options)
        self.notes.extend(model.notes)
        vertices = self._to_storage(model, crs)
        counts = _FileCounts()
        members, errors = _members(model, counts)
        if errors:
            raise LoadRefusedError(f"{len(errors)} record(s) refused; nothing was changed. "
                                   f"First: {errors[0].location}", path=str(path),
                                   errors=errors)
        faces = Faces()
        values: list[dict[str, Any]] = []
        for n, (building_id, parts) in enumerate(members.items()):
            lods = []
            for member in parts:
                try:
                    chosen = _choose_geometry(model.objects[member].get("geometry") or [],
                                              counts)
                    if chosen is None:
                        continue
                    lods.append(str(chosen.get("lod")))
                    part_id = None if member == building_id else member
                    for rings, kind in faces_of(chosen):
                        faces.add(n, part_id, kind, rings)
                except (AttributeError, IndexError, KeyError, TypeError) as exc:
                    row = list(model.objects).index(member) + 1
                    error = RecordError(f"the geometry cannot be read ({type(exc).__name__}): "
                                        "the file is not valid CityJSON", path=str(path),
                                        row=geometry.where(row, member), field="geometry")
                    raise LoadRefusedError(f"1 record(s) refused; nothing was changed. First: "
                                           f"{error.location}", path=str(path),
                                           errors=[error]) from exc
            values.append({**_attributes(model, building_id, parts, counts),
                           "building_id": building_id, "tile": tile,
                           "lod": max(lods, key=lod_key) if lods else None,
                           "height_datum": crs.height_datum})
        position = {oid: row for row, oid in enumerate(model.objects, start=1)}
        result = _FileBuildings.of(path, values, faces, vertices, counts,
                                   np.asarray([position[b] for b in members], dtype=np.int64))
        errors = geometry.check_in_region(
            result.footprints, result.rows, [v["building_id"] for v in values],
            path=str(path), region=self.region, read_as=crs.describe())
        if errors:
            raise LoadRefusedError(f"{len(errors)} building(s) cannot be in "
                                   f"{self.region.name}; nothing was changed. First: "
                                   f"{errors[0].location}", path=str(path), errors=errors)
        # Ground heights the file does not give come from the terrain model, after the merge
        # (twin/derive.py buildings_ground_from_terrain), whichever of the two is loaded first.
        self.notes.extend(_notes(path, crs, counts, len(values)))
        return result

    @staticmethod
    def _crs(model: CityModel, options: LoadOptions) -> CityCRS:
        path = model.path
        given = options.crs or model.crs
        if given is None:
            raise SourceError(
                "the file declares no CRS (metadata.referenceSystem); name it with --crs, "
                "e.g. --crs EPSG:25833 or --crs EPSG:25833+7837 (with DHHN2016 heights)",
                path=str(path))
        try:
            return parse_city_crs(given)
        except CRSNotUnderstood as exc:
            source = "--crs" if options.crs else "metadata.referenceSystem"
            raise SourceError(f"the CRS in {source} is not understood: {exc}; name it with "
                              "--crs, e.g. --crs EPSG:25833", path=str(path)) from exc

    @staticmethod
    def _to_storage(model: CityModel, crs: CityCRS) -> np.ndarray:
        """Vertices with x, y in EPSG:25833 and z as given."""
        vertices = model.vertices.copy()
        if crs.horizontal.to_epsg() != STORAGE_SRID and len(vertices):
            to_storage = Transformer.from_crs(crs.horizontal, STORAGE_CRS, always_xy=True)
            vertices[:, 0], vertices[:, 1] = to_storage.transform(vertices[:, 0],
                                                                  vertices[:, 1])
        bad = ~np.isfinite(vertices).all(axis=1)
        if bad.any():
            raise SourceError(
                f"{int(bad.sum())} of {len(vertices)} vertices cannot be carried from "
                f"{crs.describe()} into {STORAGE_CRS}: they lie outside that CRS; is the CRS of "
                "the file right?", path=str(model.path))
        return vertices


@dataclass
class _FileBuildings:
    """The buildings of one file, ready to be cut into parts: values, footprints, faces."""

    path: Path
    values: list[dict[str, Any]]
    footprints: np.ndarray  # MultiPolygon or None, per building
    rows: np.ndarray  # 1-based position of each building among the file's city objects
    faces: Faces
    polygons: np.ndarray  # PolygonZ per face, None where degenerate

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def of(cls, path: Path, values: list[dict[str, Any]], faces: Faces,
           vertices: np.ndarray, counts: _FileCounts, rows: np.ndarray) -> _FileBuildings:
        polygons, bad_faces, bad_holes = face_polygons(faces, vertices)
        counts.degenerate_faces += bad_faces
        counts.degenerate_holes += bad_holes
        building = np.asarray(faces.building, dtype=np.int64)
        kept = ~shapely.is_missing(polygons)
        # Highest point of each building (its roof), to the millimetre of the sources.
        top = np.full(len(values), -np.inf)
        if kept.any():
            coords, index = shapely.get_coordinates(polygons[kept], include_z=True,
                                                    return_index=True)
            np.maximum.at(top, building[kept][index], coords[:, 2])
        for value, z in zip(values, top, strict=True):
            value["roof_height"] = round(float(z), 3) if np.isfinite(z) else None
        footprints = _footprints(len(values), building, np.asarray(faces.kind), polygons)
        return cls(path, values, footprints, rows, faces, polygons)

    def part(self, start: int, stop: int) -> Part:
        """Buildings ``start:stop`` with their faces as one Part."""
        values = self.values[start:stop]
        columns = {f.name: [v.get(f.name) for v in values] for f in BUILDINGS.loaded_fields}
        building = np.asarray(self.faces.building, dtype=np.int64)
        chosen = np.flatnonzero((building >= start) & (building < stop)
                                & ~shapely.is_missing(self.polygons))
        ewkb = shapely.to_wkb(shapely.set_srid(self.polygons[chosen], STORAGE_SRID), hex=True,
                              include_srid=True, output_dimension=3) if len(chosen) else []
        rows, number = [], {}
        for face, wkb in zip(chosen, ewkb, strict=True):
            b = int(building[face])
            number[b] = number.get(b, 0) + 1
            rows.append([self.values[b]["building_id"], number[b], self.faces.part[face],
                         self.faces.kind[face], wkb])
        batch = Batch(columns, self.footprints[start:stop], self.rows[start:stop])
        return Part(BUILDINGS, batch, self.path, STORAGE_CRS, len(self.values),
                    details={SURFACES.table: rows})


# -- objects -------------------------------------------------------------------------------------
def _members(model: CityModel, counts: _FileCounts) -> tuple[dict[str, list[str]],
                                                              list[RecordError]]:
    """Building id -> the building and its parts (parts of parts too), in file order."""
    objects = model.objects
    members: dict[str, list[str]] = {}
    errors: list[RecordError] = []
    for oid, obj in objects.items():
        if obj.get("type") == "Building":
            members[oid] = [oid]
    for row, (oid, obj) in enumerate(objects.items(), start=1):
        kind = obj.get("type")
        if kind == "Building":
            continue
        if kind != "BuildingPart":
            counts.other_objects[str(kind)] += 1
            continue
        root, seen = oid, {oid}
        while objects.get(root, {}).get("type") != "Building":
            parents = objects.get(root, {}).get("parents") or []
            if not parents or parents[0] in seen:
                root = None
                break
            root = parents[0]
            seen.add(root)
        if root is None or root not in objects:
            errors.append(RecordError(
                "the building part belongs to no Building of the file (its 'parents' name "
                "none that is there)", path=str(model.path), row=geometry.where(row, oid),
                field="parents"))
            continue
        members[root].append(oid)
    return members, errors


def _choose_geometry(geometries: list[dict], counts: _FileCounts) -> dict | None:
    """The LoD2 geometry of an object (the finest LoD2.x), else its finest; None if none."""
    usable = [g for g in geometries if g.get("type") in
              SURFACE_GEOMETRIES + SOLID_GEOMETRIES + MULTI_SOLID_GEOMETRIES]
    counts.instances += sum(g.get("type") == "GeometryInstance" for g in geometries)
    if not usable:
        return None
    if len({str(g.get("lod")) for g in usable}) > 1:
        counts.several_lods += 1
    lod2 = [g for g in usable if lod_key(g.get("lod"))[0] == 2]
    if not lod2:
        counts.lod_fallback[str(max(usable, key=lambda g: lod_key(g.get("lod"))).get("lod"))] \
            += 1
    # max() keeps the first of equals: the order of the file decides between twins.
    return max(lod2 or usable, key=lambda g: lod_key(g.get("lod")))


def _footprints(n_buildings: int, building: np.ndarray, kind: np.ndarray,
                polygons: np.ndarray) -> np.ndarray:
    """The 2D footprint of each building: the union of its ground faces seen from above;
    without ground faces, of every face that is not a wall seen from above (roofs cover the
    building). None for a building without faces."""
    out = np.full(n_buildings, None, dtype=object)
    kept = np.flatnonzero(~shapely.is_missing(polygons))
    if len(kept) == 0:
        return out
    flat = shapely.force_2d(polygons[kept])
    wide = shapely.area(flat) >= MIN_FOOTPRINT_AREA
    kept, flat = kept[wide], shapely.make_valid(flat[wide])
    owner, ground = building[kept], kind[kept] == "ground"
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(n_buildings + 1))
    for b in range(n_buildings):
        mine = order[bounds[b]:bounds[b + 1]]
        if len(mine) == 0:
            continue
        chosen = mine[ground[mine]] if ground[mine].any() else mine
        # make_valid may have left lines beside polygons; only polygons make a footprint.
        union = shapely.union_all(flat[chosen])
        parts = [p for p in shapely.get_parts(shapely.get_parts(union))
                 if p.geom_type == "Polygon" and p.area > 0]
        if parts:
            out[b] = shapely.MultiPolygon(parts)
    return out


# -- attributes ----------------------------------------------------------------------------------
def _attributes(model: CityModel, building_id: str, members: list[str],
                counts: _FileCounts) -> dict[str, Any]:
    """Published values of a building: its own attributes, else its parts' (the highest
    height and storeys, the lowest ground, the first part's function and roof form)."""
    own = model.objects[building_id].get("attributes") or {}
    parts = [model.objects[m].get("attributes") or {} for m in members[1:]]
    allowed = {name for names in ATTRIBUTES.values() for name in names}
    for attrs in (own, *parts):
        counts.dropped_attributes.update(k for k in attrs if k not in allowed)
    # CityJSON 2.0 keeps the address beside the attributes; older files inside them.
    address_value = model.objects[building_id].get("address") or own.get("address")

    def pick(name: str, combine=None) -> Any:
        value = _first(own, ATTRIBUTES[name])
        if value is None and parts and combine is not None:
            found = [v for v in (_first(p, ATTRIBUTES[name]) for p in parts) if v is not None]
            value = combine(found) if found else None
        return value

    values: dict[str, Any] = {
        "height": pick("height", _max_number),
        "storeys": pick("storeys", _max_number),
        "ground_height": pick("ground_height", _min_number),
        "eave_height": pick("eave_height", _max_number),
        "address": _address(address_value, counts),
    }
    function = pick("function", lambda found: found[0])
    decoded = adv_codes.function(function)
    if function is not None and decoded is None:
        counts.not_adv["function"] += 1
    elif decoded is not None and decoded.de is None:
        counts.unknown_function += 1
    values.update(function_code=decoded and decoded.code, function_de=decoded and decoded.de,
                  function_en=decoded and decoded.en)
    roof = pick("roof_type", lambda found: found[0])
    decoded = adv_codes.roof_type(roof)
    if roof is not None and decoded is None:
        counts.not_adv["roofType"] += 1
    values.update(roof_type_code=decoded and decoded.code, roof_type_de=decoded and decoded.de,
                  roof_type_en=decoded and decoded.en)
    return values


def _first(attrs: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = attrs.get(name)
        if value is not None and value != "":
            return value
    return None


def _number(value: Any) -> float | None:
    try:
        number = float(str(value).replace(",", ".")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _max_number(found: list[Any]) -> Any:
    numbers = [n for n in map(_number, found) if n is not None]
    return max(numbers) if numbers else found[0]


def _min_number(found: list[Any]) -> Any:
    numbers = [n for n in map(_number, found) if n is not None]
    return min(numbers) if numbers else found[0]


def _address(value: Any, counts: _FileCounts) -> str | None:
    """'Altmarkt 1, 03046 Cottbus' of a CityJSON address (or list of them: joined by '; ').

    Only what has the form of an address is published: the street as a clean street name
    (etl/street_names.py), a house number, a postcode and a locality of known words
    (twin/redact.py); anything else in these fields (a name, a note) is dropped, and an
    address without a recognisable street is withheld whole.
    """
    items = value if isinstance(value, list) else [value]
    texts = []
    for item in items:
        if not isinstance(item, dict):
            continue
        street = street_name(item.get("ThoroughfareName"))
        if street is None:
            counts.withheld_addresses += 1
            continue
        number = str(item.get("ThoroughfareNumber") or "").strip()
        postcode = str(item.get("PostalCode") or "").strip()
        locality = redact(str(item.get("LocalityName") or "").strip() or None)
        place = " ".join(p for p in (
            postcode if POSTCODE.fullmatch(postcode) else "",
            locality if locality and PLACEHOLDER not in locality else "") if p)
        head = f"{street} {number}" if HOUSE_NUMBER.fullmatch(number) else street
        text = ", ".join(t for t in (head, place) if t)
        if text not in texts:
            texts.append(text)
    return "; ".join(texts) or None


def _notes(path: Path, crs: CityCRS, counts: _FileCounts, buildings: int) -> list[str]:
    notes = [f"{path}: {buildings} building(s) read in {crs.describe()}"
             + ("" if crs.horizontal.to_epsg() == STORAGE_SRID else
                f", x and y reprojected into {STORAGE_CRS}")
             + ("; heights kept in " + crs.height_datum if crs.height_datum else
                "; heights kept as given (the file names no height datum)")]
    if counts.degenerate_faces:
        notes.append(f"{path}: {counts.degenerate_faces} degenerate face(s) skipped (fewer than "
                     "three distinct points, or no area)")
    if counts.degenerate_holes:
        notes.append(f"{path}: {counts.degenerate_holes} degenerate hole(s) of faces skipped")
    if counts.several_lods:
        notes.append(f"{path}: {counts.several_lods} object(s) have several LoDs; LoD2 kept")
    for lod, n in sorted(counts.lod_fallback.items()):
        notes.append(f"{path}: {n} object(s) have no LoD2 geometry; LoD {lod} kept")
    if counts.instances:
        notes.append(f"{path}: {counts.instances} geometry instance(s) (templates) not loaded")
    if counts.other_objects:
        notes.append(f"{path}: city objects other than buildings not loaded: "
                     + ", ".join(f"{n} {k}" for k, n in sorted(counts.other_objects.items())))
    for name, n in sorted(counts.not_adv.items()):
        notes.append(f"{path}: {n} value(s) of {name} are no AdV code and not published")
    if counts.unknown_function:
        notes.append(f"{path}: {counts.unknown_function} AdV function code(s) not in "
                     "config/adv_codes.csv: published without labels")
    if counts.withheld_addresses:
        notes.append(f"{path}: {counts.withheld_addresses} address(es) without a recognisable "
                     "street withheld")
    if counts.dropped_attributes:
        # Names only: the values of attributes not on the allow-list go nowhere.
        notes.append(f"{path}: attributes not published and dropped: "
                     f"{', '.join(sorted(counts.dropped_attributes))}")
    return notes
