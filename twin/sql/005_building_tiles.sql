-- The 3D Tiles of the buildings (twin/tiles3d/): tileset.json and one glb per tile, written by
-- write_building_tiles() in the transaction of a buildings load, so the tiles change with the
-- buildings or not at all, and every API worker serves the same tileset without local state.
-- Content paths carry a hash of their content (immutable); tileset.json names them.
CREATE TABLE IF NOT EXISTS twin.building_tiles (
    path         text  PRIMARY KEY,
    content      bytea NOT NULL,
    content_type text  NOT NULL
);
