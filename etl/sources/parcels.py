"""Cadastral parcels: the Flurstück layer of ALKIS, in the schemas the states deliver it.

* ALKIS vereinfacht (``ave:Flurstueck``), as the states' open WFS and downloads deliver it, in
  any format GDAL reads, with the field variants of other states and WFS versions;
* the AAA model (``AX_Flurstueck``), as many states' WFS answer in GML;
* NAS-XML, the bulk delivery of ALKIS (``AX_Bestandsdatenauszug``), through GDAL's NAS driver
  (:mod:`etl.nas`); only its ``AX_Flurstueck`` layer is read.

Owner data (names, addresses, land-register links) is never among the accepted spellings, so it
never reaches a published table; unknown columns are dropped by name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etl import nas
from etl.geometry import resolve_crs
from etl.io.vector import ARC_STEP_DEGREES, Batch, inspect_vector, read_vector
from etl.sources.base import LoadOptions, Part, VectorSource
from twin.errors import SourceError
from twin.registry import PARCELS


@dataclass(frozen=True)
class Spelling:
    """The accepted spellings (lower case) of one published field in each schema; the first
    present wins. GDAL's GML and NAS drivers name a nested AAA element by its own name, or by
    its path joined with '|' where that name is taken."""

    field: str
    ave: tuple[str, ...]
    aaa: tuple[str, ...]
    #: How the field is read or made beyond its spellings (shown in docs/sources/parcels.md).
    rule: str = ""


#: One table of accepted spellings per field; docs/sources/parcels.md shows it.
SPELLINGS: tuple[Spelling, ...] = (
    Spelling("flstkennz", ("flstkennz",), ("flurstueckskennzeichen",)),
    Spelling("land", ("land",), (), "AAA: the state's name from the Land key (`12`: Brandenburg)"),
    Spelling("gemarkung", ("gemarkung",), ()),
    Spelling("gemaschl", ("gemaschl",), (),
             "AAA: `land` + `gemarkungsnummer` of `gemarkung/AX_Gemarkung_Schluessel`; "
             "absent: the first 6 characters of `flstkennz`"),
    Spelling("flur", ("flur",), ("flurnummer",), "`Flur 2` is read as 2"),
    Spelling("flstnrzae", ("flstnrzae",), ("zaehler",),
             "absent: split from `flurstnr` (`425/1`: 425)"),
    Spelling("flstnrnen", ("flstnrnen",), ("nenner",),
             "absent: split from `flurstnr` (`425/1`: 1)"),
    Spelling("flaeche", ("flaeche",), ("amtlicheflaeche",)),
    Spelling("lagebeztxt", ("lagebeztxt",), ()),
    Spelling("tntxt", ("tntxt",), ()),
    Spelling("kreis", ("kreis",), ()),
    Spelling("kreisschl", ("kreisschl",), (),
             "AAA: `land` + `regierungsbezirk` (0 when none) + `kreis` of "
             "`gemeindezugehoerigkeit/AX_Gemeindekennzeichen`"),
    Spelling("gemeinde", ("gemeinde",), ()),
    Spelling("gmdschl", ("gmdschl",), (),
             "AAA: `kreisschl` + `gemeinde` of the same"),
    Spelling("aktualit", ("aktualit",), ("beginnt",),
             "AAA: the date of `lebenszeitintervall/AA_Lebenszeitintervall/beginnt`"),
    Spelling("idflurst", ("idflurst",), ("gml_id",), "AAA: the object's `gml:id`"),
)

#: Columns of the ave schema read only to derive a field.
_AVE_SOURCES = ("flurstnr",)
#: The AAA key parts: (spellings, digits). Land of the Gemarkung comes first in AX_Flurstueck,
#: so it has the short name; the Gemeindekennzeichen's Land gets the path.
_GEMARKUNG_LAND = (("gemarkung|ax_gemarkung_schluessel|land", "land"), 2)
_GEMARKUNGSNUMMER = (("gemarkungsnummer",), 4)
_GEMEINDE_PARTS = (
    (("gemeindezugehoerigkeit|ax_gemeindekennzeichen|land",), 2),
    (("regierungsbezirk", "gemeindezugehoerigkeit|ax_gemeindekennzeichen|regierungsbezirk"), 1),
    (("kreis", "gemeindezugehoerigkeit|ax_gemeindekennzeichen|kreis"), 2),
    (("gemeinde", "gemeindezugehoerigkeit|ax_gemeindekennzeichen|gemeinde"), 3),
)
#: Keys that GDAL may have read as numbers (losing leading zeros): their widths.
_KEY_WIDTHS = {"gemaschl": 6, "kreisschl": 5, "gmdschl": 8}

#: The states by their key (Länderschlüssel), for the AAA schema's Land.
LAENDER = {
    "01": "Schleswig-Holstein", "02": "Hamburg", "03": "Niedersachsen", "04": "Bremen",
    "05": "Nordrhein-Westfalen", "06": "Hessen", "07": "Rheinland-Pfalz",
    "08": "Baden-Württemberg", "09": "Bayern", "10": "Saarland", "11": "Berlin",
    "12": "Brandenburg", "13": "Mecklenburg-Vorpommern", "14": "Sachsen",
    "15": "Sachsen-Anhalt", "16": "Thüringen",
}

_FLUR = re.compile(r"(?i)\s*flur\s*(\d+)\s*")
_FLURSTNR = re.compile(r"\s*(\d+)\s*(?:/\s*(\d+)\s*)?")


def spellings_table() -> str:
    """The table of accepted spellings as Markdown (docs/sources/parcels.md holds it; a test
    checks that it is current)."""
    def names(spellings: tuple[str, ...]) -> str:
        return ", ".join(f"`{n}`" for n in spellings) or "–"

    lines = ["| field | ALKIS vereinfacht (`ave:Flurstueck`) | AAA (`AX_Flurstueck`, NAS) "
             "| rule |", "|---|---|---|---|"]
    lines += [f"| `{s.field}` | {names(s.ave)} | {names(s.aaa)} | {s.rule or '–'} |"
              for s in SPELLINGS]
    return "\n".join(lines) + "\n"


class ParcelsSource(VectorSource):
    name = "parcels"
    collections = (PARCELS,)
    required = ("flstkennz",)
    # Land (2) + Gemarkung (4) + Flur (3) + Zähler (5) digits, Nenner (4) and two fillers,
    # where an absent Nenner is written as underscores.
    key_pattern = re.compile(r"\d{14}[\d_]{4}__")
    key_description = "a 20-character Flurstückskennzeichen (e.g. 124166001000120003__)"

    def read(self, paths: list[Path], options: LoadOptions) -> Iterator[Part]:
        for path in paths:
            kind = nas.sniff(path) if path.is_file() else None
            if kind is nas.NasKind.UPDATE:
                raise nas.refuse_update(path)
            if kind is nas.NasKind.FULL:
                with nas.flurstuecke(path) as gpkg:
                    yield from self._read_file(gpkg, options, shown=path, layer=nas.LAYER)
            else:
                yield from self._read_file(path, options, shown=path, layer=options.layer)

    def _read_file(self, path: Path, options: LoadOptions, *, shown: Path,
                   layer: str | None) -> Iterator[Part]:
        """The parts of one GDAL-readable file; messages name ``shown`` (the file the user
        gave, when ``path`` is a conversion of it)."""
        collection = self.collections[0]
        try:
            info = inspect_vector(path, layer)
        except SourceError as exc:
            raise SourceError(exc.reason, path=str(shown)) from exc
        if info.feature_count == 0 and not options.allow_empty:
            raise SourceError("the file holds no features; use --allow-empty to publish "
                              "an empty collection", path=str(shown))
        available = {f.lower() for f in info.fields}
        aaa = "flurstueckskennzeichen" in available
        mapping = {s.field: _first(s.aaa if aaa else s.ave, available) for s in SPELLINGS}
        if mapping["flstkennz"] is None and info.feature_count != 0:
            raise SourceError(
                "required field 'flstkennz' is missing (in the AAA schema: "
                f"'flurstueckskennzeichen'); the file has: {', '.join(info.fields) or 'no fields'}",
                path=str(shown))
        used = {c for c in mapping.values() if c}
        if aaa:
            used |= {c for names, _ in (_GEMARKUNG_LAND, _GEMARKUNGSNUMMER, *_GEMEINDE_PARTS)
                     if (c := _first(names, available))}
        else:
            used |= {c for c in _AVE_SOURCES if c in available}
        dropped = sorted(available - used)
        if dropped:
            # Names only: the values of unknown columns (owner data, say) go nowhere.
            self.notes.append(f"{shown}: columns not published and dropped: "
                              f"{', '.join(dropped)}")
        if aaa:
            self.notes.append(
                f"{shown}: AAA schema (AX_Flurstueck): the names of Gemarkung, Kreis and "
                "Gemeinde, the location and the land use are other ALKIS objects and stay empty")
        crs = resolve_crs(str(shown), info.crs, options.crs)
        linearised = 0
        for batch in read_vector(path, info, batch_size=self.batch_size):
            columns = {name: batch.columns[col] if col else [None] * len(batch)
                       for name, col in mapping.items()}
            if aaa:
                _derive_aaa(columns, batch, available)
            else:
                _derive_ave(columns, batch)
            _pad_keys(columns)
            linearised += batch.linearised
            yield Part(collection, Batch(columns, batch.geometries, batch.rows), shown, crs,
                       info.feature_count)
        if linearised:
            self.notes.append(
                f"{shown}: {linearised} parcel(s) with arcs (curves) linearised by GDAL, at most "
                f"{ARC_STEP_DEGREES:g} degree of arc per vertex")


def _first(names: tuple[str, ...], available: set[str]) -> str | None:
    return next((n for n in names if n in available), None)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _digits(value: Any, width: int) -> str | None:
    """A key part as its digits, zero-padded (GDAL reads '05' as the number 5)."""
    text = _text(value)
    if text is None:
        return None
    return text.zfill(width) if text.isdigit() else text


def _derive_ave(columns: dict[str, list], batch: Batch) -> None:
    """Fields the ave variants write differently: 'Flur 2', flurstnr '425/1', no gemaschl."""
    n = len(batch)
    columns["flur"] = [_flur(v) for v in columns["flur"]]
    numbers = batch.columns.get("flurstnr")
    if numbers is not None:
        split = [_flurstnr(v) for v in numbers]
        for i in range(n):
            if columns["flstnrzae"][i] is None and columns["flstnrnen"][i] is None:
                columns["flstnrzae"][i], columns["flstnrnen"][i] = split[i]
    columns["gemaschl"] = [g if _text(g) else _key_prefix(k)
                           for g, k in zip(columns["gemaschl"], columns["flstkennz"], strict=True)]


def _derive_aaa(columns: dict[str, list], batch: Batch, available: set[str]) -> None:
    """Published fields from AX_Flurstueck's nested keys."""
    n = len(batch)

    def part(spec: tuple[tuple[str, ...], int]) -> list[str | None]:
        names, width = spec
        col = _first(names, available)
        return [_digits(v, width) for v in batch.columns[col]] if col else [None] * n

    land, number = part(_GEMARKUNG_LAND), part(_GEMARKUNGSNUMMER)
    columns["gemaschl"] = [a + b if a and b else _key_prefix(k)
                           for a, b, k in zip(land, number, columns["flstkennz"], strict=True)]
    columns["land"] = [LAENDER.get(g[:2]) if g else None for g in columns["gemaschl"]]
    g_land, bezirk, kreis, gemeinde = (part(p) for p in _GEMEINDE_PARTS)
    g_land = [a or (g[:2] if g else None) for a, g in zip(g_land, columns["gemaschl"],
                                                            strict=True)]
    # A state without Regierungsbezirke (Brandenburg) writes none: its digit is 0.
    bezirk = [b or "0" for b in bezirk]
    columns["kreisschl"] = [a + b + k if a and k else None
                            for a, b, k in zip(g_land, bezirk, kreis, strict=True)]
    columns["gmdschl"] = [ks + g if ks and g else None
                          for ks, g in zip(columns["kreisschl"], gemeinde, strict=True)]
    for name in ("flstnrzae", "flstnrnen"):
        columns[name] = [_text(v) for v in columns[name]]


def _pad_keys(columns: dict[str, list]) -> None:
    for name, width in _KEY_WIDTHS.items():
        columns[name] = [_digits(v, width) for v in columns[name]]


def _key_prefix(key: Any) -> str | None:
    """The Gemarkung key: Land (2) and Gemarkung (4), the first 6 characters of flstkennz."""
    text = _text(key)
    return text[:6] if text and text[:6].isdigit() else None


def _flur(value: Any) -> Any:
    """'Flur 2' -> '2'; anything else as it is (the core says what is wrong with it)."""
    if isinstance(value, str) and (m := _FLUR.fullmatch(value)):
        return m.group(1)
    return value


def _flurstnr(value: Any) -> tuple[str | None, str | None]:
    """'425/1' -> ('425', '1'); '85' -> ('85', None); anything else unsplit, as the Zähler."""
    text = _text(value)
    if text is None:
        return None, None
    m = _FLURSTNR.fullmatch(text)
    return (m.group(1), m.group(2)) if m else (text, None)
