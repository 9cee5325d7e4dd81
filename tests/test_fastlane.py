"""The fast lane (twin/fastlane.py) answers as pygeoapi does, and leaves the rest to it.

Two real servers over one database: ours as served (fast lane on) and one with
``TWIN_FAST_LANE=false`` (every request through pygeoapi). Each query gets the same status,
the same JSON (but the time stamp and the server's own address) and the same headers from
both. That the lane itself answered the fast queries, and declined the others, is asked of
:meth:`twin.fastlane.FastLane.plan` in a process that loads the app as `twin serve` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import quote

import psycopg
import pytest

from tests.conftest import Server, twin_env
from twin.settings import PROJECT_ROOT, Settings

EPSG_25833 = "http://www.opengis.net/def/crs/EPSG/0/25833"
EPSG_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
BOX_25833 = "453400,5734000,454600,5735200"
BOX_CRS84 = "14.3247,51.7549,14.3422,51.7658"
PARCELS = "/collections/parcels/items"
CQL_SANDOW = "flaeche > 1000 AND gemarkung = 'Sandow'"
#: Queries the fast lane answers ({key}: a parcel key; {linked}: one with monuments).
FAST = [
    f"{PARCELS}?f=json",
    f"{PARCELS}?limit=2&offset=2",  # no f, no Accept: JSON, links without f
    f"{PARCELS}/{{key}}",
    f"{PARCELS}?f=json&limit=2&lang=en",
    f"{PARCELS}/{{key}}?lang=en-US",
    "/collections/heritage/items?f=json&limit=1&lang=fr",
    f"{PARCELS}?f=json&limit=7&bbox={BOX_CRS84}",
    f"{PARCELS}?f=json&limit=5&bbox={BOX_25833}&bbox-crs={quote(EPSG_25833)}"
    f"&crs={quote(EPSG_25833)}",
    f"{PARCELS}?f=json&limit=3&offset=4&bbox={BOX_25833}&bbox-crs={quote(EPSG_25833)}",
    f"{PARCELS}?f=json&limit=4&crs={quote(EPSG_4326)}",
    f"{PARCELS}?f=json&limit=5&filter={quote(CQL_SANDOW)}",
    f"{PARCELS}?f=json&limit=5&filter-lang=cql2-text&filter={quote('flur IN (1, 2)')}"
    "&sortby=-flaeche,flstkennz",
    f"{PARCELS}?f=json&limit=3&gemarkung=Sandow",
    f"{PARCELS}?f=json&limit=2&filter={quote('denkmalnummern IS NOT NULL')}",
    f"{PARCELS}?f=json&limit=10&offset=100000",
    f"{PARCELS}?f=json&bbox=14.34,51.75,14.32,51.76",  # across the antimeridian
    f"{PARCELS}?f=json&limit=100&offset={{last_page}}",  # a full last page: no next
    f"{PARCELS}?f=json&limit=1000",
    f"{PARCELS}/{{key}}?f=json",
    f"{PARCELS}/{{linked}}?f=json",
    f"{PARCELS}/{{key}}?f=json&crs={quote(EPSG_25833)}",
    "/collections/heritage/items?f=json&limit=3",
    "/collections/heritage/items/{monument}?f=json",
    "/collections/street-damage/items?f=json&limit=5",
    "/collections/traffic-counts/items?f=json&limit=5&sortby=-observed_at",
    "/collections/traffic-counts/items/{count}?f=json",
    "/collections/traffic-stations/items?f=json&limit=5",
    "/collections/commercial-land/items?f=json&limit=5",
    "/collections/buildings/items?f=json&limit=3",
]
#: Queries the lane leaves to pygeoapi: other formats, languages, parameters it does not
#: take on, expensive or refused requests, unknown items.
FALLBACK = [
    f"{PARCELS}?f=html&limit=2",
    f"{PARCELS}?f=csv&limit=2",
    f"{PARCELS}?f=jsonld&limit=2",
    f"{PARCELS}?f=json&limit=2&properties=flur",
    f"{PARCELS}?f=json&limit=2&skipGeometry=true",
    f"{PARCELS}?f=json&resulttype=hits",
    f"{PARCELS}?f=json&limit=1001",
    f"{PARCELS}?f=json&limit=3&filter={quote('S_INTERSECTS(geometry, POINT(14.33 51.76))')}",
    f"{PARCELS}?f=json&filter-lang=cql2-json&filter="
    + quote(json.dumps({"op": "=", "args": [{"property": "flur"}, 1]})),
    "/collections/traffic-counts/items?f=json&limit=2&datetime=2024-04-05",
    f"{PARCELS}?f=json&bbox=1,2,3",
    f"{PARCELS}?f=json&bbox-crs={quote(EPSG_25833)}",
    f"{PARCELS}?f=json&limit=0",
    f"{PARCELS}?f=json&limit=ten",
    f"{PARCELS}?f=json&nosuch=1",
    f"{PARCELS}?f=json&limit=2&limit=3",
    f"{PARCELS}?f=json&filter={quote('flur = ')}",
    f"{PARCELS}?f=json&filter={quote('nosuchfield = 1')}",
    f"{PARCELS}?f=json&sortby=nosuch",
    f"{PARCELS}?f=json&crs={quote('http://www.opengis.net/def/crs/EPSG/0/31467')}",
    f"{PARCELS}/does-not-exist?f=json",
    f"{PARCELS}/{{key}}?f=html",
    f"{PARCELS}/{{key}}?f=json&limit=1",
]
#: Headers both lanes must agree on (the rest are the front's, the same for both).
HEADERS = ("content-type", "content-crs", "content-language", "etag", "allow")


@pytest.fixture(scope="module")
def slow_server(loaded_settings: Settings, tmp_path_factory) -> Iterator[Server]:
    """The same API with every request through pygeoapi."""
    os.environ["TWIN_FAST_LANE"] = "false"
    try:
        srv = Server(loaded_settings, tmp_path_factory.mktemp("slow") / "server.log",
                     forked=True)
    finally:
        del os.environ["TWIN_FAST_LANE"]
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def keys(pg: psycopg.Connection) -> dict[str, str]:
    """Keys of items the queries name."""
    one = lambda q: str(pg.execute(q).fetchone()[0])  # noqa: E731
    n = int(one("SELECT count(*) FROM twin.parcels"))
    return {
        "key": quote(one("SELECT flstkennz FROM twin.parcels ORDER BY flstkennz LIMIT 1"),
                     safe=""),
        "linked": quote(one("SELECT flstkennz FROM twin.parcels WHERE denkmalnummern IS NOT "
                            "NULL ORDER BY flstkennz LIMIT 1"), safe=""),
        "monument": quote(one("SELECT denkmalnummer FROM twin.heritage ORDER BY 1 LIMIT 1"),
                          safe=""),
        # A key with a slash in it: station/time.
        "count": one("SELECT observation_id FROM twin.traffic_counts ORDER BY 1 LIMIT 1"),
        "last_page": str(n - 100),
    }


def _answer(srv: Server, path: str, method: str = "GET", **kw) -> tuple[int, object, dict]:
    import requests
    r = requests.request(method, srv.url + path, timeout=60, **kw)
    headers = {h: r.headers.get(h) for h in HEADERS}
    text = r.text.replace(srv.url, "{url}")
    try:  # JSON, whatever it is labelled (pygeoapi labels Accept: image/png's JSON so)
        doc = json.loads(text)
    except ValueError:
        return r.status_code, text, headers
    if isinstance(doc, dict):
        doc.pop("timeStamp", None)
    return r.status_code, doc, headers


@pytest.mark.parametrize("path", FAST + FALLBACK)
def test_both_lanes_answer_alike(server: Server, slow_server: Server, keys: dict[str, str],
                                 path: str) -> None:
    path = path.format(**keys)
    fast, slow = _answer(server, path), _answer(slow_server, path)
    assert fast[0] == slow[0], (path, fast[1], slow[1])
    assert fast[2] == slow[2], path
    if "csv" in (fast[2]["content-type"] or "") or "html" in (fast[2]["content-type"] or ""):
        return  # rendered by pygeoapi on both: the same up to its own time stamps
    assert fast[1] == slow[1], path


@pytest.mark.parametrize("headers", [
    {"Accept-Language": "en"}, {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"},
    {"Accept-Language": "en-US,*"}, {"Accept-Language": "fr"}, {"Accept": "text/html"},
    {"Accept": "application/geo+json"},
    {"Accept": "application/json"}, {"Accept": "text/csv"}, {"Accept": "*/*"},
    {"Accept": "application/ld+json;q=0.5, application/json"},
    {"Accept": "text/html;q=0.9, application/json;q=0.1"}, {"Accept": "image/png"}])
def test_requests_with_language_or_accept_answer_alike(server: Server, slow_server: Server,
                                                       keys: dict[str, str],
                                                       headers: dict[str, str]) -> None:
    for path in (f"{PARCELS}?f=json&limit=2", f"{PARCELS}/{keys['key']}?f=json",
                 f"{PARCELS}?limit=2&offset=1", f"{PARCELS}/{keys['key']}"):
        fast, slow = _answer(server, path, headers=headers), \
            _answer(slow_server, path, headers=headers)
        if "html" in (fast[2]["content-type"] or ""):
            fast, slow = fast[:1] + fast[2:], slow[:1] + slow[2:]  # pygeoapi's page on both
        assert fast == slow, (path, headers)


def test_head_and_posted_queries_still_reach_pygeoapi(server: Server, slow_server: Server,
                                                      keys: dict[str, str]) -> None:
    import requests
    head = requests.head(f"{server.url}{PARCELS}/{keys['key']}?f=json", timeout=30)
    assert head.status_code == 200 and head.headers.get("etag")
    body = json.dumps({"op": "=", "args": [{"property": "flur"}, 1]})
    posted = [_answer(srv, f"{PARCELS}?f=json&limit=3", "POST", data=body,
                      headers={"Content-Type": "application/query-cql-json"})
              for srv in (server, slow_server)]
    assert posted[0][0] == 200 and posted[0] == posted[1]


def test_the_lane_takes_on_exactly_the_fast_queries(server: Server, loaded_settings: Settings,
                                                    keys: dict[str, str], tmp_path) -> None:
    """Which queries the lane plans (and so answers), asked in a process built as the
    server's workers are (on the config the running ``server`` wrote)."""
    paths = [p.format(**keys) for p in FAST + FALLBACK]
    code = (
        "import json, sys\n"
        "from urllib.parse import unquote\n"
        "from twin.pygeoapi.app import create_app\n"
        "from twin.fastlane import FastLane, _Fallback\n"
        "from twin.pygeoapi.wsgi import ITEMS_PATH\n"
        "from twin.settings import get_settings\n"
        "create_app()\n"
        "lane = FastLane(get_settings())\n"
        "lane._prepare()\n"
        "out = {}\n"
        "for p in json.load(sys.stdin):\n"
        "    path, _, query = p.partition('?')\n"
        "    m = ITEMS_PATH.match(unquote(path))\n"
        "    try:\n"
        "        lane.plan(m['cid'], m['fid'], query)\n"
        "        out[p] = 'fast'\n"
        "    except _Fallback:\n"
        "        out[p] = 'pygeoapi'\n"
        "print(json.dumps(out))\n")
    env = {**twin_env(loaded_settings), "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run([sys.executable, "-c", code], input=json.dumps(paths), env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lanes = json.loads(done.stdout.strip().splitlines()[-1])
    fast = {p.format(**keys) for p in FAST}
    # An accept-language header or a HEAD/POST is declined before plan(); see the tests above.
    wrong = {p: lane for p, lane in lanes.items()
             if (lane == "fast") != (p in fast) and not p.endswith("/does-not-exist?f=json")}
    assert not wrong, wrong
