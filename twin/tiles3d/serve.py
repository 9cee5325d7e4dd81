"""Answers for /collections/buildings/3dtiles/{path}: the rows of twin.building_tiles.

tileset.json is revalidated on every use (``no-cache`` with an ETag: a new load changes it);
content files are named by a hash of their content, so they never change and are cached for a
year. Both answer 304 to a matching If-None-Match without sending the content again. Clients
that accept gzip get it (quickly compressed per request: glTF tiles shrink to a third or half,
tileset.json to a fifth), with an ETag of their own.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

import psycopg

#: Where the tiles are served, below the service's base URL.
PREFIX = "/collections/buildings/3dtiles/"
#: The relation and media type by which the draft OGC API - 3D GeoVolumes names a 3D Tiles
#: tileset among a 3D container's ``content`` links.
TILESET_REL = "http://www.opengis.net/def/rel/ogc/1.0/3dtiles"
TILESET_TYPE = "application/json+3dtiles"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
#: zlib level 1: most of the gain of level 6 (45 % vs 43 % of a coarse tile) at half the time.
GZIP_LEVEL = 1
GZIP_SUFFIX = "-gz"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, headers, body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _not_found(path: str) -> Answer:
    body = json.dumps({"code": "NotFound",
                       "description": f"no 3D Tiles file '{path}' in the buildings tileset; "
                                      f"it starts at {PREFIX}tileset.json"}).encode()
    return Answer(404, [("Content-Type", "application/json")], body)


def _gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip container
    return compressor.compress(data) + compressor.flush()


def tile_answer(conn: psycopg.Connection, path: str, if_none_match: str | None,
                gzip_ok: bool = False) -> Answer:
    """The answer to a GET of ``PREFIX + path``."""
    wanted = (if_none_match or "").removeprefix("W/").strip('"').removesuffix(GZIP_SUFFIX)
    try:
        row = conn.execute(
            "SELECT content_type, md5(content), "
            "CASE WHEN md5(content) = %s THEN NULL ELSE content END "
            "FROM twin.building_tiles WHERE path = %s", (wanted, path)).fetchone()
    except psycopg.errors.UndefinedTable:  # a database from before the tiles: nothing to serve
        conn.rollback()
        row = None
    if row is None:
        return _not_found(path)
    content_type, digest, content = row
    etag = f'"{digest}{GZIP_SUFFIX if gzip_ok else ""}"'
    cache = REVALIDATE if path.endswith(".json") else IMMUTABLE
    headers = [("ETag", etag), ("Cache-Control", cache), ("Vary", "Accept-Encoding")]
    if content is None:
        return Answer(304, headers, b"")
    body = bytes(content)
    if gzip_ok:
        return Answer(200, [("Content-Type", content_type), ("Content-Encoding", "gzip"),
                            *headers], _gzip(body))
    return Answer(200, [("Content-Type", content_type), *headers], body)


def tileset_link(base_url: str) -> dict:
    """The link from the buildings collection to its tileset."""
    return {"rel": TILESET_REL, "type": TILESET_TYPE,
            "title": "3D Tiles 1.1 tileset of the LoD2 buildings (glTF content)",
            "href": f"{base_url}{PREFIX}tileset.json"}
