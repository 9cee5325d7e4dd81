"""Cadastral parcels: the Flurstück layer of ALKIS in Brandenburg's simplified schema.

As the state's open WFS (``ave:Flurstueck``) or its downloads deliver it, in any format GDAL
reads. Owner data (names, addresses, land-register links) is never in this registry, so it never
reaches a published table.
"""

from __future__ import annotations

import re

from etl.sources.base import VectorSource
from twin.registry import PARCELS


class ParcelsSource(VectorSource):
    name = "parcels"
    collections = (PARCELS,)
    required = ("flstkennz",)
    # Land (2) + Gemarkung (4) + Flur (3) + Zähler (5) digits, Nenner (4) and two fillers,
    # where an absent Nenner is written as underscores.
    key_pattern = re.compile(r"\d{14}[\d_]{4}__")
    key_description = "a 20-character Flurstückskennzeichen (e.g. 124166001000120003__)"
