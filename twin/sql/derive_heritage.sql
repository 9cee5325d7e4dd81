-- Links between monuments and parcels, derived after every load (twin/derive.py).
--
-- A monument touches a parcel when
--   * a point (or multipoint) lies in the parcel, its boundary included;
--   * a line (a city wall, say) runs more than 1 m inside the parcel;
--   * a polygon shares more than 1 m² with the parcel, or more than a tenth of its own area
--     when it is smaller than 10 m² (a memorial stone drawn as a tiny polygon).
-- Parcels that merely share a boundary, or a digitising sliver, do not hold it: they are
-- its neighbours, as are the parcels sharing a boundary with the parcels that hold it. Those
-- matter for setting protection (Umgebungsschutz, BbgDSchG § 2 (3)), so they are published
-- apart from the holders.
--
-- heritage.flurstuecke        sorted flstkennz (text[]) of the parcels holding it; NULL if none
-- heritage.flurstueck_anzahl  how many (0 when none, or no parcels are loaded)
-- heritage.nachbarflurstuecke sorted flstkennz of its neighbours (see above); NULL if none
-- parcels.heritage            'Denkmal' when a listed monument (not an area) touches it,
--                             'Denkmalbereich' when only heritage areas do, NULL otherwise
-- parcels.denkmalnummern      sorted ID numbers (text[]) of everything it holds, heritage
--                             areas included; NULL if none
-- parcels.nachbardenkmale     sorted ID numbers of the monuments it is a neighbour of
--
-- A list is NULL, not empty, when nothing is linked: QGIS 3.22 types a field whose first
-- features hold an empty JSON array as JSON and then reads no value of it at all.
--
-- Only rows whose values change are written, so a repeated load rewrites nothing. The
-- link table lives to the end of the load's transaction; later steps may read it.

DROP TABLE IF EXISTS pg_temp.heritage_parcel_link;

CREATE TEMP TABLE heritage_parcel_link ON COMMIT DROP AS
SELECT h.denkmalnummer, h.denkmalart = 'Denkmalbereich' AS is_area, p.flstkennz
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

DROP TABLE IF EXISTS pg_temp.heritage_parcel_neighbour;

-- Touching the monument, or a parcel that holds it; never a parcel that holds it.
CREATE TEMP TABLE heritage_parcel_neighbour ON COMMIT DROP AS
(
    SELECT h.denkmalnummer, p.flstkennz
    FROM twin.heritage h
    JOIN twin.parcels p ON ST_Intersects(h.geom, p.geom)
    UNION
    SELECT l.denkmalnummer, n.flstkennz
    FROM heritage_parcel_link l
    JOIN twin.parcels holder ON holder.flstkennz = l.flstkennz
    JOIN twin.parcels n ON ST_Intersects(holder.geom, n.geom)
)
EXCEPT
SELECT denkmalnummer, flstkennz FROM heritage_parcel_link;

CREATE INDEX ON heritage_parcel_neighbour (denkmalnummer);
CREATE INDEX ON heritage_parcel_neighbour (flstkennz);
ANALYZE heritage_parcel_neighbour;

UPDATE twin.heritage h
SET flurstuecke = l.flurstuecke, flurstueck_anzahl = l.anzahl
FROM (
    SELECT denkmalnummer, array_agg(flstkennz ORDER BY flstkennz) AS flurstuecke,
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
           array_agg(denkmalnummer ORDER BY denkmalnummer) AS denkmalnummern
    FROM heritage_parcel_link GROUP BY flstkennz
) l
WHERE p.flstkennz = l.flstkennz
  AND (p.heritage, p.denkmalnummern) IS DISTINCT FROM (l.heritage, l.denkmalnummern);

UPDATE twin.parcels p
SET heritage = NULL, denkmalnummern = NULL
WHERE (p.heritage IS NOT NULL OR p.denkmalnummern IS NOT NULL)
  AND NOT EXISTS (SELECT 1 FROM heritage_parcel_link l WHERE l.flstkennz = p.flstkennz);

UPDATE twin.heritage h
SET nachbarflurstuecke = n.flurstuecke
FROM (
    SELECT denkmalnummer, array_agg(flstkennz ORDER BY flstkennz) AS flurstuecke
    FROM heritage_parcel_neighbour GROUP BY denkmalnummer
) n
WHERE h.denkmalnummer = n.denkmalnummer
  AND h.nachbarflurstuecke IS DISTINCT FROM n.flurstuecke;

UPDATE twin.heritage h
SET nachbarflurstuecke = NULL
WHERE h.nachbarflurstuecke IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM heritage_parcel_neighbour n
                  WHERE n.denkmalnummer = h.denkmalnummer);

UPDATE twin.parcels p
SET nachbardenkmale = n.denkmalnummern
FROM (
    SELECT flstkennz, array_agg(denkmalnummer ORDER BY denkmalnummer) AS denkmalnummern
    FROM heritage_parcel_neighbour GROUP BY flstkennz
) n
WHERE p.flstkennz = n.flstkennz
  AND p.nachbardenkmale IS DISTINCT FROM n.denkmalnummern;

UPDATE twin.parcels p
SET nachbardenkmale = NULL
WHERE p.nachbardenkmale IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM heritage_parcel_neighbour n WHERE n.flstkennz = p.flstkennz);
