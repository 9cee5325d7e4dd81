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
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from etl import nas, parcel_key
from etl.cells import digits, key_text
from etl.columns import Column, Columns, Matched
from etl.copy_binary import is_text as _text
from etl.geometry import resolve_crs
from etl.io.vector import ARC_STEP_DEGREES, ArrowColumns, Batch, inspect_vector, read_vector
from etl.parcel_key import LAENDER, NENNER
from etl.sources.base import LoadOptions, Part, VectorSource
from twin.errors import RecordError, SourceError
from twin.registry import PARCELS, Collection
from twin.settings import Settings

_NO_KEY = ("required field 'flstkennz' is missing (in the AAA schema: "
           "'flurstueckskennzeichen')")

#: ALKIS vereinfacht (``ave:Flurstueck``): the published fields, then a column read only to
#: derive two of them. Spellings in lower case, as docs/sources/parcels.md shows them.
AVE = Columns((
    Column("flstkennz", ("flstkennz",), required=True, missing=_NO_KEY),
    Column("land", ("land",)),
    Column("gemarkung", ("gemarkung",)),
    Column("gemaschl", ("gemaschl",)),
    Column("flur", ("flur",)),
    Column("flstnrzae", ("flstnrzae",)),
    Column("flstnrnen", ("flstnrnen",)),
    Column("flaeche", ("flaeche",)),
    Column("lagebeztxt", ("lagebeztxt",)),
    Column("tntxt", ("tntxt",)),
    Column("kreis", ("kreis",)),
    Column("kreisschl", ("kreisschl",)),
    Column("gemeinde", ("gemeinde",)),
    Column("gmdschl", ("gmdschl",)),
    Column("aktualit", ("aktualit",)),
    Column("idflurst", ("idflurst",)),
    Column("flurstnr", ("flurstnr",)),  # '425/1': Zähler and Nenner, when they are absent
))

#: The AAA model (``AX_Flurstueck``): the published fields it has, then the parts of the keys
#: the others are made of ((spellings), digits). GDAL's GML and NAS drivers name a nested
#: element by its own name, or by its path joined with '|' where that name is taken: the Land of
#: the Gemarkung comes first in AX_Flurstueck, so it has the short name, the Land of the
#: Gemeindekennzeichen the path.
AAA = Columns((
    Column("flstkennz", ("flurstueckskennzeichen",), required=True, missing=_NO_KEY),
    Column("flur", ("flurnummer",)),
    Column("flstnrzae", ("zaehler",)),
    Column("flstnrnen", ("nenner",)),
    Column("flaeche", ("amtlicheflaeche",)),
    Column("aktualit", ("beginnt",)),
    Column("idflurst", ("gml_id",)),
    Column("gemarkung_land", ("gemarkung|ax_gemarkung_schluessel|land", "land")),
    Column("gemarkungsnummer", ("gemarkungsnummer",)),
    Column("gemeinde_land", ("gemeindezugehoerigkeit|ax_gemeindekennzeichen|land",)),
    Column("regierungsbezirk", (
        "regierungsbezirk", "gemeindezugehoerigkeit|ax_gemeindekennzeichen|regierungsbezirk")),
    Column("gemeinde_kreis", ("kreis", "gemeindezugehoerigkeit|ax_gemeindekennzeichen|kreis")),
    Column("gemeinde_nummer", (
        "gemeinde", "gemeindezugehoerigkeit|ax_gemeindekennzeichen|gemeinde")),
))
#: The digits of the AAA key parts.
_PART_WIDTHS = {"gemarkung_land": 2, "gemarkungsnummer": 4, "gemeinde_land": 2,
                "regierungsbezirk": 1, "gemeinde_kreis": 2, "gemeinde_nummer": 3}

#: The published fields, in the order of docs/sources/parcels.md, and how a field is read or
#: made beyond its spellings.
RULES = {
    "flstkennz": "", "land": "AAA: the state's name from the Land key (`12`: Brandenburg)",
    "gemarkung": "",
    "gemaschl": "AAA: `land` + `gemarkungsnummer` of `gemarkung/AX_Gemarkung_Schluessel`; "
                "absent: the first 6 characters of `flstkennz`",
    "flur": "`Flur 2` is read as 2",
    "flstnrzae": "absent: split from `flurstnr` (`425/1`: 425)",
    "flstnrnen": "absent: split from `flurstnr` (`425/1`: 1)",
    "flaeche": "", "lagebeztxt": "", "tntxt": "", "kreis": "",
    "kreisschl": "AAA: `land` + `regierungsbezirk` (0 when none) + `kreis` of "
                 "`gemeindezugehoerigkeit/AX_Gemeindekennzeichen`",
    "gemeinde": "", "gmdschl": "AAA: `kreisschl` + `gemeinde` of the same",
    "aktualit": "AAA: the date of `lebenszeitintervall/AA_Lebenszeitintervall/beginnt`",
    "idflurst": "AAA: the object's `gml:id`",
}
#: Keys that GDAL may have read as numbers (losing leading zeros): their widths.
_KEY_WIDTHS = {"gemaschl": 6, "kreisschl": 5, "gmdschl": 8}

_FLUR = re.compile(r"(?i)\s*flur\s*(\d+)\s*")
_FLURSTNR = re.compile(r"\s*(\d+)\s*(?:/\s*(\d+)\s*)?")


def spellings_table() -> str:
    """The table of accepted spellings as Markdown (docs/sources/parcels.md holds it; a test
    checks that it is current)."""
    def names(columns: Columns, field: str) -> str:
        return ", ".join(f"`{n}`" for n in columns.spellings_of(field)) or "–"

    lines = ["| field | ALKIS vereinfacht (`ave:Flurstueck`) | AAA (`AX_Flurstueck`, NAS) "
             "| rule |", "|---|---|---|---|"]
    lines += [f"| `{f}` | {names(AVE, f)} | {names(AAA, f)} | {rule or '–'} |"
              for f, rule in RULES.items()]
    return "\n".join(lines) + "\n"


class ParcelsSource(VectorSource):
    name = "parcels"
    collections = (PARCELS,)
    #: The Land whose parcels are published (its Länderschlüssel); configure() sets it from
    #: the settings (TWIN_LAND_KEY).
    land_key: str = "12"

    def configure(self, settings: Settings) -> None:
        super().configure(settings)
        self.land_key = settings.land_key

    def key_problem(self, collection: Collection, key: str) -> str | None:
        return parcel_key.problem(key, self.land_key)

    def duplicate_hint(self, key: str) -> str:
        if NENNER.of(key) != NENNER.none:
            return ""
        return (f" (a Nenner written '0000' is read as AdV's '{NENNER.none}', no Nenner: "
                "both spellings are one parcel)")

    def record_problems(self, part: Part) -> Iterator[RecordError]:
        """A key whose parts say otherwise than the record's own Gemarkung, Flur and number."""
        columns = part.batch.columns
        gemaschl, flur = columns["gemaschl"], columns["flur"]
        zaehler, nenner = columns["flstnrzae"], columns["flstnrnen"]
        for i, raw in enumerate(columns["flstkennz"]):
            if type(raw) is str and parcel_key.sound(raw, self.land_key, gemaschl[i], flur[i],
                                                     zaehler[i], nenner[i]):
                continue  # the usual record, passed in one quick test
            key = key_text(raw)
            if key is None or parcel_key.problem(key, self.land_key):
                continue  # the core names a missing or malformed key
            for field, why in parcel_key.disagreements(
                    key, gemaschl=gemaschl[i], flur=flur[i], zaehler=zaehler[i],
                    nenner=nenner[i]):
                yield RecordError(why, path=str(part.path), row=int(part.batch.rows[i]),
                                  field=field)

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
        columns = AAA.match(info.fields, path=shown, required=False)
        aaa = "flstkennz" in columns
        if not aaa:
            # An empty GeoJSON has no fields at all: nothing is missing from no features.
            columns = AVE.match(info.fields, path=shown, required=info.feature_count != 0)
        if note := columns.note():
            self.notes.append(note)
        if aaa:
            self.notes.append(
                f"{shown}: AAA schema (AX_Flurstueck): the names of Gemarkung, Kreis and "
                "Gemeinde, the location and the land use are other ALKIS objects and stay empty")
        crs = resolve_crs(str(shown), info.crs, options.crs)
        linearised = 0
        zero_nenner: list[tuple[int, str]] = []
        for batch in read_vector(path, info, batch_size=self.batch_size):
            read = _Read(columns, batch)
            linearised += batch.linearised
            arrow = None if aaa else _ave_arrow(read, self.land_key)
            if arrow is not None:
                yield Part(collection, Batch(ArrowColumns(arrow), batch.geometries, batch.rows,
                                             batch.linearised, batch.wkb),
                           shown, crs, info.feature_count, arrow=arrow)
                continue
            fields = {name: read.column(name) for name in RULES}
            if aaa:
                _derive_aaa(fields, read)
            else:
                _derive_ave(fields, read)
            for name, width in _KEY_WIDTHS.items():
                fields[name] = [_digits(v, width) for v in fields[name]]
            zero_nenner.extend(_adv_fill(fields, batch.rows))
            yield Part(collection, Batch(fields, batch.geometries, batch.rows), shown, crs,
                       info.feature_count)
        if zero_nenner:
            row, key = zero_nenner[0]
            self.notes.append(
                f"{shown}: {len(zero_nenner)} key(s) write no Nenner as '0000'; read as AdV "
                f"writes it, '{NENNER.none}' (e.g. row {row}: '{key}' as "
                f"'{parcel_key.normalised(key)}')")
        if linearised:
            self.notes.append(
                f"{shown}: {linearised} parcel(s) with arcs (curves) linearised by GDAL, at most "
                f"{ARC_STEP_DEGREES:g} degree of arc per vertex")


class _Read:
    """The raw values of one batch by declared field (GDAL names its columns in lower case)."""

    def __init__(self, columns: Matched, batch: Batch) -> None:
        self.columns, self.batch = columns, batch

    def column(self, field: str) -> list:
        header = self.columns.get(field)
        return list(self.batch.columns[header.lower()]) if header else [None] * len(self.batch)

    def key_part(self, field: str) -> list[str | None]:
        return [digits(v, _PART_WIDTHS[field]) for v in self.column(field)]


def _ave_arrow(read: _Read, land: str) -> dict[str, pa.Array] | None:
    """The published fields of an ALKIS vereinfacht batch as Arrow arrays, when the rules of
    :func:`_derive_ave`, :data:`_KEY_WIDTHS` and :func:`_adv_fill` reduce to bulk operations
    for every record and every key and record is sound (:func:`parcel_key.all_sound`); None
    when any record needs them one by one (the row path then reads the same batch)."""
    arrays = getattr(read.batch.columns, "arrays", None)
    if arrays is None:
        return None
    n = len(read.batch)

    def column(field: str) -> pa.Array:
        header = read.columns.get(field)
        return arrays[header.lower()] if header else pa.nulls(n)

    fields = {name: column(name) for name in RULES}
    flur = fields["flur"]
    if not (pa.types.is_null(flur.type) or pa.types.is_integer(flur.type)):
        return None  # 'Flur 2' and numbers as text: _flur, value by value
    if "flurstnr" in read.columns and pc.any(pc.and_kleene(
            pc.is_null(fields["flstnrzae"]), pc.is_null(fields["flstnrnen"]))).as_py():
        return None  # numbers to split from flurstnr
    key_prefix = pc.utf8_slice_codeunits(fields["flstkennz"], 0, 6) \
        if _text(fields["flstkennz"]) else None
    gemaschl = fields["gemaschl"]
    if pa.types.is_null(gemaschl.type) and key_prefix is not None:
        gemaschl = key_prefix
    elif _text(gemaschl) and key_prefix is not None:
        # A value starting with a digit is kept; a blank one is the key's first six.
        if not pc.all(pc.fill_null(pc.match_substring_regex(gemaschl, "^[0-9]"),
                                   True)).as_py():
            return None
        gemaschl = pc.coalesce(gemaschl, key_prefix)
    else:
        return None
    fields["gemaschl"] = gemaschl
    for name, width in _KEY_WIDTHS.items():
        value = fields[name]
        if pa.types.is_null(value.type):
            continue
        if not _text(value) or not pc.all(pc.fill_null(
                pc.match_substring_regex(value, "^[0-9]+$"), True)).as_py():
            return None  # numbers, or text that is not plain digits: _digits, one by one
        fields[name] = pc.utf8_lpad(value, width, "0")
    # Sound keys have no Nenner '0000' either, so _adv_fill has nothing to rewrite.
    if not parcel_key.all_sound(fields["flstkennz"], land, fields["gemaschl"], flur,
                                fields["flstnrzae"], fields["flstnrnen"]):
        return None
    return fields


def _derive_ave(columns: dict[str, list], read: _Read) -> None:
    """Fields the ave variants write differently: 'Flur 2', flurstnr '425/1', no gemaschl."""
    columns["flur"] = [_flur(v) if type(v) is str else v for v in columns["flur"]]
    if "flurstnr" in read.columns:
        for i, number in enumerate(read.column("flurstnr")):
            if columns["flstnrzae"][i] is None and columns["flstnrnen"][i] is None:
                columns["flstnrzae"][i], columns["flstnrnen"][i] = _flurstnr(number)
    # A value that starts with a digit is surely not blank: key_text need not say so.
    columns["gemaschl"] = [g if (type(g) is str and g[:1].isdigit()) or key_text(g)
                           else _key_prefix(k)
                           for g, k in zip(columns["gemaschl"], columns["flstkennz"], strict=True)]


def _derive_aaa(columns: dict[str, list], read: _Read) -> None:
    """Published fields from AX_Flurstueck's nested keys."""
    land, number = read.key_part("gemarkung_land"), read.key_part("gemarkungsnummer")
    columns["gemaschl"] = [a + b if a and b else _key_prefix(k)
                           for a, b, k in zip(land, number, columns["flstkennz"], strict=True)]
    columns["land"] = [LAENDER.get(g[:2]) if g else None for g in columns["gemaschl"]]
    g_land = [a or (g[:2] if g else None)
              for a, g in zip(read.key_part("gemeinde_land"), columns["gemaschl"], strict=True)]
    # A state without Regierungsbezirke (Brandenburg) writes none: its digit is 0.
    bezirk = [b or "0" for b in read.key_part("regierungsbezirk")]
    columns["kreisschl"] = [a + b + k if a and k else None for a, b, k in
                            zip(g_land, bezirk, read.key_part("gemeinde_kreis"), strict=True)]
    columns["gmdschl"] = [ks + g if ks and g else None for ks, g in
                          zip(columns["kreisschl"], read.key_part("gemeinde_nummer"), strict=True)]
    for name in ("flstnrzae", "flstnrnen"):
        columns[name] = [key_text(v) for v in columns[name]]


def _adv_fill(columns: dict[str, list], rows: Any) -> Iterator[tuple[int, str]]:
    """Write a missing Nenner as AdV does, in place: '____' in the key, none in the field
    (where a file writes it 0); yield (row, key as written) of each key changed."""
    keys, nenner = columns["flstkennz"], columns["flstnrnen"]
    for i, raw in enumerate(keys):
        if type(raw) is str and "0000" not in raw:
            continue  # no Nenner 0000 to rewrite (the test in C, for a million keys)
        key = key_text(raw)
        if key is None:
            continue
        adv = parcel_key.normalised(key)
        if adv != key:
            keys[i] = adv
            if key_text(nenner[i]) is not None and key_text(nenner[i]).strip("0") == "":
                nenner[i] = None
            yield int(rows[i]), key


def _digits(value: Any, width: int) -> str | None:
    """:func:`etl.cells.digits`, quicker for the text digits most files hold."""
    if type(value) is str and value.isdigit():
        return value.zfill(width)
    return digits(value, width)


def _key_prefix(key: Any) -> str | None:
    """The Gemarkung key: Land (2) and Gemarkung (4), the first 6 characters of flstkennz."""
    text = key_text(key)
    return text[:6] if text and text[:6].isdigit() else None


def _flur(value: Any) -> Any:
    """'Flur 2' -> '2'; anything else as it is (the core says what is wrong with it)."""
    if isinstance(value, str) and (m := _FLUR.fullmatch(value)):
        return m.group(1)
    return value


def _flurstnr(value: Any) -> tuple[str | None, str | None]:
    """'425/1' -> ('425', '1'); '85' -> ('85', None); anything else unsplit, as the Zähler."""
    text = key_text(value)
    if text is None:
        return None, None
    m = _FLURSTNR.fullmatch(text)
    return (m.group(1), m.group(2)) if m else (text, None)
