-- Issue 12: sensors over LoRaWAN/MQTT (tree soil moisture, Spree water levels).
-- Three private tables; the published collections `water-gauges` and `tree-sensors` are
-- registry tables (twin.water_gauges, twin.tree_sensors) refreshed from these.

-- The device registry, loaded from a CSV by `twin load sensor-devices`. It says what each
-- device is; a message from a device not listed here is quarantined.
CREATE TABLE IF NOT EXISTS twin.sensor_devices (
    device_id     text PRIMARY KEY,             -- The Things Stack end_device_ids.device_id
    -- ChirpStack names a device by its DevEUI: 16 lower-case hex digits, unique when given.
    dev_eui       text UNIQUE CHECK (dev_eui ~ '^[0-9a-f]{16}$'),
    kind          text NOT NULL CHECK (kind IN ('tree', 'gauge')),
    name          text NOT NULL,                -- gauge name ("Sandower Brücke") or tree label
    tree_id       text,                         -- the city's tree register number (trees)
    species       text,                         -- botanical name (trees)
    planting_year integer CHECK (planting_year BETWEEN 1700 AND 2100),
    -- Allow-list: stored field -> key in the decoded payload. Only these keys are read from a
    -- message; everything else (gateway ids, positions, RSSI...) is dropped unless listed.
    fields        jsonb NOT NULL,
    -- Linear calibration per stored field: value = raw * scale + offset
    -- ({"water_level_cm": {"scale": 1, "offset": -3.5}}); fields not named are taken as sent.
    calibration   jsonb NOT NULL DEFAULT '{}'::jsonb,
    geom          geometry(Point, 25833) NOT NULL,
    loaded_at     timestamptz NOT NULL DEFAULT now()
);

-- Per device, the newest frame counter stored: a lower one with a new time is a counter that
-- went backwards (quarantined); the same (counter, time) again is a replay (stored once).
CREATE TABLE IF NOT EXISTS twin.sensor_device_state (
    device_id   text PRIMARY KEY REFERENCES twin.sensor_devices ON DELETE CASCADE,
    last_f_cnt  bigint,
    last_time   timestamptz NOT NULL
);

-- Observations, one row per uplink (or file row), partitioned by month of observed_at.
-- Partitions are created ahead by twin.sensor_ensure_partitions (the intake calls it for the
-- months of every batch); no default partition, so a new month never has to move rows.
CREATE TABLE IF NOT EXISTS twin.sensor_observations (
    device_id        text        NOT NULL,
    observed_at      timestamptz NOT NULL,      -- received_at (TTS) / time (ChirpStack) / file
    f_cnt            bigint,                    -- LoRaWAN uplink frame counter; NULL for files
    soil_moisture    double precision,          -- volumetric %, 0..100
    soil_temperature double precision,          -- degrees Celsius
    battery          double precision,          -- volts
    water_level_cm   double precision,          -- cm above the gauge datum (Pegelnullpunkt)
    extra            jsonb,                     -- further allow-listed fields (numbers only)
    source           text        NOT NULL,      -- 'tts', 'chirpstack', 'file:<name>'
    ingested_at      timestamptz NOT NULL DEFAULT now(),
    -- A replayed message (same device, counter and time) is stored once; file rows have no
    -- counter, NULLS NOT DISTINCT makes (device, NULL, time) unique too. Leading with
    -- device_id, observed_at also serves a station's time range.
    CONSTRAINT sensor_observations_key
        UNIQUE NULLS NOT DISTINCT (device_id, observed_at, f_cnt)
) PARTITION BY RANGE (observed_at);
CREATE INDEX IF NOT EXISTS sensor_observations_time_brin
    ON twin.sensor_observations USING brin (observed_at);

-- Messages that could not be stored, with why. The raw bytes are kept for the operator; the
-- table is never published.
CREATE TABLE IF NOT EXISTS twin.sensor_quarantine (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic       text,                            -- MQTT topic, or 'file:<name>:<row>'
    reason      text NOT NULL CHECK (reason IN (
                    'not_json', 'unknown_format', 'unknown_device', 'missing_field',
                    'out_of_range', 'counter_backwards', 'bad_time')),
    detail      text,                            -- field and value, for the operator
    device_id   text,                            -- when it could be read
    raw         bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS sensor_quarantine_time_idx
    ON twin.sensor_quarantine (received_at);

-- Monthly partitions covering [from_ts, to_ts]; idempotent, safe under concurrency (the
-- advisory lock orders two intakes creating the same month).
CREATE OR REPLACE FUNCTION twin.sensor_ensure_partitions(from_ts timestamptz,
                                                         to_ts timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    m       timestamptz := date_trunc('month', from_ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    created integer := 0;
    part    text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('twin.sensor_partitions'));
    WHILE m <= to_ts LOOP
        part := 'sensor_observations_' || to_char(m AT TIME ZONE 'UTC', 'YYYY"m"MM');
        IF to_regclass('twin.' || part) IS NULL THEN
            EXECUTE format('CREATE TABLE twin.%I PARTITION OF twin.sensor_observations '
                           'FOR VALUES FROM (%L) TO (%L)', part, m,
                           (m AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC');
            created := created + 1;
        END IF;
        m := (m AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC';
    END LOOP;
    RETURN created;
END
$$;

-- Retention: drop the monthly partitions that end before `before` (whole months only; a
-- partition is dropped, never deleted from row by row). Returns the names dropped.
CREATE OR REPLACE FUNCTION twin.sensor_drop_partitions(before timestamptz)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT c.relname,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                             'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'twin.sensor_observations'::regclass
    LOOP
        IF r.upper_bound <= before THEN
            EXECUTE format('DROP TABLE twin.%I', r.relname);
            RETURN NEXT r.relname;
        END IF;
    END LOOP;
    DELETE FROM twin.sensor_quarantine WHERE received_at < before;
END
$$;

-- The published stations (registry tables twin.water_gauges, twin.tree_sensors, created after
-- the migrations) from the device registry and each device's newest observation. `devices`
-- NULL: all devices, and stations no longer in the registry are removed (after a registry
-- load); else only those devices (after an intake batch). State: 'no_data', 'ok', or 'stale'
-- when the newest value is older than `stale_after`. Thresholds (alerts) may refine 'ok' by
-- replacing this function in a later migration; it is the one place states are set.
CREATE OR REPLACE FUNCTION twin.sensor_refresh_stations(devices text[] DEFAULT NULL,
                                                        stale_after interval DEFAULT '6 hours')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF devices IS NOT NULL THEN
        -- After an intake batch: the stations exist (a registry load made them); only the
        -- latest values of these devices move, and rows whose values did not change are not
        -- rewritten.
        UPDATE twin.water_gauges g SET water_level_cm = o.water_level_cm,
               latest_at = o.observed_at,
               state = CASE WHEN o.observed_at < now() - stale_after THEN 'stale' ELSE 'ok' END
        FROM unnest(devices) AS u(device_id)
        CROSS JOIN LATERAL (
            SELECT s.observed_at, s.water_level_cm FROM twin.sensor_observations s
            WHERE s.device_id = u.device_id AND s.water_level_cm IS NOT NULL
            ORDER BY s.observed_at DESC LIMIT 1) o
        WHERE g.device_id = u.device_id
          AND (g.latest_at, g.water_level_cm) IS DISTINCT FROM (o.observed_at, o.water_level_cm);
        UPDATE twin.tree_sensors t SET soil_moisture = o.soil_moisture,
               soil_temperature = o.soil_temperature, battery = o.battery,
               latest_at = o.observed_at,
               state = CASE WHEN o.observed_at < now() - stale_after THEN 'stale' ELSE 'ok' END
        FROM unnest(devices) AS u(device_id)
        CROSS JOIN LATERAL (
            SELECT s.observed_at, s.soil_moisture, s.soil_temperature, s.battery
            FROM twin.sensor_observations s
            WHERE s.device_id = u.device_id
            ORDER BY s.observed_at DESC LIMIT 1) o
        WHERE t.device_id = u.device_id
          AND (t.latest_at, t.soil_moisture, t.soil_temperature, t.battery)
              IS DISTINCT FROM (o.observed_at, o.soil_moisture, o.soil_temperature, o.battery);
        RETURN;
    END IF;
    -- After a registry load: every station from the registry, gone devices removed.
    DELETE FROM twin.water_gauges g WHERE NOT EXISTS (
        SELECT 1 FROM twin.sensor_devices d WHERE d.device_id = g.device_id
                                              AND d.kind = 'gauge');
    DELETE FROM twin.tree_sensors t WHERE NOT EXISTS (
        SELECT 1 FROM twin.sensor_devices d WHERE d.device_id = t.device_id
                                              AND d.kind = 'tree');
    INSERT INTO twin.water_gauges AS g (device_id, station, water_level_cm, latest_at, state,
                                        geom)
    SELECT d.device_id, d.name, o.water_level_cm, o.observed_at,
           CASE WHEN o.observed_at IS NULL THEN 'no_data'
                WHEN o.observed_at < now() - stale_after THEN 'stale' ELSE 'ok' END,
           d.geom
    FROM twin.sensor_devices d
    LEFT JOIN LATERAL (
        SELECT s.observed_at, s.water_level_cm FROM twin.sensor_observations s
        WHERE s.device_id = d.device_id AND s.water_level_cm IS NOT NULL
        ORDER BY s.observed_at DESC LIMIT 1) o ON true
    WHERE d.kind = 'gauge'
    ON CONFLICT (device_id) DO UPDATE SET
        station = excluded.station, water_level_cm = excluded.water_level_cm,
        latest_at = excluded.latest_at, state = excluded.state, geom = excluded.geom;
    INSERT INTO twin.tree_sensors AS t (device_id, station, tree_id, species, planting_year,
                                        soil_moisture, soil_temperature, battery, latest_at,
                                        state, geom)
    SELECT d.device_id, d.name, d.tree_id, d.species, d.planting_year,
           o.soil_moisture, o.soil_temperature, o.battery, o.observed_at,
           CASE WHEN o.observed_at IS NULL THEN 'no_data'
                WHEN o.observed_at < now() - stale_after THEN 'stale' ELSE 'ok' END,
           d.geom
    FROM twin.sensor_devices d
    LEFT JOIN LATERAL (
        SELECT s.observed_at, s.soil_moisture, s.soil_temperature, s.battery
        FROM twin.sensor_observations s
        WHERE s.device_id = d.device_id
        ORDER BY s.observed_at DESC LIMIT 1) o ON true
    WHERE d.kind = 'tree'
    ON CONFLICT (device_id) DO UPDATE SET
        station = excluded.station, tree_id = excluded.tree_id, species = excluded.species,
        planting_year = excluded.planting_year, soil_moisture = excluded.soil_moisture,
        soil_temperature = excluded.soil_temperature, battery = excluded.battery,
        latest_at = excluded.latest_at, state = excluded.state, geom = excluded.geom;
END
$$;

-- The current month and the next two exist from `twin db init` on.
SELECT twin.sensor_ensure_partitions(now(), now() + interval '2 months');
