"""One tile's content as binary glTF 2.0 (3D Tiles 1.1 glTF content), written with pygltflib.

What is in a tile, and why:

- one mesh, one primitive, triangles; ``POSITION`` in metres relative to the tile's centre
  (float32 is then precise to well below a millimetre; the tile's ``transform`` in tileset.json
  carries the 64-bit position), glTF's y-up axes (x east, y up, z south), as 3D Tiles expects;
- ``NORMAL`` per face on the detailed level, so walls and roofs are shaded apart; none on the
  coarse level, where glTF clients shade flat by definition;
- ``COLOR_0``: the building's heritage colour (RGBA bytes), multiplied into a white, rough,
  double-sided material;
- ``_FEATURE_ID_0`` with ``EXT_mesh_features``: the building's row in the tile's property table
  (``EXT_structural_metadata``), which holds what the viewer's tooltip shows. Standard 3D
  Tiles 1.1 feature picking, also for CesiumJS and other clients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pygltflib as gl

#: Property table columns: name -> metadata type (STRING or FLOAT32 scalar).
PROPERTIES: dict[str, str] = {
    "building_id": "STRING",
    "address": "STRING",
    "function_de": "STRING",
    "function_en": "STRING",
    "roof_type_de": "STRING",
    "roof_type_en": "STRING",
    "height": "FLOAT32",
    "storeys": "FLOAT32",
    "heritage_status": "STRING",
    "heritage_id": "STRING",
    "heritage_name": "STRING",
}
#: Stored for a number that is missing (EXT_structural_metadata ``noData``).
NO_DATA = -9999.0
#: EXT_structural_metadata asks for buffer views aligned to 8 bytes.
ALIGN = 8


@dataclass(frozen=True)
class TileMesh:
    """The arrays of one tile, ready to write."""

    positions: np.ndarray  # (n, 3) float32, local y-up
    normals: np.ndarray | None  # (n, 3) float32 or None
    colors: np.ndarray  # (n, 4) uint8
    feature_ids: np.ndarray  # (n,) float32
    indices: np.ndarray  # (k,) uint16 or uint32
    features: Sequence[dict]  # one dict of PROPERTIES per feature id


class _Blob:
    """The binary chunk being built, with its buffer views."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.length = 0
        self.views: list[gl.BufferView] = []

    def add(self, data: bytes, target: int | None = None) -> int:
        pad = -self.length % ALIGN
        if pad:
            self.parts.append(b"\0" * pad)
            self.length += pad
        self.views.append(gl.BufferView(buffer=0, byteOffset=self.length,
                                        byteLength=len(data), target=target))
        self.parts.append(data)
        self.length += len(data)
        return len(self.views) - 1

    def bytes(self) -> bytes:
        return b"".join(self.parts) + b"\0" * (-self.length % 4)


def _property_table(blob: _Blob, features: Sequence[dict]) -> dict:
    """EXT_structural_metadata property table over ``features``."""
    columns: dict[str, dict] = {}
    for name, kind in PROPERTIES.items():
        values = [f.get(name) for f in features]
        if kind == "STRING":
            encoded = [("" if v is None else str(v)).encode("utf-8") for v in values]
            offsets = np.zeros(len(encoded) + 1, np.uint32)
            offsets[1:] = np.cumsum([len(e) for e in encoded])
            columns[name] = {
                "values": blob.add(b"".join(encoded) or b"\0"),
                "stringOffsets": blob.add(offsets.tobytes()),
                "stringOffsetType": "UINT32",
            }
        else:
            numbers = np.array([NO_DATA if v is None else v for v in values], np.float32)
            columns[name] = {"values": blob.add(numbers.tobytes())}
    return {"class": "building", "count": len(features), "properties": columns}


def _schema() -> dict:
    props = {}
    for name, kind in PROPERTIES.items():
        if kind == "STRING":
            props[name] = {"type": "STRING"}
        else:
            props[name] = {"type": "SCALAR", "componentType": "FLOAT32", "noData": NO_DATA}
    return {"id": "twin_buildings", "classes": {"building": {"name": "Building",
                                                             "properties": props}}}


def write_glb(mesh: TileMesh) -> bytes:
    """The tile as a .glb file."""
    blob = _Blob()
    accessors: list[gl.Accessor] = []

    def accessor(array: np.ndarray, kind: str, component: int, *, target: int | None,
                 normalized: bool = False, bounds: bool = False) -> int:
        view = blob.add(np.ascontiguousarray(array).tobytes(), target)
        acc = gl.Accessor(bufferView=view, componentType=component, count=len(array),
                          type=kind, normalized=normalized or None)
        if bounds:  # glTF requires min and max for POSITION
            acc.min = [float(v) for v in array.min(axis=0)]
            acc.max = [float(v) for v in array.max(axis=0)]
        accessors.append(acc)
        return len(accessors) - 1

    index_type = gl.UNSIGNED_SHORT if mesh.indices.dtype == np.uint16 else gl.UNSIGNED_INT
    indices = accessor(mesh.indices, gl.SCALAR, index_type, target=gl.ELEMENT_ARRAY_BUFFER)
    attributes = gl.Attributes(
        POSITION=accessor(mesh.positions, gl.VEC3, gl.FLOAT, target=gl.ARRAY_BUFFER,
                          bounds=True),
        COLOR_0=accessor(mesh.colors, gl.VEC4, gl.UNSIGNED_BYTE, target=gl.ARRAY_BUFFER,
                         normalized=True),
        _FEATURE_ID_0=accessor(mesh.feature_ids, gl.SCALAR, gl.FLOAT, target=gl.ARRAY_BUFFER),
    )
    if mesh.normals is not None:
        attributes.NORMAL = accessor(mesh.normals, gl.VEC3, gl.FLOAT, target=gl.ARRAY_BUFFER)
    table = _property_table(blob, mesh.features)
    primitive = gl.Primitive(
        attributes=attributes, indices=indices, material=0, mode=gl.TRIANGLES,
        extensions={"EXT_mesh_features": {"featureIds": [
            {"featureCount": len(mesh.features), "attribute": 0, "propertyTable": 0}]}})
    data = blob.bytes()
    gltf = gl.GLTF2(
        asset=gl.Asset(version="2.0", generator="cottbus-twin twin.tiles3d"),
        extensionsUsed=["EXT_mesh_features", "EXT_structural_metadata"],
        extensions={"EXT_structural_metadata": {"schema": _schema(),
                                                "propertyTables": [table]}},
        scene=0, scenes=[gl.Scene(nodes=[0])], nodes=[gl.Node(mesh=0)],
        meshes=[gl.Mesh(primitives=[primitive])],
        materials=[gl.Material(
            pbrMetallicRoughness=gl.PbrMetallicRoughness(
                baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0, roughnessFactor=1.0),
            doubleSided=True)],
        accessors=accessors, bufferViews=blob.views,
        buffers=[gl.Buffer(byteLength=len(data))],
    )
    gltf.set_min_alignment(ALIGN)
    gltf.set_binary_blob(data)
    return b"".join(gltf.save_to_bytes())
