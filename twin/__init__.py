"""Digital twin of Cottbus/Chóśebuz: ETL into PostGIS, publication as OGC API."""

__version__ = "0.1.0"
