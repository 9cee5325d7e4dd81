-- Links between monuments and parcels, derived after every load (twin/derive.py).
--
-- A monument touches a parcel when
--   * a point (or multipoint) lies in the parcel, its boundary included;
--   * a line (a city wall, say) runs more than 1 m inside the parcel;
--   * a polygon shares more than 1 m² with the parcel, or more than a tenth of its own area
--     when it is smaller than 10 m² (a memorial stone drawn as a tiny polygon).
-- Neighbours that merely share a boundary, or a digitising sliver, are not counted.
--
-- heritage.flurstuecke       sorted, comma-separated flstkennz of the parcels it touches
-- heritage.flurstueck_anzahl how many (0 when none, or no parcels are loaded)
-- parcels.heritage           'Denkmal' when a listed monument (not an area) touches it,
--                            'Denkmalbereich' when only heritage areas do, NULL otherwise
-- parcels.denkmalnummern     sorted, comma-separated ID numbers of everything touching it,
--                            heritage areas included
--
-- Only rows whose values change are written, so a repeated load rewrites nothing. The
-- link table lives to the end of the load's transaction; later steps may read it.

DROP TABLE IF EXISTS pg_temp.heritage_parcel_link;

CREATE TEMP TABLE heritage_parcel_link ON COMMIT DROP AS
SELECT h.denkmalnummer, h.abschnitt = 'Denkmalbereich' AS is_area, p.flstkennz
FROM twin.heritage h
JOIN twin.parcels p ON ST_Intersects(h.geom, p.geom)
WHERE CASE ST_Dimension(h.geom)
        WHEN 0 THEN true
        WHEN 1 THEN ST_Length(ST_Intersection(h.geom, p.geom)) > 1.0
        ELSE ST_Area(ST_Intersection(h.geom, p.geom)) > least(1.0, ST_Area(h.geom) / 10)
      END;

CREATE INDEX ON heritage_parcel_link (denkmalnummer);
CREATE INDEX ON heritage_parcel_link (flstkennz);
ANALYZE heritage_parcel_link;

UPDATE twin.heritage h
SET flurstuecke = l.flurstuecke, flurstueck_anzahl = l.anzahl
FROM (
    SELECT denkmalnummer, string_agg(flstkennz, ',' ORDER BY flstkennz) AS flurstuecke,
           count(*)::integer AS anzahl
    FROM heritage_parcel_link GROUP BY denkmalnummer
) l
WHERE h.denkmalnummer = l.denkmalnummer
  AND (h.flurstuecke, h.flurstueck_anzahl) IS DISTINCT FROM (l.flurstuecke, l.anzahl);

UPDATE twin.heritage h
SET flurstuecke = NULL, flurstueck_anzahl = 0
WHERE (h.flurstuecke IS NOT NULL OR h.flurstueck_anzahl IS DISTINCT FROM 0)
  AND NOT EXISTS (SELECT 1 FROM heritage_parcel_link l WHERE l.denkmalnummer = h.denkmalnummer);

UPDATE twin.parcels p
SET heritage = l.heritage, denkmalnummern = l.denkmalnummern
FROM (
    SELECT flstkennz,
           CASE WHEN bool_or(NOT is_area) THEN 'Denkmal' ELSE 'Denkmalbereich' END AS heritage,
           string_agg(denkmalnummer, ',' ORDER BY denkmalnummer) AS denkmalnummern
    FROM heritage_parcel_link GROUP BY flstkennz
) l
WHERE p.flstkennz = l.flstkennz
  AND (p.heritage, p.denkmalnummern) IS DISTINCT FROM (l.heritage, l.denkmalnummern);

UPDATE twin.parcels p
SET heritage = NULL, denkmalnummern = NULL
WHERE (p.heritage IS NOT NULL OR p.denkmalnummern IS NOT NULL)
  AND NOT EXISTS (SELECT 1 FROM heritage_parcel_link l WHERE l.flstkennz = p.flstkennz);
