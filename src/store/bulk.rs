//! Bulk writes of attendees: the running totals counted in memory and added once.
//!
//! The triggers of schema migration 4 keep `stats_registrations` and `stats_attendees`
//! up to date row by row, running their program for every attendee written. An import
//! of a million rows sets them aside, counts what its rows add and take away here, and
//! adds that at the end, inside the same transaction (a rollback restores the triggers
//! with everything else).

use foldhash::HashMap;
use rusqlite::{params, Connection};

use super::Result;

/// The attendee running totals, set aside while many attendees are written.
#[must_use = "add the totals back before the transaction commits"]
pub struct AttendeeTotals {
    /// The statements that create the set-aside triggers again, as the schema stored them.
    triggers: Vec<String>,
    /// Changes to `stats_registrations`, by "created-at minute \0 category \0 source".
    registrations: HashMap<String, i64>,
    /// Changes to `stats_attendees`, by country and by company.
    countries: HashMap<String, i64>,
    companies: HashMap<String, i64>,
    scratch: String,
}

/// The fields of an attendee the totals count by.
pub struct Counted<'a> {
    pub created_at: &'a str,
    pub category: &'a str,
    pub source: &'a str,
    pub country: &'a str,
    pub company: &'a str,
}

impl AttendeeTotals {
    /// Drops the triggers on `attendees` that keep the running totals. The badge totals'
    /// trigger is on `badges` and stays.
    pub fn set_aside(conn: &Connection) -> Result<Self> {
        let triggers: Vec<(String, String)> = conn
            .prepare(
                "SELECT name, sql FROM sqlite_schema \
                 WHERE type = 'trigger' AND tbl_name = 'attendees' AND substr(name, 1, 15) = 'stats_attendee_'",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (name, _) in &triggers {
            conn.execute_batch(&format!("DROP TRIGGER \"{}\"", name.replace('"', "\"\"")))?;
        }
        Ok(Self {
            triggers: triggers.into_iter().map(|(_, sql)| sql).collect(),
            registrations: HashMap::default(),
            countries: HashMap::default(),
            companies: HashMap::default(),
            scratch: String::new(),
        })
    }

    /// Counts an attendee written while the triggers are set aside.
    pub fn add(&mut self, attendee: &Counted<'_>) {
        self.change(attendee, 1);
    }

    /// Takes back the count of an attendee's version that has been overwritten.
    pub fn remove(&mut self, attendee: &Counted<'_>) {
        self.change(attendee, -1);
    }

    fn change(&mut self, attendee: &Counted<'_>, by: i64) {
        // The quarter-hour depends on the created-at time up to the minute.
        let minute = attendee.created_at.get(..16).unwrap_or(attendee.created_at);
        self.scratch.clear();
        for part in [minute, attendee.category, attendee.source] {
            self.scratch.push_str(part);
            self.scratch.push('\0');
        }
        add_to(&mut self.registrations, &self.scratch, by);
        add_to(&mut self.countries, attendee.country, by);
        add_to(&mut self.companies, attendee.company, by);
    }

    /// Creates the triggers again and adds what was counted to the totals.
    pub fn restore(self, conn: &Connection) -> Result<()> {
        for sql in &self.triggers {
            conn.execute_batch(sql)?;
        }
        // The quarter as the triggers of schema migration 4 work it out.
        let mut registrations = conn.prepare(
            "INSERT INTO stats_registrations VALUES (substr(?1, 1, 14) || printf('%02d', CAST(substr(?1, 15, 2) AS INTEGER) / 15 * 15), ?2, ?3, ?4) \
             ON CONFLICT DO UPDATE SET registered = registered + excluded.registered",
        )?;
        for (key, count) in self.registrations.iter().filter(|(_, count)| **count != 0) {
            let mut parts = key.split('\0');
            let mut next = || parts.next().unwrap_or_default();
            registrations.execute(params![next(), next(), next(), count])?;
        }
        let mut attendees = conn.prepare(
            "INSERT INTO stats_attendees VALUES (?1, ?2, ?3) \
             ON CONFLICT DO UPDATE SET attendees = attendees + excluded.attendees",
        )?;
        for (dimension, counts) in [("country", &self.countries), ("company", &self.companies)] {
            for (value, count) in counts.iter().filter(|(_, count)| **count != 0) {
                attendees.execute(params![dimension, value, count])?;
            }
        }
        Ok(())
    }
}

fn add_to(counts: &mut HashMap<String, i64>, key: &str, by: i64) {
    match counts.get_mut(key) {
        Some(count) => *count += by,
        None => {
            counts.insert(key.to_owned(), by);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support;

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn totals_counted_aside_are_added_and_their_triggers_come_back() {
        let (_dir, store) = test_support::store_with_event();
        let conn = store.conn();
        let triggers =
            "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'attendees'";
        let before = count(conn, triggers);
        let mut set_aside = AttendeeTotals::set_aside(conn).unwrap();
        assert_eq!(count(conn, triggers), 0);
        conn.execute_batch(
            "INSERT INTO attendees (id, name, company, title, category, phone, email, country, source, consent, tags, created_at, updated_at, hlc)
             VALUES ('a1', 'A', 'ACME', '', 'media', '', '', 'CN', 'walk_in', 0, '', '2026-11-24T09:07:00Z', '2026-11-24T09:07:00Z', 'h'),
                    ('a2', 'B', 'ACME', '', 'media', '', '', 'DE', 'walk_in', 0, '', '2026-11-24T09:14:59Z', '2026-11-24T09:14:59Z', 'h')",
        )
        .unwrap();
        assert_eq!(count(conn, "SELECT count(*) FROM stats_registrations"), 0);
        for (created_at, country) in
            [("2026-11-24T09:07:00Z", "CN"), ("2026-11-24T09:14:59Z", "DE")]
        {
            let counted = Counted {
                created_at,
                category: "media",
                source: "walk_in",
                country,
                company: "ACME",
            };
            set_aside.add(&counted);
        }
        // A version written and overwritten within the bulk write counts for nothing.
        let overwritten = Counted {
            created_at: "2026-11-24T09:20:00Z",
            category: "vip",
            source: "walk_in",
            country: "FR",
            company: "ACME",
        };
        set_aside.add(&overwritten);
        set_aside.remove(&overwritten);
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
        assert_eq!(
            count(conn, "SELECT count(*) FROM stats_registrations WHERE category = 'vip'"),
            0
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
}
