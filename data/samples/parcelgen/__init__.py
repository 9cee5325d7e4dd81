"""Building blocks of the synthetic parcel sample, split by concern.

``gen_parcels.py`` beside this package is the entry point (``write(out_dir)``); it assembles
the parcels from these modules and writes, checks and reports the GeoPackage.

- :mod:`parcelgen.places`: constants, landmarks, the Spree and the railway, Gemarkungen,
  land-use zones, street names, and where a point lies (centre distance, urban, zone).
- :mod:`parcelgen.model`: the street grid, street segments and the parcels under construction.
- :mod:`parcelgen.streets`: the jittered street grid, street polygons and street names.
- :mod:`parcelgen.overlays`: parcels that take precedence over the grid (landmarks, Spree,
  railway, Spree banks, Branitzer Park).
- :mod:`parcelgen.lots`: blocks split into lots, land use, slivers and the coverage cleaning.
- :mod:`parcelgen.attributes`: Gemarkung, Flur, Flurstücksnummer, addresses, field names, ids.

Everything is deterministic: each function draws from the generator it is given, in a fixed
order, so the output depends only on the seed.
"""
