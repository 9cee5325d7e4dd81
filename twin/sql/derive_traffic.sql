-- Station figures from the hourly counts (twin/derive.py runs this after every load, in the
-- load's transaction). Idempotent: only rows whose figures change are updated.
--
-- Flagged hours (gap, negative, spike, quality) are never used for the figures.
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
