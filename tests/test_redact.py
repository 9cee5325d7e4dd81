"""twin.redact over the ways citizens and clerks write personal data into free text."""

from __future__ import annotations

import pytest

from twin.redact import PLACEHOLDER, redact

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
     f"Anschrift: {X}, 03046 Cottbus"),
    ("plate", "Auto mit Kennzeichen CB-AB 123 parkt dort", ["CB-AB 123"],
     f"Auto mit Kennzeichen {X} parkt dort"),
    ("plate-compact", "SPN-K42 steht immer da", ["SPN-K42"], f"{X} steht immer da"),
    ("merged", "Kontakt: anna@example.org, 0170 1234567", ["anna", "1234567"], f"Kontakt: {X}"),
    ("everything", "Herr Krause (krause@web.de, Tel. 0355 12345) meldet: Loch!",
     ["Krause", "krause@", "12345"], None),
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
    ("date-time-sizes", "Am 01.03.2024 um 08:30 Uhr entdeckt, 0,5 m breit, 30 cm tief"),
    ("street-number-postcode", "Schlagloch vor Bahnhofstraße 12, 03046 Cottbus"),
    ("federal-road-norm", "B 168 Richtung Peitz, Leitplanke nach DIN EN 1317"),
    ("street-der-jugend", "Straße der Jugend 12, ca. 40 x 60 cm"),
    ("money-year", "Kostenschätzung 2.400 EUR, im Bauprogramm 2025"),
    ("iso-date", "seit 2024-03-14 gesperrt, 3 Wochen"),
    ("road-names", "Kreuzung Karl-Marx-Straße / Stadtring, Höhe Haltestelle"),
    ("capitalised-nouns", "Frauenparkplatz und Herrentoilette am Altmarkt beschädigt"),
    ("long-number", "Schacht Nr. 12345 abgesackt"),
    ("words-with-name-labels", "Straßenname falsch beschildert, Gruß aus Sandow"),
    ("short-decimal-phone-like", "Tiefe 0,12 m, Breite 1,20 m"),
]


@pytest.mark.parametrize("text", [r[1] for r in UNCHANGED], ids=[r[0] for r in UNCHANGED])
def test_damage_descriptions_stay_as_written(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_nothing_stays_nothing(text: str | None) -> None:
    assert redact(text) is None


def test_whitespace_around_is_stripped() -> None:
    assert redact("  Loch im Radweg \n") == "Loch im Radweg"
