-- Issue 10: the links between monuments and parcels are lists (text[]), not comma-joined
-- text, so `denkmalnummern=09100107` and CQL2 A_CONTAINS find every parcel of a monument;
-- `abschnitt` held the kind of monument ("Baudenkmal"), not a section of the list, and is
-- named `denkmalart`. An existing database keeps its values; the registry adds the new
-- neighbour columns and the next load derives them.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_schema = 'twin' AND table_name = 'parcels'
                 AND column_name = 'denkmalnummern' AND data_type = 'text') THEN
        ALTER TABLE twin.parcels ALTER COLUMN denkmalnummern TYPE text[]
            USING string_to_array(denkmalnummern, ',');
    END IF;
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_schema = 'twin' AND table_name = 'heritage'
                 AND column_name = 'flurstuecke' AND data_type = 'text') THEN
        ALTER TABLE twin.heritage ALTER COLUMN flurstuecke TYPE text[]
            USING string_to_array(flurstuecke, ',');
    END IF;
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_schema = 'twin' AND table_name = 'heritage'
                 AND column_name = 'abschnitt')
       AND NOT EXISTS (SELECT 1 FROM information_schema.columns
                       WHERE table_schema = 'twin' AND table_name = 'heritage'
                         AND column_name = 'denkmalart') THEN
        ALTER TABLE twin.heritage RENAME COLUMN abschnitt TO denkmalart;
    END IF;
END
$$;
