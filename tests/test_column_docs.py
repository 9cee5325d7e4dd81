"""The docs' tables of accepted column names are the sources' own declarations."""

from __future__ import annotations

import pytest

from etl import column_docs
from etl.columns import Column, Columns


@pytest.mark.parametrize("page", sorted(column_docs.TABLES))
def test_each_source_page_shows_its_current_declaration(page: str) -> None:
    text = (column_docs.DOCS / page).read_text(encoding="utf-8")
    assert column_docs.rendered(page, text) == text, (
        f"docs/sources/{page} is stale: run `python -m etl.column_docs`")
    for _, columns in column_docs.TABLES[page]:
        for column in columns:
            # Every spelling a load accepts is written in the page, as a user types it.
            assert all(f"`{s}`" in text for s in column.spellings), column.field


def test_a_new_spelling_is_one_line_and_reaches_the_docs() -> None:
    columns = Columns((Column("site_id", ("Flächen-Nr", "nr"), required=True),))
    wider = Columns((Column("site_id", ("Flächen-Nr", "nr", "Objekt-Nr."), required=True),))
    header = ["Objekt Nr", "Name"]
    with pytest.raises(Exception, match="Flächen-Nr"):
        columns.match(header, path=column_docs.DOCS)
    matched = wider.match(header, path=column_docs.DOCS)
    assert matched.get("site_id") == "Objekt Nr" and matched.dropped == ("Name",)
    assert "`Objekt-Nr.`" in wider.markdown() and "`Objekt-Nr.`" not in columns.markdown()
