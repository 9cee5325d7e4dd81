"""Notes, repairs and refusals of a load, grouped by kind for a terminal.

A real list can make thousands of lines of one kind ("row 12 (09040625): no geometry in the
geometry files"). A terminal shows a few lines of each kind and how many more there are; the
load record (twin.load_run) keeps every line and `twin db status --run N` prints them all.

The kind of a line is the line with what varies from record to record taken out: the file,
numbers, quoted values and keys in parentheses. It is worked out from the text, so a source adds
plain strings and never has to name a kind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

#: Lines shown per kind on a terminal; the rest are counted.
PER_KIND = 3
#: Kinds shown on a terminal; the lines of further kinds are counted together.
MAX_KINDS = 20

_QUOTED = re.compile(r"'[^']*'")
# A token in parentheses holding a digit: the key of a row, "(09040625)", "(12…(masked))".
_KEY = re.compile(r"\([^()\s]*\d[^()\s]*\)")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# A path as str(Path) prints it, with at least one directory.
_PATH = re.compile(r"(?:[\w.~+-]*/)+[\w.~+-]+")


def kind_of(text: str, paths: Iterable[str] = ()) -> str:
    """What ``text`` says with the record-specific parts (file, numbers, values) taken out.

    Examples
    --------
    >>> kind_of("a/b.csv: row 12 (09040625): no geometry; not published")
    'FILE: row # (…): no geometry; not published'
    """
    for path in sorted(filter(None, paths), key=len, reverse=True):
        text = text.replace(path, "FILE")
    text = _PATH.sub("FILE", text)
    text = _QUOTED.sub("'…'", text)
    text = _KEY.sub("(…)", text)
    return _NUMBER.sub("#", text)


@dataclass(frozen=True)
class Group:
    """Lines of one kind: the first few as they are, and how many there are in all."""

    kind: str
    first: tuple[str, ...]
    total: int


def group(lines: Iterable[tuple[str, str]], per_kind: int = PER_KIND) -> list[Group]:
    """(kind, line) pairs grouped by kind, in the order kinds first appear."""
    first: dict[str, list[str]] = {}
    totals: dict[str, int] = {}
    for kind, line in lines:
        kept = first.setdefault(kind, [])
        if len(kept) < per_kind:
            kept.append(line)
        totals[kind] = totals.get(kind, 0) + 1
    return [Group(k, tuple(first[k]), totals[k]) for k in first]


def note_line(note: str) -> str:
    return f"note: {note}"


def repair_line(repair: dict) -> str:
    return (f"repair: {repair.get('path')}: row {repair.get('row')} ({repair.get('key')}), "
            f"field '{repair.get('field')}': {repair.get('reason')}")


def refusal_line(refusal: dict) -> str:
    """A refusal as the CLI prints it: file, row, field, reason."""
    where = [f"row {refusal['row']}"] if refusal.get("row") is not None else []
    if refusal.get("field") is not None:
        where.append(f"field '{refusal['field']}'")
    text = f"{', '.join(where)}: {refusal.get('reason')}" if where else str(refusal.get("reason"))
    return f"{refusal['path']}: {text}" if refusal.get("path") else text


def terminal_lines(notes: list[str], repairs: list[dict], refusals: list[dict], *,
                   paths: Iterable[str] = (), run_id: int | None = None,
                   per_kind: int = PER_KIND, max_kinds: int = MAX_KINDS) -> Iterator[str]:
    """The lines a terminal shows of a load's messages: at most ``per_kind`` of each kind
    and ``max_kinds`` kinds per list, then how many more there are and where to read them.

    Repairs and refusals are of one kind per field and reason; notes by :func:`kind_of`.
    """
    paths = list(paths)
    where = f" (twin db status --run {run_id})" if run_id else " (twin db status)"
    lists = (
        ((kind_of(n, paths), note_line(n)) for n in notes),
        ((f"{r.get('field')}|{kind_of(str(r.get('reason')), paths)}", repair_line(r))
         for r in repairs),
        ((f"{r.get('field')}|{kind_of(str(r.get('reason')), paths)}", refusal_line(r))
         for r in refusals),
    )
    for pairs in lists:
        groups = group(pairs, per_kind)
        for g in groups[:max_kinds]:
            yield from g.first
            if g.total > len(g.first):
                yield f"  … and {g.total - len(g.first):,} more like this{where}"
        if rest := groups[max_kinds:]:
            yield (f"  … and {sum(g.total for g in rest):,} more of {len(rest):,} other "
                   f"kind(s){where}")
