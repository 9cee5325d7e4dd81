-- Issue 12: the watermark of the sensor alerts (twin/alerts.py). Per device, the newest
-- observation time already evaluated against the thresholds and the level there (0 inside the
-- band, 1-4 alarm level of a gauge, 1 a dry tree); the alerts themselves are the registry
-- table twin.sensor_alerts (collection `sensor-alerts`).
CREATE TABLE IF NOT EXISTS twin.sensor_alert_state (
    device_id       text PRIMARY KEY REFERENCES twin.sensor_devices ON DELETE CASCADE,
    level           integer NOT NULL CHECK (level BETWEEN 0 AND 4),
    evaluated_until timestamptz NOT NULL
);
