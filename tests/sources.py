"""Variants of the parcel sample in the formats and with the faults the city really meets."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyogrio.raw
import shapely
from pyproj import Transformer

from tests.conftest import PARCELS_SAMPLE


@dataclass(frozen=True)
class Layer:
    """A layer in memory: field names, columns, geometries (shapely), CRS."""

    names: list[str]
    columns: list[np.ndarray]
    geoms: np.ndarray
    crs: str

    def column(self, name: str) -> np.ndarray:
        return self.columns[self.names.index(name)]

    def head(self, n: int) -> Layer:
        return replace(self, columns=[c[:n] for c in self.columns], geoms=self.geoms[:n])

    def with_column(self, name: str, values) -> Layer:
        arr = np.asarray(values, dtype=object)
        if name in self.names:
            cols = list(self.columns)
            cols[self.names.index(name)] = arr
            return replace(self, columns=cols)
        return replace(self, names=[*self.names, name], columns=[*self.columns, arr])

    def without(self, name: str) -> Layer:
        i = self.names.index(name)
        return replace(self, names=self.names[:i] + self.names[i + 1:],
                       columns=self.columns[:i] + self.columns[i + 1:])

    def to_crs(self, crs: str) -> Layer:
        t = Transformer.from_crs(self.crs, crs, always_xy=True)
        geoms = shapely.transform(self.geoms, lambda xy: np.column_stack(
            t.transform(xy[:, 0], xy[:, 1])))
        return replace(self, geoms=geoms, crs=crs)

    def write(self, path: Path, driver: str, **options) -> Path:
        cols = [c.astype(object) if c.dtype.kind in "OU" else c for c in self.columns]
        geoms = shapely.to_wkb(self.geoms)
        pyogrio.raw.write(path, geoms, cols, self.names, driver=driver,
                          geometry_type="Polygon" if driver == "ESRI Shapefile"
                          else "Unknown", crs=self.crs, **options)
        return path


def sample(n: int | None = None) -> Layer:
    """The committed parcel sample (or its first ``n`` features)."""
    meta, _, wkb, cols = pyogrio.raw.read(PARCELS_SAMPLE)
    layer = Layer(list(meta["fields"]), list(cols), shapely.from_wkb(wkb), meta["crs"])
    return layer.head(n) if n else layer
