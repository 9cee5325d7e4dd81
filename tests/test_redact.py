"""twin.redact over the ways citizens and clerks write personal data into free text.

The model is an allow-list (twin/redact.py): known words and measurements pass, the rest is
masked. The people here are invented.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from twin.redact import PLACEHOLDER, redact, redact_message, shown
from twin.settings import PROJECT_ROOT

X = PLACEHOLDER

REDACTED = [
    # (id, text, personal values that must be gone, what must remain)
    ("email", "Rückfragen an anna.berger@example.org bitte", ["anna.berger", "example.org"],
     f"Rückfragen an {X} bitte"),
    ("email-plus", "mail: jens+stadt@posteo.de.", ["jens+stadt", "posteo"], f"mail: {X}."),
    ("email-at-brackets", "anna(at)example(dot)de", ["anna", "example"], X),
    ("email-at-spaced", "anna [at] web [punkt] de schreiben", ["anna", "web"],
     f"{X} schreiben"),
    ("email-at-curly", "k.lehmann{at}gmx{dot}net", ["lehmann", "gmx"], X),
    ("handle", "@StadtCottbus bitte schnell", ["StadtCottbus"], f"{X} bitte schnell"),
    ("broken-email", "an peter@localhost", ["peter"], f"an {X}"),
    ("https", "Foto: https://imgur.com/a/xYz12. Danke!", ["imgur", "xYz12"],
     f"Foto: {X}. Danke!"),
    ("http-query", "siehe http://maengel.example/x?id=5&u=anna)", ["maengel", "anna"],
     f"siehe {X})"),
    ("www", "siehe www.example.de/fotos/loch.jpg", ["example.de"], f"siehe {X}"),
    ("tel-landline", "Tel. 0355 612-3456", ["612-3456"], f"Tel. {X}"),
    ("tel-colon", "Telefon: (0355) 12345", ["12345"], f"Telefon: {X}"),
    ("tel-dot-colon", "Tel.: 0355/4711 23", ["4711"], f"Tel.: {X}"),
    ("handy", "Handy 0170 1234567 ab 17 Uhr", ["1234567"], f"Handy {X} ab 17 Uhr"),
    ("phone-dotted", "Ruf mich an: 0355.612345", ["612345"], f"Ruf mich an: {X}"),
    ("hr-without-dot", "Hr Müller hat es gesehen", ["Müller"], f"Hr {X} hat es gesehen"),
    ("fr-without-dot", "Fr Schulze wohnt daneben", ["Schulze"], f"Fr {X} wohnt daneben"),
    ("iban", "Erstattung an IBAN DE89 3704 0044 0532 0130 00 bitte", ["3704", "DE89"],
     f"Erstattung an IBAN {X} bitte"),
    ("mobil-no-zero", "Mobil: 171 2345678", ["2345678"], f"Mobil: {X}"),
    ("international", "erreichbar unter +49 171 2345678", ["2345678"], f"erreichbar unter {X}"),
    ("international-00", "oder 0049 355 4711 23", ["4711"], f"oder {X}"),
    ("international-trunk", "+49 (0)355 612 34 56 anrufen", ["612 34"], f"{X} anrufen"),
    ("bare-landline", "0355/4711 23 anrufen", ["4711"], f"{X} anrufen"),
    ("bare-mobile", "ruft 01523 9876543 an", ["9876543"], f"ruft {X} an"),
    ("herr", "Herr Krause ist gestürzt", ["Krause"], f"Herr {X} ist gestürzt"),
    ("herrn", "Bitte Herrn Pohl informieren", ["Pohl"], f"Bitte Herrn {X} informieren"),
    ("frau-title-two-names", "Frau Dr. Anna Berger hat es gemeldet", ["Anna", "Berger"],
     f"Frau Dr. {X} hat es gemeldet"),
    ("abbreviations", "Hr. Lehmann und Fr. Schulze", ["Lehmann", "Schulze"],
     f"Hr. {X} und Fr. {X}"),
    ("familie", "Familie Krüger wohnt nebenan", ["Krüger"], f"Familie {X} wohnt nebenan"),
    ("hyphenated", "Frau Müller-Lüdenscheidt rief an", ["Müller"], f"Frau {X} rief an"),
    ("particle", "Herr von Bülow ist zuständig", ["Bülow"], f"Herr {X} ist zuständig"),
    ("lower-salutation", "herr Krause sagt", ["Krause"], f"herr {X} sagt"),
    ("label-name", "Name: Jens Pohl, bitte reparieren", ["Jens", "Pohl"],
     f"Name: {X}, bitte reparieren"),
    ("label-absender", "Absender: Katrin Neumann", ["Katrin", "Neumann"], f"Absender: {X}"),
    ("label-kontakt", "Kontakt: Ronny Wolff; danke", ["Ronny", "Wolff"], f"Kontakt: {X}; danke"),
    ("gemeldet-von", "gemeldet von Herrn Pohl", ["Pohl"], f"gemeldet von {X}"),
    ("intro", "Mein Name ist Sabine Richter.", ["Sabine", "Richter"], f"Mein Name ist {X}."),
    ("heisse", "ich heiße Marek und fahre hier täglich", ["Marek"],
     f"ich heiße {X} und fahre hier täglich"),
    ("mfg", "MfG Sabine Richter", ["Sabine", "Richter"], f"MfG {X}"),
    ("greeting-newline", "Mit freundlichen Grüßen\nK. Lehmann", ["Lehmann"],
     f"Mit freundlichen Grüßen\n{X}"),
    ("greeting-comma", "Viele Grüße, Marek Nowak", ["Marek", "Nowak"], f"Viele Grüße, {X}"),
    ("greeting-lg", "nicht verschlossen. LG Doreen", ["Doreen"], f"nicht verschlossen. LG {X}"),
    ("greeting-gruss", "Gruß Torsten", ["Torsten"], f"Gruß {X}"),
    ("address-wohne", "Ich wohne in der Lessingstraße 8, vor dem Haus", ["Lessingstraße 8"],
     f"Ich wohne {X}, vor dem Haus"),
    ("address-wohne-long", "ich wohne in der Straße der Jugend 12 und sehe es",
     ["Jugend 12"], f"ich wohne {X} und sehe es"),
    ("address-label", "Anschrift: Gartenstraße 3a, 03046 Cottbus", ["Gartenstraße 3a"],
     f"Anschrift: {X} Cottbus"),
    ("plate", "Auto mit Kennzeichen CB-AB 123 parkt dort", ["CB-AB 123"],
     f"Auto mit Kennzeichen {X} parkt dort"),
    ("plate-compact", "SPN-K42 steht immer da", ["SPN-K42"], f"{X} steht immer da"),
    ("merged", "Kontakt: anna@example.org, 0170 1234567", ["anna", "1234567"], f"Kontakt: {X}"),
    ("everything", "Herr Krause (krause@web.de, Tel. 0355 12345) meldet: Loch!",
     ["Krause", "krause@", "12345"], None),
    # What issue 6 found published.
    ("sorbian-salutation", "Frau Łucja Šramowa hat angerufen", ["Łucja", "Šramowa"],
     f"Frau {X} hat angerufen"),
    ("turkish-salutation", "Herr Özgür Öztürk wohnt gegenüber", ["Özgür", "Öztürk"],
     f"Herr {X} wohnt gegenüber"),
    ("ansprechpartner-no-colon", "Ansprechpartner Herbert Xylander", ["Herbert", "Xylander"],
     f"Ansprechpartner {X}"),
    ("danke", "Bitte schnell. Danke, Gerlinde Quappendorf", ["Gerlinde", "Quappendorf"],
     f"Bitte schnell. Danke, {X}"),
    ("danke-dictionary-name", "Danke, Frank Müller", ["Frank", "Müller"], f"Danke, {X}"),
    ("greeting-from-place", "Liebe Grüße aus Sandow, Wiebke Zschornack",
     ["Wiebke", "Zschornack"], f"Liebe Grüße aus Sandow, {X}"),
    ("phone-dots-international", "Tel +49.355.471184", ["471184"], f"Tel {X}"),
    ("phone-dots-national", "ruft an: 0355.47.11.85", ["47.11", "11.85"], f"ruft an: {X}"),
    ("phone-nbsp", "erreichbar 0355\u00a0471\u00a0186", ["471", "186"], None),
    ("phone-narrow-nbsp", "Nummer 0355\u202f471187", ["471187"], f"Nummer {X}"),
    ("phone-spaced-digits", "Nummer 0 3 5 5 4 7 1 1 8 8", ["4 7 1"], f"Nummer {X}"),
    ("phone-full-width", "Nummer ０３５５ ４７１１８９", ["４７１１８９", "471189"], f"Nummer {X}"),
    ("email-at-dot-words", "schreibt an gerlinde at example dot de", ["gerlinde", "example"],
     f"schreibt an {X}"),
    ("email-full-width-at", "gerlinde＠example.de", ["gerlinde", "example"], X),
    ("email-spaced-at", "gerlinde @ example.de", ["gerlinde", "example"], X),
    ("email-dictionary-words", "an post at cottbus dot de", ["post at", "cottbus dot"],
     f"an {X}"),
    ("iban-lower", "IBAN de89 3704 0044 0532 0130 00", ["3704", "de89"], f"IBAN {X}"),
    ("iban-nbsp", "IBAN DE89\u00a03704\u00a00044\u00a00532\u00a00130\u00a000", ["3704"],
     f"IBAN {X}"),
    ("plate-lower", "Kennzeichen cb-xy 771 parkt", ["771", "cb-xy"], f"Kennzeichen {X} parkt"),
    ("plate-en-dash", "Kennzeichen CB–XY 772 parkt", ["772", "XY"], f"Kennzeichen {X} parkt"),
    ("birth-date", "Herbert Xylander geb. 12.03.1947", ["12.03", "1947", "Xylander"],
     f"{X} geb. {X}"),
    ("bare-domain", "siehe facebook.com/gerlinde.q", ["gerlinde", "facebook"], f"siehe {X}"),
    ("unknown-name-alone", "Wrobelski hat es auch gesehen", ["Wrobelski"],
     f"{X} hat es auch gesehen"),
    ("first-name-alone", "Herbert hat es auch gesehen", ["Herbert"], f"{X} hat es auch gesehen"),
    ("zero-width", "Ger\u200blinde Quap\u00adpendorf war da", ["Gerlinde", "Quappendorf"],
     f"{X} war da"),
    ("house-number", "vor Bahnhofstraße 12 bitte", ["12"], f"vor Bahnhofstraße {X} bitte"),
    ("date", "am 01.03.2024 gesehen", ["2024", "01.03"], f"am {X} gesehen"),
]


@pytest.mark.parametrize(("text", "gone", "expected"),
                         [r[1:] for r in REDACTED], ids=[r[0] for r in REDACTED])
def test_personal_data_is_replaced(text: str, gone: list[str], expected: str | None) -> None:
    out = redact(text)
    for value in gone:
        assert value not in out, (value, out)
    assert PLACEHOLDER in out
    if expected is not None:
        assert out == expected


UNCHANGED = [
    ("measurements", "Schlagloch ca. 30 cm tief vor der Einfahrt"),
    ("sizes-time", "Um 08:30 Uhr entdeckt, 0,5 m breit, 30 cm tief"),
    ("street", "Schlagloch vor der Bahnhofstraße"),
    ("street-der-jugend", "Straße der Jugend, ca. 40 x 60 cm"),
    ("range", "Riss 20-30 cm lang, 2,5 qm abgesackt, seit 3 Wochen"),
    ("road-names", "Kreuzung Karl-Marx-Straße / Stadtring, Höhe Haltestelle"),
    ("capitalised-nouns", "Frauenparkplatz und Herrentoilette am Altmarkt beschädigt"),
    ("words-with-name-labels", "Gehwegplatte lose, Gruß aus Sandow"),
    ("short-decimal-phone-like", "Tiefe 0,12 m, Breite 1,20 m"),
    ("sample", "Tiefes Schlagloch auf der rechten Fahrspur, ca. 30 cm breit. Autos weichen "
               "auf den Radweg aus."),
    ("speed", "Autos fahren hier 50 km/h, Radfahrer stürzen"),
    ("danke-alone", "Bitte reparieren, danke!"),
]


@pytest.mark.parametrize("text", [r[1] for r in UNCHANGED], ids=[r[0] for r in UNCHANGED])
def test_damage_descriptions_stay_as_written(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_nothing_stays_nothing(text: str | None) -> None:
    assert redact(text) is None


def test_whitespace_around_is_stripped() -> None:
    assert redact("  Loch im Radweg \n") == "Loch im Radweg"


MASKED_NUMBERS = [
    # Numbers pass only as measurements: dates, house numbers, postcodes, amounts do not.
    ("postcode", "Bahnhofstraße, 03046 Cottbus", f"Bahnhofstraße, {X} Cottbus"),
    ("federal-road", "B 168 Richtung Peitz", f"B {X} Richtung Peitz"),
    ("year", "im Bauprogramm 2025", f"im Bauprogramm {X}"),
    ("iso-date", "seit 2024-03-14 gesperrt", f"seit {X} gesperrt"),
]


@pytest.mark.parametrize(("text", "expected"), [r[1:] for r in MASKED_NUMBERS],
                         ids=[r[0] for r in MASKED_NUMBERS])
def test_numbers_pass_only_as_measurements(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_many_descriptions_are_redacted_quickly() -> None:
    # A load of 100,000 reports must stay reasonable: words are looked up once.
    texts = [f"Schlagloch Nr {i} ca. {i % 90} cm tief vor der Einfahrt, Herr Quappendorf{i} "
             f"Tel 0355 {470000 + i}" for i in range(5000)]
    redact(texts[0])  # the vocabulary is read once per process
    start = time.perf_counter()
    out = [redact(t) for t in texts]
    elapsed = time.perf_counter() - start
    assert all("Quappendorf" not in o and "0355" not in o for o in out)
    assert elapsed < 10, f"{elapsed:.1f} s for 5,000 descriptions"


def test_a_missing_dictionary_stops_instead_of_publishing() -> None:
    code = "from twin.redact import redact; print(redact('Herr Quappendorf'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "TWIN_DICTIONARY": "/nonexistent/ngerman",
                                 "PYTHONPATH": str(PROJECT_ROOT)}, timeout=60)
    assert result.returncode != 0
    assert "ConfigurationError" in result.stderr and "/nonexistent/ngerman" in result.stderr
    assert "Quappendorf" not in result.stdout


MESSAGES = [
    # (message as a source writes it, values that must be gone, what must stay)
    ("'Ottokar Quappendorf 0355 112233' is not a parcel key",
     ["Ottokar", "Quappendorf", "112233"], ["is not a parcel key"]),
    ("unknown status 'Rückruf Herr Wrobelski-Status 0355 471197'",
     ["Wrobelski", "471197"], ["unknown status"]),
    ("expected a number, got 'geb. 12.03.1947'", ["1947"], ["expected a number"]),
    ("'0910A101' is not an 8-digit ID", [], ["'0910A101'"]),
    ("'KFZ_R1': expected a whole number, got '12a'", [], ["'KFZ_R1'", "'12a'"]),
    ("duplicate key 'register-SK-2022-0101'", [], ["'register-SK-2022-0101'"]),
    ("unknown status 'verschoben'", [], ["'verschoben'"]),
    ("no polygon with site id 'GE-XYZ'", [], ["'GE-XYZ'"]),
    ("row 19 (09100417): no geometry", [], ["(09100417)"]),
    ("site id 'QUAPPENDORF' and 'Quappendorf'", ["QUAPPENDORF", "Quappendorf"], []),
    ("row 4 of 09100203 and 'gerlinde@example.de'", ["gerlinde", "example"], ["09100203"]),
]


@pytest.mark.parametrize(("message", "gone", "kept"), MESSAGES)
def test_messages_echo_values_only_masked(message: str, gone: list[str],
                                         kept: list[str]) -> None:
    out = redact_message(message)
    for value in gone:
        assert value not in out, (value, out)
    for value in kept:
        assert value in out, (value, out)


def test_shown_values_are_masked_and_short() -> None:
    assert shown("Herbert Quappendorf, Tel 0355 4711") == repr(f"{X}, Tel {X}")
    assert shown("12,5 x") == "'12,5 x'"
    assert len(shown("Schlagloch " * 20)) <= 42
