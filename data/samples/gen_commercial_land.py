"""Sample of commercial land: the economic development office's site sheet and site polygons.

Writes ``commercial-land/`` below the sample directory:

* ``gewerbeflaechen_standortblaetter.xlsx``: the site sheet as the development company keeps it
  in Excel, one row per site, German column names, including the columns that must never be
  published (``Eigentümer (privat)``, ``Ansprechpartner``, ``Telefon``; invented names);
* ``gewerbeflaechen_umringe.gpkg``: the site polygons from its GIS (layer ``gewerbeflaechen``,
  EPSG:25833), joined to the sheet by ``Flächen-Nr``.

Seven invented but plausibly placed sites. Those inside the parcel sample (E 451500-457500,
N 5731500-5737500) are drawn the way a development plan is: the parcels of the planned use
whose larger part lies in a drawn outline, merged and digitised again (simplified by 0.5 m,
so the boundary leaves slivers on the neighbours). Bahnhof-Nordseite cuts across parcels (a
brownfield not yet re-parcelled); Dissenchen lies east of the parcel sample, so its parcel
count is unknown. Deterministic: no randomness, fixed GeoPackage timestamp, fixed zip times.
"""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.raw
import shapely

SAMPLES_DIR = Path(__file__).resolve().parent
OUT = "commercial-land"
SHEET = "gewerbeflaechen_standortblaetter.xlsx"
POLYGONS = "gewerbeflaechen_umringe.gpkg"
LAYER = "gewerbeflaechen"
PARCELS = SAMPLES_DIR / "parcels" / "flurstuecke_cottbus_mitte.gpkg"
CRS = "EPSG:25833"
OGR_CURRENT_DATE = "2024-01-01T00:00:00Z"
ZIP_TIME = (2024, 1, 1, 0, 0, 0)

#: Uses a commercial site is made of (no streets, railway, water, housing).
SITE_USES = {"Industrie- und Gewerbefläche", "Landwirtschaft", "Fläche gemischter Nutzung",
             "Fläche besonderer funktionaler Prägung"}

# id, name, district, gemarkung, outline (E/N), snap to parcels, sheet values.
# Sheet values: net share of gross, GI share of net, free share of net, owner shares
# (city, private, other) of gross, and the text columns.
SITES = [
    dict(id="TIP-01", name="TIP Cottbus – Technologie- und Industriepark",
         district="Schmellwitz", gemarkung="Schmellwitz",
         outline=[(451950, 5735950), (453250, 5735950), (453250, 5737250), (451950, 5737250)],
         snap=True, net=0.86, gi=0.6, free=0.38, owners=(0.72, 0.23, 0.05),
         road="ja", media="Strom, Trinkwasser, Abwasser, Erdgas", rail="möglich",
         broadband="Glasfaser (FTTB)", funding="GRW-Gebiet; Strukturstärkung Lausitz (InvKG)",
         price=28.0, brw=22.0, altlasten="Kampfmittelverdacht (ehem. Flugplatz Cottbus-Nord)",
         owner_name="Dr. Kunigunde Quastenflosser", contact="Herr Bertram Zwiebelmuster",
         phone="0355 612-4711"),
    dict(id="IG-SEE", name="Industriegebiet Am Seegraben", district="Sandow",
         gemarkung="Sandow",
         outline=[(455750, 5732950), (457050, 5732950), (457050, 5734250), (455750, 5734250)],
         snap=True, net=0.84, gi=1.0, free=0.22, owners=(0.41, 0.54, 0.05),
         road="ja", media="voll erschlossen", rail="ja", broadband="VDSL 100 Mbit/s",
         funding="GRW-Gebiet", price=18.0, brw=16.0, altlasten="Altlast saniert (2016)",
         owner_name="Ottokar Federkiel", contact="Frau Isolde Wendehals",
         phone="0355 612-4712"),
    dict(id="GE-STR", name="Gewerbegebiet Ströbitz-West", district="Ströbitz",
         gemarkung="Ströbitz",
         outline=[(451550, 5733050), (452650, 5733050), (452650, 5733850), (451550, 5733850)],
         snap=True, net=0.82, gi=0.3, free=0.18, owners=(0.25, 0.70, 0.05),
         road="ja", media="Strom, Trinkwasser, Abwasser, Gas, Fernwärme", rail="ja",
         broadband="Glasfaser", funding="GRW-Gebiet", price=35.0, brw=30.0,
         altlasten="keine", owner_name="Hiltrud Sauerampfer", contact="Herr Bertram Zwiebelmuster",
         phone="0355 612-4711"),
    dict(id="GE-SAC", name="Gewerbegebiet Sachsendorf", district="Sachsendorf",
         gemarkung="Sachsendorf",
         outline=[(451550, 5731550), (452650, 5731550), (452650, 5732350), (451550, 5732350)],
         snap=True, net=0.80, gi=0.0, free=0.92, owners=(0.15, 0.80, 0.05),
         road="ja", media="Strom, Trinkwasser, Abwasser", rail="nein",
         broadband="VDSL 50 Mbit/s", funding="GRW-Gebiet", price=18.0, brw=15.0,
         altlasten="keine bekannt",
         owner_name="Erbengemeinschaft Gottlieb Kleinschmidt", contact="Frau Isolde Wendehals",
         phone="0355 612-4712"),
    dict(id="GP-SUED", name="Gewerbepark Cottbus-Süd", district="Madlow", gemarkung="Madlow",
         outline=[(453950, 5731550), (454750, 5731550), (454750, 5732350), (453950, 5732350)],
         snap=True, net=0.85, gi=0.2, free=0.41, owners=(0.55, 0.40, 0.05),
         road="ja", media="voll erschlossen", rail="nein", broadband="Glasfaser 1 Gbit/s",
         funding="GRW-Gebiet", price=45.0, brw=40.0, altlasten="keine",
         owner_name="Waltraud Pfefferkorn", contact="Herr Bertram Zwiebelmuster",
         phone="0355 612-4711"),
    dict(id="BHF-N", name="Bahnhof-Nordseite (ehem. Güterbahnhof)", district="Mitte",
         gemarkung="Cottbus",
         outline=[(453120, 5733640), (453760, 5733700), (453740, 5733830), (453100, 5733770)],
         snap=False, net=0.78, gi=0.0, free=1.0, owners=(0.12, 0.0, 0.88),
         road="ja", media="Strom, Trinkwasser, Abwasser, Fernwärme", rail="ja",
         broadband="Glasfaser (FTTH)", funding="Städtebauförderung; GRW-Gebiet",
         price=95.0, brw=110.0, altlasten="Altlast bekannt (Bahnbetrieb), Sanierung offen",
         owner_name="", contact="Frau Isolde Wendehals", phone="0355 612-4712"),
    dict(id="GE-DIS", name="Gewerbegebiet Dissenchen", district="Dissenchen",
         gemarkung="Dissenchen",
         outline=[(458620, 5734180), (459340, 5734230), (459300, 5734860), (458580, 5734800)],
         snap=False, net=0.88, gi=0.5, free=0.64, owners=(0.30, 0.65, 0.05),
         road="ja", media="Strom, Trinkwasser", rail="nein", broadband="keine",
         funding="GRW-Gebiet", price=15.0, brw=12.0, altlasten="keine",
         parcels=("3", "41, 42/1, 42/2, 44, 47"), owner_name="Lieselotte Brennessel",
         contact="Herr Bertram Zwiebelmuster", phone="0355 612-4711"),
]


def _parcels() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    meta, _, wkb, cols = pyogrio.raw.read(PARCELS)
    fields = list(meta["fields"])
    return shapely.from_wkb(wkb), {f: cols[fields.index(f)] for f in fields}


def _site_polygon(site: dict, geoms: np.ndarray, attrs: dict[str, np.ndarray]
                  ) -> tuple[shapely.Geometry, np.ndarray]:
    """The site polygon and the indices of the parcels it was made of (empty if drawn)."""
    outline = shapely.Polygon(site["outline"])
    if not site["snap"]:
        return outline, np.flatnonzero(shapely.area(shapely.intersection(geoms, outline)) > 50)
    uses = np.array([t.split(";")[0] for t in attrs["tntxt"]])
    inside = shapely.area(shapely.intersection(geoms, outline)) > 0.5 * shapely.area(geoms)
    chosen = np.flatnonzero(inside & np.isin(uses, list(SITE_USES)))
    merged = shapely.union_all(geoms[chosen], grid_size=0.01)
    largest = max(shapely.get_parts(merged), key=lambda p: p.area)
    # Digitised again for the plan: a little off the cadastral boundary.
    polygon = shapely.set_precision(shapely.simplify(largest, 0.5), 0.01)
    polygon = shapely.Polygon(polygon.exterior)  # a plan boundary has no holes
    kept = chosen[shapely.area(shapely.intersection(geoms[chosen], polygon)) > 50]
    return polygon, kept


def _parcel_list(kept: np.ndarray, attrs: dict[str, np.ndarray]) -> tuple[str, str]:
    """Flur and Flurstück(e) as a site sheet writes them: the main Flur, a few numbers."""
    if len(kept) == 0:
        return "", ""
    fluren = Counter(int(attrs["flur"][i]) for i in kept)
    flur = ", ".join(str(f) for f, _ in sorted(fluren.items()))
    numbers = sorted((int(attrs["flstnrzae"][i]), attrs["flstnrnen"][i] or "") for i in kept)
    text = [f"{z}/{n}" if n else str(z) for z, n in numbers[:6]]
    return flur, ", ".join(text) + (" u. a." if len(numbers) > 6 else "")


def _rows() -> tuple[list[dict], list[shapely.Geometry]]:
    geoms, attrs = _parcels()
    rows, polygons = [], []
    for site in SITES:
        polygon, kept = _site_polygon(site, geoms, attrs)
        gross = round(polygon.area / 10_000, 1)
        net = round(gross * site["net"], 1)
        gi = round(net * site["gi"], 1)
        ge = round(net - gi, 1)
        free = round(net * site["free"], 1)
        city, private = (round(gross * s, 1) for s in site["owners"][:2])
        other = round(gross - city - private, 1)
        flur, flurstuecke = site.get("parcels") or _parcel_list(kept, attrs)
        rows.append({
            "Flächen-Nr": site["id"], "Name": site["name"], "Ortsteil": site["district"],
            "Gemarkung": site["gemarkung"], "Flur": flur, "Flurstück(e)": flurstuecke,
            "Bruttofläche ha": gross, "Nettofläche ha": net, "GI ha": gi, "GE ha": ge,
            "freie Reserve ha": free,
            "Auslastung %": round(100 * (net - free) / net) if net else 0.0,
            "Eigentum Stadt ha": city, "Eigentum privat ha": private,
            "Eigentum sonstige ha": other, "Eigentümer (privat)": site["owner_name"],
            "Straßenerschließung": site["road"], "Medien": site["media"],
            "Gleisanschluss": site["rail"], "Breitband": site["broadband"],
            "Förderung": site["funding"], "Kaufpreis EUR/m²": site["price"],
            "Bodenrichtwert EUR/m²": site["brw"], "Altlasten": site["altlasten"],
            "Ansprechpartner": site["contact"], "Telefon": site["phone"],
            "Stand": "2024-03-31",
        })
        polygons.append(polygon)
    return rows, polygons


def _deterministic_zip(path: Path) -> None:
    """Rewrite a zip container (XLSX) with fixed member times, so that reruns are identical."""
    with zipfile.ZipFile(path) as src:
        members = [(info.filename, src.read(info)) for info in src.infolist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in members:
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, data)
    path.write_bytes(buffer.getvalue())


def write_sheet(rows: list[dict], path: Path) -> Path:
    names = list(rows[0])
    columns = []
    for name in names:
        values = [r[name] for r in rows]
        kind = float if all(isinstance(v, float | int) for v in values) else object
        columns.append(np.array(values, dtype=kind))
    path.unlink(missing_ok=True)
    pyogrio.raw.write(path, None, columns, names, driver="XLSX", layer="Gewerbeflächen")
    _deterministic_zip(path)
    return path


def write_polygons(rows: list[dict], polygons: list, path: Path) -> Path:
    path.unlink(missing_ok=True)
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": OGR_CURRENT_DATE})
    pyogrio.raw.write(
        path, shapely.to_wkb(np.array(polygons, dtype=object)),
        [np.array([r["Flächen-Nr"] for r in rows], dtype=object),
         np.array([r["Name"] for r in rows], dtype=object)],
        ["Flächen-Nr", "Bezeichnung"], driver="GPKG", layer=LAYER, geometry_name="geom",
        geometry_type="Polygon", crs=CRS, dataset_options={"VERSION": "1.2"})
    return path


def write(out_dir: Path = SAMPLES_DIR) -> None:
    """Write the site sheet and the site polygons and say what they hold."""
    folder = out_dir / OUT
    folder.mkdir(parents=True, exist_ok=True)
    rows, polygons = _rows()
    sheet = write_sheet(rows, folder / SHEET)
    shapes = write_polygons(rows, polygons, folder / POLYGONS)
    print(f"wrote {sheet.relative_to(out_dir)} and {shapes.relative_to(out_dir)}: "
          f"{len(rows)} sites, "
          + ", ".join(f"{r['Flächen-Nr']} {r['Bruttofläche ha']} ha" for r in rows))


if __name__ == "__main__":
    write()
