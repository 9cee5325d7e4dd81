"""The tables of accepted column names in docs/sources/, written from the sources' own
declarations (:class:`etl.columns.Columns`), so that the docs cannot drift from what a load
accepts. ``python -m etl.column_docs`` rewrites them; a test fails when one is stale.

Each table stands between ``<!-- columns: NAME -->`` and ``<!-- /columns -->`` in its page.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from etl.columns import Columns
from etl.sources import commercial_land, heritage, street_damage, traffic

DOCS = Path(__file__).resolve().parent.parent / "docs" / "sources"

#: Page -> (name of the block, the declaration it shows).
TABLES: dict[str, tuple[tuple[str, Columns], ...]] = {
    "heritage.md": (("list", heritage.COLUMNS),),
    "commercial-land.md": (("site-sheet", commercial_land.COLUMNS),),
    "street-damage.md": (("register", street_damage.REGISTER_COLUMNS),),
    "traffic-counts.md": (("stations", traffic.STATION_CSV_COLUMNS),
                          ("hourly", traffic.HOURLY_COLUMNS)),
}


def _block(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- columns: {re.escape(name)} -->\n).*?(<!-- /columns -->)", re.S)


def rendered(page: str, text: str) -> str:
    """``text`` of ``page`` with its tables current; a missing block is appended."""
    for name, columns in TABLES[page]:
        block = f"<!-- columns: {name} -->\n{columns.markdown()}<!-- /columns -->"
        if _block(name).search(text):
            text = _block(name).sub(lambda _m, b=block: b, text)
        else:
            text = text.rstrip("\n") + f"\n\n### Accepted columns ({name})\n\n{block}\n"
    return text


def main() -> int:
    for page in TABLES:
        path = DOCS / page
        text = path.read_text(encoding="utf-8")
        new = rendered(page, text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
