"""Deterministic generator for the synthetic sample data in ``data/samples/``.

Every sample file is *synthetic* but placed on the real city of Cottbus/Chóśebuz
(EPSG:25833, ETRS89 / UTM zone 33N): landmarks, the Spree, the railway and the
Gemarkungen sit roughly where they really are, street names are real Cottbus
street names, but every parcel boundary, number, area and attribute is invented.

Run ``python data/samples/generate.py`` (which runs this module); the output is
byte-identical between runs (fixed random seed, fixed GeoPackage timestamp via
``OGR_CURRENT_DATE``).

Other sources have their own ``gen_<source>.py`` beside this one.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyogrio
import shapely
from shapely import Polygon, affinity

# --------------------------------------------------------------------------------------
# Shared constants
# --------------------------------------------------------------------------------------

SEED = 20240117
"""Base random seed; every writer derives its own generator from it."""

CRS = "EPSG:25833"
SAMPLES_DIR = Path(__file__).resolve().parent
OGR_CURRENT_DATE = "2024-01-01T00:00:00Z"
"""Fixed timestamp GDAL writes into GeoPackage metadata (keeps output reproducible)."""

#: Area covered by the samples (E min, N min, E max, N max), central Cottbus.
BBOX = (451500.0, 5731500.0, 457500.0, 5737500.0)

#: Real landmark positions in EPSG:25833.
LANDMARKS: dict[str, tuple[float, float]] = {
    "altmarkt": (454002.0, 5734555.0),
    "oberkirche": (454201.0, 5734677.0),
    "hauptbahnhof": (453500.0, 5733540.0),
    "schloss_branitz": (456438.0, 5732553.0),
}
CENTRE = LANDMARKS["altmarkt"]

#: Spree centre line, south to north (approximate course through the city).
SPREE_LINE = [
    (455520, 5731400),
    (455380, 5731950),
    (455260, 5732550),
    (455050, 5733150),
    (454830, 5733700),
    (454710, 5734120),
    (454650, 5734560),
    (454700, 5735020),
    (454860, 5735520),
    (455000, 5736020),
    (455040, 5736600),
    (454900, 5737120),
    (454780, 5737600),
]
#: Railway centre lines (approximate): west-east main line through the
#: Hauptbahnhof, a branch to the north-east (Guben) and one to the south-west.
RAIL_LINES = [
    [
        (451400, 5733260),
        (452500, 5733410),
        (453500, 5733540),
        (454500, 5733630),
        (455400, 5733730),
        (456300, 5733930),
        (457600, 5734330),
    ],
    [(452900, 5733470), (452600, 5732600), (452200, 5731400)],
]

# --------------------------------------------------------------------------------------
# Parcels (ALKIS vereinfacht, ave:Flurstueck)
# --------------------------------------------------------------------------------------

PARCEL_FILE = Path("parcels") / "flurstuecke_cottbus_mitte.gpkg"
PARCEL_LAYER = "flurstueck"

KREIS = "Cottbus"
KREISSCHL = "12052"
GEMEINDE = "Cottbus"
GMDSCHL = "12052000"
LAND = "Brandenburg"
LAND_KEY = "12"

R_CORE = 600.0
"""Radius (m) around the Altmarkt treated as dense inner city."""
R_URBAN = 1750.0
"""Radius (m) beyond which land is open (fields, forest) unless a zone says otherwise."""
FLUR_CELL = 900.0
"""Edge length (m) of the square cells the Fluren are built from."""


@dataclass(frozen=True)
class Gemarkung:
    """A Gemarkung: name, 4-digit number (illustrative) and a seed point.

    Parcels are assigned to the Gemarkung with the nearest seed point on an allowed
    side of the Spree (``sides``: ``True`` = east bank). ``fields`` are Gewann (field)
    names with a position, used as location text for open land.
    """

    name: str
    number: str
    x: float
    y: float
    sides: tuple[bool, ...]
    fields: tuple[tuple[str, float, float], ...]


GEMARKUNGEN = [
    Gemarkung(
        "Cottbus",
        "4166",
        *CENTRE,
        (False,),
        (("Stadtfeld", 453500, 5733900), ("Am Mühlgraben", 454450, 5734250)),
    ),
    Gemarkung(
        "Ströbitz",
        "4175",
        452150,
        5734850,
        (False,),
        (
            ("Ströbitzer Feld", 451900, 5735300),
            ("Am Priorgraben", 452100, 5736300),
            ("An der Kolkwitzer Grenze", 451700, 5734200),
        ),
    ),
    Gemarkung(
        "Sandow",
        "4171",
        455900,
        5734650,
        (True,),
        (
            ("Sandower Feld", 456300, 5734200),
            ("Merzdorfer Wiesen", 456500, 5735600),
            ("An der Dissenchener Grenze", 457300, 5734600),
        ),
    ),
    Gemarkung(
        "Schmellwitz",
        "4173",
        453700,
        5736250,
        (False,),
        (
            ("Schmellwitzer Feld", 453200, 5736500),
            ("Am Dorfanger", 454000, 5736000),
            ("Saspower Wiesen", 454600, 5736600),
        ),
    ),
    Gemarkung(
        "Sachsendorf",
        "4170",
        452700,
        5732250,
        (False,),
        (
            ("Sachsendorfer Feld", 452200, 5732000),
            ("Am Weinberg", 453300, 5731700),
            ("Hinter den Gärten", 452000, 5733000),
        ),
    ),
    Gemarkung(
        "Madlow",
        "4168",
        454500,
        5731700,
        (False,),
        (
            ("Madlower Feld", 454400, 5731600),
            ("An der Spreeaue", 455000, 5731700),
            ("Am Gaglower Weg", 453800, 5731600),
        ),
    ),
    Gemarkung(
        "Branitz",
        "4160",
        456750,
        5732450,
        (True,),
        (
            ("Branitzer Feld", 457100, 5731800),
            ("Kiekebuscher Wiesen", 456300, 5731700),
            ("Am Parkrand", 456900, 5733100),
        ),
    ),
    Gemarkung(
        "Döbbrick",
        "4163",
        454300,
        5737700,
        (False, True),
        (
            ("Döbbricker Wiesen", 454400, 5737400),
            ("Am Maiberg", 455600, 5737300),
            ("Spreewiesen", 453300, 5737300),
        ),
    ),
]


@dataclass(frozen=True)
class Zone:
    """A circular land-use zone applied to whole blocks (first match wins)."""

    name: str
    x: float
    y: float
    radius: float
    kind: str


ZONES = [
    Zone("Puschkinpark", 453640, 5734330, 90, "green"),
    Zone("Spreeauenpark", 455700, 5733250, 260, "green"),
    Zone("Südfriedhof", 453450, 5732750, 200, "cemetery"),
    Zone("Nordfriedhof", 453650, 5735900, 150, "cemetery"),
    Zone("Sportzentrum", 454450, 5733900, 170, "sport"),
    Zone("Gewerbegebiet Nord", 452800, 5736750, 480, "industry"),
    Zone("Gewerbegebiet Ost", 456450, 5734150, 380, "industry"),
    Zone("Gewerbegebiet West", 452050, 5733600, 320, "industry"),
    Zone("Sachsendorf", 453150, 5732250, 650, "plattenbau"),
    Zone("Neu-Schmellwitz", 454050, 5736450, 480, "plattenbau"),
    Zone("Sandow", 455650, 5734700, 420, "plattenbau"),
    Zone("Döbbrick", 454250, 5737300, 260, "village"),
    Zone("Madlow", 454150, 5731750, 260, "village"),
    Zone("Branitz", 457050, 5732000, 260, "village"),
]

#: Tatsächliche Nutzung per block kind: (class names, probabilities).
LAND_USE: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "core": (
        (
            "Fläche gemischter Nutzung",
            "Wohnbaufläche",
            "Fläche besonderer funktionaler Prägung",
            "Grünanlage",
        ),
        (0.55, 0.30, 0.11, 0.04),
    ),
    "residential": (
        (
            "Wohnbaufläche",
            "Fläche gemischter Nutzung",
            "Grünanlage",
            "Sport-, Freizeit- und Erholungsfläche",
        ),
        (0.84, 0.08, 0.04, 0.04),
    ),
    "village": (
        ("Wohnbaufläche", "Fläche gemischter Nutzung", "Landwirtschaft"),
        (0.75, 0.15, 0.10),
    ),
    "plattenbau": (
        ("Wohnbaufläche", "Fläche besonderer funktionaler Prägung", "Grünanlage"),
        (0.82, 0.10, 0.08),
    ),
    "industry": (("Industrie- und Gewerbefläche",), (1.0,)),
    "green": (("Grünanlage",), (1.0,)),
    "cemetery": (("Friedhof",), (1.0,)),
    "sport": (("Sport-, Freizeit- und Erholungsfläche",), (1.0,)),
    "allotment": (("Sport-, Freizeit- und Erholungsfläche", "Grünanlage"), (0.8, 0.2)),
    "institution": (("Fläche besonderer funktionaler Prägung",), (1.0,)),
    "field": (("Landwirtschaft",), (1.0,)),
    "forest": (("Wald",), (1.0,)),
}

#: Named streets with an approximate real position: (name, "NS"/"EW", x, y, half length).
STREET_ANCHORS: list[tuple[str, str, float, float, float]] = [
    ("Spremberger Straße", "NS", 454060, 5734300, 220),
    ("Berliner Straße", "EW", 453650, 5734700, 450),
    ("Sandower Straße", "EW", 454350, 5734560, 260),
    ("Am Turm", "EW", 454150, 5734380, 100),
    ("Burgstraße", "NS", 454380, 5734700, 150),
    ("Mühlenstraße", "EW", 454350, 5734820, 180),
    ("Schloßkirchplatz", "NS", 453900, 5734600, 90),
    ("Stadtpromenade", "EW", 453900, 5734880, 220),
    ("Karl-Liebknecht-Straße", "NS", 453620, 5734350, 450),
    ("Bahnhofstraße", "NS", 453520, 5733950, 380),
    ("Puschkinpromenade", "EW", 453750, 5734420, 250),
    ("Wernerstraße", "EW", 453650, 5734150, 350),
    ("Karl-Marx-Straße", "NS", 453820, 5735150, 380),
    ("Straße der Jugend", "NS", 454250, 5733750, 550),
    ("Thiemstraße", "NS", 454480, 5733250, 480),
    ("Dresdener Straße", "NS", 454000, 5732950, 600),
    ("Ostrower Damm", "EW", 454950, 5734350, 380),
    ("Hainstraße", "NS", 454850, 5734150, 220),
    ("Franz-Mehring-Straße", "NS", 454550, 5735250, 450),
    ("Friedrich-Ebert-Straße", "EW", 454250, 5735050, 300),
    ("August-Bebel-Straße", "NS", 453250, 5734600, 500),
    ("Gerhart-Hauptmann-Straße", "EW", 453250, 5735300, 450),
    ("Vetschauer Straße", "EW", 453300, 5733400, 650),
    ("Ströbitzer Hauptstraße", "EW", 452250, 5734950, 600),
    ("Kolkwitzer Straße", "EW", 452050, 5734350, 600),
    ("Sielower Landstraße", "NS", 452700, 5736000, 900),
    ("Schmellwitzer Straße", "NS", 453900, 5735850, 600),
    ("Nordring", "EW", 453800, 5735500, 900),
    ("Zielona-Gora-Straße", "EW", 454000, 5736550, 550),
    ("Dissenchener Straße", "EW", 456300, 5734400, 900),
    ("Juri-Gagarin-Straße", "NS", 455700, 5735000, 500),
    ("Saarbrücker Straße", "EW", 455450, 5734850, 400),
    ("Sandower Hauptstraße", "NS", 455250, 5734600, 450),
    ("Peitzer Straße", "NS", 456100, 5735900, 900),
    ("Merzdorfer Weg", "EW", 456800, 5735300, 600),
    ("Gelsenkirchener Allee", "NS", 452950, 5732300, 800),
    ("Lipezker Straße", "EW", 452700, 5732650, 700),
    ("Poznaner Straße", "EW", 452900, 5731950, 600),
    ("Calauer Straße", "EW", 452600, 5733150, 500),
    ("Gaglower Straße", "NS", 453550, 5732050, 600),
    ("Madlower Hauptstraße", "NS", 454250, 5731800, 450),
    ("Kiekebuscher Straße", "NS", 455750, 5732400, 900),
    ("Branitzer Allee", "EW", 455950, 5732950, 600),
    ("Döbbricker Hauptstraße", "NS", 454250, 5737200, 400),
]

#: Further street names without a fixed position (Cottbus street names and common
#: German ones), used for the remaining urban streets, inner-city names first.
STREET_POOL = [
    "Taubenstraße",
    "Marienstraße",
    "Parzellenstraße",
    "Petersilienstraße",
    "Blechenstraße",
    "Bürgerstraße",
    "Friedensstraße",
    "Kirchstraße",
    "Mittelstraße",
    "Brunnenstraße",
    "Querstraße",
    "Lindenstraße",
    "Goethestraße",
    "Schillerstraße",
    "Lessingstraße",
    "Humboldtstraße",
    "Virchowstraße",
    "Röntgenstraße",
    "Uhlandstraße",
    "Heinestraße",
    "Kleiststraße",
    "Herderstraße",
    "Fichtestraße",
    "Hegelstraße",
    "Kantstraße",
    "Wilhelm-Külz-Straße",
    "Ewald-Haase-Straße",
    "Lieberoser Straße",
    "Lausitzer Straße",
    "Görlitzer Straße",
    "Finsterwalder Straße",
    "Welzower Straße",
    "Leipziger Straße",
    "Bautzener Straße",
    "Gubener Straße",
    "Forster Straße",
    "Muskauer Straße",
    "Senftenberger Straße",
    "Hoyerswerdaer Straße",
    "Lübbenauer Straße",
    "Burger Chaussee",
    "Kahrener Straße",
    "Saspower Straße",
    "Spreewaldstraße",
    "Gartenstraße",
    "Feldstraße",
    "Parkstraße",
    "Bergstraße",
    "Rosenstraße",
    "Ringstraße",
    "Schulstraße",
    "Teichstraße",
    "Grenzstraße",
    "Kastanienallee",
    "Lerchenstraße",
    "Waldstraße",
    "Dorfstraße",
    "Am Anger",
    "Ahornweg",
    "Birkenweg",
    "Fliederweg",
    "Amselweg",
    "Drosselweg",
    "Finkenweg",
    "Kiefernweg",
    "Erlenweg",
    "Weidenweg",
    "Eichenweg",
    "Buchenweg",
    "Tannenweg",
    "Wiesenweg",
    "Sonnenweg",
]


@dataclass
class Grid:
    """Jittered street grid.

    Attributes
    ----------
    nodes : ndarray, shape (nx, ny, 2)
        Street intersections (street centre lines), boundary nodes on the bbox.
    kx, ky : ndarray of int
        Line index relative to the line nearest the Altmarkt (for arterials).
    """

    nodes: np.ndarray
    kx: np.ndarray
    ky: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.nodes.shape[0], self.nodes.shape[1]


@dataclass
class Edges:
    """Street segments between neighbouring grid nodes.

    Vertical (north-south) segments come first, ids ``i * (ny - 1) + j`` for the
    segment from node ``(i, j)`` to ``(i, j + 1)``; horizontal ones follow.
    """

    a: np.ndarray
    b: np.ndarray
    vertical: np.ndarray
    line: np.ndarray
    pos: np.ndarray
    boundary: np.ndarray
    width: np.ndarray
    urban: np.ndarray
    name: np.ndarray

    @property
    def mid(self) -> np.ndarray:
        return 0.5 * (self.a + self.b)


@dataclass
class Pieces:
    """Parcels under construction, one row per polygon.

    ``block`` is the grid block a lot was cut from (-1 for streets and overlays);
    ``anchor`` is the point deciding Gemarkung and Flur (the block piece's point for
    lots, so that a block stays in one Flur; NaN = use the parcel's own point).
    """

    geom: np.ndarray
    kind: np.ndarray
    tn: np.ndarray
    lage: np.ndarray
    block: np.ndarray
    anchor: np.ndarray

    FIELDS = ("geom", "kind", "tn", "lage", "block", "anchor")

    @classmethod
    def empty(cls) -> Pieces:
        return _pieces(np.array([], dtype=object), "", None, None)

    def __len__(self) -> int:
        return len(self.geom)

    def take(self, idx: np.ndarray) -> Pieces:
        return Pieces(*(getattr(self, f)[idx] for f in self.FIELDS))

    def extend(self, other: Pieces) -> Pieces:
        return Pieces(*(np.concatenate([getattr(self, f), getattr(other, f)]) for f in self.FIELDS))


def _pieces(
    geom: np.ndarray,
    kind: str | np.ndarray,
    tn: str | np.ndarray,
    lage: str | np.ndarray | None,
    block: int | np.ndarray = -1,
) -> Pieces:
    """Build :class:`Pieces`, broadcasting scalar attributes."""
    n = len(geom)

    def col(v: object) -> np.ndarray:
        if isinstance(v, np.ndarray):
            return v.astype(object)
        out = np.empty(n, dtype=object)
        out[:] = [v] * n
        return out

    blk = block if isinstance(block, np.ndarray) else np.full(n, block, dtype=np.int64)
    return Pieces(
        np.asarray(geom, dtype=object),
        col(kind),
        col(tn),
        col(lage),
        blk.astype(np.int64),
        np.full((n, 2), np.nan),
    )


def explode(p: Pieces, min_area: float = 0.5) -> Pieces:
    """Split multi-part geometries into polygons and drop (near) empty ones."""
    parts, idx = shapely.get_parts(p.geom, return_index=True)
    parts = np.asarray(parts, dtype=object)
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) >= min_area)
    out = p.take(idx[keep])
    out.geom = parts[keep]
    return out


def is_none(values: np.ndarray) -> np.ndarray:
    """Element-wise ``value is None`` for an object array."""
    return np.array([v is None for v in values], dtype=bool)


def distance_to_centre(xy: np.ndarray) -> np.ndarray:
    """Distance (m) of points ``(..., 2)`` from the Altmarkt."""
    return np.hypot(xy[..., 0] - CENTRE[0], xy[..., 1] - CENTRE[1])


def is_urban(xy: np.ndarray) -> np.ndarray:
    """Whether points lie inside the (irregular) built-up area around the centre."""
    ang = np.arctan2(xy[..., 1] - CENTRE[1], xy[..., 0] - CENTRE[0])
    radius = R_URBAN * (1.0 + 0.16 * np.sin(3 * ang + 0.7) + 0.08 * np.sin(5 * ang + 2.1))
    return distance_to_centre(xy) < radius


def zone_of(xy: np.ndarray) -> np.ndarray:
    """Index into :data:`ZONES` of the first zone containing each point, or -1."""
    out = np.full(len(xy), -1, dtype=np.int64)
    for zi, z in reversed(list(enumerate(ZONES))):
        inside = np.hypot(xy[:, 0] - z.x, xy[:, 1] - z.y) <= z.radius
        out[inside] = zi
    return out


# --- street grid ----------------------------------------------------------------------


def _line_positions(
    centre: float, lo: float, hi: float, s0: float, growth: float, smax: float
) -> np.ndarray:
    """Street line positions along one axis, spacing growing away from ``centre``.

    ``centre`` lies in the middle of a block; ``lo`` and ``hi`` (the bbox) are
    always lines.
    """
    pos = [centre - s0 / 2, centre + s0 / 2]
    for sign, limit, start in ((1.0, hi, pos[1]), (-1.0, lo, pos[0])):
        p = start
        while True:
            s = min(s0 + growth * abs(p - centre), smax)
            nxt = p + sign * s
            if sign * (limit - nxt) < 0.45 * s:
                break
            pos.append(nxt)
            p = nxt
    return np.array(sorted([lo, *pos, hi]))


def build_grid(rng: np.random.Generator) -> Grid:
    """Jittered, gently warped street grid covering :data:`BBOX`."""
    xmin, ymin, xmax, ymax = BBOX
    xs = _line_positions(CENTRE[0], xmin, xmax, 112.0, 0.23, 640.0)
    ys = _line_positions(CENTRE[1], ymin, ymax, 108.0, 0.23, 640.0)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    nodes = np.stack([gx, gy], axis=-1)

    # local spacing for the jitter amplitude
    sx = np.gradient(xs)[:, None] * np.ones_like(gx)
    sy = np.gradient(ys)[None, :] * np.ones_like(gy)
    d = distance_to_centre(nodes)
    taper = np.clip((d - 150.0) / 900.0, 0.0, 1.0)
    phase = rng.uniform(0, 2 * np.pi, 4)
    warp_x = 45.0 * np.sin(2 * np.pi * gy / 2700.0 + phase[0]) + 25.0 * np.sin(
        2 * np.pi * gy / 1100.0 + phase[1]
    )
    warp_y = 45.0 * np.sin(2 * np.pi * gx / 2900.0 + phase[2]) + 25.0 * np.sin(
        2 * np.pi * gx / 1300.0 + phase[3]
    )
    jit = rng.normal(0.0, 1.0, nodes.shape)
    jit = np.clip(jit, -2.0, 2.0) * 0.065 * np.stack([sx, sy], axis=-1)
    nodes[..., 0] += taper * warp_x + jit[..., 0]
    nodes[..., 1] += taper * warp_y + jit[..., 1]
    # keep the outer frame on the bbox
    nodes[0, :, 0], nodes[-1, :, 0] = xmin, xmax
    nodes[:, 0, 1], nodes[:, -1, 1] = ymin, ymax

    kx = np.arange(len(xs)) - int(np.searchsorted(xs, CENTRE[0]))
    ky = np.arange(len(ys)) - int(np.searchsorted(ys, CENTRE[1]))
    return Grid(nodes=nodes, kx=kx, ky=ky)


def build_edges(grid: Grid) -> Edges:
    """Street segments of the grid with width and urban/rural flag (no names yet)."""
    nx, ny = grid.shape
    n = grid.nodes
    ii, jj = np.meshgrid(np.arange(nx), np.arange(ny - 1), indexing="ij")
    va, vb = n[ii, jj].reshape(-1, 2), n[ii, jj + 1].reshape(-1, 2)
    v_line, v_pos = ii.ravel(), jj.ravel()
    v_bnd = (v_line == 0) | (v_line == nx - 1)
    ii, jj = np.meshgrid(np.arange(nx - 1), np.arange(ny), indexing="ij")
    ha, hb = n[ii, jj].reshape(-1, 2), n[ii + 1, jj].reshape(-1, 2)
    h_line, h_pos = jj.ravel(), ii.ravel()
    h_bnd = (h_line == 0) | (h_line == ny - 1)

    a, b = np.concatenate([va, ha]), np.concatenate([vb, hb])
    vertical = np.concatenate([np.ones(len(va), bool), np.zeros(len(ha), bool)])
    line = np.concatenate([v_line, h_line])
    pos = np.concatenate([v_pos, h_pos])
    boundary = np.concatenate([v_bnd, h_bnd])
    mid = 0.5 * (a + b)
    zi = zone_of(mid)
    zkind = np.array([ZONES[z].kind if z >= 0 else "" for z in zi])
    urban = is_urban(mid) | (zkind != "")
    k = np.where(vertical, grid.kx[np.minimum(line, nx - 1)], grid.ky[np.minimum(line, ny - 1)])
    arterial = (np.abs(k) % 3 == 0) & (np.abs(k) > 0)
    # open land: only every third line is a farm track, elsewhere fields abut
    width = np.where(urban, np.where(arterial, 22.0, 12.0), np.where(arterial, 7.0, 0.0))
    width[boundary] = 0.0
    name = np.full(len(a), None, dtype=object)
    return Edges(
        a=a,
        b=b,
        vertical=vertical,
        line=line,
        pos=pos,
        boundary=boundary,
        width=width,
        urban=urban,
        name=name,
    )


def block_edge_ids(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Corner coordinates ``(nb, 4, 2)`` (counter-clockwise) and edge ids ``(nb, 4)``."""
    nx, ny = grid.shape
    n = grid.nodes
    ii, jj = np.meshgrid(np.arange(nx - 1), np.arange(ny - 1), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    quads = np.stack([n[ii, jj], n[ii + 1, jj], n[ii + 1, jj + 1], n[ii, jj + 1]], axis=1)
    n_vert = nx * (ny - 1)

    def h_id(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return n_vert + i * ny + j

    def v_id(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return i * (ny - 1) + j

    eids = np.stack([h_id(ii, jj), v_id(ii + 1, jj), h_id(ii, jj + 1), v_id(ii, jj)], axis=1)
    return quads, eids


def shrink_quads(quads: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Move every quad edge inwards by its own offset (``(nb, 4)``), mitred corners."""
    q = quads
    d = np.roll(q, -1, axis=1) - q
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    nrm = np.stack([-d[..., 1], d[..., 0]], axis=-1)  # inward for CCW rings
    c = np.einsum("bki,bki->bk", nrm, q) + offsets
    n_prev, c_prev = np.roll(nrm, 1, axis=1), np.roll(c, 1, axis=1)
    det = n_prev[..., 0] * nrm[..., 1] - n_prev[..., 1] * nrm[..., 0]
    x = (c_prev * nrm[..., 1] - c * n_prev[..., 1]) / det
    y = (n_prev[..., 0] * c - nrm[..., 0] * c_prev) / det
    return np.stack([x, y], axis=-1)


def street_parcels(
    quads: np.ndarray, inner: np.ndarray, eids: np.ndarray, edges: Edges
) -> tuple[np.ndarray, np.ndarray]:
    """One street polygon per grid edge (union of the two half-streets beside it)."""
    q1, i1 = np.roll(quads, -1, axis=1), np.roll(inner, -1, axis=1)
    rings = np.stack([quads, q1, i1, inner, quads], axis=2).reshape(-1, 5, 2)
    traps = shapely.polygons(rings)
    flat = eids.ravel()
    keep = edges.width[flat] > 0.0  # no street on the bbox frame or between fields
    traps, flat = traps[keep], flat[keep]
    order = np.argsort(flat, kind="stable")
    traps, flat = traps[order], flat[order]
    uniq, start, count = np.unique(flat, return_index=True, return_counts=True)
    geoms = traps[start].copy()
    pair = count == 2
    geoms[pair] = shapely.union(traps[start[pair]], traps[start[pair] + 1])
    return geoms, uniq


# --- street names ---------------------------------------------------------------------


def name_streets(edges: Edges, grid: Grid, altmarkt_block: int) -> None:
    """Attach real Cottbus street names to the urban street segments (in place)."""
    nx, ny = grid.shape
    mid = edges.mid
    # the four streets around the Altmarkt square are "Altmarkt"
    _, eids = block_edge_ids(grid)
    edges.name[eids[altmarkt_block]] = "Altmarkt"

    for name, orient, ax, ay, half in STREET_ANCHORS:
        vert = orient == "NS"
        along, across = (1, 0) if vert else (0, 1)
        sel = np.flatnonzero((edges.vertical == vert) & ~edges.boundary)
        near = sel[np.abs(mid[sel, along] - (ay if vert else ax)) <= half]
        if len(near) == 0:
            continue
        target = ax if vert else ay
        # pick the grid line passing closest to the anchor
        lines = np.unique(edges.line[near])
        cost = [np.min(np.abs(mid[near[edges.line[near] == ln], across] - target)) for ln in lines]
        best = lines[int(np.argmin(cost))]
        hit = near[(edges.line[near] == best) & is_none(edges.name[near])]
        edges.name[hit] = name

    # remaining urban segments: runs along a line share a pool name; runs nearest
    # the centre get the first (inner-city) names of the pool
    runs: list[list[int]] = []
    for vert in (True, False):
        for ln in range(nx if vert else ny):
            sel = np.flatnonzero((edges.vertical == vert) & (edges.line == ln))
            run_len, current = 0.0, None
            for e in sel[np.argsort(edges.pos[sel])]:
                if not edges.urban[e] or edges.boundary[e] or edges.name[e] is not None:
                    current = None
                    continue
                seg = float(np.hypot(*(edges.b[e] - edges.a[e])))
                if current is None or run_len + seg > 900.0:
                    current, run_len = [], 0.0
                    runs.append(current)
                current.append(int(e))
                run_len += seg
    dist = [float(distance_to_centre(mid[r]).min()) for r in runs]
    names = STREET_POOL * (len(runs) // len(STREET_POOL) + 1)
    for rank, r in enumerate(np.argsort(dist, kind="stable")):
        edges.name[runs[r]] = names[rank]
    # named roads through open land are real roads, not farm tracks
    rural_named = ~edges.urban & ~edges.boundary & ~is_none(edges.name)
    edges.width[rural_named] = 10.0


# --- overlays (landmarks, Spree, railway, Branitzer Park) -----------------------------


def _smooth(coords: list[tuple[float, float]], rounds: int = 3) -> np.ndarray:
    """Chaikin corner cutting, keeps the end points."""
    pts = np.asarray(coords, dtype=float)
    for _ in range(rounds):
        q = 0.75 * pts[:-1] + 0.25 * pts[1:]
        r = 0.25 * pts[:-1] + 0.75 * pts[1:]
        pts = np.vstack([pts[:1], np.column_stack([q, r]).reshape(-1, 2), pts[-1:]])
    return pts


def _rectangle(x: float, y: float, w: float, h: float, angle_deg: float) -> Polygon:
    """Rectangle of size ``w`` x ``h`` centred on ``(x, y)`` rotated by ``angle_deg``."""
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2.0
    return Polygon(corners @ rot.T + [x, y])


def split_along(poly: shapely.Geometry, line: shapely.LineString, step: float) -> np.ndarray:
    """Cut a corridor polygon into pieces roughly ``step`` long along ``line``."""
    n = max(int(line.length // step), 1)
    pts = shapely.line_interpolate_point(line, (np.arange(n) + 0.5) * line.length / n)
    if n == 1:
        return np.array([poly], dtype=object)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=poly))
    return shapely.intersection(cells, poly)


def split_random(
    poly: shapely.Geometry,
    n: int,
    rng: np.random.Generator,
    fixed: list[tuple[float, float]] | None = None,
) -> np.ndarray:
    """Cut a polygon into about ``n`` Voronoi pieces (``fixed`` seeds included)."""
    pts = list(fixed or [])
    xmin, ymin, xmax, ymax = poly.bounds
    while len(pts) < n:
        cand = rng.uniform([xmin, ymin], [xmax, ymax], (4 * n, 2))
        cand = cand[shapely.contains_xy(poly, cand[:, 0], cand[:, 1])]
        pts.extend(map(tuple, cand[: n - len(pts)]))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=poly))
    return shapely.intersection(cells, poly)


def build_overlays(rng: np.random.Generator) -> Pieces:
    """Parcels that take precedence over the street grid.

    Order (earlier wins): Hauptbahnhof and Schloss Branitz buildings, the Spree,
    the railway, the Spree banks and the Branitzer Park.
    """
    frame = shapely.box(*BBOX)
    hbf = _rectangle(*LANDMARKS["hauptbahnhof"], 170.0, 60.0, 7.5)
    schloss = _rectangle(*LANDMARKS["schloss_branitz"], 75.0, 55.0, 12.0)
    spree = shapely.LineString(_smooth(SPREE_LINE))
    rails = [shapely.LineString(_smooth(c, 2)) for c in RAIL_LINES]
    hbf_pt = shapely.Point(LANDMARKS["hauptbahnhof"])
    yard_line = shapely.intersection(rails[0], hbf_pt.buffer(750.0))
    rail_area = shapely.union_all(
        [rails[0].buffer(24.0), rails[1].buffer(17.0), yard_line.buffer(70.0)]
    )
    park = affinity.rotate(
        affinity.scale(shapely.Point(456330, 5732600).buffer(1.0, 32), 640, 470), -15.0
    )

    out = Pieces.empty()
    taken = shapely.Polygon()

    def add(
        geoms: np.ndarray,
        kind: str,
        tn: str | np.ndarray,
        lage: str | np.ndarray,
    ) -> None:
        nonlocal out, taken
        geoms = shapely.intersection(
            shapely.difference(np.asarray(geoms, dtype=object), taken), frame
        )
        out = out.extend(_pieces(geoms, kind, tn, lage))
        taken = shapely.union_all([taken, *geoms])

    add(np.array([hbf]), "landmark", "Bahnverkehr", "Vetschauer Straße 70")
    add(np.array([schloss]), "landmark", "Fläche besonderer funktionaler Prägung", "Robinienweg 5")
    river = spree.buffer(16.0)
    add(split_along(river, spree, 420.0), "water", "Fließgewässer", "Spree")
    for line, step in ((rails[0], 480.0), (rails[1], 520.0)):
        area = shapely.intersection(rail_area, line.buffer(80.0))
        add(split_along(area, line, step), "rail", "Bahnverkehr", "An der Bahn")
    banks = shapely.difference(spree.buffer(48.0), river)
    bank_parts = split_along(banks, spree, 420.0)
    reps = shapely.get_coordinates(shapely.point_on_surface(bank_parts))
    rural = ~is_urban(reps)
    add(bank_parts, "bank", np.where(rural, "Landwirtschaft", "Grünanlage"), "Am Spreeufer")
    add(split_random(park, 9, rng), "park", "Grünanlage", "Branitzer Park")
    return explode(out)


# --- lots -----------------------------------------------------------------------------


def block_kind(piece: shapely.Geometry, rng: np.random.Generator) -> str:
    """Land-use kind of a block piece from its position."""
    xy = shapely.get_coordinates(shapely.point_on_surface(piece))
    zi = int(zone_of(xy)[0])
    if zi >= 0:
        return ZONES[zi].kind
    d = float(distance_to_centre(xy)[0])
    if d < R_CORE:
        return "core"
    if is_urban(xy)[0]:
        u = rng.random()
        if u < np.clip((d - 800.0) / 2000.0, 0.0, 0.35):
            return "allotment"
        return "institution" if u > 0.94 else "residential"
    return "forest" if rng.random() < 0.25 else "field"


def target_lot_area(kind: str, d: float) -> float:
    """Mean parcel size (m²) for a block kind at distance ``d`` from the Altmarkt."""
    if kind == "core":
        return 420.0 * np.exp(d / 650.0)
    if kind == "residential":
        return float(np.clip(1300.0 * np.exp((d - R_CORE) / 450.0), 1300.0, 6500.0))
    return {
        "village": 3000.0,
        "plattenbau": 8000.0,
        "industry": 9000.0,
        "allotment": 12000.0,
        "institution": 9000.0,
        "green": 14000.0,
        "cemetery": 25000.0,
        "sport": 9000.0,
        "field": 40000.0,
        "forest": 45000.0,
    }[kind]


def _grid_points(poly: shapely.Geometry, spacing: float, rng: np.random.Generator) -> np.ndarray:
    """Jittered grid points (``spacing`` apart) inside ``poly``."""
    xmin, ymin, xmax, ymax = poly.bounds
    gx = np.arange(xmin + spacing / 2, xmax, spacing)
    gy = np.arange(ymin + spacing / 2, ymax, spacing)
    if len(gx) == 0 or len(gy) == 0:
        return np.empty((0, 2))
    pts = np.stack(np.meshgrid(gx, gy, indexing="ij"), axis=-1).reshape(-1, 2)
    pts += rng.uniform(-0.35, 0.35, pts.shape) * spacing
    return pts[shapely.contains_xy(poly, pts[:, 0], pts[:, 1])]


def frontage_seeds(poly: shapely.Geometry, area: float, rng: np.random.Generator) -> np.ndarray:
    """Seeds along the block edge (street-facing lots) plus a few inside."""
    depth = float(np.clip(np.sqrt(area) * 1.0, 18.0, 60.0))
    ring = shapely.buffer(poly, -depth / 2, join_style="mitre")
    if ring.is_empty:
        return _grid_points(poly, np.sqrt(area), rng)
    boundary = shapely.get_exterior_ring(max(shapely.get_parts(ring), key=lambda g: g.area))
    width = float(np.clip(area / depth, 10.0, 100.0))
    n = max(int(boundary.length // width), 1)
    steps = rng.uniform(0.6, 1.4, n)
    dist = np.cumsum(steps) / steps.sum() * boundary.length
    pts = shapely.get_coordinates(shapely.line_interpolate_point(boundary, dist))
    core = shapely.buffer(poly, -1.6 * depth, join_style="mitre")
    inner = _grid_points(core, np.sqrt(area) * 1.15, rng) if not core.is_empty else np.empty((0, 2))
    return np.vstack([pts, inner])


def strip_seeds(poly: shapely.Geometry, area: float, rng: np.random.Generator) -> np.ndarray:
    """Seeds on the long axis of a block: Voronoi cells become field strips."""
    rect = shapely.get_coordinates(shapely.oriented_envelope(poly))[:4]
    e1, e2 = rect[1] - rect[0], rect[2] - rect[1]
    long_, short = (e1, e2) if np.hypot(*e1) >= np.hypot(*e2) else (e2, e1)
    short_len = float(np.hypot(*short))
    rows = 2 if short_len > 380.0 else 1
    width = float(np.clip(area / (short_len / rows), 35.0, 220.0))
    n = max(int(np.hypot(*long_) // width), 1)
    centre = rect.mean(axis=0)
    t = (np.arange(n) + 0.5 + rng.uniform(-0.3, 0.3, n)) / n - 0.5
    offs = [0.0] if rows == 1 else [-0.25, 0.25]
    pts = [centre + ti * long_ + o * short for o in offs for ti in t]
    return np.asarray(pts)


def lot_seeds(poly: shapely.Geometry, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Voronoi seed points for the parcels of one block piece."""
    xy = shapely.get_coordinates(shapely.point_on_surface(poly))
    area = target_lot_area(kind, float(distance_to_centre(xy)[0]))
    area *= float(rng.uniform(0.8, 1.25))
    if poly.area < 1.6 * area:
        return xy
    if kind in ("core", "residential", "village"):
        pts = frontage_seeds(poly, area, rng)
    elif kind in ("field", "forest"):
        pts = strip_seeds(poly, area, rng)
    else:
        pts = _grid_points(poly, np.sqrt(area), rng)
    pts = pts[shapely.contains_xy(poly, pts[:, 0], pts[:, 1])]
    return pts if len(pts) else xy


def split_blocks(
    blocks: Pieces, rng: np.random.Generator, fixed: dict[int, list[tuple[float, float]]]
) -> Pieces:
    """Split every block piece into parcels (vectorised Voronoi + clip).

    ``fixed`` maps a piece index to extra seeds (landmarks that must get a lot).
    """
    seeds = []
    for i, (poly, kind) in enumerate(zip(blocks.geom, blocks.kind, strict=True)):
        pts = lot_seeds(poly, kind, rng)
        if i in fixed:
            own = np.asarray(fixed[i], dtype=float)
            gap = np.min(
                np.hypot(pts[:, None, 0] - own[None, :, 0], pts[:, None, 1] - own[None, :, 1]),
                axis=1,
            )
            pts = np.vstack([own, pts[gap > 30.0]])
        seeds.append(shapely.multipoints(pts))
    seeds_arr = np.asarray(seeds, dtype=object)
    n_seeds = shapely.get_num_geometries(seeds_arr)
    single = n_seeds <= 1
    cells = shapely.voronoi_polygons(seeds_arr[~single], extend_to=blocks.geom[~single])
    parts, idx = shapely.get_parts(cells, return_index=True)
    owner = np.flatnonzero(~single)[idx]
    lots = shapely.intersection(parts, blocks.geom[owner])
    split = blocks.take(owner)
    split.geom = np.asarray(lots, dtype=object)
    whole = blocks.take(np.flatnonzero(single))
    return explode(whole.extend(split))


def assign_land_use(p: Pieces, rng: np.random.Generator) -> None:
    """Fill ``p.tn`` for grid parcels from their block kind (in place)."""
    for i in np.flatnonzero(is_none(p.tn)):
        names, probs = LAND_USE[p.kind[i]]
        p.tn[i] = names[int(rng.choice(len(names), p=probs))]


# --- slivers --------------------------------------------------------------------------


def absorb_slivers(p: Pieces) -> Pieces:
    """Merge tiny or very thin polygons into the neighbour sharing most boundary."""
    area = shapely.area(p.geom)
    thin = area / np.maximum(shapely.length(p.geom), 1e-9)
    sliver = (area < 60.0) | ((area < 600.0) & (thin < 2.5))
    tree = shapely.STRtree(p.geom)
    geom = p.geom.copy()
    drop = np.zeros(len(p), dtype=bool)
    for i in np.flatnonzero(sliver):
        cand = [
            j
            for j in tree.query(geom[i], predicate="intersects")
            if j != i and not sliver[j] and not drop[j]
        ]
        if not cand:
            drop[i] = True
            continue
        shared = shapely.length(
            shapely.intersection(shapely.boundary(geom[i]), shapely.buffer(geom[cand], 0.05))
        )
        j = cand[int(np.argmax(shared))]
        merged = shapely.union(geom[j], geom[i])
        merged = shapely.buffer(
            shapely.buffer(merged, 0.001, join_style="mitre"), -0.001, join_style="mitre"
        )
        if merged.geom_type == "Polygon" and merged.is_valid:
            geom[j] = merged
        drop[i] = True
    out = p.take(np.flatnonzero(~drop))
    out.geom = geom[~drop]
    return out


def clean_coverage(geoms: np.ndarray) -> np.ndarray:
    """Round to millimetres and make the parcels an exact, gap-free coverage.

    Needs shapely >= 2.2 with GEOS >= 3.14 for ``coverage_clean``; older versions only
    round (leaving sub-millimetre overlaps where vertices do not match).
    """
    geoms = shapely.set_precision(geoms, 0.001)
    if hasattr(shapely, "coverage_clean") and shapely.geos_version >= (3, 14, 0):
        geoms = shapely.coverage_clean(geoms, gap_width=1.0, snapping_distance=0.002)
    if not np.all(shapely.get_type_id(geoms) == 3):
        raise RuntimeError("coverage cleaning produced non-polygon parcels")
    return geoms


# --- cadastral attributes -------------------------------------------------------------


def assign_gemarkung(reps: np.ndarray) -> np.ndarray:
    """Index into :data:`GEMARKUNGEN` for every representative point."""
    east_poly = Polygon(
        [*_smooth(SPREE_LINE), (BBOX[2] + 1e3, BBOX[3] + 1e3), (BBOX[2] + 1e3, BBOX[1] - 1e3)]
    )
    east = shapely.contains_xy(east_poly, reps[:, 0], reps[:, 1])
    dist = np.stack([np.hypot(reps[:, 0] - g.x, reps[:, 1] - g.y) for g in GEMARKUNGEN], axis=1)
    allowed = np.stack([np.isin(east, g.sides) for g in GEMARKUNGEN], axis=1)
    return np.argmin(np.where(allowed, dist, np.inf), axis=1)


def assign_flur(reps: np.ndarray, gem: np.ndarray, min_parcels: int = 15) -> np.ndarray:
    """Flur numbers: square cells per Gemarkung numbered outward from its seed."""
    origin = np.array(CENTRE) - FLUR_CELL / 2
    cells = np.floor((reps - origin) / FLUR_CELL).astype(np.int64)
    flur = np.zeros(len(reps), dtype=np.int64)
    for gi, g in enumerate(GEMARKUNGEN):
        sel = np.flatnonzero(gem == gi)
        if len(sel) == 0:
            continue
        uniq, inv, cnt = np.unique(cells[sel], axis=0, return_inverse=True, return_counts=True)
        centres = origin + (uniq + 0.5) * FLUR_CELL
        big = cnt >= min_parcels
        if not big.any():
            big[:] = True
        # small cells join the nearest big cell
        dd = np.hypot(
            centres[:, None, 0] - centres[None, :, 0], centres[:, None, 1] - centres[None, :, 1]
        )
        dd[:, ~big] = np.inf
        target = np.where(big, np.arange(len(uniq)), np.argmin(dd, axis=1))
        seed_d = np.hypot(centres[:, 0] - g.x, centres[:, 1] - g.y)
        order = np.lexsort((uniq[:, 1], uniq[:, 0], seed_d))
        rank = np.zeros(len(uniq), dtype=np.int64)
        big_order = [c for c in order if big[c]]
        rank[big_order] = np.arange(1, len(big_order) + 1)
        flur[sel] = rank[target[inv.ravel()]]
    return flur


def number_parcels(
    reps: np.ndarray, gem: np.ndarray, flur: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Flurstücksnummer (Zähler, Nenner or 0) per parcel, serpentine order per Flur."""
    zae = np.zeros(len(reps), dtype=np.int64)
    nen = np.zeros(len(reps), dtype=np.int64)
    row = np.floor((BBOX[3] - reps[:, 1]) / 130.0).astype(np.int64)
    serp = np.where(row % 2 == 0, reps[:, 0], -reps[:, 0])
    for key in sorted(set(zip(gem.tolist(), flur.tolist(), strict=True))):
        sel = np.flatnonzero((gem == key[0]) & (flur == key[1]))
        sel = sel[np.lexsort((serp[sel], row[sel]))]
        k, z = 0, 0
        while k < len(sel):
            z += 1 + (int(rng.integers(1, 4)) if rng.random() < 0.08 else 0)
            if rng.random() < 0.12 and k + 1 < len(sel):
                size = int(min(rng.integers(2, 5), len(sel) - k))
                nens = np.sort(rng.choice(np.arange(1, 15), size=size, replace=False))
                zae[sel[k : k + size]] = z
                nen[sel[k : k + size]] = nens
                k += size
            else:
                zae[sel[k]] = z
                k += 1
    return zae, nen


def assign_addresses(
    p: Pieces, reps: np.ndarray, eids: np.ndarray, edges: Edges, rng: np.random.Generator
) -> None:
    """Street + house number for lots of address-bearing kinds (in place)."""
    addr_kinds = {
        "core",
        "residential",
        "village",
        "plattenbau",
        "industry",
        "sport",
        "allotment",
        "institution",
    }
    sel = np.flatnonzero(np.isin(p.kind, list(addr_kinds)) & is_none(p.lage))
    if len(sel) == 0:
        return
    blk_e = eids[p.block[sel]]  # (n, 4)
    segs = shapely.linestrings(np.stack([edges.a[blk_e], edges.b[blk_e]], axis=2))
    dist = shapely.distance(shapely.points(reps[sel])[:, None], segs)
    named = ~is_none(edges.name[blk_e].ravel()).reshape(blk_e.shape) & ~edges.boundary[blk_e]
    dist = np.where(named, dist, np.inf)
    k = np.argmin(dist, axis=1)
    ok = np.isfinite(dist[np.arange(len(sel)), k])
    street = edges.name[blk_e[np.arange(len(sel)), k]]
    side = np.where(np.isin(k, (0, 3)), 1, 0)  # block north/east of the street: odd
    along = distance_to_centre(reps[sel])
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for n in np.flatnonzero(ok):
        groups[(street[n], int(side[n]))].append(int(n))
    for (name, sd), members in sorted(groups.items()):
        members.sort(key=lambda m: along[m])
        number, suffix = (-1 if sd else 0), ""
        for m in members:
            # now and then a lot shares the previous number with an "a" suffix
            if suffix == "" and number > 0 and rng.random() < 0.04:
                suffix = "a"
            else:
                number, suffix = number + 2, ""
            p.lage[sel[m]] = f"{name} {number}{suffix}"


def field_names(reps: np.ndarray, gem: np.ndarray) -> np.ndarray:
    """Gewann (field) name for open land: "Am Spreeufer" near the river, else the
    nearest field name of the parcel's Gemarkung."""
    spree = shapely.LineString(_smooth(SPREE_LINE))
    near = shapely.distance(spree, shapely.points(reps)) < 250.0
    out = np.empty(len(reps), dtype=object)
    for i, (x, y) in enumerate(reps):
        fields = GEMARKUNGEN[gem[i]].fields
        best = min(fields, key=lambda f: (f[1] - x) ** 2 + (f[2] - y) ** 2)
        out[i] = "Am Spreeufer" if near[i] else best[0]
    return out


def object_ids(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unique 16-character ALKIS object identifiers ``DEBBAL06nnnnnxxx``."""
    serial = rng.permutation(np.arange(1, 99999))[:n]
    letters = rng.integers(0, 26, (n, 3))
    abc = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return np.array(
        [f"DEBBAL06{s:05d}{''.join(abc[row])}" for s, row in zip(serial, letters, strict=True)],
        dtype=object,
    )


# --- assembly -------------------------------------------------------------------------


def build_parcels(rng: np.random.Generator) -> tuple[Pieces, np.ndarray, np.ndarray]:
    """Generate all parcel polygons with kind, land use and location text.

    Returns the pieces, a representative point per piece and the point that decides
    its Gemarkung and Flur (both ``(n, 2)``).
    """
    grid = build_grid(rng)
    edges = build_edges(grid)
    quads, eids = block_edge_ids(grid)
    quad_polys = shapely.polygons(np.concatenate([quads, quads[:, :1]], axis=1))
    altmarkt_block = int(np.flatnonzero(shapely.contains_xy(quad_polys, *LANDMARKS["altmarkt"]))[0])
    name_streets(edges, grid, altmarkt_block)
    inner = shrink_quads(quads, edges.width[eids] / 2.0)
    block_polys = shapely.polygons(np.concatenate([inner, inner[:, :1]], axis=1))

    overlays = build_overlays(rng)
    taken = shapely.union_all(overlays.geom)

    street_geoms, street_ids = street_parcels(quads, inner, eids, edges)
    road = edges.urban[street_ids] | ~is_none(edges.name[street_ids])
    streets = _pieces(
        shapely.difference(street_geoms, taken),
        np.where(road, "street", "way"),
        np.where(road, "Straßenverkehr", "Weg"),
        edges.name[street_ids],
    )
    streets = explode(streets)

    blocks = explode(
        _pieces(shapely.difference(block_polys, taken), "", None, None, np.arange(len(block_polys)))
    )
    blocks.kind = np.array([block_kind(g, rng) for g in blocks.geom], dtype=object)
    blocks.anchor = shapely.get_coordinates(shapely.point_on_surface(blocks.geom))
    alt = np.flatnonzero(
        (blocks.block == altmarkt_block) & shapely.contains_xy(blocks.geom, *LANDMARKS["altmarkt"])
    )[0]
    blocks.kind[alt], blocks.tn[alt], blocks.lage[alt] = "landmark", "Platz", "Altmarkt"
    ober = int(np.flatnonzero(shapely.contains_xy(blocks.geom, *LANDMARKS["oberkirche"]))[0])
    blocks.kind[ober] = "core"
    keep_whole = blocks.take(np.array([alt]))
    rest = blocks.take(np.setdiff1d(np.arange(len(blocks)), [alt]))
    ober_rest = int(np.flatnonzero(rest.block == blocks.block[ober])[0])
    lots = split_blocks(rest, rng, {ober_rest: [LANDMARKS["oberkirche"]]})
    church = np.flatnonzero(shapely.contains_xy(lots.geom, *LANDMARKS["oberkirche"]))[0]
    lots.kind[church] = "landmark"
    lots.tn[church] = "Fläche besonderer funktionaler Prägung"
    lots.lage[church] = "Oberkirchplatz 1"
    # green blocks and cemeteries carry the zone name
    for i in np.flatnonzero(np.isin(lots.kind, ["green", "cemetery"])):
        xy = shapely.get_coordinates(shapely.point_on_surface(lots.geom[i]))
        zi = int(zone_of(xy)[0])
        lots.lage[i] = ZONES[zi].name if zi >= 0 else None
    assign_land_use(lots, rng)

    allp = overlays.extend(streets).extend(keep_whole).extend(lots)
    allp = absorb_slivers(allp)
    reps = shapely.get_coordinates(shapely.point_on_surface(allp.geom))
    assign_addresses(allp, reps, eids, edges, rng)
    anchors = np.where(np.isnan(allp.anchor), reps, allp.anchor)
    return allp, reps, anchors


def parcel_table(
    p: Pieces, reps: np.ndarray, anchors: np.ndarray, rng: np.random.Generator
) -> pa.Table:
    """Attribute table in the ALKIS-vereinfacht ``ave:Flurstueck`` layout."""
    p.geom = clean_coverage(p.geom)
    gem = assign_gemarkung(anchors)
    flur = assign_flur(anchors, gem)
    zae, nen = number_parcels(reps, gem, flur, rng)
    gewann = field_names(reps, gem)
    lage = np.where(is_none(p.lage), gewann, p.lage)
    flaeche = np.round(shapely.area(p.geom)).astype(float)
    tn = np.array([f"{t};{int(a)}" for t, a in zip(p.tn, flaeche, strict=True)], dtype=object)
    gnum = np.array([GEMARKUNGEN[g].number for g in gem], dtype=object)
    kennz = np.array(
        [
            f"{LAND_KEY}{g}{f:03d}{z:05d}{n:04d}__"
            for g, f, z, n in zip(gnum, flur, zae, nen, strict=True)
        ],
        dtype=object,
    )
    start = dt.date(2021, 1, 4).toordinal()
    days = rng.integers(0, dt.date(2024, 11, 29).toordinal() - start, len(p))
    aktualit = [dt.date.fromordinal(start + int(d)) for d in days]
    n = len(p)
    order = np.argsort(kennz, kind="stable")
    cols = {
        "flstkennz": kennz,
        "land": np.full(n, LAND, dtype=object),
        "gemarkung": np.array([GEMARKUNGEN[g].name for g in gem], dtype=object),
        "gemaschl": np.array([LAND_KEY + g for g in gnum], dtype=object),
        "flur": flur.astype(np.int32),
        "flstnrzae": np.array([str(z) for z in zae], dtype=object),
        "flstnrnen": np.array([str(v) if v else None for v in nen], dtype=object),
        "flaeche": flaeche,
        "lagebeztxt": lage,
        "tntxt": tn,
        "kreis": np.full(n, KREIS, dtype=object),
        "kreisschl": np.full(n, KREISSCHL, dtype=object),
        "gemeinde": np.full(n, GEMEINDE, dtype=object),
        "gmdschl": np.full(n, GMDSCHL, dtype=object),
        "aktualit": np.array(aktualit, dtype=object),
        "idflurst": object_ids(n, rng),
    }
    arrays = {
        k: pa.array(list(v[order]) if v.dtype == object else v[order]) for k, v in cols.items()
    }
    arrays["aktualit"] = pa.array(list(cols["aktualit"][order]), type=pa.date32())
    arrays["flstnrnen"] = pa.array(list(cols["flstnrnen"][order]), type=pa.string())
    arrays["geom"] = pa.array(shapely.to_wkb(p.geom[order], output_dimension=2), type=pa.binary())
    return pa.table(arrays)


def check_parcels(table: pa.Table) -> None:
    """Sanity checks that must hold for every regeneration (raises ``ValueError``)."""
    kennz = table["flstkennz"].to_pylist()
    if len(set(kennz)) != len(kennz) or {len(k) for k in kennz} != {20}:
        raise ValueError("flstkennz must be unique and 20 characters long")
    if len(set(table["idflurst"].to_pylist())) != len(kennz):
        raise ValueError("idflurst must be unique")
    if not 2500 <= len(kennz) <= 4000:
        raise ValueError(f"{len(kennz)} parcels, expected 2500-4000")
    geoms = shapely.from_wkb(table["geom"].to_numpy(zero_copy_only=False))
    if not shapely.is_valid(geoms).all():
        raise ValueError("invalid parcel geometry")
    expected = {
        "altmarkt": ("Cottbus", 1, "Altmarkt"),
        "oberkirche": ("Cottbus", 1, "Oberkirchplatz"),
        "hauptbahnhof": ("Cottbus", None, "Vetschauer Straße"),
        "schloss_branitz": ("Branitz", None, "Robinienweg"),
    }
    for key, (gemarkung, flur, lage) in expected.items():
        hit = np.flatnonzero(shapely.contains_xy(geoms, *LANDMARKS[key]))
        if len(hit) != 1:
            raise ValueError(f"{key}: {len(hit)} parcels contain the landmark")
        row = {c: table[c][int(hit[0])].as_py() for c in ("gemarkung", "flur", "lagebeztxt")}
        if (
            row["gemarkung"] != gemarkung
            or (flur is not None and row["flur"] != flur)
            or not row["lagebeztxt"].startswith(lage)
        ):
            raise ValueError(f"{key}: unexpected parcel {row}")


def write_parcels(out_dir: Path) -> Path:
    """Write the synthetic Flurstücke GeoPackage and return its path.

    Parameters
    ----------
    out_dir : Path
        Sample directory (``data/samples``); the file goes to
        ``parcels/flurstuecke_cottbus_mitte.gpkg`` below it.

    Returns
    -------
    Path
        Path of the written GeoPackage.
    """
    rng = np.random.default_rng([SEED, 1])
    pieces, reps, anchors = build_parcels(rng)
    table = parcel_table(pieces, reps, anchors, rng)
    check_parcels(table)
    path = out_dir / PARCEL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": OGR_CURRENT_DATE})
    pyogrio.write_arrow(
        table,
        path,
        layer=PARCEL_LAYER,
        driver="GPKG",
        geometry_name="geom",
        geometry_type="Polygon",
        crs=CRS,
        dataset_options={"VERSION": "1.2"},
    )
    return path


def write(out_dir: Path = SAMPLES_DIR) -> None:
    """Write the parcel sample and say what it holds."""
    path = write_parcels(out_dir)
    info = pyogrio.read_info(path, layer=PARCEL_LAYER)
    gem = pyogrio.read_arrow(path, layer=PARCEL_LAYER, columns=["gemarkung"], read_geometry=False)
    counts = sorted(
        (c["values"], c["counts"]) for c in gem[1]["gemarkung"].value_counts().to_pylist()
    )
    per_gem = ", ".join(f"{name} {count}" for name, count in counts)
    print(
        f"wrote {path.relative_to(SAMPLES_DIR)}: {info['features']} parcels "
        f"(layer {PARCEL_LAYER}, {CRS}, {path.stat().st_size / 1e6:.2f} MB)\n"
        f"  per Gemarkung: {per_gem}"
    )
