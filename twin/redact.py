"""Free text published only through an allow-list; every message masked the same way.

Citizens write into a report what they would write into an e-mail: their address, phone
number and name, a neighbour's name, a link to a photo. A list of what to remove is never
complete (a name nobody foresaw, a phone number in a new notation), so the twin publishes the
opposite way round: **a word is published only when it is known**, everything else is
replaced by :data:`PLACEHOLDER`. :func:`redact` runs three steps, and runs them before the
text is written to the database, so raw citizen text is never stored anywhere:

1. **Normalisation.** Unicode NFKC (full-width ``＠`` and digits, ligatures), every Unicode
   space (no-break, narrow, ideographic...) as a plain space, every dash as ``-``, invisible
   characters (zero-width space, soft hyphen) removed.
2. **Patterns** (:mod:`twin.redact_patterns`), for contacts made of words the allow-list
   would let through: e-mails however written (``x@y.de``, ``x @ y.de``, ``x(at)y(dot)de``,
   ``x at y dot de``), URLs and bare domains (``facebook.com/x``), handles, IBANs (any case,
   spaced), phone numbers in any notation (``+49.355.471184``, ``0355.47.11.85``, spaced
   digits), plates (``CB-AB 123``, ``cb–ab 123``), birth dates (``geb. 12.03.1947``), private
   addresses after a label, and the capitalised words after a salutation (Herr, Frau,
   Familie, Nachbar...), a label (Name, Kontakt, Ansprechpartner, with or without a colon), an
   introduction (mein Name ist) or a greeting (Danke, Viele Grüße, Liebe Grüße aus Sandow,
   MfG, LG...).
3. **Allow-list** (:mod:`twin.vocabulary`). Each word passes only when it is in the German
   dictionary (Debian's wngerman), in ``config/vocabulary.yml`` (street damage terms, Cottbus
   streets and districts) or is a compound of two dictionary words; first names are taken out
   of the dictionary. A number passes only as a measurement, directly followed by a unit
   (``30 cm``, ``2,5 m²``, ``50 km/h``, ``20-30 cm``): house numbers, dates, phone fragments,
   postcodes and amounts are masked. Punctuation passes.

What still passes, honestly: a surname or first name that is also a German word (Müller,
Fischer, Schmidt, Frank, Horst) when no salutation, label or greeting stands before it; a
single-letter initial; a place or street written as a word. What is lost: every word the
dictionary lacks (rare compounds, dialect, typos) and every number without a unit. The test
cases are in ``tests/test_redact.py``; the model is described in docs/sources/street-damage.md.

:func:`redact_message` masks what load messages (refusals, notes, ``twin db status``) echo of
a value: the pattern layer over the whole message, and the allow-list over every quoted value
(``'...'``), with identifiers (a single token holding a digit or an underscore, or a lower-case
ASCII word such as a field name) allowed. It is applied in one place, when a
:class:`twin.errors.SourceError` is made and when the load records its notes.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

from twin.redact_patterns import PLACEHOLDER, mask_patterns, merge_placeholders
from twin.vocabulary import is_word, vocabulary

__all__ = ["PLACEHOLDER", "mask_row", "mask_value", "normalise", "redact", "redact_message",
           "shown"]

_DASHES = dict.fromkeys(map(ord, "‐‑‒–—―−﹘﹣－"), "-")
_ZERO_WIDTH = re.compile(r"[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_SPACES = re.compile(r"[^\S\n]")  # every space but the line break (which structures text)

_PLACEHOLDER_RE = re.escape(PLACEHOLDER)
#: Tokens of free text: a placeholder, a number, a word (letters, inner hyphens and
#: apostrophes), a run of spaces, or any other single character.
_TOKENS = re.compile(rf"(?P<ph>{_PLACEHOLDER_RE})|(?P<num>\d+(?:[.,]\d+)*)"
                     r"|(?P<word>[^\W\d_]+(?:['’-][^\W\d_]+)*)|(?P<other>\s+|.)", re.DOTALL)


@functools.cache
def _measurement() -> re.Pattern[str]:
    """A number (or a range, or dimensions) directly followed by a unit of the vocabulary."""
    units = sorted(vocabulary().units, key=len, reverse=True)
    unit = "|".join(re.escape(u) for u in units)
    number = r"(?:\d{1,2}:\d{2}|\d{1,6}(?:[.,]\d{1,3})?)"
    return re.compile(rf"(?i)(?<![\d.,]){number}(?:\s?(?:-|bis|x|×|/)\s?{number})*"
                      rf"\s?(?:{unit})(?![^\W\d_]|[.,]?\d)")


def normalise(text: str) -> str:
    """NFKC, every space as ' ', every dash as '-', invisible characters removed."""
    text = unicodedata.normalize("NFKC", text)
    text = _ZERO_WIDTH.sub("", text).translate(_DASHES)
    return _SPACES.sub(" ", text)


def redact(text: str | None) -> str | None:
    """``text`` as it may be published: known words and measurements only.

    Parameters
    ----------
    text
        Free text as a citizen or a clerk wrote it; None passes through.

    Returns
    -------
    str or None
        The normalised text with each span of personal data and each unknown word or bare
        number replaced by :data:`PLACEHOLDER` (adjacent placeholders merged), stripped; None
        for None or blank text. The module docstring says what passes.

    Raises
    ------
    twin.errors.ConfigurationError
        The German dictionary is missing: nothing is published unfiltered.
    """
    if text is None or not text.strip():
        return None
    masked = mask_patterns(normalise(text))
    return merge_placeholders(_allow_list(masked)).strip() or None


def _allow_list(text: str) -> str:
    """Every word that is not known, and every number outside a measurement, masked."""
    measured: set[int] = set()
    for m in _measurement().finditer(text):
        measured.update(range(m.start(), m.end()))
    out = []
    for m in _TOKENS.finditer(text):
        token = m.group()
        if m.start() in measured:
            out.append(token)
        elif m["word"]:
            out.append(token if is_word(token) else PLACEHOLDER)
        elif m["num"]:
            out.append(token if m.start() in measured else PLACEHOLDER)
        else:
            out.append(token)
    return "".join(out)


# -- messages -----------------------------------------------------------------------------
#: A quoted value in a message: '...' or "..." (as repr() and f-strings write them).
_QUOTED = re.compile(r"'([^'\n]{1,300})'|\"([^\"\n]{1,300})\"")
#: An identifier a message may show: one token holding a digit or an underscore
#: (KFZ_R1, 0910A101, SK-2022-0101, 12,5), a code of capitals (GE-STR), or a lower-case ASCII
#: word (a field name: flstkennz).
_IDENTIFIER = re.compile(r"[\w.,:/+%-]*[\d_][\w.,:/+%-]*|[A-Z]{1,3}(?:[-./][A-Z]{1,3})+"
                         r"|[a-z][a-z0-9_]*")
_LETTERS = re.compile(r"[^\W\d_]+")


def _identifier(token: str) -> bool:
    """True when ``token`` is an identifier whose letter runs are codes or words."""
    return bool(_IDENTIFIER.fullmatch(token)) and all(
        len(run) <= 3 or run.isupper() or is_word(run) or token.islower()
        for run in _LETTERS.findall(token))


def mask_value(value: str) -> str:
    """A value echoed in a message as it may be shown: the pattern layer over the whole
    value, then each token kept when it is an identifier, else through the allow-list."""
    masked = mask_patterns(normalise(value))
    chunks = re.split(r"(\s+)", masked)
    return merge_placeholders("".join(
        c if c.isspace() or not c or (PLACEHOLDER not in c and _identifier(c))
        else _allow_list(c) for c in chunks))


_ROW = re.compile(r"(?P<n>\d+)\s*\((?P<inner>.*)\)", re.DOTALL)


def mask_row(row: str) -> str:
    """A row reference such as "12 (key)" or "12 (sheet 'Liste')" with its text masked."""
    if m := _ROW.fullmatch(row.strip()):
        inner = m["inner"]
        masked = redact_message(inner) if "'" in inner else mask_value(inner)
        return f"{m['n']} ({masked})"
    return mask_value(row)


def redact_message(message: str, keep: Iterable[str] = ()) -> str:
    """``message`` with every value it echoes masked (see the module docstring).

    ``keep`` are strings the operator gave (the paths of a load): shown as they are, since a
    message must name its file, and a path such as ``/data/wt-i7/...`` looks like a plate.
    """
    kept = sorted({k for k in keep if k}, key=len, reverse=True)
    if kept:
        pieces = re.split("(" + "|".join(map(re.escape, kept)) + ")", message)
        return "".join(p if i % 2 else redact_message(p) for i, p in enumerate(pieces))

    def quoted(m: re.Match[str]) -> str:
        inner = m.group(1) if m.group(1) is not None else m.group(2)
        quote = "'" if m.group(1) is not None else '"'
        return f"{quote}{mask_value(inner)}{quote}"

    text = _QUOTED.sub(quoted, normalise(message))
    return merge_placeholders(mask_patterns(text))


def shown(value: object, limit: int = 40) -> str:
    """A value as a message may show it: masked, short and quoted."""
    text = mask_value(str(value))
    return repr(text if len(text) <= limit else text[:limit - 3] + "...")
