"""Where things are: constants, landmarks, Gemarkungen, zones and street names.

Real positions in EPSG:25833 (the Altmarkt, the Spree, the railway, the Gemarkung seeds,
named streets) with invented numbers, plus the questions asked about a point everywhere
else: its distance from the Altmarkt, whether it is built up, which land-use zone holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------------------
# Shared constants
# --------------------------------------------------------------------------------------

SEED = 20240117
"""Base random seed; every writer derives its own generator from it."""

CRS = "EPSG:25833"
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
