"""Field crews write street damage through OGC API Features Part 4 (twin/transactions.py).

Against the real server and PostGIS: OWSLib's Part 4 calls with a key (create, replace,
delete) and without one; keys made by `twin keys add` as an operator makes them; If-Match,
Content-Crs, replace against merge, validation, the audit table, the other collections' 405,
redaction of written text, and that loads leave crew records alone. Expected coordinates come
from pyproj, expected rows from PostGIS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import psycopg
import pytest
import requests
from owslib.ogcapi.features import Features
from owslib.util import Authentication
from pygeoapi.openapi import validate_openapi_document
from pyproj import Transformer

from tests.conftest import Server
from tests.helpers import run_twin
from twin.settings import PROJECT_ROOT, Settings

ITEMS = "/collections/street-damage/items"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
#: Near the Altmarkt, Cottbus, in lon/lat.
LON, LAT = 14.3345, 51.7589
SAMPLES = PROJECT_ROOT / "data" / "samples" / "street-damage"


# -- keys and clients -------------------------------------------------------------------------
def add_key(settings: Settings, name: str, *args: str) -> str:
    result = run_twin(settings, "keys", "add", name, *args)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert re.fullmatch(r"twin_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", token), result.stdout
    return token


@pytest.fixture(scope="module")
def keys(server: Server, loaded_settings: Settings) -> dict[str, str]:
    """Keys as an operator creates them, after the server started (it sees new keys)."""
    return {
        "crew": add_key(loaded_settings, "crew-nord", "--scope", "street-damage:write"),
        "qgis": add_key(loaded_settings, "qgis-desk", "--scope", "street-damage:write",
                        "--no-if-match"),
        "other": add_key(loaded_settings, "heritage-team", "--scope", "heritage:write"),
    }


class KeyAuth(requests.auth.AuthBase):
    """The API key as a header, for OWSLib's ``Authentication(auth_delegate=...)``."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["X-API-Key"] = self.token
        return request


@contextmanager
def if_match(api: Features, etag: str) -> Iterator[None]:
    """OWSLib sends ``api.headers`` with every request: If-Match for one call."""
    api.headers["If-Match"] = etag
    try:
        yield
    finally:
        api.headers.pop("If-Match", None)


def feature(props: dict, coords: list[float] | None = None, **extra) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": coords or [LON, LAT]},
            "properties": props, **extra}


def write(server: Server, method: str, path: str, token: str | None, body=None,
          headers: dict | None = None) -> requests.Response:
    h = {"Content-Type": "application/geo+json", **(headers or {})}
    if token:
        h["X-API-Key"] = token
    data = body if isinstance(body, bytes | str) or body is None else json.dumps(body)
    return requests.request(method, server.url + path, data=data, headers=h, timeout=60)


def create(server: Server, token: str, props: dict, **kw) -> tuple[str, str]:
    r = write(server, "POST", ITEMS, token, feature(props, **kw))
    assert r.status_code == 201, r.text
    return r.headers["Location"].rsplit("/", 1)[1], r.headers["ETag"]


def row(pg: psycopg.Connection, fid: str) -> dict | None:
    with pg.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("SELECT *, ST_X(geom) AS x, ST_Y(geom) AS y, ST_SRID(geom) AS srid "
                           "FROM twin.street_damage WHERE damage_id = %s", [fid]).fetchone()


def audit(pg: psycopg.Connection, fid: str) -> list[dict]:
    with pg.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("SELECT * FROM twin.write_audit WHERE item_id = %s ORDER BY id",
                           [fid]).fetchall()


# -- OWSLib, Part 4 -----------------------------------------------------------------------------
def test_owslib_creates_replaces_updates_and_deletes_with_a_key(
        server: Server, pg: psycopg.Connection, keys: dict[str, str]) -> None:
    api = Features(server.url, auth=Authentication(auth_delegate=KeyAuth(keys["crew"])))
    assert api.collection_item_create("street-damage", feature(
        {"category": "Schlagloch", "status": "offen", "street": "Berliner Straße 12",
         "condition_class": 4.2, "description": "Tiefes Schlagloch vor der Einfahrt"}))
    location = api.response_headers["Location"]
    assert location.startswith(f"{server.url}{ITEMS}/field-")
    fid = location.rsplit("/", 1)[1]
    created = row(pg, fid)
    assert created["source"] == "field" and created["status"] == "open"
    assert created["street"] == "Berliner Straße"  # house number dropped, as loads do
    assert created["condition_rating"] == "warning"
    assert created["reported_at"] is not None and created["repair_priority"] > 0

    etag = server.get(f"{ITEMS}/{fid}").headers["ETag"]
    with if_match(api, etag):  # OWSLib's "update" is PUT: a replace
        assert api.collection_item_update("street-damage", fid, feature(
            {"status": "erledigt", "category": "Schlagloch"}))
    replaced = row(pg, fid)
    assert replaced["status"] == "closed" and replaced["repair_priority"] == 0.0
    assert replaced["condition_class"] is None and replaced["street"] is None
    assert replaced["description"] is None and replaced["condition_rating"] is None

    got = api.collection_item("street-damage", fid)
    assert got["properties"]["status"] == "closed"
    etag = server.get(f"{ITEMS}/{fid}").headers["ETag"]
    # The update (PATCH) class: OWSLib has no call for it; a crew's tablet sends it directly.
    r = write(server, "PATCH", f"{ITEMS}/{fid}", keys["crew"],
              {"properties": {"condition_class": 2.0}},
              {"Content-Type": "application/merge-patch+json", "If-Match": etag})
    assert r.status_code == 200, r.text
    assert row(pg, fid)["condition_class"] == 2.0 and row(pg, fid)["status"] == "closed"

    with if_match(api, r.headers["ETag"]):
        assert api.collection_item_delete("street-damage", fid)
    assert row(pg, fid) is None
    assert server.get(f"{ITEMS}/{fid}").status_code == 404
    assert [a["method"] for a in audit(pg, fid)] == ["POST", "PUT", "PATCH", "DELETE"]


def test_owslib_without_a_key_or_with_another_scope_is_refused(
        server: Server, pg: psycopg.Connection, keys: dict[str, str]) -> None:
    before = pg.execute("SELECT count(*) FROM twin.street_damage").fetchone()[0]
    anonymous = Features(server.url)
    with pytest.raises(RuntimeError, match="Unauthorized"):
        anonymous.collection_item_create("street-damage", feature({"status": "open"}))
    wrong = Features(server.url, auth=Authentication(auth_delegate=KeyAuth(keys["other"])))
    with pytest.raises(RuntimeError, match="Forbidden"):
        wrong.collection_item_create("street-damage", feature({"status": "open"}))
    assert pg.execute("SELECT count(*) FROM twin.street_damage").fetchone()[0] == before

    r = write(server, "POST", ITEMS, None, feature({}))
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    r = write(server, "POST", ITEMS, keys["crew"] + "x", feature({}))
    assert r.status_code == 401 and "invalid_token" in r.headers["WWW-Authenticate"]
    r = write(server, "POST", ITEMS, keys["other"], feature({}))
    assert r.status_code == 403 and "insufficient_scope" in r.headers["WWW-Authenticate"]
    fid = pg.execute("SELECT damage_id FROM twin.street_damage LIMIT 1").fetchone()[0]
    for method in ("PUT", "PATCH", "DELETE"):
        assert write(server, method, f"{ITEMS}/{fid}", None, feature({})).status_code == 401
    assert pg.execute("SELECT count(*) FROM twin.street_damage").fetchone()[0] == before


def test_a_bearer_token_works_like_the_header_and_revoked_keys_stop(
        server: Server, loaded_settings: Settings, pg: psycopg.Connection) -> None:
    token = add_key(loaded_settings, "tablet-3", "--scope", "street-damage:write")
    r = requests.post(server.url + ITEMS, data=json.dumps(feature({"category": "Riss"})),
                      headers={"Authorization": f"Bearer {token}",
                               "Content-Type": "application/geo+json"}, timeout=60)
    assert r.status_code == 201, r.text
    listed = run_twin(loaded_settings, "keys", "list")
    assert "tablet-3" in listed.stdout and token not in listed.stdout + listed.stderr
    assert run_twin(loaded_settings, "keys", "revoke", "tablet-3").returncode == 0
    r = write(server, "POST", ITEMS, token, feature({"category": "Riss"}))
    assert r.status_code == 401


def test_keys_cli_refuses_what_it_cannot_do(loaded_settings: Settings,
                                            keys: dict[str, str]) -> None:
    duplicate = run_twin(loaded_settings, "keys", "add", "crew-nord", "--scope",
                         "street-damage:write")
    assert duplicate.returncode != 0 and "exists" in duplicate.stderr
    assert duplicate.stdout.strip() == ""
    bad_scope = run_twin(loaded_settings, "keys", "add", "x", "--scope", "everything")
    assert bad_scope.returncode != 0 and "scope" in bad_scope.stderr
    assert run_twin(loaded_settings, "keys", "revoke", "nobody").returncode != 0


def test_keys_are_stored_only_as_salted_hashes(loaded_settings: Settings,
                                               keys: dict[str, str]) -> None:
    text = loaded_settings.keys_path.read_text()
    for token in keys.values():
        assert token not in text and token.split("_", 2)[2] not in text
    hashes = re.findall(r"hash: (scrypt\$\S+)", text)
    assert len(hashes) >= 3 and len({h.split("$")[4] for h in hashes}) == len(hashes)
    assert loaded_settings.keys_path.stat().st_mode & 0o077 == 0


# -- optimistic locking --------------------------------------------------------------------------
def test_if_match_is_required_and_a_stale_etag_is_refused(
        server: Server, pg: psycopg.Connection, keys: dict[str, str]) -> None:
    fid, etag = create(server, keys["crew"], {"category": "Netzriss"})
    assert server.get(f"{ITEMS}/{fid}").headers["ETag"] == etag
    assert requests.head(f"{server.url}{ITEMS}/{fid}", timeout=60).headers["ETag"] == etag
    patch = {"properties": {"status": "in Bearbeitung"}}
    ctype = {"Content-Type": "application/merge-patch+json"}
    r = write(server, "PATCH", f"{ITEMS}/{fid}", keys["crew"], patch, ctype)
    assert r.status_code == 428, r.text
    r = write(server, "PATCH", f"{ITEMS}/{fid}", keys["crew"], patch,
              {**ctype, "If-Match": etag})
    assert r.status_code == 200, r.text
    new = r.headers["ETag"]
    assert new != etag and server.get(f"{ITEMS}/{fid}").headers["ETag"] == new
    for method, body in (("PATCH", patch), ("PUT", feature({})), ("DELETE", None)):
        r = write(server, method, f"{ITEMS}/{fid}", keys["crew"], body,
                  {"If-Match": etag})  # the first, stale version
        assert r.status_code == 412, (method, r.text)
    r = write(server, "PATCH", f"{ITEMS}/{fid}", keys["crew"], patch,
              {**ctype, "If-Match": f"W/{new}"})
    assert r.status_code == 412  # a weak tag never matches strongly
    assert row(pg, fid)["status"] == "in_progress"
    assert len(audit(pg, fid)) == 2


def test_of_two_simultaneous_writes_with_one_etag_only_one_wins(
        server: Server, pg: psycopg.Connection, keys: dict[str, str]) -> None:
    fid, etag = create(server, keys["crew"], {"category": "Spurrinne"})

    def close(status: str) -> int:
        return write(server, "PATCH", f"{ITEMS}/{fid}", keys["crew"],
                     {"properties": {"status": status}}, {"If-Match": etag}).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        codes = sorted(pool.map(close, ["closed", "in_progress"]))
    assert codes == [200, 412]
    assert len(audit(pg, fid)) == 2  # the create and the one accepted update


def test_a_key_for_qgis_may_omit_if_match_but_not_send_a_stale_one(
        server: Server, pg: psycopg.Connection, keys: dict[str, str]) -> None:
    fid, etag = create(server, keys["qgis"], {"category": "Aufbruch"})
    r = write(server, "PATCH", f"{ITEMS}/{fid}", keys["qgis"],
              {"properties": {"status": "closed"}})
    assert r.status_code == 200, r.text
    r = write(server, "PATCH", f"{ITEMS}/{fid}", keys["qgis"],
              {"properties": {"status": "open"}}, {"If-Match": etag})
    assert r.status_code == 412
    assert row(pg, fid)["status"] == "closed"


# -- CRS -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("crs", "coords", "source_crs"), [
    (None, [LON, LAT], "OGC:CRS84"),
    (f"<{CRS84}>", [LON, LAT], "OGC:CRS84"),
    (f"<{EPSG.format(4326)}>", [LAT, LON], "EPSG:4326"),  # Part 2: latitude first
    (EPSG.format(25833), [453758.25, 5734557.5], "EPSG:25833"),
])
def test_positions_are_reprojected_from_content_crs(
        server: Server, pg: psycopg.Connection, keys: dict[str, str], crs: str | None,
        coords: list[float], source_crs: str) -> None:
    headers = {"Content-Crs": crs} if crs else {}
    r = write(server, "POST", ITEMS, keys["crew"], feature({"category": "Riss"}, coords),
              headers)
    assert r.status_code == 201, r.text
    stored = row(pg, r.headers["Location"].rsplit("/", 1)[1])
    x, y = Transformer.from_crs(source_crs, "EPSG:25833").transform(*coords)
    assert stored["srid"] == 25833
    assert stored["x"] == pytest.approx(x, abs=0.01) and stored["y"] == pytest.approx(y, abs=0.01)


@pytest.mark.parametrize(("crs", "coords"), [
    (None, [LAT, LON]),  # lat/lon sent as CRS84: somewhere in the Indian Ocean
    (f"<{EPSG.format(4326)}>", [LON, LAT]),  # lon/lat sent as EPSG:4326
    (EPSG.format(25833), [LON, LAT]),
    (None, [13.74, 51.05]),  # Dresden: south of Brandenburg
    (None, [95.0, 200.0]),
])
def test_positions_outside_brandenburg_are_refused(server: Server, keys: dict[str, str],
                                                   crs: str | None, coords: list[float]) -> None:
    headers = {"Content-Crs": crs} if crs else {}
    r = write(server, "POST", ITEMS, keys["crew"], feature({}, coords), headers)
    assert r.status_code == 400, r.text


def test_an_unknown_content_crs_is_refused(server: Server, keys: dict[str, str]) -> None:
    r = write(server, "POST", ITEMS, keys["crew"], feature({}),
              {"Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/31468>"})
    assert r.status_code == 400 and "Content-Crs" in r.json()["description"]


# -- what a write means --------------------------------------------------------------------------
def test_put_takes_the_id_from_the_url(server: Server, pg: psycopg.Connection,
                                       keys: dict[str, str]) -> None:
    fid, _ = create(server, keys["qgis"], {"category": "Riss"})
    other = pg.execute("SELECT damage_id FROM twin.street_damage WHERE source = 'register' "
                       "ORDER BY damage_id LIMIT 1").fetchone()[0]
    untouched = row(pg, other)
    r = write(server, "PUT", f"{ITEMS}/{fid}", keys["qgis"],
              feature({"damage_id": other, "category": "Kantenschaden"}, id=other))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == fid and row(pg, fid)["category"] == "Kantenschaden"
    assert row(pg, other) == untouched
    r = write(server, "PUT", f"{ITEMS}/field-does-not-exist", keys["qgis"], feature({}))
    assert r.status_code == 404


def test_replace_replaces_and_update_merges(server: Server, pg: psycopg.Connection,
                                            keys: dict[str, str]) -> None:
    props = {"category": "Schlagloch", "street": "Sandower Straße", "condition_class": 4.6,
             "description": "Rand bricht aus", "reported_at": "2026-05-04T09:30:00+02:00"}
    fid, _ = create(server, keys["qgis"], props)
    r = write(server, "PATCH", f"{ITEMS}/{fid}", keys["qgis"],
              {"properties": {"status": "closed", "description": None}},
              {"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    merged = row(pg, fid)
    assert merged["status"] == "closed" and merged["description"] is None
    assert merged["category"] == "Schlagloch" and merged["condition_class"] == 4.6
    assert merged["condition_rating"] == "threshold" and merged["repair_priority"] == 0.0
    assert merged["reported_at"].isoformat() == "2026-05-04T07:30:00+00:00"

    r = write(server, "PATCH", f"{ITEMS}/{fid}", keys["qgis"],
              feature({"status": "open"}, [LON + 0.001, LAT]))  # a Feature as geo+json
    assert r.status_code == 200, r.text
    moved = row(pg, fid)
    assert moved["x"] > merged["x"] and moved["category"] == "Schlagloch"
    assert moved["repair_priority"] > 0  # derived again in the same transaction

    r = write(server, "PUT", f"{ITEMS}/{fid}", keys["qgis"], feature({"category": "Riss"}))
    assert r.status_code == 200, r.text
    replaced = row(pg, fid)
    assert replaced["category"] == "Riss" and replaced["status"] == "open"
    for name in ("street", "condition_class", "condition_rating", "description",
                 "reported_at"):
        assert replaced[name] is None, name


def test_read_only_properties_are_ignored(server: Server, pg: psycopg.Connection,
                                          keys: dict[str, str]) -> None:
    fid, _ = create(server, keys["qgis"], {
        "condition_class": 1.0, "repair_priority": 99.0, "traffic_dtv": 50000,
        "condition_rating": "threshold", "source": "register", "damage_id": "register-X1",
        "service_code": "007", "updated_at": "1999-01-01T00:00:00Z"})
    stored = row(pg, fid)
    assert fid.startswith("field-") and stored["source"] == "field"
    assert stored["condition_rating"] == "below_warning" and stored["service_code"] is None
    assert stored["repair_priority"] != 99.0 and stored["traffic_dtv"] != 50000
    assert stored["updated_at"].year > 2000
    assert row(pg, "register-X1") is None


@pytest.mark.parametrize(("body", "words"), [
    (feature({"category": "Riss", "owner": "x", "Farbe": "rot"}), ["'Farbe'", "'owner'"]),
    ({"type": "Feature", "properties": {},
      "geometry": {"type": "LineString", "coordinates": [[LON, LAT], [LON, LAT + 0.001]]}},
     ["LineString", "Point"]),
    ({"type": "Feature", "properties": {}, "geometry": None}, ["geometry"]),
    (feature({}, [LON]), ["coordinates"]),
    (feature({"status": "kaputt"}), ["status"]),
    (feature({"condition_class": 5.5}), ["condition_class", "1.0 to 5.0"]),
    (feature({"condition_class": "sehr schlecht"}), ["condition_class"]),
    (feature({"reported_at": "gestern"}), ["reported_at"]),
    (feature({"street": "bei Familie Schulze, Tel 0355 123456"}), ["street"]),
    (feature({"category": {"a": 1}}), ["category"]),
    # The fixed list loads publish; a crew's typo is answered with it, not hidden as "other".
    (feature({"category": "Frau Quappendorfs Loch"}), ["category", "Schlagloch", "other"]),
    ({"type": "FeatureCollection", "features": []}, ["Feature"]),
    ({"type": "Feature", "properties": {}}, ["geometry"]),
    ("[1, 2]", ["JSON object"]),
    ("{not json", ["JSON"]),
])
def test_invalid_bodies_are_refused_naming_the_problem(
        server: Server, pg: psycopg.Connection, keys: dict[str, str], body, words) -> None:
    before = pg.execute("SELECT count(*) FROM twin.street_damage").fetchone()[0]
    r = write(server, "POST", ITEMS, keys["crew"], body)
    assert r.status_code == 400, r.text
    for word in words:
        assert word in r.json()["description"], (word, r.text)
    assert pg.execute("SELECT count(*) FROM twin.street_damage").fetchone()[0] == before


def test_limits_of_size_and_media_type(server: Server, keys: dict[str, str]) -> None:
    big = feature({"description": "x" * 70_000})
    assert write(server, "POST", ITEMS, keys["crew"], big).status_code == 413
    chunks = (json.dumps(big)[i:i + 8192].encode() for i in range(0, 80_000, 8192))
    r = requests.post(server.url + ITEMS, data=chunks, timeout=60,  # chunked: no length
                      headers={"X-API-Key": keys["crew"], "Content-Type": "application/geo+json"})
    assert r.status_code == 413, r.text
    small = (c.encode() for c in (json.dumps(feature({"category": "Riss"})),))
    r = requests.post(server.url + ITEMS, data=small, timeout=60,
                      headers={"X-API-Key": keys["crew"], "Content-Type": "application/geo+json"})
    assert r.status_code == 201, r.text
    r = write(server, "POST", ITEMS, keys["crew"], "a=b",
              {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 405  # not a write at all: the read-only refusal
    fid, _ = create(server, keys["qgis"], {})
    r = write(server, "PUT", f"{ITEMS}/{fid}", keys["qgis"], "<Feature/>",
              {"Content-Type": "application/xml"})
    assert r.status_code == 415


def test_a_cql2_json_query_by_post_is_still_a_query(server: Server) -> None:
    query = {"op": "=", "args": [{"property": "status"}, "open"]}
    r = requests.post(server.url + ITEMS, json=query, timeout=60)
    assert r.status_code == 200, r.text
    assert all(f["properties"]["status"] == "open" for f in r.json()["features"])


def test_the_audit_records_who_when_before_and_after(
        server: Server, pg: psycopg.Connection, keys: dict[str, str]) -> None:
    fid, etag = create(server, keys["crew"], {"category": "Frostaufbruch"})
    r = write(server, "PATCH", f"{ITEMS}/{fid}", keys["crew"],
              {"properties": {"status": "closed"}}, {"If-Match": etag})
    assert r.status_code == 200, r.text
    r = write(server, "DELETE", f"{ITEMS}/{fid}", keys["crew"], None,
              {"If-Match": r.headers["ETag"]})
    assert r.status_code == 204 and r.content == b""
    rows = audit(pg, fid)
    assert [(a["who"], a["method"], a["collection"]) for a in rows] == [
        ("crew-nord", "POST", "street-damage"), ("crew-nord", "PATCH", "street-damage"),
        ("crew-nord", "DELETE", "street-damage")]
    # Stored as the fixed category loads publish for that spelling.
    assert rows[0]["before"] is None and rows[0]["after"]["category"] == "Aufbruch"
    assert rows[1]["before"]["status"] == "open" and rows[1]["after"]["status"] == "closed"
    assert rows[1]["after"]["geom"]["type"] == "Point"
    assert rows[2]["before"]["status"] == "closed" and rows[2]["after"] is None
    assert rows[0]["at"] <= rows[1]["at"] <= rows[2]["at"]
    # Not published: no collection or link names it.
    assert "write_audit" not in server.get("/collections?f=json").text
    assert server.get("/collections/write_audit/items").status_code == 404


def test_written_text_is_redacted(server: Server, pg: psycopg.Connection,
                                  keys: dict[str, str]) -> None:
    # An invented person: never a real one.
    text = ("Schlagloch vor Hausnr. 3, Rückruf an Frau Wendelgard Quastenberg, "
            "Tel. 0355 4711 85, wendelgard.q@example.de")
    fid, _ = create(server, keys["crew"], {"description": text})
    stored = row(pg, fid)["description"]
    outputs = [stored, server.get(f"{ITEMS}/{fid}?f=json").text,
               server.get(f"{ITEMS}/{fid}?f=html").text,
               json.dumps([a["after"] for a in audit(pg, fid)])]
    for out in outputs:
        for secret in ("Quastenberg", "4711", "wendelgard.q", "example.de"):
            assert secret not in out, (secret, out[:300])
    assert "Schlagloch" in stored


# -- the rest of the API -------------------------------------------------------------------------
@pytest.mark.parametrize("collection", ["parcels", "heritage", "traffic-stations",
                                        "commercial-land"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_every_other_collection_refuses_writes_even_with_a_key(
        server: Server, keys: dict[str, str], collection: str, method: str) -> None:
    path = f"/collections/{collection}/items" + ("" if method == "POST" else "/x")
    r = write(server, method, path, keys["crew"], feature({}))
    assert r.status_code == 405, r.text


def test_options_tell_qgis_what_it_may_do(server: Server, pg: psycopg.Connection) -> None:
    fid = pg.execute("SELECT damage_id FROM twin.street_damage LIMIT 1").fetchone()[0]
    items = requests.options(server.url + ITEMS, timeout=60)
    item = requests.options(f"{server.url}{ITEMS}/{fid}", timeout=60)
    assert {"GET", "POST"} <= set(items.headers["Allow"].split(", "))
    assert {"GET", "PUT", "PATCH", "DELETE"} <= set(item.headers["Allow"].split(", "))
    r = requests.post(f"{server.url}{ITEMS}/{fid}", json=feature({}), timeout=60)
    assert r.status_code == 405 and "PUT" in r.headers["Allow"]
    # Read-only collections offer nothing QGIS would take for editing.
    for path in ("/collections/heritage/items", "/collections/heritage/items/x"):
        allow = requests.options(server.url + path, timeout=60).headers.get("Allow", "")
        assert not {"POST", "PUT", "PATCH", "DELETE"} & set(allow.split(", ")), allow


def test_part4_is_claimed(server: Server) -> None:
    classes = server.get("/conformance?f=json").json()["conformsTo"]
    for c in ("create-replace-delete", "update", "features"):
        assert f"http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/{c}" in classes


def test_a_register_reload_keeps_crew_records(server: Server, loaded_settings: Settings,
                                               pg: psycopg.Connection,
                                               keys: dict[str, str]) -> None:
    fid, _ = create(server, keys["qgis"], {"category": "Schlagloch"})
    loaded = pg.execute("SELECT damage_id FROM twin.street_damage WHERE source = 'register' "
                        "AND status <> 'closed' ORDER BY damage_id LIMIT 1").fetchone()[0]
    r = write(server, "PATCH", f"{ITEMS}/{loaded}", keys["qgis"],
              {"properties": {"status": "closed"}})
    assert r.status_code == 200
    # Both kinds at once, replace mode: the whole truth of open311 and register, not of crews.
    result = run_twin(loaded_settings, "load", "street-damage",
                      str(SAMPLES / "open311_requests.json"),
                      str(SAMPLES / "schadenskataster.csv"))
    assert result.returncode == 0, result.stderr
    assert row(pg, fid) is not None and row(pg, fid)["source"] == "field"
    # As the README says: the register is the truth for its own records; the crew's edit
    # stays in the audit.
    assert row(pg, loaded)["status"] != "closed"
    assert audit(pg, loaded)[-1]["after"]["status"] == "closed"


def test_no_key_or_written_personal_data_reaches_the_server_log(
        server: Server, keys: dict[str, str]) -> None:
    text = server.log.read_text()
    assert "POST /collections/street-damage/items" in text  # the log is the access log
    for token in keys.values():
        assert token not in text and token.split("_", 2)[2] not in text
    for planted in ("Quastenberg", "wendelgard"):
        assert planted not in text


def test_openapi_describes_the_writes_of_street_damage_only(server: Server) -> None:
    doc = server.get("/openapi?f=json").json()
    assert validate_openapi_document(doc)  # against the OpenAPI 3.0 schema
    item = doc["paths"]["/collections/street-damage/items/{featureId}"]
    assert {"put", "patch", "delete"} <= set(item)
    assert item["patch"]["requestBody"]["content"]["application/merge-patch+json"]
    post = doc["paths"]["/collections/street-damage/items"]["post"]
    assert {"application/geo+json", "application/json"} <= set(post["requestBody"]["content"])
    assert "201" in post["responses"]
    assert doc["components"]["securitySchemes"]["apiKey"]["name"] == "X-API-Key"
    for path, ops in doc["paths"].items():
        if "/items/{featureId}" in path and "street-damage" not in path:
            assert not {"put", "patch", "delete"} & set(ops), path
