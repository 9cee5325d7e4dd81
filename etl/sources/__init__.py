"""One module per source; :data:`SOURCES` maps the `twin load` names to them.

A source's module is imported when it is asked for: `twin load parcels` need not import the
CityJSON, raster and 3D-tile code of the others (a third of a small load's time went there).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module

from etl.sources.base import CoverageSource, Source

#: `twin load <name>` and the sample folder `data/samples/<name>/`: module and class.
_CLASSES = {
    "parcels": ("etl.sources.parcels", "ParcelsSource"),
    "heritage": ("etl.sources.heritage", "HeritageSource"),
    "street-damage": ("etl.sources.street_damage", "StreetDamageSource"),
    "traffic-counts": ("etl.sources.traffic", "TrafficSource"),
    "commercial-land": ("etl.sources.commercial_land", "CommercialLandSource"),
    "terrain": ("etl.sources.terrain", "TerrainSource"),
    "buildings": ("etl.sources.buildings", "BuildingsSource"),
}


class _Sources(Mapping[str, type[Source] | type[CoverageSource]]):
    """The source classes by name, each imported on first use."""

    def __getitem__(self, name: str) -> type[Source] | type[CoverageSource]:
        module, cls = _CLASSES[name]
        found = getattr(import_module(module), cls)
        assert found.name == name, f"{module}.{cls} is named {found.name}"
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(_CLASSES)

    def __len__(self) -> int:
        return len(_CLASSES)


SOURCES: Mapping[str, type[Source] | type[CoverageSource]] = _Sources()
