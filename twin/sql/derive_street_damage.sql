-- Street damage: the traffic load of the damaged street and a repair priority 0-100.
-- Runs after every load, after the traffic step (traffic_stations.mean_daily_traffic), in the
-- load's transaction. Writes only rows whose values change; works with either table empty.
--
-- traffic_dtv: the mean daily traffic of the counting station on the same road (street names compared
--   case-, space- and 'Straße'/'Strasse'/'Str.'-insensitively, a parenthesised suffix such as
--   '(B 168)' ignored: twin.road_key in 002_functions.sql; the station nearest the damage
--   when the road has several), else of the
--   nearest station within 250 m, else NULL.
-- repair_priority = 0 for closed damage, otherwise
--   round(100 * (0.6 * C + 0.4 * T), 1) with
--   C = (condition_class - 1) / 4, or 0.5 (class 3.0 assumed) when the class is unknown
--       (citizen reports have none);
--   T = ln(dtv / 100) / ln(250) clamped to 0..1 (100 Kfz/24 h or less: 0; 25,000 or more: 1),
--       or 0 when no traffic is known.
-- docs/sources/street-damage.md explains the choice; tests recompute it from PostGIS values.
WITH damage AS (
    SELECT d.damage_id, d.geom, d.status, d.condition_class,
           twin.road_key(d.street) AS road_key
    FROM twin.street_damage d
), station AS (
    SELECT s.station_id, s.geom, s.mean_daily_traffic AS dtv, twin.road_key(s.road) AS road_key
    FROM twin.traffic_stations s
    WHERE s.mean_daily_traffic IS NOT NULL
), loaded AS (
    SELECT d.damage_id, d.status, d.condition_class,
           coalesce(
               (SELECT s.dtv FROM station s
                WHERE s.road_key = d.road_key AND d.road_key <> ''
                ORDER BY s.geom <-> d.geom, s.station_id LIMIT 1),
               (SELECT s.dtv FROM station s
                WHERE ST_DWithin(s.geom, d.geom, 250)
                ORDER BY s.geom <-> d.geom, s.station_id LIMIT 1)) AS dtv
    FROM damage d
), scored AS (
    SELECT damage_id, dtv,
           CASE WHEN status = 'closed' THEN 0.0::double precision
           ELSE round((100 * (
                 -- GREATEST/LEAST skip NULLs: an unknown class is tested first.
                 0.6 * CASE WHEN condition_class IS NULL THEN 0.5
                            ELSE (least(greatest(condition_class, 1.0), 5.0) - 1.0) / 4.0 END
               + 0.4 * CASE WHEN dtv IS NULL OR dtv <= 100 THEN 0.0
                            ELSE least(1.0, ln(dtv / 100.0) / ln(250.0)) END
           ))::numeric, 1)::double precision END AS priority
    FROM loaded
)
UPDATE twin.street_damage t
SET traffic_dtv = s.dtv, repair_priority = s.priority
FROM scored s
WHERE t.damage_id = s.damage_id
  AND (t.traffic_dtv, t.repair_priority) IS DISTINCT FROM (s.dtv, s.priority);
