-- Street damage: the traffic load of the damaged road and a repair priority 0-100 (issue 10).
-- Runs after every load, after the traffic step (which derives traffic_stations.mean_daily_traffic), in the
-- load's transaction. Writes only rows whose values change; works with either table empty.
-- docs/sources/street-damage.md ("Derived after every load") explains every choice; the
-- tests recompute each value from PostGIS rows.
--
-- traffic_basis says where the traffic came from, traffic_station and traffic_dtv what it was:
--   'station'     a counted station on the SAME road, the nearest one when the road has
--                 several. Same road: twin.road_key of the damage's street equals the
--                 station's road_key, or the classified road the station's road names
--                 ('Bahnhofstraße (B 97)' is on 'Bahnhofstraße' and on 'B 97'). Never a
--                 station of another road, however near (it counts another road's traffic).
--   'road_class'  the street is a classified road ('B 97', 'L 49': etl/street_names.py) with
--                 no station of its own: the median mean_daily_traffic of the counted stations of that class.
--   'path'        a footway or cycle path damage: motor traffic says nothing about it.
--   'unknown'     none of these.
-- repair_priority = 0 for closed damage, otherwise with
--   C = (condition_class - 1) / 4, 0.5 when the class is unknown (citizen reports);
--   T = ln(dtv / 100) / ln(250) within 0..1 for 'station' and 'road_class';
--       0.5 (neutral, about 1,600 Kfz/24 h) for 'unknown' and 'path': unknown is not "no traffic";
--   D = the damage type's weight (below);
--   S = 0.5 * C + 0.3 * T + 0.2 * D;
--   round(60 + 40 * S, 1) when condition_class >= 4.5 (ZEB threshold value: at the top
--     whatever the traffic; the lowest such damage scores 79.5),
--   round(60 * S, 1) otherwise (at most 55.5: below every threshold damage, so a citizen
--     report without a class never ranks above a surveyed 5.0).
WITH station AS (
    SELECT s.station_id, s.geom, s.mean_daily_traffic AS dtv,
           twin.road_key(s.road) AS road_key,
           -- The classified road a station's road names: 'B 168', 'Bahnhofstraße (B 97)'.
           lower(array_to_string(
               regexp_match(s.road, '\m([ABLK]) ?(\d{1,4}[a-z]?)\M'), ' ')) AS road_ref
    FROM twin.traffic_stations s
    WHERE s.mean_daily_traffic IS NOT NULL
), by_class AS (
    SELECT upper(left(road_ref, 1)) AS road_class,
           round((percentile_cont(0.5) WITHIN GROUP (ORDER BY dtv))::numeric)::integer AS dtv
    FROM station WHERE road_ref IS NOT NULL
    GROUP BY 1
), damage AS (
    SELECT d.damage_id, d.geom, d.status, d.condition_class, d.category,
           twin.road_key(d.street) AS road_key,
           substring(d.street FROM '^([ABLK]) \d{1,4}[a-z]?$') AS road_class
    FROM twin.street_damage d
), matched AS (
    SELECT d.*, same.station_id, same.dtv AS station_dtv
    FROM damage d
    LEFT JOIN LATERAL (
        SELECT s.station_id, s.dtv FROM station s
        WHERE d.road_key <> '' AND d.road_key IN (s.road_key, s.road_ref)
        ORDER BY s.geom <-> d.geom, s.station_id LIMIT 1) same ON true
), based AS (
    SELECT m.damage_id, m.status, m.condition_class, m.category,
           CASE WHEN m.category IN ('Gehweg beschädigt', 'Radweg beschädigt') THEN 'path'
                WHEN m.station_id IS NOT NULL THEN 'station'
                WHEN c.dtv IS NOT NULL THEN 'road_class'
                ELSE 'unknown' END AS basis,
           m.station_id, coalesce(m.station_dtv, c.dtv) AS dtv
    FROM matched m
    LEFT JOIN by_class c ON c.road_class = m.road_class
), loaded AS (
    SELECT damage_id, status, condition_class, category, basis,
           CASE WHEN basis = 'station' THEN station_id END AS station_id,
           CASE WHEN basis IN ('station', 'road_class') THEN dtv END AS dtv
    FROM based
), scored AS (
    -- numeric throughout: 60 * S = 14.25 rounds to 14.3, as a reader rounds it by hand.
    SELECT damage_id, basis, station_id, dtv,
           0.5 * CASE WHEN condition_class IS NULL THEN 0.5
                      -- GREATEST/LEAST skip NULLs: an unknown class is tested first.
                      ELSE (least(greatest(condition_class::numeric, 1.0), 5.0) - 1.0) / 4.0
                      END
         + 0.3 * CASE WHEN dtv IS NULL THEN 0.5
                      WHEN dtv <= 100 THEN 0.0
                      ELSE least(1.0, ln(dtv::numeric / 100) / ln(250::numeric)) END
         + 0.2 * CASE
               -- Acute hazards to road users (Verkehrssicherungspflicht).
               WHEN category IN ('Schlagloch', 'Aufbruch', 'Absenkung / Kanaldeckel',
                                 'Radweg beschädigt') THEN 1.0
               -- Hazards that grow: edges give way under wheels and bikes, ruts hold water.
               WHEN category IN ('Kantenschaden', 'Spurrinne', 'Absenkung',
                                 'Gehweg beschädigt', 'Straßenschaden') THEN 0.75
               -- A repaired patch: watched, rarely urgent.
               WHEN category = 'Flickstelle' THEN 0.25
               -- Cracks, network cracks, 'other', none: structural, not yet a hazard.
               ELSE 0.5 END AS s,
           status, condition_class
    FROM loaded
), ranked AS (
    SELECT damage_id, basis, station_id, dtv,
           CASE WHEN status = 'closed' THEN 0.0::double precision
                WHEN condition_class >= 4.5 THEN round(60 + 40 * s, 1)::double precision
                ELSE round(60 * s, 1)::double precision END AS priority
    FROM scored
)
UPDATE twin.street_damage t
SET traffic_dtv = r.dtv, traffic_basis = r.basis, traffic_station = r.station_id,
    repair_priority = r.priority
FROM ranked r
WHERE t.damage_id = r.damage_id
  AND (t.traffic_dtv, t.traffic_basis, t.traffic_station, t.repair_priority)
      IS DISTINCT FROM (r.dtv, r.basis, r.station_id, r.priority);
