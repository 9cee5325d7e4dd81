"""A clean street name out of what citizens and clerks write where a street belongs.

Open311 ``address`` and the register's ``Straße`` hold anything: "Bahnhofstraße 52, 03046
Cottbus", "Stadtring / Ecke Vetschauer Straße", "Karlstraße 12 (Frau X)", "Gerlinde X
Karlstraße 12". Only a street name is published, never a house number or a person:

- a street of Cottbus listed in config/vocabulary.yml is published as listed;
- otherwise the first street in the text (part by part between commas) is taken: a word
  ending in a street word (Karlstraße, Stadtring, Karl-Marx-Straße) with at most two words
  before it that begin street names (Alte, Neue, Große...; -er adjectives of places such as
  Berliner, Sandower), or "Straße der/des ..." or a preposition ("Am Turm", "An der
  Spreeaue") followed by one to three words that pass the allow-list
  (:func:`twin.vocabulary.is_word`); words before the street that do not begin street names
  are dropped ("Gerlinde X Karlstraße" -> "Karlstraße");
- anything else is published as NULL.
"""

from __future__ import annotations

import re

from twin.redact import normalise
from twin.vocabulary import fold, is_word, vocabulary

#: Where an address stops being a street: a comma, a parenthesis, a corner ("/", "Ecke").
_CUT = re.compile(r"\s*(?:[,;(\[]|/|\b(?:Ecke|Höhe|gegenüber|vor|nahe|bei|Nr\.?)\b|\d)",
                  re.IGNORECASE)
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
    """
    if text is None or not str(text).strip():
        return None
    for part in re.split(r"[,;]", normalise(str(text))):
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
        if lower in ("straße", "strasse") and i + 1 < len(tokens) and \
                tokens[i + 1].lower() in ("der", "des"):
            name = _known_words(tokens[i + 2:i + 5])
            if name:
                return " ".join(tokens[i:i + 2] + name)
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
