"""Synthetic street-damage samples: citizen reports and the city's damage register.

Writes into ``data/samples/street-damage/``:

- ``open311_requests.json``: 40 citizen reports as a GeoReport v2 server returns them from
  ``GET requests.json`` (a JSON array), in the internal export that still carries the
  reporter's contact fields (``email``, ``first_name``, ``last_name``, ``phone``,
  ``device_id``, ``account_id``) and photo links (``media_url``). Descriptions and status
  notes hold e-mail addresses, phone numbers and names the way citizens and clerks write them.
- ``schadenskataster.csv``: 40 rows of the city's damage register as the road authority's
  spreadsheet exports it: Windows-1252, semicolons, decimal commas, CRLF line ends,
  coordinates in EPSG:25833 (Rechtswert/Hochwert), ZEB condition classes 1,0-5,0, and a
  ``Bearbeiter`` column with clerks' names that must never be published.

Everything is invented; the positions lie on the street parcels of the parcel sample
(``parcels/flurstuecke_cottbus_mitte.gpkg``) with real Cottbus street names. The output is
byte-identical between runs (fixed seed, fixed order, no clock).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from zoneinfo import ZoneInfo

import pyogrio.raw
import shapely
from pyproj import Transformer

SEED = 20240311
SAMPLES_DIR = Path(__file__).resolve().parent
OUT = "street-damage"
PARCELS = Path("parcels") / "flurstuecke_cottbus_mitte.gpkg"
BERLIN = ZoneInfo("Europe/Berlin")

#: Streets damage is placed on (street parcels of the parcel sample), with postcodes.
STREETS = {
    "Bahnhofstraße": "03046", "Karl-Marx-Straße": "03044", "Dresdener Straße": "03050",
    "Sielower Landstraße": "03044", "Straße der Jugend": "03046", "Thiemstraße": "03048",
    "Berliner Straße": "03046", "Karl-Liebknecht-Straße": "03046",
    "Spremberger Straße": "03046", "Franz-Mehring-Straße": "03046",
    "Sandower Hauptstraße": "03042", "Nordring": "03044", "Vetschauer Straße": "03048",
    "Lipezker Straße": "03048",
}
#: The Stadtring has no street parcel in the parcel sample: a segment west of the centre.
STADTRING = ((452880.0, 5733720.0), (452930.0, 5734880.0))

#: Reporters and the people they mention; tests check that none of these reaches the API.
FIRST_NAMES = ("Anja", "Jens", "Sabine", "Torsten", "Katrin", "Marek", "Ulrike", "Steffen",
               "Doreen", "Ronny", "Heike", "Maik", "Peggy", "Silke", "Dariusz")
LAST_NAMES = ("Berger", "Krause", "Pohl", "Richter", "Zimmermann", "Hoffmann", "Schulze",
              "Neumann", "Kowalski", "Nowak", "Lehmann", "Krüger", "Schröder", "Wolff",
              "Jähnig")
#: Clerks named in status notes and in the register's Bearbeiter column.
CLERKS = ("Dietrich Fabian", "Manuela Kschischo", "Uwe Tschöpe", "Grit Hanschke")
MAIL_DOMAINS = ("web.de", "gmx.de", "t-online.de", "posteo.de", "lausitz.net")

SERVICES = (("011", "Schlagloch"), ("012", "Straßenschaden"), ("013", "Gehweg beschädigt"),
            ("014", "Radweg beschädigt"), ("015", "Absenkung / Kanaldeckel"))
DAMAGE_TYPES = ("Schlagloch", "Riss", "Netzriss", "Absenkung", "Aufbruch", "Kantenschaden",
                "Spurrinne", "Flickstelle")

DESCRIPTIONS = (
    "Tiefes Schlagloch auf der rechten Fahrspur, ca. {size} cm breit. Autos weichen auf den "
    "Radweg aus.",
    "Großes Loch im Asphalt direkt vor Hausnummer {no}. Rückfragen gern an {email}.",
    "Der Gehweg ist auf mehreren Metern abgesackt, Stolpergefahr für Senioren. "
    "Tel. {phone}",
    "Radweg durch Wurzeln aufgebrochen, {neighbour_salutation} {neighbour} ist hier gestern "
    "mit dem Rad gestürzt.",
    "Kanaldeckel liegt ca. 5 cm tiefer als die Fahrbahn, es scheppert bei jedem Auto.",
    "Netzrisse über die ganze Breite, nach dem Frost noch schlimmer geworden.\n"
    "Mit freundlichen Grüßen\n{first} {last}",
    "Name: {first} {last}, erreichbar unter {phone}. Schlagloch an der Einmündung, seit "
    "Wochen mit Wasser gefüllt.",
    "Fotos vom Schaden: https://maengelmelder.cottbus.de/fotos/{token}.jpg - bitte dringend "
    "beheben!",
    "Bordstein abgebrochen, Kinderwagen kommt nicht mehr vorbei. Mein Name ist {first} "
    "{last}, Sie erreichen mich unter {email_obfuscated}.",
    "Spurrinnen an der Ampel, bei Regen steht dort das Wasser. Auto mit Kennzeichen "
    "CB-{plate} ist deswegen schon aufgesetzt.",
    "Aufbruch im Belag nach Bauarbeiten, nicht ordentlich verschlossen (Video: "
    "www.youtube.com/watch?v={token}). LG {first}",
    "Schlagloch in der Kurve, gefährlich für Motorradfahrer. Ich wohne in der {street} "
    "{no} und sehe das jeden Tag. Handy {phone}",
)
STATUS_NOTES = (
    "Auftrag an den Bauhof erteilt (Bearbeiter: {clerk}).",
    "Rückmeldung an {reporter} per Telefon {phone}, Kolonne kommt nächste Woche.",
    "Schaden im Schadenskataster erfasst, Instandsetzung im Bauprogramm.",
    "Duplikat einer früheren Meldung, zusammengeführt.",
    "Vor Ort geprüft durch {clerk}: Verkehrssicherung hergestellt.",
)
REMARKS = (
    "", "", "", "Verkehrssicherung durch Bauhof", "Kostenschätzung 2.400 EUR",
    "Anwohnerin Frau {last} hat angerufen, Rückruf unter {phone}",
    "im Bauprogramm 2025", "Gewährleistung prüfen (Baufirma)", "Provisorisch verfüllt",
    "Hinweis von Herrn {last} (Tel. {phone})",
)
REGISTER_STATUS = ("offen", "offen", "in Bearbeitung", "beauftragt", "erledigt")


def _street_shapes() -> dict[str, object]:
    """Union of the street parcels of each street in STREETS, from the parcel sample."""
    meta, _, wkb, cols = pyogrio.raw.read(SAMPLES_DIR / PARCELS)
    names = list(meta["fields"])
    lage, use = cols[names.index("lagebeztxt")], cols[names.index("tntxt")]
    geoms = shapely.from_wkb(wkb)
    shapes: dict[str, list] = {s: [] for s in STREETS}
    for name, tn, geom in zip(lage, use, geoms, strict=True):
        if name in shapes and str(tn).startswith("Straßenverkehr"):
            shapes[name].append(geom)
    missing = [s for s, parts in shapes.items() if not parts]
    if missing:
        raise RuntimeError(f"no street parcels for {missing} in {PARCELS}")
    return {s: shapely.union_all(parts) for s, parts in shapes.items()}


def _point_on(street: str, shapes: dict, rng: random.Random) -> tuple[float, float]:
    """A point on ``street`` (in its street parcels; on the segment for the Stadtring)."""
    if street == "Stadtring":
        (x0, y0), (x1, y1) = STADTRING
        t = rng.random()
        return round(x0 + t * (x1 - x0) + rng.uniform(-4, 4), 2), round(y0 + t * (y1 - y0), 2)
    shape = shapes[street]
    xmin, ymin, xmax, ymax = shape.bounds
    while True:
        x, y = round(rng.uniform(xmin, xmax), 2), round(rng.uniform(ymin, ymax), 2)
        if shape.contains(shapely.Point(x, y)):
            return x, y


def _phone(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"0355 {rng.randint(40, 79)}{rng.randint(100, 999)}-{rng.randint(10, 99)}"
    return f"01{rng.choice('567')}{rng.randint(0, 9)} {rng.randint(1000000, 9999999)}"


def _local(day: dt.datetime) -> str:
    return day.replace(tzinfo=BERLIN).isoformat(timespec="seconds")


def _open311(shapes: dict, rng: random.Random, to_wgs84: Transformer) -> list[dict]:
    requests = []
    streets = [*STREETS, "Stadtring"]
    start = dt.datetime(2023, 9, 1, 7, 0)
    for i in range(40):
        street = streets[i % len(streets)] if i < 30 else rng.choice(streets)
        x, y = _point_on(street, shapes, rng)
        lon, lat = to_wgs84.transform(x, y)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        phone = _phone(rng)
        email = f"{first.lower()}.{last.lower().replace('ä', 'ae').replace('ü', 'ue')}" \
                f"{rng.randint(1, 99)}@{rng.choice(MAIL_DOMAINS)}".replace("ö", "oe")
        code, service = SERVICES[i % len(SERVICES)]
        no = rng.randint(1, 120)
        requested = start + dt.timedelta(days=i * 11 + rng.randint(0, 9),
                                         minutes=rng.randint(0, 12 * 60))
        closed = i % 3 == 0
        updated = requested + dt.timedelta(days=rng.randint(1, 40), minutes=rng.randint(0, 600))
        neighbour_first, neighbour = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        description = None if i % 7 == 5 else DESCRIPTIONS[i % len(DESCRIPTIONS)].format(
            size=rng.randint(20, 80), no=no, email=email, phone=phone, first=first, last=last,
            neighbour_salutation=rng.choice(("Herr", "Frau")),
            neighbour=f"{neighbour_first} {neighbour}" if i % 2 else neighbour,
            token=f"{rng.getrandbits(48):012x}", plate=f"{rng.choice('ABKLMS')}"
            f"{rng.choice('ABKLMS')} {rng.randint(10, 999)}",
            email_obfuscated=email.replace("@", " (at) ").replace(".de", " (punkt) de"),
            street=street)
        address = f"{street} / Ecke Vetschauer Straße" if street == "Stadtring" and i % 2 \
            else f"{street} {no}, {STREETS.get(street, '03046')} Cottbus"
        request = {
            "service_request_id": 24000 + i * 7 + rng.randint(0, 6),
            "status": "closed" if closed else "open",
            "status_notes": STATUS_NOTES[i % len(STATUS_NOTES)].format(
                clerk=rng.choice(CLERKS), reporter=f"{first} {last}", phone=phone)
            if closed or i % 4 == 1 else None,
            "service_name": service,
            "service_code": code,
            "description": description,
            "agency_responsible": "Fachbereich Grün- und Verkehrsflächen",
            "service_notice": None,
            "requested_datetime": _local(requested),
            "updated_datetime": _local(updated) if closed or i % 4 == 1 else None,
            "expected_datetime": None,
            "address": address,
            "address_id": None,
            "zipcode": STREETS.get(street, "03046"),
            "lat": round(lat, 6),
            "long": round(lon, 6),
            "media_url": f"https://maengelmelder.cottbus.de/media/{2023 + i // 20}/"
                         f"{rng.getrandbits(40):010x}.jpg" if i % 3 != 2 else None,
        }
        if i % 5 != 4:  # most reports come with the reporter's contact details
            request.update({
                "email": email, "first_name": first, "last_name": last,
                "phone": phone if i % 2 == 0 else None,
                "device_id": f"{rng.getrandbits(64):016x}-{rng.getrandbits(32):08x}",
                "account_id": 5000 + rng.randint(0, 4999),
            })
        requests.append(request)
    return requests


def _register(shapes: dict, rng: random.Random) -> list[list[str]]:
    header = ["Schadens-Nr.", "Straße", "Schadensart", "Zustandsklasse", "Erfassungsdatum",
              "Status", "Rechtswert", "Hochwert", "Bemerkung", "Bearbeiter"]
    rows = [header]
    streets = [*STREETS, "Stadtring"]
    # Condition classes spread over the whole ZEB scale, thresholds included exactly.
    classes = [1.0, 1.3, 1.5, 1.8, 2.0, 2.2, 2.5, 2.7, 3.0, 3.2, 3.4, 3.5, 3.7, 3.9, 4.0, 4.2,
               4.4, 4.5, 4.7, 5.0]
    for i in range(40):
        street = streets[(i * 4) % len(streets)]
        x, y = _point_on(street, shapes, rng)
        condition = classes[(i * 7) % len(classes)]
        status = REGISTER_STATUS[i % len(REGISTER_STATUS)]
        surveyed = dt.date(2022, 4, 1) + dt.timedelta(days=i * 23 + rng.randint(0, 20))
        remark = REMARKS[i % len(REMARKS)].format(last=rng.choice(LAST_NAMES),
                                                  phone=_phone(rng))
        rows.append([
            f"SK-{surveyed.year}-{i * 13 + 101:04d}", street,
            DAMAGE_TYPES[(i * 5) % len(DAMAGE_TYPES)],
            f"{condition:.1f}".replace(".", ","), surveyed.strftime("%d.%m.%Y"), status,
            f"{x:.2f}".replace(".", ","), f"{y:.2f}".replace(".", ","), remark,
            CLERKS[i % len(CLERKS)],
        ])
    return rows


def write(out_dir: Path = SAMPLES_DIR) -> None:
    """Write both street-damage samples below ``out_dir``."""
    rng = random.Random(SEED)
    shapes = _street_shapes()
    to_wgs84 = Transformer.from_crs("EPSG:25833", "EPSG:4326", always_xy=True)
    folder = out_dir / OUT
    folder.mkdir(parents=True, exist_ok=True)

    requests = _open311(shapes, rng, to_wgs84)
    json_path = folder / "open311_requests.json"
    json_path.write_text(json.dumps(requests, ensure_ascii=False, indent=2) + "\n",
                         encoding="utf-8")

    rows = _register(shapes, rng)
    csv_path = folder / "schadenskataster.csv"
    # As Excel saves "CSV (Trennzeichen-getrennt)" on a German Windows: cp1252, CRLF, ';'.
    text = "".join(";".join(_cell(c) for c in row) + "\r\n" for row in rows)
    csv_path.write_bytes(text.encode("cp1252"))
    print(f"wrote {json_path.relative_to(out_dir)}: {len(requests)} Open311 requests\n"
          f"wrote {csv_path.relative_to(out_dir)}: {len(rows) - 1} register rows")


def _cell(value: str) -> str:
    if any(c in value for c in ';"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


if __name__ == "__main__":
    write()
