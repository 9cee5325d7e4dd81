"""One module per source; :data:`SOURCES` maps the `twin load` names to them."""

from __future__ import annotations

from etl.sources.base import VectorSource
from etl.sources.parcels import ParcelsSource

#: `twin load <name>` and the sample folder `data/samples/<name>/` use these names.
SOURCES: dict[str, type[VectorSource]] = {
    ParcelsSource.name: ParcelsSource,
}
