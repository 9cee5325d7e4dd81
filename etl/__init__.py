"""ETL: source files of the city into the twin's PostGIS tables."""
