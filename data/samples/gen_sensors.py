"""Sensor samples (issue 12): the device registry of 20 tree sensors and 2 Spree gauges, gauge
series over both clock changes as the state's gauge portal exports them, and one day of tree
sensor values as the LoRaWAN server's CSV export.

Gauge positions are the real ones (see data/samples/README.md for the sources); the trees, their
numbers and every value are synthetic.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pyproj import Transformer

BERLIN = ZoneInfo("Europe/Berlin")

#: (device id, DevEUI, name, lat, lon). Sandower Brücke: LfU Brandenburg gauge 5823xxx as
#: listed in the Wasserportal catalogue in GK4 (R 4661766, H 5739074) = 51.762505 N,
#: 14.341674 E. Großes Spreewehr: at the Spreewehrmühle (Am Großen Spreewehr 2), about
#: 51.7858 N, 14.3558 E.
GAUGES = (
    ("gauge-sandower-bruecke", "70b3d57ed0050001", "Sandower Brücke", 51.762505, 14.341674),
    ("gauge-grosses-spreewehr", "70b3d57ed0050002", "Großes Spreewehr", 51.7858, 14.3558),
)

#: Street trees along real streets of the centre (positions approximate, numbers invented).
STREETS = (
    ("Karl-Marx-Straße", 51.7625, 14.3300, 0.0004, 0.0000),
    ("Bahnhofstraße", 51.7560, 14.3270, 0.0004, 0.0001),
    ("Stadtpromenade", 51.7595, 14.3320, 0.0000, 0.0005),
    ("Puschkinpark", 51.7570, 14.3380, 0.0003, 0.0004),
    ("Schillerplatz", 51.7615, 14.3265, 0.0002, 0.0003),
)
SPECIES = (("Tilia cordata", 1965), ("Acer platanoides", 1978), ("Quercus robur", 1931),
           ("Platanus × hispanica", 1958), ("Aesculus hippocastanum", 1950),
           ("Tilia × euchlora", 1992), ("Acer campestre", 2008), ("Carpinus betulus", 2015),
           ("Robinia pseudoacacia", 1972), ("Ginkgo biloba", 2019))


def _trees(rng: random.Random) -> list[tuple]:
    trees = []
    for i in range(20):
        street, lat, lon, dlat, dlon = STREETS[i % len(STREETS)]
        k = i // len(STREETS)
        species, year = SPECIES[i % len(SPECIES)]
        trees.append((f"tree-{i + 1:03d}", f"70b3d57ed00510{i + 1:02x}", f"{street} {k + 1}",
                      f"CB-{2100 + i * 7:05d}", species, year + rng.randint(0, 3),
                      lat + k * dlat, lon + k * dlon))
    return trees


def write(out_dir: Path) -> None:
    rng = random.Random(12)
    folder = out_dir / "sensors"
    folder.mkdir(exist_ok=True)
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:25833", always_xy=True)
    lines = ["device_id;dev_eui;kind;name;tree_id;species;planting_year;x;y;fields;calibration"]
    for device_id, eui, name, lat, lon in GAUGES:
        x, y = to_utm.transform(lon, lat)
        # The gauge sensor measures from its own zero; the offset puts it on the gauge datum.
        lines.append(f"{device_id};{eui};gauge;{name};;;;{x:.2f};{y:.2f};"
                     "water_level_cm=water_level_cm battery=battery;water_level_cm:1:-2.5")
    for device_id, eui, name, tree_id, species, year, lat, lon in _trees(rng):
        x, y = to_utm.transform(lon, lat)
        lines.append(f"{device_id};{eui};tree;{name};{tree_id};{species};{year};{x:.2f};"
                     f"{y:.2f};;")
    (folder / "sensor_devices.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    # Gauge portal series, 15-minute values in local time across both clock changes: the
    # October night repeats 02:00-02:45 (first CEST, then CET), the March night skips them.
    for device_id, *_ in GAUGES:
        base = 96 if "sandower" in device_id else 131
        rows = ["Datum;Uhrzeit;W [cm]"]
        for start in (datetime(2025, 10, 25, 22, tzinfo=UTC), datetime(2026, 3, 28, 23,
                                                                      tzinfo=UTC)):
            # The weir's export ends a reading earlier (a missed last value, as real exports
            # do): the two gauges' latest times differ, so a time filter can split them.
            readings = 4 * 8 - (1 if "spreewehr" in device_id and start.month == 3 else 0)
            for n in range(4 * 8):
                t = (start + timedelta(minutes=15 * n)).astimezone(BERLIN)
                w = base + round(3 * math.sin(n / 9) + rng.uniform(-0.5, 0.5))
                if n < readings:  # drawn all the same: later samples stay as they were
                    rows.append(f"{t:%d.%m.%Y};{t:%H:%M};{w}")
        (folder / f"{device_id}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    # The LoRaWAN server's CSV export: one day of hourly uplinks of every tree sensor.
    rows = ["device_id;received_at;f_cnt;soil_moisture;soil_temperature;battery"]
    day = datetime(2026, 11, 20, tzinfo=UTC)
    for i, (device_id, *_rest) in enumerate(_trees(random.Random(12))):
        moisture = 18 + i % 9
        for h in range(24):
            t = day + timedelta(hours=h, minutes=i)
            rows.append(f"{device_id};{t:%Y-%m-%dT%H:%M:%SZ};{1000 + h};"
                        f"{moisture - h * 0.05 + rng.uniform(-0.3, 0.3):.1f};"
                        f"{6.5 + 2 * math.sin((h - 9) / 24 * 2 * math.pi):.1f};"
                        f"{3.61 - h * 0.001:.3f}")
    (folder / "soil_moisture_2026-11-20.csv").write_text("\n".join(rows) + "\n",
                                                         encoding="utf-8")


if __name__ == "__main__":
    write(Path(__file__).resolve().parent)
