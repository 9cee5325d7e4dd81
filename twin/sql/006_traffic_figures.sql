-- Issue 10: the station figures are named for what they are. `dtv` (the mean of complete days
-- of a short count, never BASt's annual DTV) became `mean_daily_traffic`, `peak_hour` (BASt
-- hour 1-24) became `peak_hour_start` ('16:00' for hour 17). The old derived columns are
-- dropped; the registry adds the new ones and the next load derives them.
ALTER TABLE IF EXISTS twin.traffic_stations DROP COLUMN IF EXISTS dtv;
ALTER TABLE IF EXISTS twin.traffic_stations DROP COLUMN IF EXISTS peak_hour;
