"""A generated Cottbus-sized town of LoD2 houses for the viewer benchmark (bench/viewer.py).

Gable- and flat-roofed houses, 10 % of them listed, written straight into twin.buildings and
twin.building_surfaces: generating 50,000 buildings as CityJSON and loading them would time
the loader, which is not what the viewer benchmark measures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import psycopg
import shapely

ROOF_TYPES = {"1000": ("Flachdach", "flat roof"), "3100": ("Satteldach", "gable roof")}
FUNCTIONS = {"31001_1000": ("Wohngebäude", "residential building"),
             "31001_2000": ("Gebäude für Wirtschaft oder Gewerbe",
                            "commercial or industrial building"),
             "31001_3000": ("Gebäude für öffentliche Zwecke", "public building")}


@dataclass
class House:
    """One building: a rotated w x d rectangle with a gable (ridge along w) or a flat roof."""

    building_id: str
    cx: float
    cy: float
    w: float
    d: float
    angle: float  # degrees, counter-clockwise
    ground: float
    eave: float
    ridge: float  # == eave for a flat roof
    address: str | None = None
    function_code: str = "31001_1000"
    heritage_status: str = "none"
    heritage_id: str | None = None
    heritage_name: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def roof_type_code(self) -> str:
        return "1000" if self.ridge <= self.eave else "3100"


def _faces(h: list[House]) -> tuple[list[np.ndarray], list[str], list[int]]:
    """Vertex arrays (houses x corners x 3) of every face kind, with types and owners."""
    n = len(h)
    w = np.array([x.w for x in h]) / 2
    d = np.array([x.d for x in h]) / 2
    z0 = np.array([x.ground for x in h])
    z1 = np.array([x.eave for x in h])
    z2 = np.array([x.ridge for x in h])
    ang = np.radians([x.angle for x in h])
    cx = np.array([x.cx for x in h])
    cy = np.array([x.cy for x in h])
    gable = z2 > z1

    def face(points: list[tuple]) -> np.ndarray:
        # points: (local x factor of w, local y factor of d, z array)
        out = np.empty((n, len(points), 3))
        for k, (fx, fy, z) in enumerate(points):
            lx, ly = fx * w, fy * d
            out[:, k, 0] = cx + lx * np.cos(ang) - ly * np.sin(ang)
            out[:, k, 1] = cy + lx * np.sin(ang) + ly * np.cos(ang)
            out[:, k, 2] = z
        return out

    kinds: list[tuple[str, np.ndarray, np.ndarray]] = [
        ("ground", face([(-1, -1, z0), (-1, 1, z0), (1, 1, z0), (1, -1, z0)]), np.ones(n, bool)),
        ("wall", face([(-1, -1, z0), (1, -1, z0), (1, -1, z1), (-1, -1, z1)]), np.ones(n, bool)),
        ("wall", face([(1, 1, z0), (-1, 1, z0), (-1, 1, z1), (1, 1, z1)]), np.ones(n, bool)),
        # gable ends (pentagons; with a flat roof the ridge point lies on the eave line)
        ("wall", face([(1, -1, z0), (1, 1, z0), (1, 1, z1), (1, 0, z2), (1, -1, z1)]), gable),
        ("wall", face([(-1, 1, z0), (-1, -1, z0), (-1, -1, z1), (-1, 0, z2), (-1, 1, z1)]),
         gable),
        ("wall", face([(1, -1, z0), (1, 1, z0), (1, 1, z1), (1, -1, z1)]), ~gable),
        ("wall", face([(-1, 1, z0), (-1, -1, z0), (-1, -1, z1), (-1, 1, z1)]), ~gable),
        ("roof", face([(-1, -1, z1), (1, -1, z1), (1, 0, z2), (-1, 0, z2)]), gable),
        ("roof", face([(1, 1, z1), (-1, 1, z1), (-1, 0, z2), (1, 0, z2)]), gable),
        ("roof", face([(-1, -1, z1), (1, -1, z1), (1, 1, z1), (-1, 1, z1)]), ~gable),
    ]
    arrays, types, owners = [], [], []
    for kind, coords, mask in kinds:
        idx = np.flatnonzero(mask)
        arrays.append(coords[idx])
        types += [kind] * len(idx)
        owners += list(idx)
    return arrays, types, owners


def _copy(conn: psycopg.Connection, table: str, columns: list[str], rows: list[tuple]) -> None:
    with conn.cursor() as cur, cur.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def insert_houses(conn: psycopg.Connection, houses: list[House], *, tile: str = "generated"
                  ) -> None:
    """Add ``houses`` with their LoD2 faces to twin.buildings and twin.building_surfaces."""
    arrays, types, owners = _faces(houses)
    polygons = np.concatenate([shapely.polygons(a) for a in arrays])
    polygons = shapely.set_srid(polygons, 25833)
    wkb = shapely.to_wkb(polygons, hex=True, include_srid=True, output_dimension=3)
    numbers: dict[int, int] = {}  # the faces of each house, numbered from 1
    rows = []
    for o, t, g in zip(owners, types, wkb, strict=True):
        numbers[o] = numbers.get(o, 0) + 1
        rows.append((houses[o].building_id, numbers[o], t, g))
    _copy(conn, "twin.building_surfaces", ["building_id", "surface_no", "surface_type", "geom"],
          rows)
    ground_faces = shapely.set_srid(shapely.multipolygons(
        [[shapely.force_2d(p)] for p in shapely.polygons(arrays[0])]), 25833)
    footprints = shapely.to_wkb(ground_faces, hex=True, include_srid=True)
    rows = []
    for h, fp in zip(houses, footprints, strict=True):
        f_de, f_en = FUNCTIONS[h.function_code]
        r_de, r_en = ROOF_TYPES[h.roof_type_code]
        rows.append((h.building_id, tile, "2", h.function_code, f_de, f_en, h.roof_type_code,
                     r_de, r_en, round(h.ridge - h.ground, 2),
                     max(1, int((h.eave - h.ground) // 3)), h.ground, h.eave, h.ridge,
                     h.address, h.heritage_status, h.heritage_id, h.heritage_name, fp))
    _copy(conn, "twin.buildings",
          ["building_id", "tile", "lod", "function_code", "function_de", "function_en",
           "roof_type_code", "roof_type_de", "roof_type_en", "height", "storeys",
           "ground_height", "eave_height", "roof_height", "address", "heritage_status",
           "heritage_id", "heritage_name", "geom"], rows)


def town(n: int, *, seed: int = 8, centre: tuple[float, float] = (454040.0, 5734560.0)
         ) -> list[House]:
    """``n`` houses in blocks around ``centre`` (a Cottbus-sized town for the benchmark):
    about 40 m apart, denser in the middle; one in ten listed, one in five in a heritage area."""
    rng = np.random.default_rng(seed)
    side = int(math.ceil(math.sqrt(n)))
    gx, gy = np.meshgrid(np.arange(side), np.arange(side))
    gx, gy = gx.reshape(-1)[:n] - side / 2, gy.reshape(-1)[:n] - side / 2
    spacing = 42.0
    x = centre[0] + gx * spacing + rng.uniform(-6, 6, n)
    y = centre[1] + gy * spacing + rng.uniform(-6, 6, n)
    w = rng.uniform(10, 26, n)
    d = rng.uniform(8, 13, n)
    angle = rng.choice([0.0, 90.0], n) + rng.uniform(-8, 8, n)
    ground = 70.0 + 6.0 * np.sin(gx / 40.0) + 4.0 * np.cos(gy / 55.0)
    eave = ground + rng.choice([3.0, 6.0, 9.0, 12.0, 15.0], n)
    flat = rng.random(n) < 0.25
    ridge = np.where(flat, eave, eave + 0.45 * d)
    status = rng.choice(["listed", "area", "none"], n, p=[0.1, 0.2, 0.7])
    houses = []
    for i in range(n):
        listed = status[i] == "listed"
        houses.append(House(
            f"DEBB-T{i:06d}", float(x[i]), float(y[i]), float(w[i]), float(d[i]),
            float(angle[i]), float(ground[i]), float(eave[i]), float(ridge[i]),
            f"Musterstraße {i % 97 + 1}", "31001_1000", str(status[i]),
            f"0919{i:05d}" if listed else None, "Wohnhaus" if listed else None))
    return houses


def clear(conn: psycopg.Connection) -> None:
    """Remove every building and its faces."""
    conn.execute("TRUNCATE twin.building_surfaces")
    conn.execute("DELETE FROM twin.buildings")


