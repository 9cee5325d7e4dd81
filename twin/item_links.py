"""Links from a feature to the items its list fields name: a monument to its parcels and its
neighbouring parcels, a parcel to its monuments and the monuments it adjoins.

The registry says which field lists keys of which collection (``Field.links_to``). pygeoapi
keeps a feature's own ``links`` and appends its own to them, and its HTML item page lists
every link by title, so one list serves the JSON and the HTML answers.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from twin.registry import Collection

#: The relation of a link to an item a field names (RFC 8288: "a related resource").
RELATED = "related"


def item_links(collection: Collection, properties: dict[str, Any],
               base_url: str) -> list[dict[str, str]]:
    """``related`` links to every item the linking fields of ``properties`` name, titled
    with the field's title (German / English) and the key, in field order."""
    links = []
    for f in collection.all_fields:
        keys = properties.get(f.name) if f.links_to else None
        for key in keys or ():
            links.append({
                "rel": RELATED,
                "type": "application/geo+json",
                "title": f"{f.title_de} / {f.title_en}: {key}",
                "href": f"{base_url}/collections/{f.links_to}/items/{quote(str(key), safe='')}",
            })
    return links
