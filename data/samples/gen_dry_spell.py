"""A hot August day of the tree sensors: some trees fall below their wilting point.

Writes data/samples/sensors/soil_moisture_2026-08-12.csv in the LoRaWAN server's CSV export
format (as gen_sensors.py's November file): hourly uplinks of five trees on 12 August 2026.
Three dry out below the configured wilting point (8 vol.%, config/sensor_thresholds.yml) and
one of them is watered in the evening, so the samples hold `sensor-alerts` items (dry, and
moist again) and every published collection has features. Frame counters stay below the
November file's (1000 on), as a device's counter only grows.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

#: (device, moisture at midnight, loss per hour in vol.%, hour of watering or None)
TREES = (("tree-001", 9.6, 0.12, None), ("tree-004", 10.4, 0.15, 19),
         ("tree-007", 11.0, 0.16, None), ("tree-012", 15.0, 0.10, None),
         ("tree-016", 18.5, 0.08, None))


def write(out_dir: Path) -> None:
    folder = out_dir / "sensors"
    folder.mkdir(exist_ok=True)
    rows = ["device_id;received_at;f_cnt;soil_moisture;soil_temperature;battery"]
    day = datetime(2026, 8, 12, tzinfo=UTC)
    for i, (device_id, start, loss, watered) in enumerate(TREES):
        moisture = start
        for h in range(24):
            t = day + timedelta(hours=h, minutes=i)
            if watered is not None and h == watered:
                moisture += 14.0  # 100 litres from the city's watering cart
            # Evaporation by day (UTC 6-18 is the Cottbus daytime in summer), little at night.
            moisture -= loss * (2.0 if 6 <= h <= 18 else 0.3)
            rows.append(f"{device_id};{t:%Y-%m-%dT%H:%M:%SZ};{500 + h};{moisture:.1f};"
                        f"{19 + 4 * math.sin((h - 8) / 24 * 2 * math.pi):.1f};"
                        f"{3.65 - h * 0.001:.3f}")
    (folder / "soil_moisture_2026-08-12.csv").write_text("\n".join(rows) + "\n",
                                                         encoding="utf-8")
