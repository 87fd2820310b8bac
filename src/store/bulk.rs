//! Bulk writes: the schema objects a large write sets aside while it runs and puts back
//! at the end, inside the same transaction (a rollback restores them with everything else).
//!
//! Row by row, an index is updated at a random place per row and a trigger runs its
//! program per row. When a write adds rows amounting to a good share of a table, it is far
//! cheaper to drop the index and build it again (SQLite sorts), or to drop the running
//! totals' triggers and count again with one `GROUP BY`.

use rusqlite::Connection;

use super::Result;

/// Whether `new_rows` added to a table of `stored_rows` is a bulk write: at least a
/// quarter of what the table will hold. Below that, updating row by row costs less than
/// rebuilding from all the rows.
pub fn is_bulk(new_rows: usize, stored_rows: usize) -> bool {
    new_rows * 4 >= stored_rows
}

/// Schema objects dropped for a bulk write; [`SetAside::restore`] creates them again from
/// the SQL the schema stored, then brings derived data up to date.
#[must_use = "restore what was set aside before the transaction commits"]
pub struct SetAside {
    create: Vec<String>,
    /// Run after the objects are back: what they would have done row by row.
    catch_up: &'static str,
}

impl SetAside {
    /// Drops the explicit indexes of `table` (its primary key stays).
    pub fn indexes_of(conn: &Connection, table: &str) -> Result<Self> {
        Ok(Self { create: drop_matching(conn, "index", table, "")?, catch_up: "" })
    }

    /// Drops the triggers that keep the attendee running totals (`stats_registrations`,
    /// `stats_attendees`, schema migration 4); restoring counts them again from the
    /// attendees. The badge totals' trigger is on `badges` and stays.
    pub fn attendee_totals(conn: &Connection) -> Result<Self> {
        Ok(Self {
            create: drop_matching(conn, "trigger", "attendees", "stats_attendee")?,
            catch_up: RECOUNT_ATTENDEE_TOTALS,
        })
    }

    pub fn restore(self, conn: &Connection) -> Result<()> {
        for sql in &self.create {
            conn.execute_batch(sql)?;
        }
        conn.execute_batch(self.catch_up)?;
        Ok(())
    }
}

/// The attendee totals from scratch: migration 4's back-fill (which has shipped, so it is
/// not shared text), after emptying the tables.
const RECOUNT_ATTENDEE_TOTALS: &str = "
    DELETE FROM stats_registrations;
    INSERT INTO stats_registrations
        SELECT substr(created_at, 1, 14) || printf('%02d', CAST(substr(created_at, 15, 2) AS INTEGER) / 15 * 15), category, source, count(*)
        FROM attendees GROUP BY 1, 2, 3;
    DELETE FROM stats_attendees;
    INSERT INTO stats_attendees SELECT 'country', country, count(*) FROM attendees GROUP BY country;
    INSERT INTO stats_attendees SELECT 'company', company, count(*) FROM attendees GROUP BY company;
";

/// Drops the `kind` objects on `table` whose names start with `name_prefix` and returns
/// the statements that create them again, as the schema stored them.
fn drop_matching(
    conn: &Connection,
    kind: &str,
    table: &str,
    name_prefix: &str,
) -> Result<Vec<String>> {
    let objects: Vec<(String, String)> = conn
        .prepare(
            "SELECT name, sql FROM sqlite_schema \
             WHERE type = ?1 AND tbl_name = ?2 AND sql IS NOT NULL AND substr(name, 1, length(?3)) = ?3",
        )?
        .query_map([kind, table, name_prefix], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut create = Vec::with_capacity(objects.len());
    for (name, sql) in objects {
        conn.execute_batch(&format!("DROP {kind} \"{}\"", name.replace('"', "\"\"")))?;
        create.push(sql);
    }
    Ok(create)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support;

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn totals_set_aside_are_counted_again_and_their_triggers_come_back() {
        let (_dir, store) = test_support::store_with_event();
        let conn = store.conn();
        let triggers =
            "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'attendees'";
        let before = count(conn, triggers);
        let set_aside = SetAside::attendee_totals(conn).unwrap();
        assert_eq!(count(conn, triggers), 0);
        conn.execute_batch(
            "INSERT INTO attendees (id, name, company, title, category, phone, email, country, source, consent, tags, created_at, updated_at, hlc)
             VALUES ('a1', 'A', 'ACME', '', 'media', '', '', 'CN', 'walk_in', 0, '', '2026-11-24T09:07:00Z', '2026-11-24T09:07:00Z', 'h'),
                    ('a2', 'B', 'ACME', '', 'media', '', '', 'DE', 'walk_in', 0, '', '2026-11-24T09:14:59Z', '2026-11-24T09:14:59Z', 'h')",
        )
        .unwrap();
        assert_eq!(count(conn, "SELECT count(*) FROM stats_registrations"), 0);
        set_aside.restore(conn).unwrap();
        assert_eq!(count(conn, triggers), before);
        assert_eq!(
            count(conn, "SELECT registered FROM stats_registrations WHERE quarter = '2026-11-24T09:00' AND category = 'media'"),
            2
        );
        assert_eq!(
            count(conn, "SELECT attendees FROM stats_attendees WHERE dimension = 'company' AND value = 'ACME'"),
            2
        );
        // Back in place: a row written now is counted by the trigger.
        conn.execute_batch(
            "INSERT INTO attendees (id, name, company, title, category, phone, email, country, source, consent, tags, created_at, updated_at, hlc)
             VALUES ('a3', 'C', 'ACME', '', 'media', '', '', 'CN', 'walk_in', 0, '', '2026-11-24T09:01:00Z', '2026-11-24T09:01:00Z', 'h')",
        )
        .unwrap();
        assert_eq!(
            count(conn, "SELECT attendees FROM stats_attendees WHERE dimension = 'country' AND value = 'CN'"),
            2
        );
    }

    #[test]
    fn indexes_set_aside_come_back_and_the_primary_key_stays() {
        let (_dir, store) = test_support::store_with_event();
        let conn = store.conn();
        let indexes =
            "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'search_terms'";
        let before = count(conn, indexes);
        let set_aside = SetAside::indexes_of(conn, "search_terms").unwrap();
        // What remains is the WITHOUT ROWID table's own primary key.
        assert_eq!(count(conn, &format!("{indexes} AND sql IS NOT NULL")), 0);
        set_aside.restore(conn).unwrap();
        assert_eq!(count(conn, indexes), before);
    }
}
