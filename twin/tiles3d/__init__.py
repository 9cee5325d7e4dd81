"""3D Tiles of the LoD2 buildings: written at load time into twin.building_tiles, served by
the API under /collections/buildings/3dtiles/ (twin/tiles3d/serve.py).

The writer's names are imported on first use (PEP 562): the server imports
:mod:`twin.tiles3d.serve` and :mod:`twin.tiles3d.style` only, and should not pay for the writer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twin.tiles3d.writer import (
        TileStats,
        build_tiles,
        refresh_building_tiles,
        write_building_tiles,
    )

__all__ = ["TileStats", "build_tiles", "refresh_building_tiles", "write_building_tiles"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from twin.tiles3d import writer

        return getattr(writer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
