-- Functions the derive steps share.

-- A road name reduced for matching: lower case, a parenthesised suffix such as '(B 168)'
-- dropped, spaces collapsed, 'Strasse'/'Str.' spelt 'straße'. Street damage and counting
-- stations name the same road in different ways.
CREATE OR REPLACE FUNCTION twin.road_key(name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(
               lower(btrim(regexp_replace(name, '\s*\(.*\)\s*', ' ', 'g'))),
               '\s+', ' ', 'g'), 'strasse', 'straße', 'g'), 'str\.', 'straße', 'g'),
           '\s+$', '')
$$;
