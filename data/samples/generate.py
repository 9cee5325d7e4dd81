"""Regenerate every sample in data/samples/, deterministically.

Each ``gen_<source>.py`` beside this file has a ``write(out_dir)`` function; they run in the
order below (later ones may read earlier output, e.g. monuments placed on the parcels).
Run ``python data/samples/generate.py`` or ``make samples``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent
ORDER = ("parcels", "heritage", "traffic", "street_damage", "commercial_land", "terrain",
         "buildings", "sensors", "dry_spell")


def main() -> None:
    sys.path.insert(0, str(SAMPLES_DIR))
    for name in ORDER:
        path = SAMPLES_DIR / f"gen_{name}.py"
        if not path.exists():
            continue
        importlib.import_module(f"gen_{name}").write(SAMPLES_DIR)


if __name__ == "__main__":
    main()
