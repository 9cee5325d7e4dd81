"""Colours of buildings by heritage status: one place for the tiles and the viewer's legend."""

from __future__ import annotations

#: RGB by ``twin.buildings.heritage_status``; anything else is drawn as ``none``.
HERITAGE_COLOURS: dict[str, tuple[int, int, int]] = {
    "listed": (200, 32, 56),    # a listed building (Baudenkmal)
    "area": (236, 164, 28),     # a building inside a heritage area (Denkmalbereich)
    "none": (205, 205, 198),    # every other building
}
#: Legend labels (German, English) in the order the legend lists them.
HERITAGE_LABELS: dict[str, tuple[str, str]] = {
    "listed": ("Baudenkmal", "Listed building"),
    "area": ("Im Denkmalbereich", "In a heritage area"),
    "none": ("Sonstige Gebäude", "Other buildings"),
}
#: Roofs are drawn this much darker than walls, so the form reads even under flat light.
ROOF_SHADE = 0.78


def colour(status: str | None) -> tuple[int, int, int]:
    """The colour of a building of heritage status ``status``."""
    return HERITAGE_COLOURS.get(status or "none", HERITAGE_COLOURS["none"])
