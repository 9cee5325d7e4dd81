"""AdV's Flurstückskennzeichen, the key of a parcel: its parts by position, what each may hold,
and AdV's fill for the parts a parcel does not have.

The AAA model (GeoInfoDok, ``AX_Flurstueck.flurstueckskennzeichen``) builds it of 20 characters:
Land (2), Gemarkungsnummer (4), Flurnummer (3), the Flurstücksnummer's Zähler (5) and Nenner
(4), Flurstücksfolge (2), each right-aligned with leading zeros. Flurnummer, Nenner and
Flurstücksfolge are optional; where a parcel has none, their places hold underscores (``___``,
``____``, ``__``), so ``12416600100399______`` is parcel 399 of Flur 1 of Gemarkung 4166 in
Brandenburg. Some exports write a missing Nenner as ``0000``: that is the same parcel, and it is
read as AdV writes it (:func:`normalised`), so a file holding both spellings holds a duplicate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from etl.cells import key_text
from etl.copy_binary import is_text as _text

LENGTH = 20


@dataclass(frozen=True)
class KeyPart:
    """One part of the key: AdV's name, its characters [start, end), and whether a parcel may
    lack it (then its places hold underscores)."""

    name: str
    start: int
    end: int
    optional: bool = False

    def of(self, key: str) -> str:
        return key[self.start:self.end]

    @property
    def none(self) -> str:
        """How the key writes this part when the parcel has none."""
        return "_" * (self.end - self.start)

    @property
    def where(self) -> str:
        return f"characters {self.start + 1}-{self.end}"


LAND = KeyPart("Land", 0, 2)
GEMARKUNG = KeyPart("Gemarkungsnummer", 2, 6)
FLUR = KeyPart("Flurnummer", 6, 9, optional=True)
ZAEHLER = KeyPart("Zähler", 9, 14)
NENNER = KeyPart("Nenner", 14, 18, optional=True)
FOLGE = KeyPart("Flurstücksfolge", 18, 20, optional=True)
PARTS = (LAND, GEMARKUNG, FLUR, ZAEHLER, NENNER, FOLGE)

#: The states by their key (Länderschlüssel).
LAENDER = {
    "01": "Schleswig-Holstein", "02": "Hamburg", "03": "Niedersachsen", "04": "Bremen",
    "05": "Nordrhein-Westfalen", "06": "Hessen", "07": "Rheinland-Pfalz",
    "08": "Baden-Württemberg", "09": "Bayern", "10": "Saarland", "11": "Berlin",
    "12": "Brandenburg", "13": "Mecklenburg-Vorpommern", "14": "Sachsen",
    "15": "Sachsen-Anhalt", "16": "Thüringen",
}

_LAYOUT = ("Land (2), Gemarkungsnummer (4), Flurnummer (3), Zähler (5), Nenner (4), "
           "Flurstücksfolge (2)")


def normalised(key: str) -> str:
    """``key`` with a Nenner written ``0000`` written as AdV writes no Nenner, ``____``."""
    if len(key) == LENGTH and NENNER.of(key) == "0000":
        return key[:NENNER.start] + NENNER.none + key[NENNER.end:]
    return key


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


#: A well-formed key after its Land: every part ASCII digits and not 0, or the fill of an
#: optional part. Checked first, by one regular expression in C: a load of a million parcels
#: asks this a million times, and only keys it does not pass go through the part-by-part
#: check that names what is wrong (the two agree on every key this one passes).
_WELL_FORMED = re.compile(
    r"(?!0000)[0-9]{4}(?:_{3}|(?!000)[0-9]{3})(?!00000)[0-9]{5}(?:_{4}|(?!0000)[0-9]{4})"
    r"(?:__|(?!00)[0-9]{2})")


def problem(key: str, land: str) -> str | None:
    """What is wrong with ``key`` as the Flurstückskennzeichen of a parcel of the Land ``land``
    (its Länderschlüssel), or None. The first wrong part is named, with its characters."""
    if key[:2] == land and land in LAENDER and len(key) == LENGTH \
            and _WELL_FORMED.fullmatch(key, 2):
        return None
    if len(key) != LENGTH:
        return (f"'{key}' has {len(key)} characters; a Flurstückskennzeichen has 20: "
                f"{_LAYOUT}")
    for part in PARTS:
        value = part.of(key)
        if part.optional and value == part.none:
            continue
        fill = f", or '{part.none}' when the parcel has none" if part.optional else ""
        if not _digits(value):
            return (f"'{key}': {part.name} '{value}' ({part.where}) is not "
                    f"{part.end - part.start} digits{fill}")
        if int(value) == 0:
            return (f"'{key}': {part.name} '{value}' ({part.where}) is 0; AdV numbers it "
                    f"from 1{fill}")
    found = LAND.of(key)
    if found not in LAENDER:
        return f"'{key}': Land '{found}' ({LAND.where}) is no Länderschlüssel (01-16)"
    if found != land:
        return (f"'{key}': Land '{found}' ({LAENDER[found]}) is not the configured Land "
                f"'{land}' ({LAENDER.get(land, '?')}); the twin publishes the parcels of one "
                "Land, set by TWIN_LAND_KEY")
    return None


def _number(value: Any) -> int | None:
    """A field's value as a whole number ('002', 2, 2.0: 2); None for blanks and anything else."""
    text = key_text(value)
    return int(text) if text is not None and _digits(text) else None


def disagreements(key: str, *, gemaschl: Any, flur: Any, zaehler: Any,
                  nenner: Any) -> list[tuple[str, str]]:
    """(field, why) for each of a record's own fields that says otherwise than its key, which
    :func:`problem` has passed. A blank field says nothing, except the Nenner of a record that
    gives its Zähler: then the parcel has no Nenner."""
    if _agree(key, gemaschl, flur, zaehler, nenner):
        return []
    found: list[tuple[str, str]] = []

    def differ(field: str, part: KeyPart, says: str) -> None:
        found.append((field, f"'{key}' has {part.name} '{part.of(key)}' ({part.where}), "
                             f"but the field says {says}"))

    gemarkung = key_text(gemaschl)
    if gemarkung is not None and gemarkung != key[:GEMARKUNG.end]:
        found.append(("gemaschl", f"'{key}' has Land and Gemarkungsnummer '{key[:6]}' "
                                  f"(characters 1-6), but the field says '{gemarkung}'"))
    if key_text(flur) is not None:
        number = _number(flur)
        key_flur = FLUR.of(key)
        if number is None or key_flur == FLUR.none or int(key_flur) != number:
            differ("flur", FLUR, f"'{key_text(flur)}'")
    if key_text(zaehler) is not None:
        number = _number(zaehler)
        if number is None or int(ZAEHLER.of(key)) != number:
            differ("flstnrzae", ZAEHLER, f"'{key_text(zaehler)}'")
        key_nenner = NENNER.of(key)
        if key_text(nenner) is None:
            if key_nenner != NENNER.none:
                differ("flstnrnen", NENNER, "the parcel has no Nenner")
        elif (number := _number(nenner)) is None or key_nenner == NENNER.none \
                or int(key_nenner) != number:
            differ("flstnrnen", NENNER, f"'{key_text(nenner)}'")
    return found


def sound(key: str, land: str, gemaschl: Any, flur: Any, zaehler: Any, nenner: Any) -> bool:
    """True when ``key`` is well formed as written (no blanks around it) and the record's
    fields agree with it: neither :func:`problem` nor :func:`disagreements` would find
    anything. False says only "ask them"."""
    return (key[:2] == land and land in LAENDER and len(key) == LENGTH
            and _WELL_FORMED.fullmatch(key, 2) is not None
            and _agree(key, gemaschl, flur, zaehler, nenner))


def _agree(key: str, gemaschl: Any, flur: Any, zaehler: Any, nenner: Any) -> bool:
    """True when the fields surely agree with ``key``, as files usually write them (text
    digits, whole numbers, blanks as None): a quick test before :func:`disagreements`' own,
    which names what differs; False says only "ask it"."""
    if not (gemaschl is None or gemaschl == key[:GEMARKUNG.end]):
        return False
    if flur is not None:
        key_flur = FLUR.of(key)
        if type(flur) is not int or key_flur == FLUR.none or int(key_flur) != flur:
            return False
    if zaehler is None:
        return True
    if not (type(zaehler) is str and zaehler.isascii() and zaehler.isdigit()
            and int(zaehler) == int(ZAEHLER.of(key))):
        return False
    key_nenner = NENNER.of(key)
    if nenner is None:
        return key_nenner == NENNER.none
    return (type(nenner) is str and nenner.isascii() and nenner.isdigit()
            and key_nenner != NENNER.none and int(key_nenner) == int(nenner))


def _nonzero(width: int) -> str:
    """RE2 (no lookahead) for ``width`` ASCII digits that are not all 0."""
    return "(?:" + "|".join(f"0{{{i}}}[1-9][0-9]{{{width - i - 1}}}"
                            for i in range(width)) + ")"


#: :data:`_WELL_FORMED` for Arrow's regular expressions (RE2, which has no lookahead), anchored.
WELL_FORMED_RE2 = (f"^[0-9]{{2}}{_nonzero(4)}(?:_{{3}}|{_nonzero(3)}){_nonzero(5)}"
                   f"(?:_{{4}}|{_nonzero(4)})(?:__|{_nonzero(2)})$")


def all_sound(keys: pa.Array, land: str, gemaschl: pa.Array, flur: pa.Array,
              zaehler: pa.Array, nenner: pa.Array) -> bool:
    """:func:`sound` of every record of a batch at once, on Arrow arrays: True only when it
    would be True for each (False says only "ask record by record"). ``flur`` must be whole
    numbers, the other fields text (or all null)."""
    if land not in LAENDER or keys.null_count or not _text(keys):
        return False
    if not pc.all(pc.and_kleene(pc.starts_with(keys, land),
                          pc.match_substring_regex(keys, WELL_FORMED_RE2))).as_py():
        return False

    def part(p: KeyPart) -> pa.Array:
        return pc.utf8_slice_codeunits(keys, p.start, p.end)

    def number(p: KeyPart) -> pa.Array:
        # The key is well formed: digits, or the fill where a part is optional.
        text = part(p)
        return pc.cast(pc.if_else(pc.equal(text, p.none), "0", text), pa.int64())

    def every(condition: pa.Array) -> bool:
        return pc.all(pc.fill_null(condition, False)).as_py()

    if not pa.types.is_null(gemaschl.type):
        prefix = pc.utf8_slice_codeunits(keys, 0, GEMARKUNG.end)
        if not _text(gemaschl) or not every(pc.or_kleene(pc.is_null(gemaschl),
                                                         pc.equal(gemaschl, prefix))):
            return False
    if not pa.types.is_null(flur.type):
        if not pa.types.is_integer(flur.type):
            return False
        fill = pc.equal(part(FLUR), FLUR.none)
        if not every(pc.or_kleene(pc.is_null(flur), pc.and_kleene(
                pc.invert(fill), pc.equal(number(FLUR), pc.cast(flur, pa.int64()))))):
            return False
    if pa.types.is_null(zaehler.type):
        return True  # no Zähler: nothing more to agree with (as in _agree)
    if not (_text(zaehler) and (pa.types.is_null(nenner.type) or _text(nenner))):
        return False
    given = pc.is_valid(zaehler)
    if not every(pc.or_kleene(pc.invert(given), pc.match_substring_regex(zaehler, _SHORT_DIGITS))):
        return False
    z_agrees = pc.equal(pc.cast(pc.if_else(given, zaehler, "0"), pa.int64()), number(ZAEHLER))
    key_fill = pc.equal(part(NENNER), NENNER.none)
    if pa.types.is_null(nenner.type):
        n_agrees = key_fill
    else:
        n_given = pc.is_valid(nenner)
        if not every(pc.or_kleene(pc.invert(n_given),
                                  pc.match_substring_regex(nenner, _SHORT_DIGITS))):
            return False
        n_number = pc.cast(pc.if_else(n_given, nenner, "0"), pa.int64())
        n_agrees = pc.if_else(n_given, pc.and_kleene(pc.invert(key_fill),
                                               pc.equal(n_number, number(NENNER))), key_fill)
    return every(pc.or_kleene(pc.invert(given), pc.and_kleene(z_agrees, n_agrees)))


#: Digits :func:`_agree` compares as numbers (ASCII, and few enough for a 64-bit integer).
_SHORT_DIGITS = "^[0-9]{1,18}$"
