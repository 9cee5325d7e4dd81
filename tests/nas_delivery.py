"""A small NAS delivery (NAS-XML after GeoInfoDok 6.0) written for the tests: parcels in Cottbus
and an invented owner, built from the published AAA schema's element names.

Never a real owner: the person, the address and the land-register sheet are made up, so that a
test can look for them everywhere the load could have put them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

NAMESPACE = "http://www.adv-online.de/namespaces/adv/gid/6.0"
#: The invented owner; tests assert that none of this appears anywhere.
OWNER = {"nachnameOderFirma": "Zwiebelmuster-Quastenflosser", "vorname": "Adelheid",
         "geburtsdatum": "1931-02-28"}
OWNER_ADDRESS = {"ort_Post": "Quastenhausen", "strasse": "Zwiebelgasse", "hausnummer": "99"}
OWNER_SHEET = "Blatt 998877"


@dataclass(frozen=True)
class Parcel:
    """One AX_Flurstueck: key parts, official area and a boundary (x, y) in EPSG:25833; an
    ``arc`` (three points) replaces the ring's edge from its third to its fourth vertex."""

    gemarkung: str  # 4 digits
    flur: int
    zaehler: int
    nenner: int | None
    flaeche: int
    ring: tuple[tuple[float, float], ...]  # closed, four corners + first
    arc_middle: tuple[float, float] | None = None

    @property
    def kennzeichen(self) -> str:
        nenner = f"{self.nenner:04d}" if self.nenner is not None else "____"
        return f"12{self.gemarkung}{self.flur:03d}{self.zaehler:05d}{nenner}__"


def _box(x: float, y: float, w: float, h: float) -> tuple[tuple[float, float], ...]:
    return ((x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y))


#: Three parcels in Cottbus (Gemarkung Cottbus 4166, Flur 1 and 2); the second has an arc.
PARCELS = (
    Parcel("4166", 1, 120, 3, 600, _box(454_000, 5_735_000, 20, 30)),
    Parcel("4166", 1, 121, None, 757, _box(454_030, 5_735_000, 20, 30),
           arc_middle=(454_040, 5_735_038)),
    Parcel("4166", 2, 7, 12, 1200, _box(454_100, 5_735_100, 40, 30)),
)


def _pos(points: tuple[tuple[float, float], ...]) -> str:
    return " ".join(f"{x:.3f} {y:.3f}" for x, y in points)


def _geometry(p: Parcel) -> str:
    if p.arc_middle is None:
        return (f'<gml:Polygon srsName="urn:adv:crs:ETRS89_UTM33"><gml:exterior><gml:LinearRing>'
                f"<gml:posList>{_pos(p.ring)}</gml:posList></gml:LinearRing></gml:exterior>"
                "</gml:Polygon>")
    a, b, c, d, _ = p.ring
    return (
        '<gml:Surface srsName="urn:adv:crs:ETRS89_UTM33"><gml:patches><gml:PolygonPatch>'
        "<gml:exterior><gml:Ring><gml:curveMember><gml:Curve><gml:segments>"
        f"<gml:LineStringSegment><gml:posList>{_pos((a, b, c))}</gml:posList>"
        "</gml:LineStringSegment>"
        f"<gml:Arc><gml:posList>{_pos((c, p.arc_middle, d))}</gml:posList></gml:Arc>"
        f"<gml:LineStringSegment><gml:posList>{_pos((d, a))}</gml:posList>"
        "</gml:LineStringSegment>"
        "</gml:segments></gml:Curve></gml:curveMember></gml:Ring></gml:exterior>"
        "</gml:PolygonPatch></gml:patches></gml:Surface>")


def _flurstueck(i: int, p: Parcel) -> str:
    nenner = f"<nenner>{p.nenner}</nenner>" if p.nenner is not None else ""
    return f"""
<gml:featureMember><AX_Flurstueck gml:id="DEBBAL01000000{i:02d}">
<gml:identifier codeSpace="http://www.adv-online.de/">urn:adv:oid:DEBBAL01000000{i:02d}</gml:identifier>
<lebenszeitintervall><AA_Lebenszeitintervall><beginnt>2021-03-0{i + 1}T10:00:00Z</beginnt>
</AA_Lebenszeitintervall></lebenszeitintervall>
<modellart><AA_Modellart><advStandardModell>DLKM</advStandardModell></AA_Modellart></modellart>
<anlass>010102</anlass>
<position>{_geometry(p)}</position>
<gemarkung><AX_Gemarkung_Schluessel><land>12</land>
<gemarkungsnummer>{p.gemarkung}</gemarkungsnummer></AX_Gemarkung_Schluessel></gemarkung>
<flurstuecksnummer><AX_Flurstuecksnummer><zaehler>{p.zaehler}</zaehler>{nenner}
</AX_Flurstuecksnummer></flurstuecksnummer>
<flurstueckskennzeichen>{p.kennzeichen}</flurstueckskennzeichen>
<amtlicheFlaeche uom="m2">{p.flaeche}</amtlicheFlaeche>
<flurnummer>{p.flur}</flurnummer>
<zeitpunktDerEntstehung>1990-10-03</zeitpunktDerEntstehung>
<gemeindezugehoerigkeit><AX_Gemeindekennzeichen><land>12</land><kreis>52</kreis>
<gemeinde>000</gemeinde></AX_Gemeindekennzeichen></gemeindezugehoerigkeit>
<istGebucht xlink:href="urn:adv:oid:DEBBAL0200000001"/>
</AX_Flurstueck></gml:featureMember>"""


def _owners() -> str:
    person = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in OWNER.items())
    address = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in OWNER_ADDRESS.items())
    return f"""
<gml:featureMember><AX_Person gml:id="DEBBAL0300000001">
<lebenszeitintervall><AA_Lebenszeitintervall><beginnt>2021-03-01T10:00:00Z</beginnt>
</AA_Lebenszeitintervall></lebenszeitintervall>
<modellart><AA_Modellart><advStandardModell>DLKM</advStandardModell></AA_Modellart></modellart>
{person}<hat xlink:href="urn:adv:oid:DEBBAL0400000001"/>
</AX_Person></gml:featureMember>
<gml:featureMember><AX_Anschrift gml:id="DEBBAL0400000001">
<lebenszeitintervall><AA_Lebenszeitintervall><beginnt>2021-03-01T10:00:00Z</beginnt>
</AA_Lebenszeitintervall></lebenszeitintervall>
<modellart><AA_Modellart><advStandardModell>DLKM</advStandardModell></AA_Modellart></modellart>
{address}
</AX_Anschrift></gml:featureMember>
<gml:featureMember><AX_Buchungsblatt gml:id="DEBBAL0500000001">
<lebenszeitintervall><AA_Lebenszeitintervall><beginnt>2021-03-01T10:00:00Z</beginnt>
</AA_Lebenszeitintervall></lebenszeitintervall>
<modellart><AA_Modellart><advStandardModell>DLKM</advStandardModell></AA_Modellart></modellart>
<buchungsblattkennzeichen>{escape(OWNER_SHEET)}</buchungsblattkennzeichen>
</AX_Buchungsblatt></gml:featureMember>"""


_HEAD = f"""<?xml version="1.0" encoding="UTF-8"?>
<{{root}} xmlns="{NAMESPACE}" xmlns:gml="http://www.opengis.net/gml/3.2"
 xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
 xmlns:wfs="http://www.adv-online.de/namespaces/adv/gid/wfs"
 xmlns:ogc="http://www.adv-online.de/namespaces/adv/gid/ogc"
 xsi:schemaLocation="{NAMESPACE} NAS-Operationen.xsd">
<erlaeuterung>Test delivery of the twin (invented data)</erlaeuterung>
"""


def write_delivery(path: Path, parcels: tuple[Parcel, ...] = PARCELS) -> Path:
    """A full delivery (AX_Bestandsdatenauszug) of ``parcels`` and the invented owner."""
    members = "".join(_flurstueck(i, p) for i, p in enumerate(parcels)) + _owners()
    path.write_text(
        _HEAD.format(root="AX_Bestandsdatenauszug")
        + f'<enthaelt><wfs:FeatureCollection gml:id="FC1">{members}\n'
        + "</wfs:FeatureCollection></enthaelt>\n</AX_Bestandsdatenauszug>\n", encoding="utf-8")
    return path


def write_update(path: Path) -> Path:
    """A differential update (NBA): a wfs:Transaction replacing one parcel."""
    p = PARCELS[0]
    path.write_text(
        _HEAD.format(root="AX_NutzerbezogeneBestandsdatenaktualisierung_NBA")
        + '<enthaelt><wfs:Transaction version="1.0.0" service="WFS">'
        + '<wfsext:Replace xmlns:wfsext="http://www.adv-online.de/namespaces/adv/gid/wfsext" '
        + 'vendorId="AdV" safeToIgnore="false">'
        + _flurstueck(0, p).replace("<gml:featureMember>", "").replace("</gml:featureMember>", "")
        + '<ogc:Filter><ogc:FeatureId fid="DEBBAL0100000000"/></ogc:Filter>'
        + "</wfsext:Replace></wfs:Transaction></enthaelt>\n"
        + "</AX_NutzerbezogeneBestandsdatenaktualisierung_NBA>\n", encoding="utf-8")
    return path
