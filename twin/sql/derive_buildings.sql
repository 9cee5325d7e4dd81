-- Buildings linked to parcels and to the heritage list, derived after every load
-- (twin/derive.py), in the load's transaction. Works with any of the tables empty; writes only
-- rows whose values change, so a repeated load rewrites nothing.
--
-- parcel           flstkennz of the parcel sharing the most area with the footprint (ties:
--                  the lowest flstkennz); NULL when no parcel overlaps it.
-- heritage_status  'listed' when a monument of the list (not a heritage area) is the building:
--                    * a point (or multipoint) monument lies in the footprint, boundary included;
--                    * a polygon monument and the footprint share more than half of the
--                      smaller of the two (a monument drawn as the building, or as its
--                      parcel; a building in a listed park).
--                  A line (a city wall) makes no building listed.
--                  'area' when not listed and a point inside the footprint lies in a heritage
--                  area (Denkmalbereich); 'none' otherwise.
-- heritage_id/_name  the monument's or area's denkmalnummer and bezeichnung: of several, the
--                  closest match (a point, else the largest shared part of the footprint), then
--                  the smallest monument, then the lowest number. NULL for 'none'.
WITH fp AS (
    SELECT b.building_id, b.geom, ST_Area(b.geom) AS area, ST_PointOnSurface(b.geom) AS inside
    FROM twin.buildings b
), parcel AS (
    SELECT fp.building_id, best.flstkennz
    FROM fp
    CROSS JOIN LATERAL (
        SELECT p.flstkennz
        FROM twin.parcels p
        WHERE ST_Intersects(p.geom, fp.geom)
          AND ST_Area(ST_Intersection(p.geom, fp.geom)) > 0
        ORDER BY ST_Area(ST_Intersection(p.geom, fp.geom)) DESC, p.flstkennz
        LIMIT 1
    ) best
), listed AS (
    SELECT DISTINCT ON (fp.building_id) fp.building_id, h.denkmalnummer, h.bezeichnung
    FROM fp
    JOIN twin.heritage h ON ST_Intersects(h.geom, fp.geom)
    CROSS JOIN LATERAL (
        SELECT CASE WHEN ST_Dimension(h.geom) = 0 THEN 1.0
                    WHEN ST_Dimension(h.geom) = 2 THEN
                        ST_Area(ST_Intersection(h.geom, fp.geom))
                        / nullif(least(fp.area, ST_Area(h.geom)), 0)
               END AS share
    ) m
    WHERE h.denkmalart IS DISTINCT FROM 'Denkmalbereich'
      AND (ST_Dimension(h.geom) = 0 OR m.share > 0.5)
    ORDER BY fp.building_id, m.share DESC, ST_Area(h.geom), h.denkmalnummer
), area AS (
    SELECT DISTINCT ON (fp.building_id) fp.building_id, h.denkmalnummer, h.bezeichnung
    FROM fp
    JOIN twin.heritage h ON ST_Intersects(h.geom, fp.inside)
    WHERE h.denkmalart = 'Denkmalbereich'
    ORDER BY fp.building_id, ST_Area(h.geom), h.denkmalnummer
), derived AS (
    SELECT fp.building_id, parcel.flstkennz AS parcel,
           CASE WHEN listed.building_id IS NOT NULL THEN 'listed'
                WHEN area.building_id IS NOT NULL THEN 'area'
                ELSE 'none' END AS heritage_status,
           coalesce(listed.denkmalnummer, area.denkmalnummer) AS heritage_id,
           coalesce(listed.bezeichnung, area.bezeichnung) AS heritage_name
    FROM fp
    LEFT JOIN parcel USING (building_id)
    LEFT JOIN listed USING (building_id)
    LEFT JOIN area USING (building_id)
)
UPDATE twin.buildings t
SET parcel = d.parcel, heritage_status = d.heritage_status, heritage_id = d.heritage_id,
    heritage_name = d.heritage_name
FROM derived d
WHERE t.building_id = d.building_id
  AND (t.parcel, t.heritage_status, t.heritage_id, t.heritage_name)
      IS DISTINCT FROM (d.parcel, d.heritage_status, d.heritage_id, d.heritage_name);
