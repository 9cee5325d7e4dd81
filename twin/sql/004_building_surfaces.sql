-- The faces of the LoD2 buildings (collection `buildings`): one row per face, PolygonZ in the
-- storage CRS with its semantic type. Not published as a collection: the 3D viewer's tiles are
-- made from it. PolygonZ, not PolyhedralSurface: PostGIS cannot write the latter as GeoJSON.
-- LoD2 faces are often not exactly planar; they are kept as they are, and nothing here asks
-- PostGIS (or SFCGAL) for 3D validity, so no face can abort a query.
--
-- Loaded by etl/sources/buildings.py with its buildings (etl/core.py, detail tables): a load
-- replaces the faces of every building it loads and drops those of buildings it deleted.
-- building_id refers to twin.buildings (made from the registry after the numbered migrations,
-- hence no foreign key: the load keeps the two consistent in one transaction).
CREATE TABLE IF NOT EXISTS twin.building_surfaces (
    building_id  text    NOT NULL,
    -- Position of the face in the building, from 1: building faces first, then each part's.
    surface_no   integer NOT NULL,
    -- The BuildingPart the face belongs to (its CityJSON id); NULL for the building's own.
    part_id      text,
    surface_type text    NOT NULL
                 CHECK (surface_type IN ('roof', 'wall', 'ground', 'closure', 'other')),
    geom         geometry(PolygonZ, 25833) NOT NULL,
    PRIMARY KEY (building_id, surface_no)
);
CREATE INDEX IF NOT EXISTS building_surfaces_geom_idx ON twin.building_surfaces USING gist (geom);
