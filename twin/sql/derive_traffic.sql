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

-- Figures (docs/sources/traffic-counts.md, "Derived station figures"). A count is a short
-- count (two weeks, say), not BASt's annual DTV, and the names say so.
--   Usable hour: no flag. BASt's own substitutes (marks 's', 'k') are unflagged, hence usable.
--   Filled hour: a flagged or gap hour takes the mean Kfz and Lkw of the same hour (1-24) on
--       the station's other days of the same weekday (ISO 1-7) where that hour is usable. One
--       bad hour no longer drops a whole day. A day with at least one usable hour and every
--       hour usable or filled is a day of the mean; its total is the sum of its real hours
--       (23 when the clocks go forward, 25 when they go back).
--   mean_daily_traffic  mean over the seven weekdays of each weekday's mean day total (each
--       weekday weighted 1/7 whatever the number of its days), Kfz both directions, rounded.
--       NULL unless every weekday has a day.
--   heavy_share   100 * (the same mean of Lkw) / mean_daily_traffic before rounding: the
--       same hours, fillings and weights as the Kfz (1 decimal).
--   dtv_annual    BASt's DTV, the mean over every day of a calendar year: only when every
--       local day of a year is a day of the mean (the latest such year). Short counts get
--       NULL: no published BASt factors scale a short count on these roads (see the docs).
--   count_type    'permanent' when the station has 365 or more days with a usable hour,
--       else 'short' (Kurzzeitzählung).
--   peak_hour_start  start of the BASt hour with the highest mean usable Kfz (the earlier on
--       a tie), a local time of day: hour 17 is 16:00 (16:00-17:00).
--   days_counted  local days with at least one usable hour.
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
usable AS (
    SELECT * FROM obs WHERE flag IS NULL AND kfz IS NOT NULL AND lkw IS NOT NULL
),
slot AS (
    SELECT station_id, extract(isodow FROM day)::integer AS weekday, hour,
           avg(kfz) AS kfz, avg(lkw) AS lkw
    FROM usable GROUP BY station_id, 2, hour
),
filled AS (
    SELECT o.station_id, o.day, extract(isodow FROM o.day)::integer AS weekday,
           (o.flag IS NULL AND o.kfz IS NOT NULL AND o.lkw IS NOT NULL) AS own,
           CASE WHEN o.flag IS NULL AND o.kfz IS NOT NULL AND o.lkw IS NOT NULL
                THEN o.kfz::numeric ELSE sl.kfz END AS kfz,
           CASE WHEN o.flag IS NULL AND o.kfz IS NOT NULL AND o.lkw IS NOT NULL
                THEN o.lkw::numeric ELSE sl.lkw END AS lkw
    FROM obs o
    LEFT JOIN slot sl ON sl.station_id = o.station_id
                     AND sl.weekday = extract(isodow FROM o.day)::integer
                     AND sl.hour = o.hour
),
days AS (
    SELECT station_id, day, weekday, sum(kfz) AS kfz, sum(lkw) AS lkw
    FROM filled
    GROUP BY station_id, day, weekday
    HAVING bool_or(own) AND bool_and(kfz IS NOT NULL AND lkw IS NOT NULL)
),
weekdays AS (
    SELECT station_id, weekday, avg(kfz) AS kfz, avg(lkw) AS lkw
    FROM days GROUP BY station_id, weekday
),
means AS (
    SELECT station_id,
           round(avg(kfz))::integer AS mean_daily_traffic,
           round(100 * sum(lkw) / nullif(sum(kfz), 0), 1)::double precision AS heavy_share
    FROM weekdays GROUP BY station_id
    HAVING count(*) = 7
),
years AS (
    SELECT DISTINCT ON (station_id) station_id, round(avg(kfz))::integer AS dtv_annual
    FROM days
    GROUP BY station_id, extract(year FROM day)
    HAVING count(*) = (make_date(extract(year FROM day)::integer + 1, 1, 1)
                       - make_date(extract(year FROM day)::integer, 1, 1))
    ORDER BY station_id, extract(year FROM day) DESC
),
peaks AS (
    SELECT DISTINCT ON (station_id) station_id,
           make_time(hour - 1, 0, 0) AS peak_hour_start
    FROM usable
    GROUP BY station_id, hour
    ORDER BY station_id, avg(kfz) DESC, hour
),
totals AS (
    SELECT station_id,
           min(day) AS period_start, max(day) AS period_end,
           count(DISTINCT day) FILTER (WHERE flag IS NULL AND kfz IS NOT NULL
                                       AND lkw IS NOT NULL)::integer AS days_counted,
           count(*) FILTER (WHERE flag IS DISTINCT FROM 'gap')::integer AS hours_counted,
           count(*) FILTER (WHERE flag IS NOT NULL)::integer AS hours_flagged
    FROM obs GROUP BY station_id
),
figures AS (
    SELECT s.station_id, m.mean_daily_traffic, m.heavy_share, y.dtv_annual,
           CASE WHEN t.station_id IS NULL THEN NULL
                WHEN t.days_counted >= 365 THEN 'permanent' ELSE 'short' END AS count_type,
           p.peak_hour_start, t.period_start, t.period_end,
           coalesce(t.days_counted, 0) AS days_counted,
           coalesce(t.hours_counted, 0) AS hours_counted,
           coalesce(t.hours_flagged, 0) AS hours_flagged
    FROM twin.traffic_stations s
    LEFT JOIN means m USING (station_id)
    LEFT JOIN years y USING (station_id)
    LEFT JOIN peaks p USING (station_id)
    LEFT JOIN totals t USING (station_id)
)
UPDATE twin.traffic_stations s
SET (mean_daily_traffic, heavy_share, dtv_annual, count_type, peak_hour_start, period_start,
     period_end, days_counted, hours_counted, hours_flagged) =
    (f.mean_daily_traffic, f.heavy_share, f.dtv_annual, f.count_type, f.peak_hour_start,
     f.period_start, f.period_end, f.days_counted, f.hours_counted, f.hours_flagged)
FROM figures f
WHERE s.station_id = f.station_id
  AND (s.mean_daily_traffic, s.heavy_share, s.dtv_annual, s.count_type, s.peak_hour_start,
       s.period_start, s.period_end, s.days_counted, s.hours_counted, s.hours_flagged)
      IS DISTINCT FROM
      (f.mean_daily_traffic, f.heavy_share, f.dtv_annual, f.count_type, f.peak_hour_start,
       f.period_start, f.period_end, f.days_counted, f.hours_counted, f.hours_flagged);
