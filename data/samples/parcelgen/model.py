"""Data passed between the steps: the street grid, its segments and the parcels being built."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely


@dataclass
class Grid:
    """Jittered street grid.

    Attributes
    ----------
    nodes : ndarray, shape (nx, ny, 2)
        Street intersections (street centre lines), boundary nodes on the bbox.
    kx, ky : ndarray of int
        Line index relative to the line nearest the Altmarkt (for arterials).
    """

    nodes: np.ndarray
    kx: np.ndarray
    ky: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.nodes.shape[0], self.nodes.shape[1]


@dataclass
class Edges:
    """Street segments between neighbouring grid nodes.

    Vertical (north-south) segments come first, ids ``i * (ny - 1) + j`` for the
    segment from node ``(i, j)`` to ``(i, j + 1)``; horizontal ones follow.
    """

    a: np.ndarray
    b: np.ndarray
    vertical: np.ndarray
    line: np.ndarray
    pos: np.ndarray
    boundary: np.ndarray
    width: np.ndarray
    urban: np.ndarray
    name: np.ndarray

    @property
    def mid(self) -> np.ndarray:
        return 0.5 * (self.a + self.b)


@dataclass
class Pieces:
    """Parcels under construction, one row per polygon.

    ``block`` is the grid block a lot was cut from (-1 for streets and overlays);
    ``anchor`` is the point deciding Gemarkung and Flur (the block piece's point for
    lots, so that a block stays in one Flur; NaN = use the parcel's own point).
    """

    geom: np.ndarray
    kind: np.ndarray
    tn: np.ndarray
    lage: np.ndarray
    block: np.ndarray
    anchor: np.ndarray

    FIELDS = ("geom", "kind", "tn", "lage", "block", "anchor")

    @classmethod
    def empty(cls) -> Pieces:
        return _pieces(np.array([], dtype=object), "", None, None)

    def __len__(self) -> int:
        return len(self.geom)

    def take(self, idx: np.ndarray) -> Pieces:
        return Pieces(*(getattr(self, f)[idx] for f in self.FIELDS))

    def extend(self, other: Pieces) -> Pieces:
        return Pieces(*(np.concatenate([getattr(self, f), getattr(other, f)]) for f in self.FIELDS))


def _pieces(
    geom: np.ndarray,
    kind: str | np.ndarray,
    tn: str | np.ndarray,
    lage: str | np.ndarray | None,
    block: int | np.ndarray = -1,
) -> Pieces:
    """Build :class:`Pieces`, broadcasting scalar attributes."""
    n = len(geom)

    def col(v: object) -> np.ndarray:
        if isinstance(v, np.ndarray):
            return v.astype(object)
        out = np.empty(n, dtype=object)
        out[:] = [v] * n
        return out

    blk = block if isinstance(block, np.ndarray) else np.full(n, block, dtype=np.int64)
    return Pieces(
        np.asarray(geom, dtype=object),
        col(kind),
        col(tn),
        col(lage),
        blk.astype(np.int64),
        np.full((n, 2), np.nan),
    )


def explode(p: Pieces, min_area: float = 0.5) -> Pieces:
    """Split multi-part geometries into polygons and drop (near) empty ones."""
    parts, idx = shapely.get_parts(p.geom, return_index=True)
    parts = np.asarray(parts, dtype=object)
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) >= min_area)
    out = p.take(idx[keep])
    out.geom = parts[keep]
    return out


def is_none(values: np.ndarray) -> np.ndarray:
    """Element-wise ``value is None`` for an object array."""
    return np.array([v is None for v in values], dtype=bool)
