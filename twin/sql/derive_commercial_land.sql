-- Derived criteria of commercial sites, refreshed after every load by the Python step
-- twin.analysis.commercial_land.refresh (registered last in twin/derive.py), which binds the
-- parameters from config/commercial_land_weights.yml. Not a migration and not a plain step:
-- it needs bound parameters.
--
-- a15_distance_km      straight-line distance (km, to 1 m) from the site's nearest point to
--                      the nearest A15 junction
-- heritage_overlap_ha  area (ha, to 1 m²) of the site covered by heritage geometries: their
--                      polygons as drawn, monuments drawn as points or lines buffered by
--                      monument_buffer_m; 0 when none (or no heritage list is loaded)
-- parcel_count         parcels overlapping the site by more than parcel_sliver_m2 or by
--                      more than half their own area (a small parcel inside counts); NULL
--                      (unknown) unless the loaded parcels cover at least parcel_min_coverage
--                      of the site
--
-- Only rows whose values change are written, so a repeated load rewrites nothing.

WITH junctions AS (
    SELECT ST_Collect(ST_SetSRID(ST_MakePoint(e, n), %(srid)s)) AS g
    FROM unnest(%(east)s::double precision[], %(north)s::double precision[]) AS j(e, n)
), derived AS (
    SELECT s.site_id,
           round((ST_Distance(s.geom, j.g) / 1000.0)::numeric, 3)::double precision
               AS a15_distance_km,
           coalesce((
               SELECT round((ST_Area(ST_Intersection(s.geom, ST_Union(ST_Union(
                          ST_CollectionExtract(h.geom, 3),
                          ST_Buffer(ST_Collect(ST_CollectionExtract(h.geom, 1),
                                               ST_CollectionExtract(h.geom, 2)),
                                    %(buffer)s))))) / 10000.0)::numeric, 4)
               FROM twin.heritage h
               WHERE ST_DWithin(h.geom, s.geom, %(buffer)s)), 0)::double precision
               AS heritage_overlap_ha,
           (SELECT CASE WHEN ST_Area(ST_Intersection(s.geom, ST_Union(p.geom)))
                             >= %(min_coverage)s * ST_Area(s.geom)
                        THEN count(*) FILTER (
                            WHERE ST_Area(ST_Intersection(p.geom, s.geom))
                                  > least(%(sliver)s, 0.5 * ST_Area(p.geom)))
                   END
            FROM twin.parcels p
            WHERE ST_Intersects(p.geom, s.geom))::integer AS parcel_count
    FROM twin.commercial_land s CROSS JOIN junctions j
)
UPDATE twin.commercial_land t
SET a15_distance_km = d.a15_distance_km, heritage_overlap_ha = d.heritage_overlap_ha,
    parcel_count = d.parcel_count
FROM derived d
WHERE t.site_id = d.site_id
  AND (t.a15_distance_km, t.heritage_overlap_ha, t.parcel_count)
      IS DISTINCT FROM (d.a15_distance_km, d.heritage_overlap_ha, d.parcel_count);
