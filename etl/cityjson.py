"""Reading CityJSON 1.0, 1.1 and 2.0 with cjio, and the faces of its geometries as PolygonZ:
one reader, nothing source-specific.

cjio (0.10) reads the file (refusing duplicate object ids, as the specification does) and
upgrades 1.0 and 1.1 to 2.0 (lod as text, addresses as lists, CityObjectGroup children...);
its API is the dict ``CityJSON(file=...).j``. Two things are done here instead:

- the CRS is read from the file *before* the upgrade, and kept out of it: cjio's 1.0 -> 1.1
  step rewrites ``metadata.referenceSystem`` by taking the number after ``::``, which breaks
  compound and AdV spellings (etl/city_crs.py reads them all);
- the vertices are decoded (``transform``: scale and translate) with one numpy expression,
  since cjio's ``decompress()`` loops over every vertex in Python;
- a 1.0 file without ``transform`` gets an identity one before the upgrade: cjio's 1.0 -> 1.1
  step would otherwise quantise its vertices to a fixed number of decimals (3: a millimetre in
  metres, but a hundred metres in degrees).

cjio patches the standard ``json`` module when it is imported (no C encoder, every float
written with six decimals), for the whole process: the API's answers would change with it. It
is imported here only, on first use, and the module is put back as it was
(:func:`cityjson_class`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from twin.errors import SourceError

#: Versions read; older ones are upgraded to the last.
VERSIONS = ("1.0", "1.1", "2.0")

#: CityJSON semantic surface types and what they are published as; any other is 'other'.
SURFACE_TYPES = {"RoofSurface": "roof", "WallSurface": "wall", "GroundSurface": "ground",
                 "ClosureSurface": "closure"}
OTHER_SURFACE = "other"
#: Geometry types whose faces are read; GeometryInstance (templates) is not.
SURFACE_GEOMETRIES = ("MultiSurface", "CompositeSurface")
SOLID_GEOMETRIES = ("Solid",)
MULTI_SOLID_GEOMETRIES = ("MultiSolid", "CompositeSolid")
#: A face with less area than this (m²) is degenerate: collinear or repeated points.
MIN_FACE_AREA = 1e-6


@dataclass
class CityModel:
    """A CityJSON file as read: its objects, real-world vertices and declared CRS."""

    path: Path
    #: The version the file was written in (the data here is upgraded to 2.0).
    version: str
    #: ``metadata.referenceSystem`` as the file writes it; None when it has none.
    crs: str | None
    objects: dict[str, dict[str, Any]]
    #: (n, 3) float64: x, y, z of every vertex, ``transform`` applied.
    vertices: np.ndarray
    #: What the upgrade said (cjio's reasons), to pass on to the user.
    notes: list[str]


@functools.cache
def cityjson_class() -> type:
    """cjio's ``CityJSON``, imported without leaving cjio's patches on the ``json`` module."""
    encoder = vars(json.encoder)
    saved = {name: encoder[name] for name in ("c_make_encoder", "float") if name in encoder}
    try:
        from cjio.cityjson import CityJSON
    finally:
        # cjio sets json.encoder.float (shadowing the builtin) and clears c_make_encoder.
        encoder.pop("float", None)
        encoder.update(saved)
    return CityJSON


def read_city_model(path: Path) -> CityModel:
    """Read, check and upgrade one CityJSON file.

    Raises
    ------
    SourceError
        Not readable JSON, not CityJSON, a version other than 1.0-2.0, or broken vertices.
    """
    if not path.is_file():
        raise SourceError("not a file", path=str(path))
    if path.stat().st_size == 0:
        raise SourceError("file is empty (0 bytes)", path=str(path))
    try:
        with path.open(encoding="utf-8") as fh:
            model = cityjson_class()(file=fh)
    except ValueError as exc:  # also json.JSONDecodeError; cjio says duplicates and type
        # cjio re-raises what reading raised as a plain ValueError; the cause tells.
        cause = exc if isinstance(exc, UnicodeDecodeError) else exc.__context__
        if isinstance(cause, UnicodeDecodeError):
            raise SourceError(f"not UTF-8 text ({cause.reason} at byte {cause.start}); "
                              "CityJSON is UTF-8 JSON", path=str(path)) from exc
        raise SourceError(f"not a CityJSON file: {_first_line(exc)}", path=str(path)) from exc
    j = model.j
    version = str(j.get("version", ""))
    if version not in VERSIONS:
        raise SourceError(f"CityJSON version {version or '(none)'} is not read; versions "
                          f"{', '.join(VERSIONS)} are", path=str(path))
    if not isinstance(j.get("CityObjects"), dict) or not isinstance(j.get("vertices"), list):
        raise SourceError("not a CityJSON file: 'CityObjects' (an object) or 'vertices' (a "
                          "list) is missing", path=str(path))
    metadata = j.get("metadata") if isinstance(j.get("metadata"), dict) else {}
    crs = metadata.pop("referenceSystem", None)
    notes: list[str] = []
    if version != VERSIONS[-1]:
        j.setdefault("transform", {"scale": [1.0, 1.0, 1.0], "translate": [0.0, 0.0, 0.0]})
        ok, reasons = model.upgrade_version(VERSIONS[-1], 3)
        if not ok:
            raise SourceError(f"cannot upgrade CityJSON {version} to {VERSIONS[-1]}: "
                              f"{reasons}", path=str(path))
        notes.append(f"{path}: CityJSON {version} upgraded to {VERSIONS[-1]} (cjio)"
                     + (f": {reasons}" if reasons else ""))
    return CityModel(path, version, str(crs).strip() if crs else None, j["CityObjects"],
                     _vertices(path, j), notes)


def _vertices(path: Path, j: dict[str, Any]) -> np.ndarray:
    try:
        vertices = np.asarray(j["vertices"], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SourceError("'vertices' is not a list of x, y, z numbers", path=str(path)) from exc
    if len(vertices) == 0:
        return np.empty((0, 3))
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise SourceError("'vertices' is not a list of x, y, z triples", path=str(path))
    if "transform" in j:
        try:
            scale = np.asarray(j["transform"]["scale"], dtype=np.float64)
            translate = np.asarray(j["transform"]["translate"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceError("'transform' lacks three numbers in 'scale' or 'translate'",
                              path=str(path)) from exc
        if scale.shape != (3,) or translate.shape != (3,):
            raise SourceError("'transform' lacks three numbers in 'scale' or 'translate'",
                              path=str(path))
        vertices = vertices * scale + translate
    return vertices


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


# -- geometry: the faces of CityJSON geometries ----------------------------------------------------
def lod_key(lod: object) -> tuple[float, ...]:
    """'2.2' -> (2, 2): LoDs compared as numbers ('2' and '2.0' are equal)."""
    try:
        return tuple(float(p) for p in str(lod).split("."))
    except ValueError:
        return (-1.0,)


@dataclass
class Faces:
    """Every face of a file, as flat lists: what it belongs to and its rings' vertex indices."""

    building: list[int] = field(default_factory=list)  # index of the building in the file
    part: list[str | None] = field(default_factory=list)  # BuildingPart id, None: the building
    kind: list[str] = field(default_factory=list)  # surface type
    ring_face: list[int] = field(default_factory=list)  # face of each ring (shell first)
    vertex: list[int] = field(default_factory=list)  # vertex indices of every ring, in turn
    vertex_ring: list[int] = field(default_factory=list)  # ring of each of them

    def add(self, building: int, part: str | None, kind: str, rings: list) -> None:
        face = len(self.kind)
        self.building.append(building)
        self.part.append(part)
        self.kind.append(kind)
        for ring in rings if isinstance(rings, list) else []:
            ring_no = len(self.ring_face)
            self.ring_face.append(face)
            indices = ring if isinstance(ring, list) else []
            self.vertex.extend(i if isinstance(i, int) else -1 for i in indices)
            self.vertex_ring.extend([ring_no] * len(indices))


def faces_of(geom: dict) -> Iterator[tuple[list[list[int]], str]]:
    """(rings, surface type) of every face of a geometry, whatever its type."""
    kind, boundaries = geom["type"], geom.get("boundaries") or []
    semantics = geom.get("semantics") or {}
    surfaces, values = semantics.get("surfaces") or [], semantics.get("values")
    if kind in SURFACE_GEOMETRIES:
        shells, shell_values = [boundaries], [values]
    elif kind in SOLID_GEOMETRIES:
        shells, shell_values = boundaries, values or [None] * len(boundaries)
    else:
        shells, shell_values = [], []
        for n, solid in enumerate(boundaries):
            shells.extend(solid)
            solid_values = values[n] if values and n < len(values) else None
            shell_values.extend(solid_values or [None] * len(solid))
    for shell, vals in zip(shells, shell_values, strict=False):
        for i, rings in enumerate(shell):
            index = vals[i] if vals is not None and i < len(vals) else None
            surface = surfaces[index] if isinstance(index, int) and index < len(surfaces) \
                else None
            yield rings, SURFACE_TYPES.get((surface or {}).get("type"), OTHER_SURFACE)


def face_polygons(faces: Faces, vertices: np.ndarray) -> tuple[np.ndarray, int, int]:
    """A PolygonZ per face (holes kept), None for a degenerate face; all faces at once.

    Returns the polygons (None where degenerate) and how many faces and holes were degenerate.
    A ring loses repeated points (consecutive ones and a closing one); a ring with fewer than
    three points left, or without area, is degenerate: a degenerate shell drops its face, a
    degenerate hole only itself. Area by Newell's normal, whose length is twice the area
    whatever the plane (walls included), taken relative to each ring's first point so that
    UTM's big numbers do not swallow small faces.
    """
    n_faces, n_rings = len(faces.kind), len(faces.ring_face)
    out = np.full(n_faces, None, dtype=object)
    if n_rings == 0:
        return out, n_faces, 0
    index = np.asarray(faces.vertex, dtype=np.int64)
    ring = np.asarray(faces.vertex_ring, dtype=np.int64)
    broken = np.zeros(n_rings, dtype=bool)
    outside = (index < 0) | (index >= len(vertices))
    broken[ring[outside]] = True
    points = vertices[np.where(outside, 0, index)]

    # Drop each point equal to the one before it in its ring (cyclically).
    starts = np.flatnonzero(np.r_[True, ring[1:] != ring[:-1]])
    lengths = np.diff(np.r_[starts, len(ring)])
    previous = np.arange(len(ring)) - 1
    previous[starts] = starts + lengths - 1
    keep = np.any(points != points[previous], axis=1)
    points, ring = points[keep], ring[keep]
    distinct = np.bincount(ring, minlength=n_rings)

    area = np.zeros(n_rings)
    if len(ring):
        starts = np.flatnonzero(np.r_[True, ring[1:] != ring[:-1]])
        lengths = np.diff(np.r_[starts, len(ring)])
        following = np.arange(len(ring)) + 1
        following[starts + lengths - 1] = starts
        relative = points - np.repeat(points[starts], lengths, axis=0)
        normal = np.add.reduceat(np.cross(relative, relative[following]), starts, axis=0)
        area[ring[starts]] = np.linalg.norm(normal, axis=1) / 2
    good = (distinct >= 3) & (area >= MIN_FACE_AREA) & ~broken

    ring_face = np.asarray(faces.ring_face, dtype=np.int64)
    shell = np.r_[True, ring_face[1:] != ring_face[:-1]]
    face_ok = np.zeros(n_faces, dtype=bool)
    face_ok[ring_face[shell & good]] = True
    bad_faces = int(n_faces - face_ok.sum())
    bad_holes = int((~shell & ~good & face_ok[ring_face]).sum())
    use_ring = good & face_ok[ring_face]
    if not use_ring.any():
        return out, bad_faces, bad_holes
    take = use_ring[ring]
    # Rings and faces renumbered 0..n in order, as shapely's indices want them.
    _, ring_no = np.unique(ring[take], return_inverse=True)
    rings = shapely.linearrings(points[take], indices=ring_no)
    used = np.flatnonzero(use_ring)
    _, face_no = np.unique(ring_face[used], return_inverse=True)
    out[np.unique(ring_face[used])] = shapely.polygons(rings, indices=face_no)
    return out, bad_faces, bad_holes
