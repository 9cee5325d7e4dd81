"""Deterministic generator of the heritage sample in ``data/samples/heritage/``.

An excerpt of the Brandenburg heritage list (Denkmalliste) for Cottbus/Chóśebuz as the city
receives it: the list as a Windows-1252 CSV with semicolons, as the state office (BLDAM)
exports it, and the geometries as a GeoPackage, as its WFS delivers them. The monuments are
real Cottbus monuments at roughly their real places, but **every ID number is invented** in
the ``0910xxxx`` style, and every geometry, description and address detail is illustrative.
Geometries are drawn on the synthetic parcels (``gen_parcels.py`` runs first): buildings as
footprints inside their parcel, areas as unions of whole parcels, so that the derived
parcel links in the tests are exact.

To prove that archaeological sites are never published, the sample also holds three invented
Bodendenkmale (list section A, with geometries in the main layer and in a layer of their own),
two list entries without geometry and one geometry without a list entry.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyogrio
import shapely
from shapely import affinity

SAMPLES_DIR = Path(__file__).resolve().parent
OUT = Path("heritage")
LIST_FILE = OUT / "denkmalliste_cottbus.csv"
GEOMETRY_FILE = OUT / "denkmale_cottbus.gpkg"
PARCELS = SAMPLES_DIR / "parcels" / "flurstuecke_cottbus_mitte.gpkg"
CRS = "EPSG:25833"
OGR_CURRENT_DATE = "2024-01-01T00:00:00Z"

HEADER = ["ID-Nr.", "Kreis", "Gemeinde", "Ortsteil", "Lage", "Bezeichnung", "Beschreibung",
          "Abschnitt", "Denkmalart"]
SECTION = {
    "Baudenkmal": "D - Denkmale",
    "Gartendenkmal": "D - Denkmale",
    "Technisches Denkmal": "D - Denkmale",
    "Denkmalbereich": "C - Denkmalbereiche",
    "Bodendenkmal": "A - Bodendenkmale",
}


@dataclass(frozen=True)
class Monument:
    """One row of the list and how to draw its geometry (None: no geometry delivered)."""

    id: str
    ortsteil: str
    lage: str
    bezeichnung: str
    beschreibung: str
    art: str
    geometry: tuple | None


# Geometry recipes: ("parcel", lagebeztxt, inset m) a footprint of a whole parcel;
# ("building", x, y, width, depth, angle) a rectangle clipped to the parcel under it;
# ("point", x, y); ("points", [(x, y), ...]); ("line", [[(x, y), ...], ...]);
# ("area", [(x, y), ...]) the union of the parcels whose inside point lies in the outline;
# ("parcels", lagebeztxt, ...) the union of the parcels with these lagebeztxt.
ALTSTADT = [(453780, 5734250), (453985, 5734015), (454135, 5734015), (454300, 5734200),
            (454620, 5734450), (454600, 5734930), (453800, 5734965), (453720, 5734600)]
WESTLICHE_STADTERWEITERUNG = [(453150, 5733700), (453700, 5733700), (453760, 5734250),
                              (453710, 5734650), (453150, 5734650)]
BRANITZER_PARKLANDSCHAFT = [(455750, 5731850), (457150, 5731850), (457250, 5733150),
                            (455750, 5733150)]

MONUMENTS: list[Monument] = [
    # C - Denkmalbereiche
    Monument("09100201", "Cottbus", "Altstadt", "Denkmalbereich „Altstadt Cottbus“",
             "Altstadt einschließlich der einstigen Wallanlagen, der erhaltenen "
             "Stadtmauerabschnitte und des Schlossbergs zwischen Stadtpromenade, Mühlgraben "
             "und Spree", "Denkmalbereich", ("area", ALTSTADT)),
    Monument("09100202", "Cottbus", "Bahnhofstraße, Schillerplatz",
             "Denkmalbereich „Westliche Stadterweiterung (1870–1914) um die Bahnhofstraße und "
             "den Schillerplatz“",
             "Gründerzeitliche Blockrandbebauung; Satzung zum Schutz des Denkmalbereichs",
             "Denkmalbereich", ("area", WESTLICHE_STADTERWEITERUNG)),
    Monument("09100301", "Branitz", "Branitzer Park", "Denkmalbereich „Branitzer Parklandschaft“",
             "Innerer und äußerer Park des Fürsten Hermann von Pückler-Muskau mit "
             "Parkschmiede, Gutshof und Wiesen", "Denkmalbereich",
             ("area", BRANITZER_PARKLANDSCHAFT)),
    # D - Gartendenkmal
    Monument("09100302", "Branitz", "Robinienweg 5", "Schloss und Park Branitz",
             "Landschaftspark nach Plänen Pücklers ab 1846 mit Pleasureground, Seen, "
             "Land- und Seepyramide", "Gartendenkmal",
             ("parcels", "Branitzer Park", "Robinienweg 5")),
    # D - Baudenkmale
    Monument("09100101", "Cottbus", "Oberkirchplatz 1", "Oberkirche St. Nikolai",
             "Dreischiffige spätgotische Hallenkirche aus Backstein, 15. Jh.; Westturm mit "
             "Aussichtsplattform", "Baudenkmal", ("parcel", "Oberkirchplatz 1", 1.5)),
    Monument("09100102", "Cottbus", "Spremberger Straße", "Spremberger Turm",
             "Torturm des ehemaligen Spremberger Tores, 13. Jh., Aufsatz 1823–1825 nach "
             "Plänen von Karl Friedrich Schinkel", "Baudenkmal", ("point", 454055.0, 5734035.0)),
    Monument("09100103", "Cottbus", "Schillerplatz 1", "Staatstheater Cottbus (Großes Haus)",
             "Theaterbau im Jugendstil, 1905–1908 von Bernhard Sehring", "Baudenkmal",
             ("building", 453420.0, 5734560.0, 62.0, 40.0, 8.0)),
    Monument("09100104", "Cottbus", "Klosterplatz", "Klosterkirche (Wendische Kirche)",
             "Ehemalige Kirche des Franziskanerklosters, ältester erhaltener Sakralbau der "
             "Stadt; Gottesdienste auch in niedersorbischer Sprache", "Baudenkmal",
             ("building", 453900.0, 5734820.0, 38.0, 16.0, 12.0)),
    Monument("09100105", "Cottbus", "Schloßkirchplatz", "Schlosskirche",
             "Ehemals französisch-reformierte Kirche, 1707–1714; neogotischer Turm 1870",
             "Baudenkmal", ("building", 453950.0, 5734680.0, 26.0, 13.0, -5.0)),
    Monument("09100106", "Cottbus", "Mühlenstraße 12", "Wendisches Museum",
             "Wohnhaus, 18./19. Jh.; seit 1994 Museum der niedersorbischen Kultur",
             "Baudenkmal", ("parcel", "Mühlenstraße 12", 2.0)),
    Monument("09100107", "Cottbus", "Mauerstraße, Stadtpromenade, Münzstraße",
             "Stadtbefestigung mit Stadtmauerabschnitten",
             "Reste der spätmittelalterlichen Stadtmauer aus Feld- und Backstein; "
             "Westteil entlang Mauerstraße und Stadtpromenade, Nordteil entlang der Münzstraße",
             "Baudenkmal",
             ("line", [[(453800.0, 5734330.0), (453788.0, 5734600.0), (453830.0, 5734830.0)],
                       [(454080.0, 5734872.0), (454250.0, 5734890.0)]])),
    Monument("09100108", "Cottbus", "Münzstraße", "Münzturm",
             "Wehrturm der Stadtbefestigung, 15. Jh.", "Baudenkmal",
             ("point", 454160.0, 5734905.0)),
    Monument("09100109", "Cottbus", "Mauerstraße", "Lindenpforte",
             "Durchgang in der Stadtmauer mit Postkutscher-Plastik", "Baudenkmal",
             ("point", 453792.0, 5734700.0)),
    Monument("09100110", "Cottbus", "Burgstraße", "Schlossturm auf dem Schlossberg",
             "Turm der ehemaligen Burg, später Gerichtsturm; Schlossberg mit Aussicht",
             "Baudenkmal", ("point", 454390.0, 5734760.0)),
    Monument("09100111", "Cottbus", "Uferstraße", "Loh- und Weißgerberhäuser",
             "Fachwerkhäuser der Gerber am Mühlgraben, ältestes Anfang 18. Jh.; Wohn- und "
             "Werkhäuser", "Baudenkmal", ("building", 454560.0, 5734480.0, 30.0, 10.0, 20.0)),
    Monument("09100112", "Cottbus", "Altmarkt 24",
             "Brandenburgisches Apothekenmuseum (ehemalige Löwen-Apotheke)",
             "Bürgerhaus mit Offizin und Laboratorium, Apotheke seit 1573", "Baudenkmal",
             ("point", 454060.0, 5734600.0)),
    Monument("09100113", "Cottbus", "Altmarkt 1", "Wohn- und Geschäftshaus",
             "Barockes Bürgerhaus, um 1750; Fassade mit Pilastergliederung", "Baudenkmal",
             ("parcel", "Altmarkt 1", 1.0)),
    Monument("09100114", "Cottbus", "Altmarkt 2", "Wohn- und Geschäftshaus",
             "Dreigeschossiges Traufenhaus, 18. Jh.", "Baudenkmal",
             ("parcel", "Altmarkt 2", 1.0)),
    Monument("09100115", "Cottbus", "Altmarkt 5", "Wohn- und Geschäftshaus",
             "Bürgerhaus; Ladeneinbau 19. Jh.", "Baudenkmal", ("parcel", "Altmarkt 5", 1.0)),
    Monument("09100116", "Cottbus", "Altmarkt 8", "Wohn- und Geschäftshaus",
             "Barockes Giebelhaus; Hausflur mit Stuckdecke", "Baudenkmal",
             ("parcel", "Altmarkt 8", 1.0)),
    Monument("09100117", "Cottbus", "Altmarkt 9", "Wohn- und Geschäftshaus",
             "Bürgerhaus, Kern 17. Jh., Fassade klassizistisch überformt", "Baudenkmal",
             ("parcel", "Altmarkt 9", 1.0)),
    Monument("09100118", "Cottbus", "Altmarkt 13", "Wohn- und Geschäftshaus",
             "Schmales Bürgerhaus mit Zwerchhaus", "Baudenkmal",
             ("parcel", "Altmarkt 13", 1.0)),
    Monument("09100119", "Cottbus", "Altmarkt 14", "Wohn- und Geschäftshaus",
             "Bürgerhaus; Hofflügel mit Laubengang", "Baudenkmal",
             ("parcel", "Altmarkt 14", 1.0)),
    Monument("09100120", "Cottbus", "Altmarkt 15", "Wohn- und Geschäftshaus",
             "Eckhaus zur Sandower Straße, Mitte 18. Jh.", "Baudenkmal",
             ("parcel", "Altmarkt 15", 1.0)),
    Monument("09100121", "Cottbus", "Adolf-Kolping-Straße 17/18",
             "Katholische Kirche St. Marien Friedenskönigin und Pfarrhaus",
             "Kirche 1934–1935; Pfarrhaus im Heimatstil", "Baudenkmal",
             ("point", 453250.0, 5733900.0)),
    Monument("09100122", "Cottbus", "Wernerstraße 16", "Mietshaus",
             "Viergeschossiges Mietshaus mit Putzfassade; Vorgarten mit Einfriedung",
             "Baudenkmal", ("point", 453500.0, 5734230.0)),
    Monument("09100123", "Cottbus", "Karl-Liebknecht-Straße 20", "Wohn- und Geschäftshaus",
             "Gründerzeitliches Eckhaus; Erker und Ladenzone", "Baudenkmal",
             ("point", 453650.0, 5734300.0)),
    Monument("09100124", "Cottbus", "Bahnhofstraße 52", "Mietshaus",
             "Mietshaus in Sichtziegel; Treppenhaus mit bauzeitlicher Ausstattung",
             "Baudenkmal", ("point", 453450.0, 5733950.0)),
    Monument("09100125", "Cottbus", "Bahnhofstraße 24", "Villa",
             "Villa mit Turmerker, um 1895; Einfriedung und Garten", "Baudenkmal",
             ("point", 453480.0, 5734250.0)),
    Monument("09100303", "Branitz", "Robinienweg 5", "Schloss Branitz",
             "Barockes Schloss, 1770–1772; Umbau für Fürst Pückler; heute Museum",
             "Baudenkmal", ("building", 456438.0, 5732553.0, 40.0, 26.0, 0.0)),
    Monument("09100304", "Branitz", "Branitzer Park", "Landpyramide und Seepyramide",
             "Grabpyramide (Tumulus) im See und Landpyramide, 1856–1863", "Baudenkmal",
             ("points", [(456640.0, 5732420.0), (456820.0, 5732560.0)])),
    Monument("09100305", "Branitz", "Kastanienallee", "Parkschmiede",
             "Ehemalige Schmiede am Parkeingang, 19. Jh.", "Baudenkmal",
             ("point", 456280.0, 5732760.0)),
    # D - Technische Denkmale
    Monument("09100151", "Sachsendorf", "Wasserturm Sachsendorf", "Wasserturm",
             "Wasserturm der städtischen Wasserversorgung, 1896–1897; Behälter nach Brand "
             "1920 in Stahlbeton erneuert; Museum zur Wasserversorgung", "Technisches Denkmal",
             ("point", 452650.0, 5731800.0)),
    Monument("09100152", "Cottbus", "Vetschauer Straße", "Eisenbahn-Wasserturm",
             "Wasserturm der Preußischen Staatseisenbahnen, 1914; Kugelbehälter Bauart "
             "Klönne; 1955 stillgelegt", "Technisches Denkmal",
             ("point", 453300.0, 5733430.0)),
    Monument("09100153", "Cottbus", "Am Amtsteich 15", "Dieselkraftwerk",
             "Kraftwerk, 1927–1928 von Werner Issel; heute Kunstmuseum", "Technisches Denkmal",
             ("building", 454320.0, 5734180.0, 44.0, 28.0, 15.0)),
    Monument("09100154", "Sandow", "Am Großen Spreewehr", "Spreewehrmühle",
             "Wassermühle am Großen Spreewehr mit historischer Mühlentechnik",
             "Technisches Denkmal", ("point", 455100.0, 5736580.0)),
    Monument("09100155", "Cottbus", "Bahnhofsgelände",
             "Stellwerksgebäude B23 einschließlich des Gleisbildstellwerks",
             "Stellwerk („Ostturm“) an der Bahnhofsbrücke, 1950er Jahre",
             "Technisches Denkmal", ("point", 453880.0, 5733610.0)),
    # Without geometry: listed, but the WFS delivers no geometry for them.
    Monument("09100417", "Cottbus", "Dresdener Straße", "Halbmeilenstein",
             "Sandsteinobelisk der sächsischen Postmeilensäulen; Standort versetzt",
             "Baudenkmal", None),
    Monument("09100423", "Cottbus", "Südfriedhof", "Grabanlage der Familie Heinemann",
             "Wandgrab mit Bronzerelief; Grabfeld II", "Baudenkmal", None),
]

#: A geometry whose ID the list does not hold (a monument since deleted from the list).
ORPHAN = ("09100999", "Baudenkmal", ("point", 453600.0, 5734900.0))

#: Invented archaeological sites: never published. Distinctive names and coordinates (odd
#: millimetres) so that the tests can prove none of them reaches the API or the database.
BODENDENKMALE: list[tuple[Monument, str, list[tuple[float, float]]]] = [
    (Monument("120451", "Sachsendorf", "Gemarkung Sachsendorf, Flur 3",
              "Siedlung Bronzezeit, Siedlung Eisenzeit am Quellgrund Zwiebelwiese",
              "Fundstreuung, Gruben", "Bodendenkmal", None), "denkmale",
     [(452713.137, 5731941.713), (452791.163, 5731949.271), (452786.419, 5732011.347),
      (452709.853, 5732004.619)]),
    (Monument("120452", "Cottbus", "Gemarkung Cottbus, Flur 1",
              "Burgwall slawisches Mittelalter unter dem Quastenberg",
              "Wall und Vorburgsiedlung", "Bodendenkmal", None), "bodendenkmale",
     [(454433.317, 5734711.239), (454481.593, 5734716.871), (454477.129, 5734759.457),
      (454429.981, 5734753.683)]),
    (Monument("09100950", "Döbbrick", "Gemarkung Döbbrick, Flur 2",
              "Gräberfeld römische Kaiserzeit am Krähenbusch Nord",
              "Brandgräber", "Bodendenkmal", None), "bodendenkmale",
     [(453213.571, 5737011.923), (453297.749, 5737019.307), (453291.061, 5737083.149),
      (453207.293, 5737077.811)]),
]


class Parcels:
    """The synthetic parcels, to draw monuments on."""

    def __init__(self, path: Path) -> None:
        meta, _, wkb, cols = pyogrio.raw.read(path)
        names = list(meta["fields"])
        self.geoms = shapely.from_wkb(wkb)
        self.lage = cols[names.index("lagebeztxt")]
        self.inside = shapely.point_on_surface(self.geoms)
        self.tree = shapely.STRtree(self.geoms)

    def by_lage(self, *lage: str) -> np.ndarray:
        hits = np.isin(self.lage, list(lage))
        if not hits.any():
            raise ValueError(f"no parcel with lagebeztxt {lage}")
        return self.geoms[hits]

    def at(self, x: float, y: float) -> shapely.Geometry:
        hits = self.tree.query(shapely.Point(x, y), predicate="intersects")
        if len(hits) != 1:
            raise ValueError(f"{len(hits)} parcels at {x}, {y}")
        return self.geoms[hits[0]]

    def within(self, outline: shapely.Geometry) -> np.ndarray:
        return self.geoms[shapely.within(self.inside, outline)]


def _largest(geom: shapely.Geometry) -> shapely.Geometry:
    parts = shapely.get_parts(geom)
    return parts[np.argmax(shapely.area(parts))]


def draw(recipe: tuple, parcels: Parcels) -> shapely.Geometry:
    """The geometry of one recipe, on a millimetre grid."""
    kind, *args = recipe
    if kind == "point":
        geom = shapely.Point(*args)
    elif kind == "points":
        geom = shapely.MultiPoint(args[0])
    elif kind == "line":
        geom = shapely.MultiLineString(args[0])
    elif kind == "parcel":
        lage, inset = args
        (parcel,) = parcels.by_lage(lage)
        geom = _largest(parcel.buffer(-inset, join_style="mitre"))
    elif kind == "building":
        x, y, w, d, angle = args
        box = shapely.box(x - w / 2, y - d / 2, x + w / 2, y + d / 2)
        geom = _largest(affinity.rotate(box, angle).intersection(
            parcels.at(x, y).buffer(-1.0, join_style="mitre")))
    elif kind == "parcels":
        geom = shapely.union_all(parcels.by_lage(*args))
    elif kind == "area":
        geom = shapely.union_all(parcels.within(shapely.Polygon(args[0])))
    else:
        raise ValueError(f"unknown recipe {kind}")
    geom = shapely.set_precision(geom, 0.001)
    if geom.is_empty or not geom.is_valid:
        raise ValueError(f"bad geometry for {recipe[:2]}")
    return geom


def list_text() -> str:
    """The list as the state exports it: semicolons, CRLF, quotes only where needed."""
    rows = [m for m in MONUMENTS] + [b[0] for b in BODENDENKMALE]
    rows.sort(key=lambda m: (m.ortsteil != "Cottbus", m.ortsteil, m.lage, m.id))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADER)
    for m in rows:
        writer.writerow([m.id, "Cottbus", "Cottbus", m.ortsteil, m.lage, m.bezeichnung,
                         m.beschreibung, SECTION[m.art], m.art])
    return out.getvalue()


def geometry_tables(parcels: Parcels) -> dict[str, pa.Table]:
    """Layer name -> table (objektnummer, denkmalart, geom) as the WFS would deliver it."""
    layers: dict[str, list[tuple[str, str, shapely.Geometry]]] = {"denkmale": [],
                                                                    "bodendenkmale": []}
    for m in MONUMENTS:
        if m.geometry is not None:
            layers["denkmale"].append((m.id, m.art, draw(m.geometry, parcels)))
    layers["denkmale"].append((ORPHAN[0], ORPHAN[1], draw(ORPHAN[2], parcels)))
    for m, layer, ring in BODENDENKMALE:
        layers[layer].append((m.id, m.art, shapely.Polygon(ring)))
    tables = {}
    for name, rows in layers.items():
        rows.sort(key=lambda r: r[0])
        tables[name] = pa.table({
            "objektnummer": pa.array([r[0] for r in rows], type=pa.string()),
            "denkmalart": pa.array([r[1] for r in rows], type=pa.string()),
            "geom": pa.array(shapely.to_wkb([r[2] for r in rows], output_dimension=2),
                             type=pa.binary()),
        })
    return tables


def write(out_dir: Path = SAMPLES_DIR) -> None:
    """Write the list (CSV, Windows-1252) and the geometries (GeoPackage)."""
    parcels = Parcels(out_dir / "parcels" / PARCELS.name)
    (out_dir / OUT).mkdir(parents=True, exist_ok=True)
    list_path = out_dir / LIST_FILE
    list_path.write_bytes(list_text().encode("cp1252"))
    geom_path = out_dir / GEOMETRY_FILE
    geom_path.unlink(missing_ok=True)
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": OGR_CURRENT_DATE})
    for layer, table in geometry_tables(parcels).items():
        pyogrio.write_arrow(table, geom_path, layer=layer, driver="GPKG", geometry_name="geom",
                            geometry_type="Unknown", crs=CRS, append=geom_path.exists(),
                            dataset_options=None if geom_path.exists() else {"VERSION": "1.2"})
    published = sum(m.geometry is not None for m in MONUMENTS)
    print(f"wrote {LIST_FILE}: {len(MONUMENTS) + len(BODENDENKMALE)} list entries "
          f"(Windows-1252, ';')\nwrote {GEOMETRY_FILE}: layers denkmale, bodendenkmale\n"
          f"  published after the join: {published}; without geometry: "
          f"{len(MONUMENTS) - published}; geometry without entry: 1; Bodendenkmale withheld: "
          f"{len(BODENDENKMALE)}")


if __name__ == "__main__":
    write()
