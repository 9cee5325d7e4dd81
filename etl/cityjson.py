"""Reading CityJSON 1.0, 1.1 and 2.0 with cjio: one reader, nothing source-specific.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twin.errors import SourceError

#: Versions read; older ones are upgraded to the last.
VERSIONS = ("1.0", "1.1", "2.0")


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
