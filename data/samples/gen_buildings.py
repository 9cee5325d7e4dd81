"""Deterministic generator of the LoD2 building sample in ``data/samples/buildings/``.

A 3D city model of central Cottbus/Chóśebuz as the city would receive it after converting the
state's LoD2 tiles (CityGML, AdV profile) to CityJSON: CityJSON 2.0, one file per square
kilometre (``lod2_33EEE-NNNN.city.json`` after the zone and the kilometre of the lower-left
corner), EPSG:25833 with DHHN2016 heights, written as the OGC compound CRS URL, vertices as
integers with a millimetre ``transform``.

The buildings are **invented**, placed at real places on the synthetic parcels and the
heritage sample (``gen_parcels.py`` and ``gen_heritage.py`` run first):

- landmarks on their monuments' geometries: the houses on the Altmarkt (their polygons, or the
  parcel under their point), the Oberkirche St. Nikolai (nave and west tower as two
  BuildingParts), the Spremberger Turm (a tower on its point), the Staatstheater (auditorium
  and stage tower as BuildingParts), and the other listed buildings of the old town;
- ordinary buildings on the building plots around them: one house per plot (gable, hip or
  flat roof, two to five storeys) and a garage with a mono-pitch roof on large plots.

Every building is true LoD2: walls, ground, and sloped roof faces (RoofSurface, WallSurface,
GroundSurface semantics) built on a rectangle fitted into its plot. The landmarks are Solids,
ordinary buildings MultiSurfaces, as converters write both. Ground heights come from the
terrain sample (``terrain/*.tif``, when ``gen_terrain.py`` has written it) at the lowest
corner of each footprint, else from a gentle plane; the files carry no ground-height attribute
(the loader takes it from the terrain).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyogrio
import shapely

SAMPLES_DIR = Path(__file__).resolve().parent
OUT = Path("buildings")
PARCELS = Path("parcels") / "flurstuecke_cottbus_mitte.gpkg"
HERITAGE_LIST = Path("heritage") / "denkmalliste_cottbus.csv"
HERITAGE_GEOMETRY = Path("heritage") / "denkmale_cottbus.gpkg"
TERRAIN = Path("terrain")
#: ETRS89 / UTM 33N with DHHN2016 heights, as CityJSON 2.0 writes a compound CRS.
CRS_URL = ("https://www.opengis.net/def/crs-compound?"
           "1=https://www.opengis.net/def/crs/EPSG/0/25833&"
           "2=https://www.opengis.net/def/crs/EPSG/0/7837")
SEED = 20240811
#: Ordinary buildings stand on the plots whose centre lies this close to the Altmarkt.
CENTRE, RADIUS = (454000.0, 5734520.0), 430.0
BUILDING_USES = {"Wohnbaufläche", "Fläche gemischter Nutzung",
                 "Fläche besonderer funktionaler Prägung"}
POSTCODE, LOCALITY = "03046", "Cottbus"

# AdV codes (config/adv_codes.csv): functions as 31001_<AX_Gebaeudefunktion>, roof forms.
RESIDENTIAL, MIXED, GARAGE = "31001_1010", "31001_1123", "31001_2463"
PUBLIC = ("31001_3010", "31001_3021", "31001_3065", "31001_2020")
FLAT, MONO, GABLE, HIP, PYRAMID, TOWER = "1000", "2100", "3100", "3200", "3500", "4000"
MIXED_FORM = "5000"


# -- geometry of LoD2 buildings -----------------------------------------------------------------
@dataclass(frozen=True)
class Box:
    """A rectangle: corner c0 and unit vectors u (along the length) and v (across), CCW."""

    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: float
    depth: float

    def at(self, s: float, t: float) -> np.ndarray:
        return self.origin + s * self.u + t * self.v

    @property
    def corners(self) -> list[np.ndarray]:
        return [self.at(0, 0), self.at(self.length, 0), self.at(self.length, self.depth),
                self.at(0, self.depth)]

    @property
    def polygon(self) -> shapely.Polygon:
        return shapely.Polygon(self.corners)


Face = tuple[str, list[tuple[float, float, float]]]  # (semantic type, ring)


def _p(xy: np.ndarray, z: float) -> tuple[float, float, float]:
    return (float(xy[0]), float(xy[1]), float(z))


def box_building(box: Box, ground: float, eave: float, ridge: float, roof: str) -> list[Face]:
    """Ground, walls and roof faces of a building on ``box`` (outward normals, CCW rings).

    ``roof``: FLAT (roof at the eave), MONO (high along the back), GABLE (ridge along the
    length), HIP (ridge along the length, hipped ends; a pyramid on a square), PYRAMID and
    TOWER (apex over the centre).
    """
    c = box.corners
    g = [_p(p, ground) for p in c]
    e = [_p(p, eave) for p in c]
    faces: list[Face] = [("GroundSurface", [g[3], g[2], g[1], g[0]])]
    half = box.depth / 2
    if roof == FLAT:
        faces += [("WallSurface", [g[i], g[(i + 1) % 4], e[(i + 1) % 4], e[i]]) for i in range(4)]
        faces.append(("RoofSurface", e))
    elif roof == MONO:
        high = [_p(c[2], ridge), _p(c[3], ridge)]
        faces += [("WallSurface", [g[0], g[1], e[1], e[0]]),
                  ("WallSurface", [g[1], g[2], high[0], e[1]]),
                  ("WallSurface", [g[2], g[3], high[1], high[0]]),
                  ("WallSurface", [g[3], g[0], e[0], high[1]]),
                  ("RoofSurface", [e[0], e[1], high[0], high[1]])]
    elif roof == GABLE:
        r0, r1 = _p(box.at(0, half), ridge), _p(box.at(box.length, half), ridge)
        faces += [("WallSurface", [g[0], g[1], e[1], e[0]]),
                  ("WallSurface", [g[1], g[2], e[2], r1, e[1]]),
                  ("WallSurface", [g[2], g[3], e[3], e[2]]),
                  ("WallSurface", [g[3], g[0], e[0], r0, e[3]]),
                  ("RoofSurface", [e[0], e[1], r1, r0]),
                  ("RoofSurface", [e[2], e[3], r0, r1])]
    elif roof == HIP and box.length > box.depth + 0.5:
        r0, r1 = _p(box.at(half, half), ridge), _p(box.at(box.length - half, half), ridge)
        faces += [("WallSurface", [g[i], g[(i + 1) % 4], e[(i + 1) % 4], e[i]]) for i in range(4)]
        faces += [("RoofSurface", [e[0], e[1], r1, r0]), ("RoofSurface", [e[1], e[2], r1]),
                  ("RoofSurface", [e[2], e[3], r0, r1]), ("RoofSurface", [e[3], e[0], r0])]
    else:  # HIP on a square, PYRAMID, TOWER: four triangles to an apex over the centre
        apex = _p(box.at(box.length / 2, half), ridge)
        faces += [("WallSurface", [g[i], g[(i + 1) % 4], e[(i + 1) % 4], e[i]]) for i in range(4)]
        faces += [("RoofSurface", [e[i], e[(i + 1) % 4], apex]) for i in range(4)]
    return faces


def fit_box(area: shapely.Geometry, *, max_length: float, max_depth: float,
            margin: float = 0.0, min_side: float = 3.0) -> Box | None:
    """The largest rectangle along ``area``'s minimum rotated rectangle, centred on it, that
    fits into ``area`` (less ``margin``) within the limits; None if none of ``min_side``."""
    inner = area.buffer(-margin, join_style="mitre") if margin else area
    if inner.is_empty:
        return None
    ring = np.asarray(shapely.minimum_rotated_rectangle(inner).exterior.coords)[:4]
    sides = [ring[1] - ring[0], ring[2] - ring[1]]
    lengths = [float(np.hypot(*s)) for s in sides]
    long_side = 0 if lengths[0] >= lengths[1] else 1
    u = sides[long_side] / lengths[long_side]
    v = np.array([-u[1], u[0]])  # u turned left: the rectangle is counter-clockwise
    centre = np.asarray(inner.centroid.coords[0])
    length = min(lengths[long_side], max_length)
    depth = min(lengths[1 - long_side], max_depth)
    grown = inner.buffer(1e-6)
    for scale in np.linspace(1.0, 0.4, 13):
        d, w = length * scale, depth * scale
        if min(d, w) < min_side:
            return None
        box = Box(centre - u * d / 2 - v * w / 2, u, v, d, w)
        if grown.contains(box.polygon):
            return box
    return None


# -- ground ----------------------------------------------------------------------------------------
def ground_model(inputs: Path) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Heights (m, DHHN2016) at points: the terrain sample where it lies, else a plane."""
    tiles = sorted((inputs / TERRAIN).glob("*.tif"))

    def plane(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        # A plain falling gently to the north, as the land around the Spree does.
        return 73.5 - 0.002 * (y - 5734000.0)

    if not tiles:
        return plane
    import rasterio  # only needed when the terrain sample is there

    grids = []
    for tile in tiles:
        with rasterio.open(tile) as src:
            grids.append((src.read(1), src.transform, src.nodata))

    def sample(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = plane(x, y)
        for values, transform, nodata in grids:
            col, row = ~transform * (x, y)
            col, row = np.floor(col).astype(int), np.floor(row).astype(int)
            inside = (row >= 0) & (row < values.shape[0]) & (col >= 0) & (col < values.shape[1])
            found = values[row[inside], col[inside]]
            ok = found != nodata
            out[np.flatnonzero(inside)[ok]] = found[ok]
        return out

    return sample


# -- the buildings ---------------------------------------------------------------------------------
@dataclass
class Building:
    """One building: its id, attributes and the faces of the building or of its parts."""

    id: str
    attributes: dict
    address: dict | None
    #: (part id or None for the building itself, geometry type, faces)
    geometries: list[tuple[str | None, str, list[Face]]] = field(default_factory=list)

    @property
    def footprint(self) -> shapely.Geometry:
        grounds = [shapely.Polygon([p[:2] for p in ring]) for _, _, faces in self.geometries
                   for kind, ring in faces if kind == "GroundSurface"]
        return shapely.union_all(grounds)


class Plan:
    """The parcels and monuments to build on, and the ids and ground heights to build with."""

    def __init__(self, inputs: Path) -> None:
        meta, _, wkb, cols = pyogrio.raw.read(inputs / PARCELS)
        names = list(meta["fields"])
        self.parcels = shapely.from_wkb(wkb)
        self.lage = np.asarray(cols[names.index("lagebeztxt")], dtype=object)
        self.use = np.asarray([str(t).split(";")[0] for t in cols[names.index("tntxt")]])
        self.tree = shapely.STRtree(self.parcels)
        meta, _, wkb, cols = pyogrio.raw.read(inputs / HERITAGE_GEOMETRY, layer="denkmale")
        ids = cols[list(meta["fields"]).index("objektnummer")]
        self.monuments = dict(zip(ids, shapely.from_wkb(wkb), strict=True))
        text = (inputs / HERITAGE_LIST).read_bytes().decode("cp1252")
        self.listed = {r["ID-Nr."]: r for r in csv.DictReader(io.StringIO(text), delimiter=";")}
        self.ground = ground_model(inputs)
        self.rng = np.random.default_rng(SEED)
        self.used = np.zeros(len(self.parcels), dtype=bool)
        self.count = 0

    def new_id(self) -> str:
        """An ALKIS-style object id: DEBBAL + 10 characters."""
        self.count += 1
        return f"DEBBAL03{self.count:08d}"

    def base(self, polygon: shapely.Geometry) -> float:
        """Ground height at the lowest corner, to the centimetre."""
        xy = np.asarray(polygon.exterior.coords)
        return round(float(self.ground(xy[:, 0], xy[:, 1]).min()), 2)

    def parcel_at(self, geom: shapely.Geometry) -> int:
        hits = self.tree.query(geom.representative_point(), predicate="intersects")
        return int(hits[0])

    def claim(self, geom: shapely.Geometry) -> None:
        """No ordinary building on the plots a landmark stands on."""
        self.used[self.tree.query(geom, predicate="intersects")] = True


def address(lage: str | None) -> dict | None:
    """A CityJSON address of a 'Street 12' location (street alone where it has no number)."""
    if not lage:
        return None
    match = re.fullmatch(r"(.+?)\s+(\d+\s*[a-zA-Z]?(?:[-/]\d+)?)", lage.strip())
    street, number = (match[1], match[2]) if match else (lage.strip(), None)
    out = {"CountryName": "Deutschland", "LocalityName": LOCALITY, "PostalCode": POSTCODE,
           "ThoroughfareName": street}
    if number:
        out["ThoroughfareNumber"] = number
    return out


def storey_heights(ground: float, storeys: int, depth: float, pitch: float,
                   roof: str) -> tuple[float, float]:
    """Eave and ridge heights of a building of ``storeys`` with a roof of ``pitch`` degrees."""
    eave = ground + 0.6 + 3.1 * storeys
    rise = {FLAT: 0.0, MONO: depth, GABLE: depth / 2, HIP: depth / 2}.get(roof, depth / 2)
    return round(eave, 2), round(eave + rise * math.tan(math.radians(pitch)), 2)


def simple(plan: Plan, box: Box, *, roof: str, storeys: int, pitch: float, function: str,
           lage: str | None, solid: bool = False) -> Building:
    ground = plan.base(box.polygon)
    eave, ridge = storey_heights(ground, storeys, box.depth, pitch, roof)
    attributes = {"function": function, "roofType": roof,
                  "measuredHeight": round(max(eave, ridge) - ground, 2),
                  "storeysAboveGround": storeys,
                  # As the state's tiles carry them; not on the loader's allow-list.
                  "Gemeindeschluessel": "12052000", "DatenquelleDachhoehe": "1000"}
    b = Building(plan.new_id(), attributes, address(lage))
    b.geometries.append((None, "Solid" if solid else "MultiSurface",
                         box_building(box, ground, eave, ridge, roof)))
    return b


def with_parts(plan: Plan, parts: list[tuple[Box, str, float, float]], *, function: str,
               roof: str, lage: str | None, storeys: int) -> Building:
    """A building of BuildingParts (Solids): (box, roof, eave above ground, ridge above)."""
    ground = min(plan.base(box.polygon) for box, *_ in parts)
    top = max(ridge for *_, ridge in parts)
    b = Building(plan.new_id(), {"function": function, "roofType": roof,
                                 "measuredHeight": round(top, 2),
                                 "storeysAboveGround": storeys}, address(lage))
    for n, (box, part_roof, eave, ridge) in enumerate(parts, start=1):
        b.geometries.append((f"{b.id}_{n}", "Solid",
                             box_building(box, ground, ground + eave, ground + ridge,
                                          part_roof)))
    return b


def landmarks(plan: Plan) -> list[Building]:
    """The listed buildings of the old town, on their monuments' geometries."""
    out: list[Building] = []

    def lage_of(monument: str) -> str:
        return plan.listed[monument]["Lage"]

    # Oberkirche St. Nikolai: a steep hall-church nave and a west tower with a spire.
    church = plan.monuments["09100101"]
    nave = fit_box(church, max_length=62, max_depth=26, margin=2.0)
    tower_side = min(11.0, nave.depth * 0.6)
    tower = Box(nave.at(-tower_side + 0.5, (nave.depth - tower_side) / 2), nave.u, nave.v,
                tower_side, tower_side)
    if not church.buffer(0.5).contains(tower.polygon):  # the tower goes east of the nave then
        tower = Box(nave.at(nave.length - 0.5, (nave.depth - tower_side) / 2), nave.u, nave.v,
                    tower_side, tower_side)
    out.append(with_parts(plan, [(nave, GABLE, 19.0, 34.0), (tower, TOWER, 42.0, 55.0)],
                          function="31001_3041", roof=MIXED_FORM, lage=lage_of("09100101"),
                          storeys=1))
    plan.claim(church)

    # Towers on their points, drawn square with a spire: the Spremberger Turm (a gate tower,
    # round in reality), the Münzturm and the Schlossturm.
    for monument, side, eave, ridge in (("09100102", 8.0, 24.0, 31.0),
                                        ("09100108", 6.0, 16.0, 21.0),
                                        ("09100110", 7.0, 18.0, 24.0)):
        x, y = plan.monuments[monument].coords[0]
        tower = Box(np.array([x - side / 2, y - side / 2]), np.array([1.0, 0.0]),
                    np.array([0.0, 1.0]), side, side)
        ground = plan.base(tower.polygon)
        b = Building(plan.new_id(), {"function": "31001_3030", "roofType": TOWER,
                                     "measuredHeight": ridge, "storeysAboveGround": 5},
                     address(lage_of(monument)))
        b.geometries.append((None, "Solid", box_building(tower, ground, ground + eave,
                                                         ground + ridge, TOWER)))
        out.append(b)
        plan.claim(tower.polygon.buffer(3.0))

    # Staatstheater: the auditorium under a hip roof and the taller stage tower, flat.
    theatre = plan.monuments["09100103"]
    hall = fit_box(theatre, max_length=60, max_depth=38, margin=0.5)
    stage_len = hall.length * 0.3
    front = Box(hall.origin, hall.u, hall.v, hall.length - stage_len, hall.depth)
    stage = Box(hall.at(hall.length - stage_len, hall.depth * 0.1), hall.u, hall.v,
                stage_len, hall.depth * 0.8)
    out.append(with_parts(plan, [(front, HIP, 15.0, 24.0), (stage, FLAT, 27.0, 27.0)],
                          function="31001_3032", roof=MIXED_FORM, lage=lage_of("09100103"),
                          storeys=4))
    plan.claim(theatre)

    # Houses and halls drawn as polygons: each on its monument.
    polygons = {"09100104": ("31001_3041", GABLE, 1, 50.0, 14.0),  # Klosterkirche
                "09100105": ("31001_3041", GABLE, 1, 50.0, 12.0),  # Schlosskirche
                "09100106": ("31001_3034", GABLE, 2, 48.0, None),  # Wendisches Museum
                "09100111": ("31001_1010", GABLE, 2, 52.0, None),  # Gerberhäuser
                "09100153": ("31001_3034", FLAT, 3, 0.0, None)}  # Dieselkraftwerk
    polygons |= {m: (MIXED, GABLE if n % 3 else HIP, 3 + n % 2, 50.0, None)
                 for n, m in enumerate(("09100113", "09100114", "09100115", "09100116",
                                        "09100117", "09100118", "09100119", "09100120"))}
    for monument, (function, roof, storeys, pitch, height) in polygons.items():
        geom = plan.monuments[monument]
        box = fit_box(geom, max_length=60, max_depth=16 if roof != FLAT else 40)
        b = simple(plan, box, roof=roof, storeys=storeys, pitch=pitch, function=function,
                   lage=lage_of(monument), solid=True)
        if height is not None:  # a church: a tall nave of one storey
            ground = plan.base(box.polygon)
            b.geometries[0] = (None, "Solid", box_building(
                box, ground, ground + height, ground + height + box.depth / 2 * 1.6, roof))
            b.attributes["measuredHeight"] = round(height + box.depth / 2 * 1.6, 2)
        out.append(b)
        plan.claim(geom)

    # Apothekenmuseum (Altmarkt 24): a point; the house stands on it, in the plot under it.
    point = plan.monuments["09100112"]
    parcel = plan.parcels[plan.parcel_at(point)]
    box = fit_box(parcel.intersection(point.buffer(9.0)), max_length=24, max_depth=14,
                  margin=0.5)
    out.append(simple(plan, box, roof=GABLE, storeys=3, pitch=52.0, function="31001_3034",
                      lage=lage_of("09100112"), solid=True))
    plan.claim(parcel)
    # The Lindenpforte is a gate in the city wall: no building on its plot.
    plan.claim(plan.monuments["09100109"])
    return out


def check(buildings: list[Building], plan: Plan) -> None:
    """Every landmark is where its monument is, as the loader links them: a point inside the
    footprint, or a polygon sharing more than half of the smaller of the two."""
    monuments = {m: g for m, g in plan.monuments.items() if plan.listed.get(m, {}).get(
        "Denkmalart") != "Denkmalbereich"}
    listed = set()
    for b in buildings:
        foot = b.footprint
        for m, g in monuments.items():
            if g.geom_type in ("Point", "MultiPoint") and foot.intersects(g):
                listed.add(m)
            elif g.geom_type in ("Polygon", "MultiPolygon") and foot.intersects(g) and \
                    foot.intersection(g).area > 0.5 * min(foot.area, g.area):
                listed.add(m)
    expected = {"09100101", "09100102", "09100103", "09100104", "09100105", "09100106",
                "09100108", "09100110", "09100111", "09100112", "09100113", "09100114",
                "09100115", "09100116", "09100117", "09100118", "09100119", "09100120",
                "09100153"}
    if listed != expected:
        raise ValueError(f"landmarks misplaced: missing {sorted(expected - listed)}, "
                         f"unexpected {sorted(listed - expected)}")


def ordinary(plan: Plan) -> list[Building]:
    """A house on every building plot near the Altmarkt; a garage on the large ones."""
    out: list[Building] = []
    centre = shapely.Point(CENTRE)
    for i in np.argsort([p.centroid.distance(centre) for p in plan.parcels], kind="stable"):
        parcel = plan.parcels[i]
        if plan.used[i] or plan.use[i] not in BUILDING_USES or \
                parcel.centroid.distance(centre) > RADIUS:
            continue
        rng = plan.rng
        if plan.use[i] == "Fläche besonderer funktionaler Prägung":
            roof = str(rng.choice([FLAT, HIP], p=[0.6, 0.4]))
            function, storeys = str(rng.choice(PUBLIC)), int(rng.integers(2, 5))
            box = fit_box(parcel, max_length=45, max_depth=20, margin=2.5)
        else:
            mixed = plan.use[i] == "Fläche gemischter Nutzung"
            roof = str(rng.choice([GABLE, HIP, FLAT], p=[0.55, 0.25, 0.2] if mixed
                                  else [0.6, 0.25, 0.15]))
            function = MIXED if mixed else RESIDENTIAL
            storeys = int(rng.integers(3, 6) if mixed else rng.integers(2, 5))
            box = fit_box(parcel, max_length=30 if mixed else 24, max_depth=13, margin=2.0)
        if box is None:
            continue
        pitch = float(rng.uniform(35, 50)) if roof != FLAT else 0.0
        out.append(simple(plan, box, roof=roof, storeys=storeys, pitch=pitch,
                          function=function, lage=plan.lage[i]))
        rest = parcel.difference(box.polygon.buffer(3.0, join_style="mitre"))
        if parcel.area > 1400 and not rest.is_empty:
            largest = max(shapely.get_parts(rest), key=lambda p: p.area)
            garage = fit_box(largest, max_length=6.5, max_depth=3.5, margin=1.0)
            if garage is not None:
                out.append(simple(plan, garage, roof=MONO, storeys=1, pitch=8.0,
                                  function=GARAGE, lage=None))
        plan.used[i] = True
    return out


# -- CityJSON --------------------------------------------------------------------------------------
def tile_of(building: Building) -> tuple[int, int]:
    """The kilometre square (lower-left corner, km) holding the building's centre."""
    x, y = building.footprint.centroid.coords[0]
    return int(x // 1000), int(y // 1000)


def city_json(buildings: list[Building], title: str) -> dict:
    """A CityJSON 2.0 document of ``buildings``: shared vertices in millimetres."""
    points: dict[tuple[int, int, int], int] = {}
    all_points = [p for b in buildings for _, _, faces in b.geometries for _, ring in faces
                  for p in ring]
    origin = [math.floor(min(p[k] for p in all_points)) for k in range(3)]

    def vertex(p: tuple[float, float, float]) -> int:
        key = tuple(round((p[k] - origin[k]) * 1000) for k in range(3))
        return points.setdefault(key, len(points))

    objects: dict[str, dict] = {}
    for b in buildings:
        obj: dict = {"type": "Building", "attributes": b.attributes}
        if b.address:
            obj["address"] = [b.address]
        objects[b.id] = obj
        children = []
        for part_id, kind, faces in b.geometries:
            types = sorted({k for k, _ in faces})
            rings = [[[vertex(p) for p in ring]] for _, ring in faces]
            values = [types.index(k) for k, _ in faces]
            geom = {"type": kind, "lod": "2",
                    "boundaries": [rings] if kind == "Solid" else rings,
                    "semantics": {"surfaces": [{"type": t} for t in types],
                                  "values": [values] if kind == "Solid" else values}}
            if part_id is None:
                obj["geometry"] = [geom]
            else:
                children.append(part_id)
                objects[part_id] = {"type": "BuildingPart", "parents": [b.id],
                                    "geometry": [geom]}
        if children:
            obj["children"] = children
    return {
        "type": "CityJSON", "version": "2.0",
        "transform": {"scale": [0.001, 0.001, 0.001], "translate": origin},
        "metadata": {"referenceSystem": CRS_URL, "title": title,
                     "referenceDate": "2024-08-11"},
        "CityObjects": objects,
        "vertices": [list(k) for k in points],
    }


def write(out_dir: Path = SAMPLES_DIR, inputs: Path | None = None) -> None:
    """Write one CityJSON file per kilometre square of central Cottbus, built on the parcels,
    heritage and terrain samples in ``inputs`` (default: ``out_dir``)."""
    plan = Plan(inputs or out_dir)
    buildings = landmarks(plan) + ordinary(plan)
    check(buildings, plan)
    (out_dir / OUT).mkdir(parents=True, exist_ok=True)
    for old in (out_dir / OUT).glob("*.city.json"):
        old.unlink()
    tiles: dict[tuple[int, int], list[Building]] = {}
    for b in buildings:
        tiles.setdefault(tile_of(b), []).append(b)
    for (e, n), members in sorted(tiles.items()):
        name = f"lod2_33{e}-{n}.city.json"
        doc = city_json(members, f"LoD2 Cottbus/Chóśebuz 33{e}-{n} (synthetic sample)")
        (out_dir / OUT / name).write_text(json.dumps(doc, separators=(",", ":"),
                                                     ensure_ascii=False) + "\n",
                                          encoding="utf-8")
        print(f"wrote {OUT / name}: {len(members)} buildings")


if __name__ == "__main__":
    write()
