"""The pattern layer of :mod:`twin.redact`: what is recognised as personal data by its form.

It runs first, on normalised text (NFKC, one kind of space, one kind of dash), so that a
contact made of dictionary words ("post at cottbus dot de", "Danke, Frank Müller") never
reaches the allow-list, where each of its words would pass. Each rule removes too much rather
than too little. The allow-list behind it is the real safety net; these rules exist for what
the allow-list cannot see.
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: What replaces a redacted span.
PLACEHOLDER = "[entfernt]"

_AT = (r"(?:\s*@\s*|\s*[\(\[\{<]\s*(?:at|ät|et)\s*[\)\]\}>]\s*"
       r"|\s+(?:at|ät)\s+)")
_DOT = (r"(?:\s*\.\s*|\s*[\(\[\{<]\s*(?:dot|punkt)\s*[\)\]\}>]\s*"
        r"|\s+(?:dot|punkt)\s+)")
_EMAIL = re.compile(rf"(?i)[\w.+-]+{_AT}[\w-]+(?:{_DOT}[\w-]+)+")
_ANY_AT = re.compile(r"\S*@\S*")
# A URL ends before trailing punctuation that belongs to the sentence.
_URL = re.compile(r"(?i)\b(?:https?://|ftp://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]]")
#: A bare domain (facebook.com/x, cottbus.de): a name, a dot, a top-level domain people use.
_TLD = (r"(?:de|com|net|org|eu|info|io|me|pl|cz|at|ch|nl|uk|fr|it|ru|tv|app|ly|gl|be|to"
        r"|online|social|shop|biz|gle|page|site)")
_DOMAIN = re.compile(rf"(?i)(?<![\w@])[\w-]+(?:\.[\w-]+)*\.{_TLD}\b(?:/[^\s<>\"']*)?")

_PHONE_KEYWORD = re.compile(
    r"(?i)\b(?P<kw>tel(?:efon)?(?:nummer)?|telefonnr|rufnummer|fon|phone|handy(?:nummer)?"
    r"|mobil(?:nummer|telefon)?|fax|whats ?app|signal|telegram|erreichbar(?:\s+unter)?"
    r"|r(?:ü|ue)ckruf(?:nummer)?)\b(?P<sep>\.?\s*(?:nr\.?)?\s*:?\s*)"
    r"(?P<num>\+?[\d(][\d\s/().-]{3,}\d)")
#: Digits with separators of any kind (space, dot, slash, hyphen, brackets): six digits or
#: more after a + or 00 or a trunk 0 are a phone number, whatever the notation.
_PHONE_INTERNATIONAL = re.compile(
    r"(?<![\w,])(?:\+|00)[1-9](?:[\s./()-]{0,3}\d){5,}(?!\d)")
# National numbers start with the trunk prefix 0. Dates (01.03.2024) have a two-digit first
# group, decimals (0,5 m) a comma: neither is taken for a number.
_PHONE_NATIONAL = re.compile(r"(?<![\w.,])\(?0\d{2,5}\)?(?:[ /-]{0,3}\d){4,}(?!\d)")
_PHONE_DOTTED = re.compile(r"(?<![\w.,])0\d{2,5}(?:[.\s]{1,2}\d{2,}){1,5}(?![\d]|\.\d)")
#: Digits written one by one with spaces between (0 3 5 5 4 7 1 ...): six or more.
_SPACED_DIGITS = re.compile(r"(?<![\w.,])\d(?:[ .-]\d){5,}(?!\d)")
#: International bank account numbers, any case, with or without spaces or hyphens.
_IBAN = re.compile(r"(?i)\b[a-z]{2}[ -]?\d{2}(?:[ -]?[a-z0-9]{4}){2,7}(?:[ -]?[a-z0-9]{1,4})?\b")
#: Registration plates with a hyphen (any case): district, 1-2 letters, 1-4 digits, E/H.
_PLATE = re.compile(r"(?i)(?<![\w-])[a-zäöü]{1,3}-[a-z]{1,2}[ -]?\d{1,4}[eh]?\b")
#: ... and in capitals with a space: CB AB 123.
_PLATE_SPACED = re.compile(r"\b[A-ZÄÖÜ]{1,3} [A-Z]{1,2} \d{1,4}[EH]?\b")
#: A birth date or year after "geb." / "geboren" / "Jahrgang".
_BIRTH = re.compile(r"(?i)(?P<lead>\b(?:geb(?:oren)?\.?|jahrgang|jg\.)\s*(?:am\s+)?)"
                    r"(?P<name>\d{1,2}\.\s?\d{1,2}\.\s?\d{2,4}|\d{4})")

_TITLES = r"(?:(?:Dr|Prof|Dipl\.-Ing|Ing|med|rer\. nat)\.?\s+)*"
_SALUTATION = re.compile(
    rf"(?P<lead>\b(?i:herrn?|frau|eheleute|ehepaar|familie|nachbarin|nachbar|"
    rf"sohn|tochter|mieter(?:in)?)\s+|\b(?i:hr|fr|fam)(?:\.\s*|\s+))(?P<title>{_TITLES})")
_INTRO = re.compile(r"(?P<lead>\b(?i:mein\s+name\s+ist|ich\s+hei(?:ß|ss)e|hier\s+ist"
                    r"|hier\s+schreibt)\s+)")
_GREETING = re.compile(
    r"(?P<lead>(?i:\bmit\s+freundlichen\s+gr(?:ü|ue)(?:ß|ss)en|\b(?:viele|beste|liebe|"
    r"freundliche|herzliche|schöne|sonnige)\s+gr(?:ü|ue)(?:ß|ss)e|\bgr(?:ü|ue|u)(?:ß|ss)e?"
    r"|\bmfg|\blg|\bvg|\bgez\.|\bvielen\s+dank|\bdanke(?:\s+schön|schön)?|\bbesten\s+dank"
    r"|\btschüss|\bciao|\bhallo|\bhi|\bservus)(?!\w)"
    r"(?:\s+(?i:aus|von)\s+(?:der\s+|dem\s+)?[^\W\d_][\w-]*)?[,!.:;]?\s*)")
_LABEL = re.compile(
    r"(?P<lead>\b(?i:name|vor-?\s*und\s+nachname|absender(?:in)?|melder(?:in)?|"
    r"meldende[rn]?|kontakt(?:person)?|ansprechpartner(?:in)?|ansprechperson|unterschrift|"
    r"bearbeiter(?:in)?|r(?:ü|ue)ckruf|zeuge|zeugin|gemeldet\s+von|im\s+auftrag\s+von|"
    r"i\.\s?a\.|vertreten\s+durch)(?!\w)\s*[:.]?\s*)")
_ADDRESS = re.compile(
    r"(?P<lead>\b(?i:anschrift|adresse|wohnanschrift|privatadresse)\s*:\s*|"
    r"\b(?i:wohnhaft\s+in|ich\s+wohne)\s+)"
    r"(?P<name>[^\s,;:()]+(?:[ \t]+(?!(?i:und|oder|aber|sowie)\b)[^\s,;:()]+){0,5})")
_REPEATED = re.compile(rf"{re.escape(PLACEHOLDER)}(?:[\s,;/.-]*{re.escape(PLACEHOLDER)})+")

#: A word that can be (part of) a name, in any script (Ł, Š, Ö too), or an initial ("K.").
_WORD = re.compile(r"[ \t]*(?:(?P<initial>[^\W\d_]\.)|(?P<word>[^\W\d_][\w'’-]*))")
_PARTICLES = {"von", "van", "de", "zu", "der", "den", "vom", "da", "di", "le", "la", "ten"}


def _names_after(lead_pattern: re.Pattern[str], text: str, most: int = 3) -> str:
    """``text`` with up to ``most`` capitalised words after each ``lead_pattern`` replaced
    (particles such as "von" and initials such as "K." go with them)."""
    out, pos = [], 0
    for m in lead_pattern.finditer(text):
        if m.start() < pos:
            continue
        end, taken = m.end(), 0
        while taken < most and (w := _WORD.match(text, end)):
            word = w["initial"] or w["word"]
            if w["word"] and word.lower() in _PARTICLES:
                end = w.end()
                continue
            if not word[:1].isupper():
                break
            end, taken = w.end(), taken + (0 if w["initial"] else 1)
        if taken:
            out.append(text[pos:m.end()] + PLACEHOLDER)
            pos = end
    out.append(text[pos:])
    return "".join(out)


def _phone(match: re.Match[str]) -> str:
    """A national number is a phone number when it is written with a separator or has nine
    digits or more; eight digits in one block (a heritage ID: 09100203) are not."""
    number = match.group()
    digits = sum(c.isdigit() for c in number)
    return PLACEHOLDER if digits >= 9 or not number.lstrip("(").isdigit() else number


def _keep_lead(match: re.Match[str]) -> str:
    return match["lead"] + PLACEHOLDER


def _keep_keyword(match: re.Match[str]) -> str:
    return match["kw"] + (match["sep"] or " ") + PLACEHOLDER


Rule = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]

#: Rules in the order they run: whole tokens (URLs, e-mails, domains) first, so their parts
#: are not mistaken for names or numbers; then numbers; then addresses.
_RULES: tuple[Rule, ...] = (
    (_URL, PLACEHOLDER),
    (_EMAIL, PLACEHOLDER),
    (_ANY_AT, PLACEHOLDER),
    (_DOMAIN, PLACEHOLDER),
    (_IBAN, PLACEHOLDER),
    (_BIRTH, _keep_lead),
    (_PHONE_KEYWORD, _keep_keyword),
    (_PHONE_INTERNATIONAL, PLACEHOLDER),
    (_PHONE_DOTTED, PLACEHOLDER),
    (_PHONE_NATIONAL, _phone),
    (_SPACED_DIGITS, PLACEHOLDER),
    (_PLATE, PLACEHOLDER),
    (_PLATE_SPACED, PLACEHOLDER),
    (_ADDRESS, _keep_lead),
)
#: Leads after which names follow, handled by :func:`_names_after`.
_NAME_LEADS = (_LABEL, _INTRO, _GREETING, _SALUTATION)


def mask_patterns(text: str) -> str:
    """``text`` (normalised) with every span a rule recognises replaced by PLACEHOLDER."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    for lead in _NAME_LEADS:
        text = _names_after(lead, text)
    return merge_placeholders(text)


def merge_placeholders(text: str) -> str:
    """Adjacent placeholders (with only spaces or punctuation between) as one."""
    return _REPEATED.sub(PLACEHOLDER, text)
