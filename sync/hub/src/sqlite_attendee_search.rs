//! SQLite search table of the console's attendee look-up (`HubStore::search_attendees`):
//! triggers on `current_state` keep, for each current attendee not merged away, its name
//! and Chinese name folded to lower case, registration code, phone digits and category,
//! and both names' parts (see [`crate::attendee_search`]), inside the push's own transaction. A search
//! then reads a few index ranges instead of every attendee's JSON.

use rusqlite::{params, Connection, TransactionBehavior};

use super::attendee_search::{PART_CHARS, PART_POSITIONS, SCAN_PARTS};
use super::store::{attendee_of_change, AttendeeSearch, StoreError};
use expo_sync::protocol::AttendeeRecord;

fn tables() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS attendee_search (
            entity_key TEXT PRIMARY KEY,
            name_folded TEXT NOT NULL,
            registration_code TEXT,
            phone_digits TEXT NOT NULL,
            category TEXT NOT NULL,
            chinese_name_folded TEXT NOT NULL DEFAULT ''
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS attendee_search_by_code
            ON attendee_search (registration_code) WHERE registration_code IS NOT NULL;
        CREATE INDEX IF NOT EXISTS attendee_search_by_phone
            ON attendee_search (substr(phone_digits, -7));
        -- With the category and the name a look-up filters and orders by, so ordering a
        -- text's candidates reads this table alone (no search row per candidate).
        CREATE TABLE IF NOT EXISTS attendee_name_parts (
            part TEXT NOT NULL,
            entity_key TEXT NOT NULL,
            category TEXT NOT NULL,
            name_folded TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (part, entity_key)
        ) WITHOUT ROWID;
        -- The positions a name part may start at (SQLite triggers cannot count).
        CREATE TABLE IF NOT EXISTS attendee_name_positions (n INTEGER PRIMARY KEY);
        INSERT OR IGNORE INTO attendee_name_positions (n)
            SELECT value FROM json_each('[{positions}]');",
        positions = (1..=PART_POSITIONS).map(|n| n.to_string()).collect::<Vec<_>>().join(","),
    )
}

/// Fills the search row of each attendee version `versions` selects (changes `c` with
/// the key in `key`), unless it was merged away.
fn add_rows(key: &str, versions: &str) -> String {
    let data = |field: &str| format!("json_extract(c.change_json, '$.record.data.{field}')");
    format!(
        "INSERT INTO attendee_search (entity_key, name_folded, registration_code, phone_digits,
                                      category, chinese_name_folded)
             SELECT {key}, lower(coalesce({name}, '')), {code},
                 replace(replace(replace(replace(coalesce({phone}, ''),
                     ' ', ''), '-', ''), '+', ''), '.', ''),
                 coalesce({category}, ''), {chinese_name}
             {versions} AND {merged_into} IS NULL;",
        name = data("name"),
        chinese_name = chinese_name_folded(),
        code = data("registration_code"),
        phone = data("phone"),
        category = data("category"),
        merged_into = data("merged_into"),
    )
}

/// The Chinese name beside the name (a foreign permanent-residence card holder's) of the
/// change `c`, folded as the name is.
fn chinese_name_folded() -> &'static str {
    "lower(coalesce(json_extract(c.change_json, '$.record.data.chinese_name'), ''))"
}

const INSERT_PARTS: &str =
    "INSERT OR IGNORE INTO attendee_name_parts (part, entity_key, category, name_folded)";

/// The parts of both names of the search rows `rows` selects (`a`: `attendee_search`), as
/// rows of `attendee_name_parts`.
fn parts(rows: &str) -> String {
    let of = |column: &str| {
        format!(
            "SELECT substr(a.{column}, p.n, {PART_CHARS}) AS part, a.entity_key AS entity_key,
                    a.category AS category, a.name_folded AS name_folded
             FROM attendee_search a, attendee_name_positions p
             WHERE {rows} AND p.n <= length(a.{column})"
        )
    };
    format!("{} UNION {}", of("name_folded"), of("chinese_name_folded"))
}

/// Creates the tables and triggers; on a hub that had none, indexes the attendees it
/// holds already; on a hub whose table is from before Chinese names were searched, adds
/// them (its triggers made again, the attendees with one indexed by it); on one whose
/// parts are from before they carried the name, fills it in (its triggers made again).
pub fn create(connection: &mut Connection) -> Result<(), StoreError> {
    // Immediate: it reads and then writes, and a deferred transaction that another
    // process (`expo-hub event import` beside a starting hub) wrote past in between fails
    // with "database is locked" at once, without waiting out the busy timeout.
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let existed: bool = tx.query_row(
        "SELECT count(*) > 0 FROM sqlite_master
         WHERE type = 'trigger' AND name = 'attendee_search_added'",
        [],
        |r| r.get(0),
    )?;
    tx.execute_batch(&tables())?;
    let with_chinese_names: bool = tx.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('attendee_search')
         WHERE name = 'chinese_name_folded'",
        [],
        |r| r.get(0),
    )?;
    let parts_named: bool = tx.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('attendee_name_parts')
         WHERE name = 'name_folded'",
        [],
        |r| r.get(0),
    )?;
    if existed && with_chinese_names && parts_named {
        return Ok(());
    }
    if !parts_named {
        tx.execute_batch(
            "ALTER TABLE attendee_name_parts ADD COLUMN name_folded TEXT NOT NULL DEFAULT '';
             UPDATE attendee_name_parts SET name_folded = coalesce(
                 (SELECT a.name_folded FROM attendee_search a
                  WHERE a.entity_key = attendee_name_parts.entity_key), '');",
        )?;
    }
    if !with_chinese_names {
        tx.execute_batch(
            "ALTER TABLE attendee_search ADD COLUMN chinese_name_folded TEXT NOT NULL DEFAULT '';",
        )?;
    }
    tx.execute_batch(
        "DROP TRIGGER IF EXISTS attendee_search_added;
         DROP TRIGGER IF EXISTS attendee_search_replaced;",
    )?;
    // The new version replaces the row and the parts of the one before.
    let put = format!(
        "DELETE FROM attendee_name_parts
             WHERE (part, entity_key) IN (SELECT part, entity_key FROM ({old_parts}));
         DELETE FROM attendee_search WHERE entity_key = NEW.entity_key;
         {row}
         {INSERT_PARTS}
             {new_parts};",
        old_parts = parts("a.entity_key = NEW.entity_key"),
        row = add_rows("NEW.entity_key", "FROM changes c WHERE c.change_id = NEW.change_id"),
        new_parts = parts("a.entity_key = NEW.entity_key"),
    );
    tx.execute_batch(&format!(
        "CREATE TRIGGER attendee_search_added AFTER INSERT ON current_state
             WHEN NEW.kind = 'attendee' BEGIN {put} END;
         CREATE TRIGGER attendee_search_replaced AFTER UPDATE OF change_id ON current_state
             WHEN NEW.kind = 'attendee' AND NEW.change_id <> OLD.change_id BEGIN {put} END;"
    ))?;
    let held = "FROM current_state s JOIN changes c ON c.change_id = s.change_id \
                WHERE s.kind = 'attendee'";
    if existed && !with_chinese_names {
        tx.execute_batch(&format!(
            "UPDATE attendee_search SET chinese_name_folded = {chinese_name}
             FROM current_state s JOIN changes c ON c.change_id = s.change_id
             WHERE s.entity_key = attendee_search.entity_key
               AND json_extract(c.change_json, '$.record.data.chinese_name') IS NOT NULL;
             {INSERT_PARTS}
                 {parts};",
            chinese_name = chinese_name_folded(),
            parts = parts("a.chinese_name_folded <> ''"),
        ))?;
    } else if !existed {
        tx.execute_batch(&format!(
            "{rows} {INSERT_PARTS}
                 {parts};",
            rows = add_rows("s.entity_key", held),
            parts = parts("true"),
        ))?;
    }
    tx.commit()?;
    Ok(())
}

/// Up to `limit` current attendees matching `search` (see
/// [`crate::store::HubStore::search_attendees`]), in name order.
pub fn search(
    c: &Connection,
    search: &AttendeeSearch,
    limit: usize,
) -> Result<Vec<AttendeeRecord>, StoreError> {
    // As on PostgreSQL: a part that starts with a text of up to a part's length is in a
    // name that contains it, so those candidates are ordered from the part table alone; a
    // longer text is checked against both whole names.
    let mut query = c.prepare_cached(&format!(
        "WITH named AS (
             SELECT entity_key, name_folded FROM attendee_name_parts
             WHERE part >= substr(lower(?1), 1, {PART_CHARS})
               AND part < substr(lower(?1), 1, {PART_CHARS}) || char(1114111)
               AND (?3 = '[]' OR category IN (SELECT value FROM json_each(?3)))
             ORDER BY part, entity_key LIMIT {SCAN_PARTS}
         ), found AS (
             SELECT entity_key, name_folded FROM named WHERE length(lower(?1)) <= {PART_CHARS}
             UNION SELECT a.entity_key, a.name_folded FROM named
                 JOIN attendee_search a ON a.entity_key = named.entity_key
                 WHERE length(lower(?1)) > {PART_CHARS}
                   AND (instr(a.name_folded, lower(?1)) > 0
                        OR instr(a.chinese_name_folded, lower(?1)) > 0)
             UNION SELECT entity_key, name_folded FROM attendee_search
                 WHERE registration_code = ?1
                   AND (?3 = '[]' OR category IN (SELECT value FROM json_each(?3)))
             UNION SELECT entity_key, name_folded FROM attendee_search
                 WHERE ?2 IS NOT NULL AND substr(phone_digits, -7) = substr(?2, -7)
                   AND phone_digits LIKE '%' || ?2
                   AND (?3 = '[]' OR category IN (SELECT value FROM json_each(?3)))
         ), shown AS (SELECT * FROM found ORDER BY name_folded, entity_key LIMIT ?4)
         SELECT c.change_json FROM shown
         JOIN current_state s ON s.entity_key = shown.entity_key
         JOIN changes c ON c.change_id = s.change_id
         ORDER BY shown.name_folded, shown.entity_key"
    ))?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let categories = serde_json::Value::from(search.categories.clone()).to_string();
    let rows = query
        .query_map(params![search.text, search.phone_digits, categories, limit], |r| {
            r.get::<_, String>(0)
        })?;
    rows.map(|json| attendee_of_change(&json?)).collect()
}
