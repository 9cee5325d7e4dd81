-- Traffic: gap rows for missing hours, then the station figures from the hourly counts
-- (twin/derive.py runs this after every load, in the load's transaction). Idempotent: only
-- missing gap rows are inserted and only stations whose figures change are updated, so a
-- repeated load writes nothing.
--
-- Gaps. A gap is the absence of data, so it is derived here, never loaded over a count: for
-- each station and each local (Europe/Berlin) date on which it has at least one row, every
-- hour of that local day (23 when the clocks go forward, 25 when they go back: the series
-- runs over instants from local midnight to the next) without a row gets one with the flag
-- 'gap', no counts, the station's position, hour = local wall-clock hour + 1 (both instants
-- of the repeated October hour are hour 3) and the id '<station>/<UTC start of the hour>' the
-- source gives its rows. A later load that brings the hour's count updates that row by its
-- id, flag included. etl/sources/traffic.py (_add_gaps) applies the same rule to the rows of
-- a replace load, which deletes every row its files lack. A station that is no longer
-- published (its position unknown) gets no new gap rows.
WITH days AS (
    SELECT DISTINCT station_id, (observed_at AT TIME ZONE 'Europe/Berlin')::date AS day
    FROM twin.traffic_counts
),
hours AS (
    SELECT d.station_id, t AS observed_at,
           d.station_id || '/' || to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
               AS observation_id
    FROM days d,
         generate_series(d.day::timestamp AT TIME ZONE 'Europe/Berlin',
                         (d.day + 1)::timestamp AT TIME ZONE 'Europe/Berlin' - interval '1 hour',
                         interval '1 hour') AS t
)
INSERT INTO twin.traffic_counts (observation_id, station_id, observed_at, hour, flag, geom)
SELECT h.observation_id, h.station_id, h.observed_at,
       extract(hour FROM h.observed_at AT TIME ZONE 'Europe/Berlin')::integer + 1, 'gap',
       s.geom
FROM hours h
JOIN twin.traffic_stations s USING (station_id)
WHERE NOT EXISTS (SELECT 1 FROM twin.traffic_counts c
                  WHERE c.observation_id = h.observation_id);

-- Figures. Flagged hours (gap, negative, spike, quality) are never used for them.
--   dtv           mean over complete days of the day's Kfz, both directions, rounded. A day
--                 is complete when every hour it has in Europe/Berlin (23 when the clocks go
--                 forward, 25 when they go back, else 24) has an unflagged count.
--   heavy_share   100 * sum(Lkw) / sum(Kfz), both directions, over unflagged hours (1 decimal).
--   peak_hour     BASt hour 1-24 with the highest mean unflagged Kfz (the earlier on a tie).
--   period_start, period_end   first and last local date with a row (gaps included).
--   hours_counted hours with counts (every row but gaps), flagged or not.
--   hours_flagged hours with any flag, gaps included.
WITH obs AS (
    SELECT station_id, hour, flag,
           kfz_r1 + kfz_r2 AS kfz,
           lkw_r1 + lkw_r2 AS lkw,
           (observed_at AT TIME ZONE 'Europe/Berlin')::date AS day
    FROM twin.traffic_counts
),
good AS (
    SELECT * FROM obs WHERE flag IS NULL AND kfz IS NOT NULL
),
complete_days AS (
    SELECT station_id, day, sum(kfz) AS kfz
    FROM good
    GROUP BY station_id, day
    HAVING count(*) = extract(epoch FROM
        ((day + 1)::timestamp AT TIME ZONE 'Europe/Berlin')
        - (day::timestamp AT TIME ZONE 'Europe/Berlin')) / 3600
),
dtv AS (
    SELECT station_id, round(avg(kfz))::integer AS dtv
    FROM complete_days GROUP BY station_id
),
shares AS (
    SELECT station_id,
           round(100.0 * sum(lkw) / nullif(sum(kfz) FILTER (WHERE lkw IS NOT NULL), 0), 1)
               ::double precision AS heavy_share
    FROM good GROUP BY station_id
),
peaks AS (
    SELECT DISTINCT ON (station_id) station_id, hour AS peak_hour
    FROM good
    GROUP BY station_id, hour
    ORDER BY station_id, avg(kfz) DESC, hour
),
totals AS (
    SELECT station_id,
           min(day) AS period_start, max(day) AS period_end,
           count(*) FILTER (WHERE flag IS DISTINCT FROM 'gap')::integer AS hours_counted,
           count(*) FILTER (WHERE flag IS NOT NULL)::integer AS hours_flagged
    FROM obs GROUP BY station_id
),
figures AS (
    SELECT s.station_id, d.dtv, sh.heavy_share, p.peak_hour, t.period_start, t.period_end,
           coalesce(t.hours_counted, 0) AS hours_counted,
           coalesce(t.hours_flagged, 0) AS hours_flagged
    FROM twin.traffic_stations s
    LEFT JOIN dtv d USING (station_id)
    LEFT JOIN shares sh USING (station_id)
    LEFT JOIN peaks p USING (station_id)
    LEFT JOIN totals t USING (station_id)
)
UPDATE twin.traffic_stations s
SET (dtv, heavy_share, peak_hour, period_start, period_end, hours_counted, hours_flagged) =
    (f.dtv, f.heavy_share, f.peak_hour, f.period_start, f.period_end, f.hours_counted,
     f.hours_flagged)
FROM figures f
WHERE s.station_id = f.station_id
  AND (s.dtv, s.heavy_share, s.peak_hour, s.period_start, s.period_end, s.hours_counted,
       s.hours_flagged)
      IS DISTINCT FROM
      (f.dtv, f.heavy_share, f.peak_hour, f.period_start, f.period_end, f.hours_counted,
       f.hours_flagged);
