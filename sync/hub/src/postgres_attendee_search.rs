//! PostgreSQL search table of the console's attendee look-up
//! (`HubStore::search_attendees`): a trigger on `current_state` keeps, for each current
//! attendee not merged away, its name and Chinese name folded to lower case, registration
//! code, phone digits and category, and both names' parts (see [`crate::attendee_search`]), inside
//! the push's own transaction. A search then reads a few index ranges instead of every
//! attendee's JSON.

use deadpool_postgres::{Object, Transaction};

use super::attendee_search::{PART_CHARS, PART_POSITIONS, SCAN_PARTS};
use super::store::{attendee_of_change, AttendeeSearch, StoreError};
use expo_sync::protocol::AttendeeRecord;

/// Whether the part table carries the names (it did not before the look-up ordered its
/// candidates from the index alone).
const PARTS_NAMED: &str = "SELECT FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = 'attendee_name_parts'
      AND column_name = 'name_folded'";

/// Creates the search tables and triggers, or brings those of a hub from before up to
/// date, in `tx` (with the rest of the schema, under the migration lock). True when the
/// part table was rewritten: then [`vacuum_parts`] after the commit.
pub async fn create(tx: &Transaction<'_>) -> Result<bool, StoreError> {
    let rewritten: bool = tx
        .query_one(
            &format!(
                "SELECT to_regclass('attendee_name_parts') IS NOT NULL AND NOT EXISTS ({PARTS_NAMED})"
            ),
            &[],
        )
        .await?
        .try_get(0)?;
    tx.batch_execute(&schema()).await?;
    Ok(rewritten)
}

/// Marks the rewritten part table's pages all-visible (what lets a look-up read the
/// index alone) and gives the planner its new size, at once rather than when autovacuum
/// comes by; outside a transaction, as `VACUUM` must be.
pub async fn vacuum_parts(client: &Object) -> Result<(), StoreError> {
    client.batch_execute("VACUUM ANALYZE attendee_name_parts").await?;
    Ok(())
}

fn schema() -> String {
    format!(
        r#"
CREATE TABLE IF NOT EXISTS attendee_search (
    entity_key TEXT COLLATE "C" PRIMARY KEY,
    name_folded TEXT NOT NULL,
    registration_code TEXT,
    phone_digits TEXT NOT NULL,
    category TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attendee_search_by_code
    ON attendee_search (registration_code) WHERE registration_code IS NOT NULL;
CREATE INDEX IF NOT EXISTS attendee_search_by_phone ON attendee_search (right(phone_digits, 7));
-- The index carries the category and the name a look-up filters and orders by, so
-- ordering a text's candidates is an index-only scan (no search row read per candidate).
CREATE TABLE IF NOT EXISTS attendee_name_parts (
    part TEXT COLLATE "C" NOT NULL,
    entity_key TEXT COLLATE "C" NOT NULL,
    category TEXT NOT NULL,
    name_folded TEXT NOT NULL,
    PRIMARY KEY (part, entity_key) INCLUDE (category, name_folded)
);
CREATE OR REPLACE FUNCTION attendee_name_parts_of(folded TEXT) RETURNS SETOF TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT DISTINCT left(substr(folded, n), {PART_CHARS})
    FROM generate_series(1, least(length(folded), {PART_POSITIONS})) n
$$;
-- Puts the attendee version `version` (a change id) of `key` in the search tables, in
-- place of the one there. Both names are searched: the name and the Chinese name beside
-- it (a foreign permanent-residence card holder's).
CREATE OR REPLACE FUNCTION attendee_search_put(key TEXT, version UUID)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    old_name TEXT;
    old_chinese_name TEXT;
    d JSONB;
    folded TEXT;
    chinese_folded TEXT;
BEGIN
    DELETE FROM attendee_search WHERE entity_key = key
        RETURNING name_folded, chinese_name_folded INTO old_name, old_chinese_name;
    IF old_name IS NOT NULL THEN
        DELETE FROM attendee_name_parts
            WHERE entity_key = key AND part IN (SELECT attendee_name_parts_of(old_name)
                                                UNION SELECT attendee_name_parts_of(old_chinese_name));
    END IF;
    SELECT c.change_json::jsonb -> 'record' -> 'data' INTO d
        FROM changes c WHERE c.change_id = version;
    IF d IS NULL OR d ->> 'merged_into' IS NOT NULL THEN
        RETURN;
    END IF;
    folded := lower(coalesce(d ->> 'name', ''));
    chinese_folded := lower(coalesce(d ->> 'chinese_name', ''));
    INSERT INTO attendee_search (entity_key, name_folded, registration_code, phone_digits,
                                 category, chinese_name_folded)
        VALUES (key, folded, d ->> 'registration_code',
                translate(coalesce(d ->> 'phone', ''), ' -+.', ''), coalesce(d ->> 'category', ''),
                chinese_folded);
    INSERT INTO attendee_name_parts
        SELECT part, key, coalesce(d ->> 'category', ''), folded
        FROM (SELECT attendee_name_parts_of(folded)
              UNION SELECT attendee_name_parts_of(chinese_folded)) parts(part);
END $$;
CREATE OR REPLACE FUNCTION attendee_search_index() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.change_id = NEW.change_id THEN
        RETURN NULL;
    END IF;
    PERFORM attendee_search_put(NEW.entity_key, NEW.change_id);
    RETURN NULL;
END $$;
-- A part table from before it carried the name gains it, from the search rows (the
-- caller vacuums it after, see `create`).
DO $$ BEGIN
    IF NOT EXISTS ({PARTS_NAMED}) THEN
        ALTER TABLE attendee_name_parts ADD COLUMN name_folded TEXT NOT NULL DEFAULT '';
        UPDATE attendee_name_parts p SET name_folded = a.name_folded
            FROM attendee_search a WHERE a.entity_key = p.entity_key;
        ALTER TABLE attendee_name_parts DROP CONSTRAINT attendee_name_parts_pkey,
            ADD PRIMARY KEY (part, entity_key) INCLUDE (category, name_folded);
    END IF;
END $$;
-- A search table from before Chinese names were searched gains them: the attendees that
-- have one are put again.
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'attendee_search'
                     AND column_name = 'chinese_name_folded') THEN
        ALTER TABLE attendee_search ADD COLUMN chinese_name_folded TEXT NOT NULL DEFAULT '';
        PERFORM attendee_search_put(s.entity_key, s.change_id)
            FROM current_state s JOIN changes c ON c.change_id = s.change_id
            WHERE s.kind = 'attendee' AND c.change_json LIKE '%"chinese_name":%';
    END IF;
END $$;
-- Made once; a hub that held attendees before indexes them then.
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_trigger
                   WHERE tgname = 'attendee_search_index' AND tgrelid = 'current_state'::regclass) THEN
        CREATE TRIGGER attendee_search_index AFTER INSERT OR UPDATE OF change_id ON current_state
            FOR EACH ROW WHEN (NEW.kind = 'attendee') EXECUTE FUNCTION attendee_search_index();
        PERFORM attendee_search_put(entity_key, change_id) FROM current_state
            WHERE kind = 'attendee';
    END IF;
END $$;
"#
    )
}

/// Up to `limit` current attendees matching `search` (see
/// [`crate::store::HubStore::search_attendees`]), in name order.
pub async fn search(
    client: Object,
    search: &AttendeeSearch,
    limit: usize,
) -> Result<Vec<AttendeeRecord>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &format!(
                "WITH named AS (
                     SELECT entity_key, name_folded FROM attendee_name_parts
                     WHERE part >= left(lower($1), {PART_CHARS})
                       AND part < left(lower($1), {PART_CHARS}) || chr(1114111)
                       AND (cardinality($3::text[]) = 0 OR category = ANY($3::text[]))
                     ORDER BY part, entity_key LIMIT {SCAN_PARTS}
                 ),
                 -- A part that starts with a text of up to a part's length is in a name
                 -- that contains it: those candidates match without their search rows
                 -- being read. A longer text is checked against both whole names.
                 found AS (
                     SELECT entity_key, name_folded FROM named
                     WHERE length(lower($1)) <= {PART_CHARS}
                     UNION SELECT a.entity_key, a.name_folded FROM named
                         JOIN attendee_search a ON a.entity_key = named.entity_key
                         WHERE length(lower($1)) > {PART_CHARS}
                           AND (strpos(a.name_folded, lower($1)) > 0
                                OR strpos(a.chinese_name_folded, lower($1)) > 0)
                     UNION SELECT entity_key, name_folded FROM attendee_search
                         WHERE registration_code = $1
                           AND (cardinality($3::text[]) = 0 OR category = ANY($3::text[]))
                     UNION SELECT entity_key, name_folded FROM attendee_search
                         WHERE $2::text IS NOT NULL AND right(phone_digits, 7) = right($2::text, 7)
                           AND phone_digits LIKE '%' || $2::text
                           AND (cardinality($3::text[]) = 0 OR category = ANY($3::text[]))
                 ),
                 -- The matches kept first, so only their records are read.
                 shown AS (SELECT * FROM found ORDER BY name_folded, entity_key LIMIT $4)
                 SELECT c.change_json FROM shown
                 JOIN current_state s ON s.entity_key = shown.entity_key
                 JOIN changes c ON c.change_id = s.change_id
                 ORDER BY shown.name_folded, shown.entity_key"
            ),
            &[&search.text, &search.phone_digits, &search.categories, &limit],
        )
        .await?;
    rows.iter().map(|row| attendee_of_change(row.try_get(0)?)).collect()
}
