"""A clean street name out of what citizens and clerks write where a street belongs.

Open311 ``address`` and the register's ``Straße`` hold anything: "Bahnhofstraße 52, 03046
Cottbus", "Stadtring / Ecke Vetschauer Straße", "Karlstraße 12 (Frau X)", "Gerlinde X
Karlstraße 12". Only a street name is published, never a house number or a person:

- a street of Cottbus listed in config/vocabulary.yml is published as listed;
- otherwise the first street in the text (part by part between commas, so that Mark-a-Spot's
  "50997 Köln - Godorf, Amselweg 3" gives "Amselweg") is taken: a word
  ending in a street word (Karlstraße, Stadtring, Karl-Marx-Straße) with at most two words
  before it that begin street names (Alte, Neue, Große...; -er adjectives of places such as
  Berliner, Sandower), or "Straße der/des ..." ("Str. der Jugend" is written out as
  "Straße der Jugend") or a preposition ("Am Turm", "An der
  Spreeaue") followed by one to three words that pass the allow-list
  (:func:`twin.vocabulary.is_word`); words before the street that do not begin street names
  are dropped ("Gerlinde X Karlstraße" -> "Karlstraße");
- a part that is a classified road alone ("B 168", "A15", "B 96a") is published as "B 168";
- anything else is published as NULL.
"""

from __future__ import annotations

import re

from twin.redact import normalise
from twin.vocabulary import fold, is_word, vocabulary

#: Where an address stops being a street: a comma, a parenthesis, a corner ("/", "Ecke").
_CUT = re.compile(r"\s*(?:[,;(\[]|/|\b(?:Ecke|Höhe|gegenüber|vor|nahe|bei|Nr\.?)\b|\d)",
                  re.IGNORECASE)
#: A classified road as BASt and signs write it: class letter (Autobahn, Bundes-, Landes-,
#: Kreisstraße), number, optional suffix: "B 168", "A15", "B 96a". Written "B 168" so that
#: street damage meets the traffic counts on the same road (etl/sources/traffic.py).
_ROAD = re.compile(r"([ABLK])\s?(\d{1,4}[a-z]?)(?![\w.,-]?\d)")
_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*\.?")


#: Letters a compound street word needs before its street word: "Nordring" is a street,
#: "Döring" and "Möhring" (surnames) are not.
_MIN_STEM = 4


def _street_word(token: str) -> str | None:
    """"whole" when ``token`` is a bare street word (Weg, Straße), "compound" when it ends in
    one after a stem of four letters or more (Bahnhofstraße, Stadtring), else None."""
    lower = token.lower()
    for word in vocabulary().street_words:
        if lower == word:
            return "whole"
        if lower.endswith(word):
            stem = lower[: -len(word)].rstrip("-")
            return "compound" if len(stem) >= _MIN_STEM else None
    return None


def _adjective(token: str) -> bool:
    """True when ``token`` can begin a street name: Alte, Neue, Berliner, Sandower."""
    v = vocabulary()
    if token in v.street_adjectives:
        return True
    lower = token.lower()
    # Only -er adjectives of places listed: "Müller" ends in -er and is a dictionary word.
    return token[:1].isupper() and lower.endswith("er") and lower in v.places


def street_name(text: object) -> str | None:
    """The street named in ``text``, or None (see the module docstring).

    Examples
    --------
    >>> street_name("Bahnhofstraße 52, 03046 Cottbus")
    'Bahnhofstraße'
    >>> street_name("Gerlinde X Karlstraße 12")
    'Karlstraße'
    >>> street_name("Karlstraße 12 (Frau X)")
    'Karlstraße'
    >>> street_name("50997 Köln - Godorf, Amselweg 3")
    'Amselweg'
    >>> street_name("Str. der Jugend 33, 03050 Cottbus")
    'Straße der Jugend'
    >>> street_name("B168, Cottbus")
    'B 168'
    """
    if text is None or not str(text).strip():
        return None
    for part in re.split(r"[,;]", normalise(str(text))):
        if road := _ROAD.fullmatch(part.strip()):
            return f"{road[1]} {road[2]}"
        if found := _street_in(_CUT.split(part.strip(), maxsplit=1)[0].strip()):
            return found
    return None


def _street_in(head: str) -> str | None:
    """The first street name in ``head`` (a part of an address cut before any number)."""
    v = vocabulary()
    if fold(head) in v.streets:
        return head
    tokens = _WORD.findall(head)
    for i, token in enumerate(tokens):
        lower = token.lower()
        for prep in v.street_prepositions if token[:1].isupper() else ():
            words = prep.split()
            if [t.lower() for t in tokens[i:i + len(words)]] == words:
                rest = tokens[i + len(words):i + len(words) + 3]
                name = _known_words(rest)
                if name:
                    return " ".join(tokens[i:i + len(words)] + name)
        if lower in ("straße", "strasse", "str.") and i + 1 < len(tokens) and \
                tokens[i + 1].lower() in ("der", "des"):
            name = _known_words(tokens[i + 2:i + 5])
            if name:
                # "Str. der Jugend" is how forms abbreviate "Straße der Jugend".
                word = "Straße" if lower == "str." else token
                return " ".join([word, tokens[i + 1], *name])
        kind = _street_word(token) if token[:1].isupper() else None
        if kind:
            start = i
            while start > 0 and i - start < 2 and _adjective(tokens[start - 1]):
                start -= 1
            if kind == "compound" or start < i:  # a bare "Weg" names no street
                return " ".join(tokens[start:i + 1])
    return None


def _known_words(tokens: list[str]) -> list[str]:
    """The leading tokens that pass the allow-list (at least one), capitalised nouns."""
    out = []
    for token in tokens:
        if not token[:1].isupper() or not is_word(token.rstrip(".")):
            break
        out.append(token)
    return out
