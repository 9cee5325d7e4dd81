"""The CRS of a city model, however the file spells it: one normaliser for every spelling.

CityJSON files and CityGML converted to CityJSON name their CRS in many ways:

- ``EPSG:25833``, ``EPSG::25833``, ``25833``;
- the OGC URI ``http(s)://www.opengis.net/def/crs/EPSG/0/25833`` and URN
  ``urn:ogc:def:crs:EPSG::25833``, also compound:
  ``urn:ogc:def:crs,crs:EPSG::25833,crs:EPSG::7837``;
- the OGC compound URL ``http://www.opengis.net/def/crs-compound?1=.../25833&2=.../7837``;
- ``EPSG:25833+7837`` (PROJ's compound spelling);
- the AdV URN of German CityGML, ``urn:adv:crs:ETRS89_UTM33*DE_DHHN2016_NH``.

Neither library can be trusted alone: cjio's ``get_epsg()`` takes the last number of the
string, which for the compound URL is the *height* datum (7837), and PROJ rejects both the
compound URL and the AdV URN. So compound URLs and AdV URNs are taken apart here, and
everything else is left to pyproj. The result is a horizontal CRS, used to reproject x/y into
the storage CRS, and the vertical datum the heights are in, kept as metadata: heights are
never transformed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from pyproj import CRS
from pyproj.exceptions import CRSError

#: Horizontal parts of AdV CRS names (GeoInfoDok, "urn:adv:crs:<horizontal>*<vertical>").
ADV_HORIZONTAL: dict[str, int] = {
    "ETRS89_UTM32": 25832,
    "ETRS89_UTM33": 25833,
    "ETRS89_LAT-LON": 4258,
    "DE_DHDN_3GK2": 31466,
    "DE_DHDN_3GK3": 31467,
    "DE_DHDN_3GK4": 31468,
    "DE_DHDN_3GK5": 31469,
}
#: Vertical parts of AdV CRS names: normal heights (NH) and normal-orthometric heights (NOH).
ADV_VERTICAL: dict[str, int] = {
    "DE_DHHN2016_NH": 7837,
    "DE_DHHN92_NH": 5783,
    "DE_DHHN12_NOH": 7699,
    "DE_DHHN85_NOH": 5784,
}

_ADV_URN = re.compile(r"urn:adv:crs:(?P<h>[^*\s]+)(?:\*(?P<v>\S+))?", re.IGNORECASE)
_EPSG_SHORT = re.compile(r"(?:epsg:{1,2})?(?P<h>\d{4,6})(?:\+(?P<v>\d{4,6}))?", re.IGNORECASE)


class CRSNotUnderstood(ValueError):
    """A CRS string that names no usable horizontal CRS; the message says why.

    Messages name the CRS unquoted: a load's messages mask quoted values (twin.redact).
    """


@dataclass(frozen=True)
class CityCRS:
    """The CRS of a city model: horizontal CRS (x/y) and, where named, the height datum (z)."""

    horizontal: CRS
    vertical: CRS | None
    #: The string as the file (or --crs) gave it.
    given: str

    @property
    def horizontal_code(self) -> str:
        """``EPSG:25833``, or the CRS's name when it has no EPSG code."""
        return _code(self.horizontal)

    @property
    def height_datum(self) -> str | None:
        """``EPSG:7837`` (DHHN2016 height) and the like; None when the file does not say."""
        return None if self.vertical is None else _code(self.vertical)

    def describe(self) -> str:
        """For messages: ``EPSG:25833 (ETRS89 / UTM zone 33N) + EPSG:7837 (DHHN2016 height)``."""
        text = f"{self.horizontal_code} ({self.horizontal.name})"
        if self.vertical is not None:
            text += f" + {self.height_datum} ({self.vertical.name})"
        return text


def _code(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


def parse_city_crs(text: str) -> CityCRS:
    """The :class:`CityCRS` of a CRS string in any spelling listed in the module docstring.

    Raises
    ------
    CRSNotUnderstood
        The string names no CRS, only a height datum, or a CRS that is not 2D horizontal.
    """
    given = text
    text = text.strip()
    if not text:
        raise CRSNotUnderstood("the CRS is empty")
    if "crs-compound" in text.lower():
        horizontal, vertical = _compound_url(text)
    elif match := _ADV_URN.fullmatch(text):
        horizontal, vertical = _adv_urn(match)
    elif match := _EPSG_SHORT.fullmatch(text):
        horizontal = _from_pyproj(f"EPSG:{match['h']}")
        vertical = _from_pyproj(f"EPSG:{match['v']}") if match["v"] else None
        if vertical is None:
            horizontal, vertical = _split(horizontal)
    else:
        horizontal, vertical = _split(_from_pyproj(text))
    if horizontal.is_vertical:
        raise CRSNotUnderstood(f"{given} names only a height datum ({horizontal.name}), "
                               "not the CRS of x and y")
    if not (horizontal.is_projected or horizontal.is_geographic):
        raise CRSNotUnderstood(f"{given} is a {horizontal.type_name}, not a projected or "
                               "geographic CRS")
    if vertical is not None and not vertical.is_vertical:
        raise CRSNotUnderstood(f"the second part of {given} ({vertical.name}) is not a "
                               "height datum")
    if len(horizontal.axis_info) > 2:  # a 3D projected or geographic CRS: its x/y part
        horizontal = horizontal.to_2d()
    return CityCRS(horizontal, vertical, given)


def _from_pyproj(text: str) -> CRS:
    try:
        return CRS.from_user_input(text)
    except CRSError as exc:
        raise CRSNotUnderstood(f"{text} is not a CRS that PROJ knows") from exc


def _split(crs: CRS) -> tuple[CRS, CRS | None]:
    """A compound CRS as (horizontal, vertical); any other as (itself, None)."""
    if crs.is_compound and len(crs.sub_crs_list) == 2:
        return crs.sub_crs_list[0], crs.sub_crs_list[1]
    return crs, None


def _compound_url(text: str) -> tuple[CRS, CRS | None]:
    """``http://www.opengis.net/def/crs-compound?1=<uri>&2=<uri>``: each part is one URI."""
    parts = [v for k, v in sorted(parse_qsl(urlsplit(text).query), key=lambda kv: kv[0])]
    if not parts:
        raise CRSNotUnderstood(f"the compound CRS {text} names no component CRS")
    crs = [_from_pyproj(p) for p in parts]
    horizontal = [c for c in crs if not c.is_vertical]
    vertical = [c for c in crs if c.is_vertical]
    if len(horizontal) != 1 or len(vertical) > 1:
        raise CRSNotUnderstood(f"the compound CRS {text} is not one horizontal CRS and at "
                               "most one height datum")
    return horizontal[0], vertical[0] if vertical else None


def _adv_urn(match: re.Match[str]) -> tuple[CRS, CRS | None]:
    h, v = match["h"].upper(), (match["v"] or "").upper()
    if h not in ADV_HORIZONTAL:
        raise CRSNotUnderstood(f"unknown AdV CRS {match['h']}; known: "
                               f"{', '.join(ADV_HORIZONTAL)}")
    if v and v not in ADV_VERTICAL:
        raise CRSNotUnderstood(f"unknown AdV height datum {match['v']}; known: "
                               f"{', '.join(ADV_VERTICAL)}")
    return CRS.from_epsg(ADV_HORIZONTAL[h]), CRS.from_epsg(ADV_VERTICAL[v]) if v else None
