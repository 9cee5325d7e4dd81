"""Redaction of personal data in free text before it is published.

Citizens write into a report's description what they would write into an e-mail: their own
address, phone number and name, a neighbour's name, a link to a photo. :func:`redact` replaces
what it recognises with :data:`PLACEHOLDER` and leaves the rest of the text readable.

What it recognises (see ``tests/test_redact.py`` for the cases):

- e-mail addresses, also obfuscated (``name(at)example(dot)de``, ``name [at] example.de``),
  and any other word holding an ``@`` (social-media handles, broken addresses);
- URLs (``http://``, ``https://``, ``ftp://``, ``www.``);
- phone numbers in German and international notation (``0355 612-3456``, ``(0355) 12345``,
  ``+49 171 2345678``, ``0049 355 ...``), and any digit group after ``Tel.``, ``Telefon``,
  ``Handy``, ``Mobil``, ``Fax``, ``WhatsApp``;
- names after a salutation (``Herr``, ``Herrn``, ``Frau``, ``Hr.``, ``Fr.``, ``Familie``,
  ``Fam.`` (the abbreviations with or without the dot), ``Eheleute``; academic titles are
  skipped), after a label (``Name:``,
  ``Absender:``, ``Melder:``, ``Kontakt:``, ``Ansprechpartner:``, ``gemeldet von``), after
  ``mein Name ist`` / ``ich heiße`` and after a closing greeting (``MfG``, ``Viele Grüße``,
  ``Gruß``, ``LG``, ``gez.``...);
- a private address after ``Anschrift:``, ``Adresse:``, ``wohnhaft in``, ``ich wohne``;
- vehicle registration plates written with a hyphen (``CB-AB 123``);
- IBANs, and national numbers with a dot after the area code (``0355.612345``).

What it does not recognise, and why the description is therefore published only redacted and
``status_notes`` never: a name with no salutation, label or greeting before it (``Peter hat
gesagt``), a name written in lower case, an address without a label, numbers written in words
or with letters in between, plates written without a hyphen. The rules are tuned towards
removing too much (``Frau Holle`` loses ``Holle``; ``Herr Müller Bescheid`` loses both words)
rather than too little.
"""

from __future__ import annotations

import re

#: What replaces a redacted span.
PLACEHOLDER = "[entfernt]"

_AT = r"(?:@|\s*[\(\[\{]\s*(?:at|ät)\s*[\)\]\}]\s*)"
_DOT = r"(?:\.|\s*[\(\[\{]\s*(?:dot|punkt)\s*[\)\]\}]\s*)"
_EMAIL = re.compile(rf"[\w.+-]+{_AT}[\w-]+(?:{_DOT}[\w-]+)+", re.IGNORECASE)
_ANY_AT = re.compile(r"\S*@\S*")
# A URL ends before trailing punctuation that belongs to the sentence.
_URL = re.compile(r"(?i)\b(?:https?://|ftp://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]]")

_PHONE_KEYWORD = re.compile(
    r"(?i)\b(?P<kw>tel(?:efon)?(?:nummer)?|telefonnr|rufnummer|fon|phone|handy(?:nummer)?"
    r"|mobil(?:nummer|telefon)?|fax|whats ?app)\b(?P<sep>\.?\s*(?:nr\.?)?\s*:?\s*)"
    r"(?P<num>\+?[\d(][\d\s/().-]{3,}\d)")
_PHONE_INTERNATIONAL = re.compile(
    r"(?<![\w.,])(?:\+|00)[1-9]\d{0,2}[\s/()-]{0,3}\d(?:[ \t/()-]{0,3}\d){5,}(?!\d)")
# National numbers start with the trunk prefix 0; dots are not separators here, so dates
# (01.03.2024) and decimals (0,5 m) are never taken for numbers.
_PHONE_NATIONAL = re.compile(r"(?<![\w.,])\(?0\d{2,5}\)?(?:[ \t/-]{0,3}\d){4,}(?!\d)")
# A dot after an area code of three or more digits (0355.612345) is a phone number, not a
# date (01.03.2024 has a two-digit first group).
_PHONE_DOTTED = re.compile(r"(?<![\w.,])0\d{2,5}\.\d{3,}(?:[ \t/.-]?\d{2,})*(?![\d.]\d)")
#: International bank account numbers: country, check digits, 11-30 letters or digits.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ \t]?[A-Z0-9]{4}){2,7}(?:[ \t]?[A-Z0-9]{1,4})?\b")

_NAME_TOKEN = r"[A-ZÄÖÜ][\w'’-]*"
_PARTICLE = r"(?:(?:von|van|de|zu|der|den|vom)\s+)"
_NAME = rf"{_PARTICLE}?{_NAME_TOKEN}(?:\s+{_PARTICLE}?{_NAME_TOKEN})?"
_TITLES = r"(?:(?:Dr|Prof|Dipl\.-Ing|Ing|med|rer\. nat)\.?\s+)*"
_SALUTATION = re.compile(
    rf"(?P<lead>\b(?i:herrn?|frau|eheleute|ehepaar|familie)\s+|\b(?i:hr|fr|fam)(?:\.\s*|\s+))"
    rf"(?P<title>{_TITLES})(?P<name>{_NAME})")
_INITIAL_NAME = rf"(?:[A-ZÄÖÜ]\.\s*)?{_NAME}"
_INTRO = re.compile(
    rf"(?P<lead>\b(?i:mein\s+name\s+ist|ich\s+hei(?:ß|ss)e)\s+)(?P<name>{_INITIAL_NAME})")
_GREETING = re.compile(
    rf"(?P<lead>(?i:\bmit\s+freundlichen\s+gr(?:ü|ue)(?:ß|ss)en|\b(?:viele|beste|liebe|"
    rf"freundliche|herzliche|schöne)\s+gr(?:ü|ue)(?:ß|ss)e|\bgr(?:ü|ue|u)(?:ß|ss)e?|\bmfg|\blg"
    rf"|\bvg|\bgez\.)[,!.]?\s+)(?P<name>{_INITIAL_NAME})")
_LABEL = re.compile(
    r"(?P<lead>\b(?i:name|vor-?\s*und\s+nachname|absender(?:in)?|melder(?:in)?|"
    r"meldende[rn]?|kontakt(?:person)?|ansprechpartner(?:in)?|unterschrift)\s*:\s*|"
    r"\b(?i:gemeldet\s+von|im\s+auftrag\s+von)\s+)"
    r"(?P<name>[^\s,;:()]+(?:[ \t]+[^\s,;:()]+){0,2})")
_ADDRESS = re.compile(
    r"(?P<lead>\b(?i:anschrift|adresse|wohnanschrift|privatadresse)\s*:\s*|"
    r"\b(?i:wohnhaft\s+in|ich\s+wohne)\s+)"
    r"(?P<name>[^\s,;:()]+(?:[ \t]+(?!(?i:und|oder|aber|sowie)\b)[^\s,;:()]+){0,5})")
# Registration plates: district (1-3 letters), hyphen, 1-2 letters, 1-4 digits (E/H suffix).
_PLATE = re.compile(r"\b[A-ZÄÖÜ]{1,3}-[A-Z]{1,2}[ \t]?\d{1,4}[EH]?\b")
_REPEATED = re.compile(rf"{re.escape(PLACEHOLDER)}(?:[\s,;/]*{re.escape(PLACEHOLDER)})+")


def _keep_lead(match: re.Match[str]) -> str:
    """The salutation, label or greeting stays; what follows it goes."""
    return match["lead"] + PLACEHOLDER


def _keep_keyword(match: re.Match[str]) -> str:
    return match["kw"] + (match["sep"] or " ") + PLACEHOLDER


#: Rules in the order they run: whole tokens (URLs, e-mails) first, so their parts are not
#: mistaken for names or numbers; then numbers; then names.
_RULES: tuple[tuple[re.Pattern[str], object], ...] = (
    (_URL, PLACEHOLDER),
    (_EMAIL, PLACEHOLDER),
    (_ANY_AT, PLACEHOLDER),
    (_IBAN, PLACEHOLDER),
    (_PHONE_KEYWORD, _keep_keyword),
    (_PHONE_INTERNATIONAL, PLACEHOLDER),
    (_PHONE_DOTTED, PLACEHOLDER),
    (_PHONE_NATIONAL, PLACEHOLDER),
    (_PLATE, PLACEHOLDER),
    (_ADDRESS, _keep_lead),
    (_LABEL, _keep_lead),
    (_INTRO, _keep_lead),
    (_GREETING, _keep_lead),
    (_SALUTATION, lambda m: m["lead"] + m["title"] + PLACEHOLDER),
)


def redact(text: str | None) -> str | None:
    """``text`` with e-mails, URLs, phone numbers, names and private addresses replaced.

    Parameters
    ----------
    text
        Free text as a citizen or a clerk wrote it; None passes through.

    Returns
    -------
    str or None
        The text with each recognised span replaced by :data:`PLACEHOLDER` (adjacent
        placeholders merged), stripped; None for None or blank text. The module docstring
        lists what is and what is not recognised.
    """
    if text is None or not text.strip():
        return None
    out = text
    for pattern, replacement in _RULES:
        out = pattern.sub(replacement, out)  # type: ignore[arg-type]
    return _REPEATED.sub(PLACEHOLDER, out).strip()
