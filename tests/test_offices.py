"""What offices take away: the ranking as GeoJSON and CSV, CSV for German spreadsheets,
titles instead of field names, links to the formulas, a configured contact.

Expected values come from PostGIS (the stored scores, breakdowns and outlines) and from the
documentation pages themselves, never from the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import psycopg
import pytest
import requests

from tests.conftest import Server
from twin.registry import COLLECTIONS, COMMERCIAL_LAND
from twin.settings import DEFAULT_CONTACT_EMAIL, PROJECT_ROOT

# Reads the samples only: the session's shared database and server (tests/conftest.py).
pytestmark = pytest.mark.samples_read_only

EXECUTION = "/processes/assess-commercial-land/execution"
ITEMS = "/collections/commercial-land/items"
BOM = "\ufeff"
CRITERIA_DE = {"free_area": "Freie Fläche", "a15_distance": "Entfernung A15",
               "rail_siding": "Gleisanschluss", "contamination": "Altlasten"}


def execute(server: Server, body: dict, query: str = "", **headers: str) -> requests.Response:
    return requests.post(f"{server.url}{EXECUTION}{query}", json=body, headers=headers,
                         timeout=60)


def stored(pg: psycopg.Connection) -> list[tuple[str, float, dict, bool | None, int | None]]:
    """Sites best first (ranked by score, then id; knocked-out sites, without a rank, last)
    with their stored breakdown, rail siding and rank."""
    return [(k, s, json.loads(b), rail, rank) for k, s, b, rail, rank in pg.execute(
        "SELECT site_id, score, score_breakdown, rail_siding, rank FROM twin.commercial_land "
        "ORDER BY rank IS NULL, score DESC, site_id")]


def german_number(value: float) -> str:
    """A number as the German dialect must write it: decimal comma, no rounding."""
    return repr(float(value)).replace(".", ",")


def read_csv(response: requests.Response, *, german: bool) -> list[dict[str, str]]:
    text = response.content.decode("utf-8")
    assert text.startswith(BOM) == german
    return list(csv.DictReader(io.StringIO(text.removeprefix(BOM), newline=""),
                               delimiter=";" if german else ","))


# -- the process: GeoJSON and CSV ------------------------------------------------------------
def test_description_lists_the_three_formats(server: Server) -> None:
    doc = server.get("/processes/assess-commercial-land").json()
    media = [s["contentMediaType"] for s in doc["outputs"]["ranking"]["schema"]["oneOf"]]
    assert media == ["application/json", "application/geo+json", "text/csv"]


def test_ranking_as_csv_by_outputs(server: Server, pg: psycopg.Connection) -> None:
    r = execute(server, {"inputs": {}, "outputs": {"ranking": {"format": {
        "mediaType": "text/csv"}}}})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv"), r.text
    rows = read_csv(r, german=False)
    expected = stored(pg)
    assert [(int(row["rank"]) if row["rank"] else None, row["site_id"], float(row["score"]))
            for row in rows] == [(rank, k, s) for k, s, _, _, rank in expected]
    for row, (_, score, breakdown, _, _) in zip(rows, expected, strict=True):
        for c, part in breakdown.items():  # the breakdown in columns, as stored
            assert float(row[f"{c}_contribution"]) == part["contribution"]
            assert float(row[f"{c}_weight"]) == part["weight"]
        assert sum(float(row[f"{c}_contribution"]) for c in breakdown) == pytest.approx(
            score, abs=0.01)
        assert not any(cell.startswith("{") for cell in row.values())  # no JSON cell


def test_ranking_as_german_csv_for_lang_de(server: Server, pg: psycopg.Connection) -> None:
    r = execute(server, {"inputs": {"limit": 3}}, "?f=csv&lang=de")
    assert r.status_code == 200, r.text
    rows = read_csv(r, german=True)
    expected = stored(pg)[:3]
    assert [row["Rang"] for row in rows] == ["1", "2", "3"]
    assert [row["Flächenkennung"] for row in rows] == [k for k, *_ in expected]
    for row, (_, score, breakdown, rail, _) in zip(rows, expected, strict=True):
        assert row["Potenzialwert (0–100)"] == german_number(score)
        assert row["Gleisanschluss: Rohwert"] == {True: "ja", False: "nein", None: ""}[rail]
        for c, title in CRITERIA_DE.items():
            assert row[f"{title}: Beitrag (Punkte)"] == german_number(
                breakdown[c]["contribution"])
    # The parameter overrides the language, either way.
    plain = execute(server, {"inputs": {"limit": 3}}, "?lang=de&csv-dialect=rfc4180",
                    Accept="text/csv")
    assert [row["site_id"] for row in read_csv(plain, german=False)] == [
        k for k, *_ in expected]
    german = execute(server, {"inputs": {"limit": 1}}, "?f=csv&csv-dialect=de")
    assert read_csv(german, german=True)[0]["Rang"] == "1"


def test_ranking_as_geojson_with_the_outlines(server: Server, pg: psycopg.Connection) -> None:
    r = execute(server, {"inputs": {"weights": {"rail_siding": 0}}}, "",
                Accept="application/geo+json")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(
        "application/geo+json"), r.text
    doc = r.json()
    assert doc["type"] == "FeatureCollection"
    assert len(doc["features"]) == pg.execute(
        "SELECT count(*) FROM twin.commercial_land").fetchone()[0]
    ranks = [f["properties"]["rank"] for f in doc["features"]]
    ranked = [r for r in ranks if r is not None]
    # Ranked sites 1..n first; knocked-out sites, without a rank, last.
    assert ranks == ranked + [None] * (len(ranks) - len(ranked))
    assert ranked == list(range(1, len(ranked) + 1))
    for f in doc["features"]:
        # Within a centimetre of the stored outline, carried to CRS84 by PostGIS.
        off = pg.execute(
            "SELECT ST_HausdorffDistance(ST_Transform(geom, 4326), ST_GeomFromGeoJSON(%s)) "
            "FROM twin.commercial_land WHERE site_id = %s",
            (json.dumps(f["geometry"]), f["id"])).fetchone()[0]
        assert off < 1e-6, f["id"]
        assert f["properties"]["breakdown"]["rail_siding"]["weight"] == 0
    by_outputs = execute(server, {"inputs": {}, "outputs": {"ranking": {"format": {
        "mediaType": "application/geo+json"}}}}, "?f=csv")  # outputs win over f=
    assert by_outputs.json()["type"] == "FeatureCollection"


def test_a_document_response_qualifies_csv(server: Server, pg: psycopg.Connection) -> None:
    r = execute(server, {"inputs": {}, "response": "document", "outputs": {"ranking": {
        "format": {"mediaType": "text/csv"}}}})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    value = r.json()["ranking"]
    assert value["mediaType"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(value["value"], newline="")))
    assert [row["site_id"] for row in rows] == [k for k, *_ in stored(pg)]


@pytest.mark.parametrize(("body", "query", "words"), [
    ({"inputs": {}, "outputs": {"ranking": {"format": {"mediaType": "application/pdf"}}}}, "",
     ["application/pdf", "text/csv", "application/geo+json"]),
    ({"inputs": {}, "outputs": {"table": {}}}, "", ["unknown output 'table'", "ranking"]),
    ({"inputs": {}}, "?f=xlsx", ["'f'", "csv", "geojson"]),
    ({"inputs": {}}, "?f=csv&csv-dialect=excel", ["csv-dialect", "rfc4180", "de"]),
])
def test_formats_not_offered_answer_400(server: Server, body: dict, query: str,
                                        words: list[str]) -> None:
    r = execute(server, body, query)
    assert r.status_code == 400, r.text
    for word in words:
        assert word in r.json()["description"], (word, r.text)


# -- items CSV for German spreadsheets -------------------------------------------------------
def test_items_csv_for_german_spreadsheets(server: Server, pg: psycopg.Connection) -> None:
    r = server.get(ITEMS, params={"f": "csv", "lang": "de", "limit": 100,
                                  "sortby": "site_id"})
    assert r.status_code == 200, r.text
    rows = read_csv(r, german=True)
    titles = {f.name: f.title_de for f in COMMERCIAL_LAND.all_fields}
    assert titles["site_id"] in rows[0] and "score_breakdown" not in rows[0]
    assert titles["score_breakdown"] not in rows[0]  # spread over columns instead
    db = {k: (area, rail, json.loads(b)) for k, area, rail, b in pg.execute(
        "SELECT site_id, free_area_ha, rail_siding, score_breakdown FROM twin.commercial_land")}
    assert len(rows) == len(db)
    for row in rows:
        area, rail, breakdown = db[row[titles["site_id"]]]
        assert row[titles["free_area_ha"]] == ("" if area is None else german_number(area))
        assert row[titles["rail_siding"]] == {True: "ja", False: "nein", None: ""}[rail]
        assert row["Entfernung A15: Beitrag (Punkte)"] == german_number(
            breakdown["a15_distance"]["contribution"])
        assert row["wkt"].startswith(("POLYGON", "MULTIPOLYGON"))
    # A negative number stays a number in the German dialect; a formula is still escaped.
    from twin.pygeoapi.wsgi import escape_csv_formulas
    escaped = escape_csv_formulas(f"{BOM}a;b;c\r\n-3,5;=1+2;x\r\n".encode()).decode()
    assert escaped == f"{BOM}a;b;c\r\n-3,5;'=1+2;x\r\n"


def test_items_csv_without_lang_stays_rfc4180(server: Server, pg: psycopg.Connection) -> None:
    r = server.get(ITEMS, params={"f": "csv", "limit": 100})
    rows = read_csv(r, german=False)
    assert "site_id" in rows[0] and "score_breakdown" in rows[0]
    stations = server.get("/collections/traffic-stations/items",
                          params={"f": "csv", "csv-dialect": "de", "limit": 1})
    assert stations.content.startswith(BOM.encode())
    assert server.get(ITEMS, params={"f": "csv", "csv-dialect": "excel"}).status_code == 400


# -- titles and definitions ------------------------------------------------------------------
def slug(heading: str) -> str:
    """The anchor a Markdown renderer (GitHub) gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("c", COLLECTIONS, ids=[c.id for c in COLLECTIONS])
def test_queryables_have_titles_and_formula_links(server: Server, c: Any) -> None:
    en = server.get(f"/collections/{c.id}/queryables", params={"f": "json", "lang": "en"})
    de = server.get(f"/collections/{c.id}/queryables", params={"f": "json"},
                    headers={"Accept-Language": "de"})
    en_props, de_props = en.json()["properties"], de.json()["properties"]
    for f in c.all_fields:
        if not f.queryable:
            continue
        assert en_props[f.name]["title"] == f.title_en
        assert de_props[f.name]["title"] == f.title_de
        link = en_props[f.name].get("x-ogc-definition")
        if not f.derived:
            assert link is None, f.name
            continue
        assert link and link.startswith(server.url + "/docs/"), f.name
        page = requests.get(link.split("#")[0], timeout=30)
        assert page.status_code == 200, link
        # The page is the committed one; its anchor names one of its headings.
        path, _, anchor = link.removeprefix(server.url + "/").partition("#")
        assert page.content == (PROJECT_ROOT / path).read_bytes()
        if anchor:
            headings = [slug(h) for h in re.findall(r"^#+ (.+)$", page.text, re.M)]
            assert anchor in headings, (link, headings)


def test_html_pages_show_titles(server: Server, pg: psycopg.Connection) -> None:
    score = COMMERCIAL_LAND.field("score")
    page = server.get("/collections/commercial-land/queryables",
                      params={"f": "html", "lang": "de"}).text
    assert f"{score.title_de} (<code>score</code>" in page
    assert "/docs/sources/commercial-land.md#the-potential-score" in page
    items = server.get(ITEMS, params={"f": "html", "lang": "en"}).text
    assert f'<th title="score">{score.title_en}</th>' in items
    key = pg.execute("SELECT site_id FROM twin.commercial_land LIMIT 1").fetchone()[0]
    item = server.get(f"{ITEMS}/{key}", params={"f": "html", "lang": "de"}).text
    assert f'<td title="score">{score.title_de}</td>' in item
    assert server.get("/docs/sources/nothing.md").status_code == 404
    assert server.get("/docs/%2e%2e/README.md").status_code == 404


def test_contact_is_configured(server: Server) -> None:
    page = server.get("/", params={"f": "html"}).text
    assert f'href="mailto:{DEFAULT_CONTACT_EMAIL}"' in page
    assert 'href="mailto:"' not in page
    assert re.fullmatch(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", DEFAULT_CONTACT_EMAIL)


# -- the README: how to open the notebooks, a glossary ---------------------------------------
def test_readme_explains_terms_and_lists_every_notebook() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    glossary = readme.split("\n## Glossary\n", 1)[1].split("\n## ", 1)[0]
    for term in ("DTV", "ZEB", "BLDAM", "GI/GE", "Gemarkung/Flur", "Bodenrichtwert"):
        assert f"- **{term}**" in glossary, term
    notebooks = readme.split("\n## Notebooks\n", 1)[1].split("\n## ", 1)[0]
    for path in (PROJECT_ROOT / "notebooks").glob("*.ipynb"):
        assert f"`{path.name}`" in notebooks, path.name
    assert "jupyter lab notebooks/" in notebooks and "TWIN_API=" in notebooks
