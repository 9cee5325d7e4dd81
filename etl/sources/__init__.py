"""One module per source; :data:`SOURCES` maps the `twin load` names to them."""

from __future__ import annotations

from etl.sources.base import CoverageSource, Source
from etl.sources.buildings import BuildingsSource
from etl.sources.commercial_land import CommercialLandSource
from etl.sources.heritage import HeritageSource
from etl.sources.parcels import ParcelsSource
from etl.sources.street_damage import StreetDamageSource
from etl.sources.terrain import TerrainSource
from etl.sources.traffic import TrafficSource

#: `twin load <name>` and the sample folder `data/samples/<name>/` use these names.
SOURCES: dict[str, type[Source] | type[CoverageSource]] = {
    ParcelsSource.name: ParcelsSource,
    HeritageSource.name: HeritageSource,
    StreetDamageSource.name: StreetDamageSource,
    TrafficSource.name: TrafficSource,
    CommercialLandSource.name: CommercialLandSource,
    TerrainSource.name: TerrainSource,
    BuildingsSource.name: BuildingsSource,
}
