"""3D Tiles of the LoD2 buildings: written at load time into twin.building_tiles, served by
the API under /collections/buildings/3dtiles/ (twin/tiles3d/serve.py)."""

from twin.tiles3d.writer import TileStats, build_tiles, refresh_building_tiles, write_building_tiles

__all__ = ["TileStats", "build_tiles", "refresh_building_tiles", "write_building_tiles"]
