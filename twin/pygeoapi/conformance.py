"""The conformance classes we declare, in place of pygeoapi's own lists.

pygeoapi builds ``/conformance`` from lists that are module attributes of its API modules
(``CONFORMANCE_CLASSES_FEATURES`` of ``pygeoapi.api.itemtypes``, ``CONFORMANCE_CLASSES`` of
``pygeoapi.api.processes`` and of ``pygeoapi.api.coverages``); there is no setting for them.
Its features list claims its own writes (Part 4) and omits the filter classes; its processes
list claims callbacks, which we refuse; its coverages list claims datetime subsetting and omits
scaling. :func:`install` replaces the contents of the lists in place, and
:func:`twin.pygeoapi.compat.check` fails at start-up when pygeoapi stops reading them.
"""

from __future__ import annotations

#: Conformance classes this service really implements (checked by tests).
CONFORMANCE_FEATURES = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-common-3/1.0/conf/schemas",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/property-property",
    "http://www.opengis.net/spec/cql2/1.0/conf/arithmetic",
    # A_EQUALS, A_CONTAINS, A_CONTAINEDBY, A_OVERLAPS on the list properties (twin/cql.py).
    "http://www.opengis.net/spec/cql2/1.0/conf/array-functions",
    # Part 4, on street-damage only (twin/transactions.py; the other collections answer 405).
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
]

#: OGC API - Tiles classes of the vector tiles of every feature collection (twin/tiles.py):
#: served by the WSGI layer, not by a pygeoapi provider, so they join the features' list.
CONFORMANCE_TILES = [
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
]

#: OGC API Processes classes we implement.
CONFORMANCE_PROCESSES = [
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/ogc-process-description",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/oas30",
]

#: OGC API - Coverages classes the terrain's provider (twin/coverage.py) implements (pygeoapi's
#: list claims datetime subsetting, meaningless for a terrain without time, and omits scaling).
CONFORMANCE_COVERAGES = [
    "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/geodata-coverage",
    "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/coverage-subset",
    "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/coverage-rangesubset",
    "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/coverage-bbox",
    "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/coverage-scaling",
    "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/coveragejson",
    "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/geotiff",
]


#: OGC API - EDR 1.0 classes the sensor collections' provider (twin/edr.py) implements: the
#: position, area, cube and locations queries (no radius, trajectory, corridor, instances),
#: CoverageJSON answers and GeoJSON for the list of locations; no HTML (pygeoapi's EDR page
#: loads its scripts from CDNs).
CONFORMANCE_EDR = [
    "http://www.opengis.net/spec/ogcapi-edr-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.0/conf/collections",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.0/conf/covjson",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.0/conf/queries",
]


def install() -> None:
    """Put our lists in place of pygeoapi's (in place: pygeoapi reads them per request)."""
    import pygeoapi.api.coverages as coverages
    import pygeoapi.api.environmental_data_retrieval as edr
    import pygeoapi.api.itemtypes as itemtypes
    import pygeoapi.api.processes as processes

    itemtypes.CONFORMANCE_CLASSES_FEATURES[:] = CONFORMANCE_FEATURES + CONFORMANCE_TILES
    processes.CONFORMANCE_CLASSES[:] = CONFORMANCE_PROCESSES
    coverages.CONFORMANCE_CLASSES[:] = CONFORMANCE_COVERAGES
    edr.CONFORMANCE_CLASSES[:] = CONFORMANCE_EDR
