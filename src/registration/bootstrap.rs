//! The attendees of a hub snapshot that are new to this station, written the way an
//! import writes its new rows: 50 to a statement with keys assigned here, the running
//! totals counted aside, the search terms gathered as numbers and written in key order at
//! the end (`term_batch`). An attendee this station already holds, by id or registration
//! code, is left to the caller, which applies it by the conflict rules like a pulled one.
//!
//! Badges likewise, when the station held none: an attendee's badges (together in the
//! snapshot's key order) settled as the conflict rules would settle them
//! (`badge::settle_new`), 100 to a statement. Any other badge is left to the caller.

use expo_sync::protocol::{AttendeeRecord, BadgeRecord};
use foldhash::HashSet;

use super::import::{counted, CompanySet, NewRows};
use super::term_batch::{TermBatch, Vocabulary};
use super::{badge, search, Result};
use crate::store::bulk::AttendeeTotals;
use crate::store::StoreError;

/// The search terms of snapshot attendees, numbered off the writing thread.
#[derive(Default)]
pub struct SnapshotTerms(Vocabulary);

impl SnapshotTerms {
    /// The numbers of `record`'s search terms.
    pub fn number(&mut self, record: &AttendeeRecord) -> Result<Vec<u32>> {
        self.0.number_terms_of(record)
    }
}

/// New attendees of one snapshot, inside the transaction that applies it.
pub struct NewAttendees {
    rows: NewRows,
    terms: TermBatch,
    companies: CompanySet,
    totals: AttendeeTotals,
    /// The station held no attendee when the snapshot began: none needs looking up.
    fresh: bool,
    /// Registration codes written so far: a second attendee with one of them (another id)
    /// is left to the caller, whose conflict rules set it aside.
    codes: HashSet<String>,
    written: u64,
}

impl NewAttendees {
    /// Sets the attendee running totals aside; [`Self::finish`] adds what was written.
    pub fn begin(conn: &rusqlite::Connection) -> Result<Self> {
        let stored: i64 = conn
            .query_row("SELECT count(*) FROM attendees", [], |r| r.get(0))
            .map_err(StoreError::from)?;
        Ok(Self {
            rows: NewRows::after(conn)?,
            terms: TermBatch::default(),
            companies: CompanySet::default(),
            totals: AttendeeTotals::set_aside(conn)?,
            fresh: stored == 0,
            codes: HashSet::default(),
            written: 0,
        })
    }

    /// Writes `record` (stamped `hlc`, its terms numbered by the [`SnapshotTerms`] given to
    /// [`Self::finish`]) when it is new here; hands it back when this station holds an
    /// attendee with its id or registration code.
    pub fn add(
        &mut self,
        conn: &rusqlite::Connection,
        record: AttendeeRecord,
        hlc: &str,
        terms: &[u32],
    ) -> Result<Option<AttendeeRecord>> {
        let code_taken = record.registration_code.as_ref().is_some_and(|c| self.codes.contains(c));
        if code_taken || (!self.fresh && self.stored(conn, &record)?) {
            return Ok(Some(record));
        }
        if let Some(code) = &record.registration_code {
            self.codes.insert(code.clone());
        }
        self.totals.add(&counted(&record));
        self.companies.note(&record.company);
        self.terms.set(self.rows.next_key(), terms)?;
        self.rows.push(conn, record, hlc)?;
        self.written += 1;
        Ok(None)
    }

    /// Inserts the rows waiting, before anything else writes attendees (or reads them).
    pub fn flush(&mut self, conn: &rusqlite::Connection) -> Result<()> {
        self.rows.insert(conn)
    }

    /// Writes the rows waiting, every new attendee's search terms and their companies',
    /// and adds the running totals. Returns how many attendees were new.
    pub fn finish(mut self, conn: &rusqlite::Connection, terms: SnapshotTerms) -> Result<u64> {
        self.rows.insert(conn)?;
        self.terms.write(conn, terms.0)?;
        for company in self.companies.0 {
            search::note_company(conn, &company)?;
        }
        self.totals.restore(conn)?;
        Ok(self.written)
    }

    /// Whether this station holds an attendee with `record`'s id or registration code.
    fn stored(&self, conn: &rusqlite::Connection, record: &AttendeeRecord) -> Result<bool> {
        conn.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM attendees WHERE id = ?1) \
             OR EXISTS (SELECT 1 FROM attendees WHERE registration_code = ?2)",
        )
        .and_then(|mut stmt| {
            stmt.query_row(
                rusqlite::params![record.id.to_string(), record.registration_code],
                |r| r.get(0),
            )
        })
        .map_err(|e| StoreError::from(e).into())
    }
}

/// New badges of one snapshot, inside the transaction that applies it.
pub struct NewBadges {
    /// The station held no badge when the snapshot began; else every badge is handed back.
    fresh: bool,
    /// One attendee's badges so far, with their clocks: the next attendee's settle them.
    group: Vec<BadgeRecord>,
    group_hlcs: Vec<String>,
    /// The last attendee whose badges were settled: one that comes again, or one before
    /// it, may have badges written already.
    settled_up_to: Option<uuid::Uuid>,
    /// Settled badges waiting for their statement.
    rows: Vec<BadgeRecord>,
    hlcs: Vec<String>,
}

impl NewBadges {
    /// Rows per `INSERT` (8 values each).
    const PER_INSERT: usize = 100;

    pub fn begin(conn: &rusqlite::Connection) -> Result<Self> {
        let stored: bool = conn
            .query_row("SELECT EXISTS (SELECT 1 FROM badges)", [], |r| r.get(0))
            .map_err(StoreError::from)?;
        Ok(Self {
            fresh: !stored,
            group: Vec::new(),
            group_hlcs: Vec::new(),
            settled_up_to: None,
            rows: Vec::with_capacity(Self::PER_INSERT),
            hlcs: Vec::with_capacity(Self::PER_INSERT),
        })
    }

    /// Takes `badge` (stamped `hlc`) to be written in bulk, or hands it back to be
    /// applied by the conflict rules (after a [`Self::flush`]): when the station held
    /// badges, or when the badge is not the next in key order (an attendee whose badges
    /// may be written already, or a serial seen twice).
    pub fn add(
        &mut self,
        conn: &rusqlite::Connection,
        badge: BadgeRecord,
        hlc: &str,
    ) -> Result<Option<BadgeRecord>> {
        let gathering = self.group.first().map(|b| b.attendee_id);
        let next_in_key_order = match gathering {
            Some(attendee) if badge.attendee_id == attendee => {
                self.group.iter().all(|b| b.serial != badge.serial)
            }
            Some(attendee) => badge.attendee_id > attendee,
            None => self.settled_up_to.is_none_or(|attendee| badge.attendee_id > attendee),
        };
        if !self.fresh || !next_in_key_order {
            return Ok(Some(badge));
        }
        if gathering.is_some_and(|attendee| badge.attendee_id > attendee) {
            self.settle(conn)?;
        }
        self.group.push(badge);
        self.group_hlcs.push(hlc.to_owned());
        Ok(None)
    }

    /// Writes every badge taken, before anything else writes badges (or reads them).
    pub fn flush(&mut self, conn: &rusqlite::Connection) -> Result<()> {
        self.settle(conn)?;
        self.insert(conn, self.rows.len())
    }

    /// Settles the attendee's badges gathered and queues them for their statement.
    fn settle(&mut self, conn: &rusqlite::Connection) -> Result<()> {
        let Some(attendee) = self.group.first().map(|b| b.attendee_id) else { return Ok(()) };
        self.settled_up_to = Some(attendee);
        badge::settle_new(&mut self.group);
        self.rows.append(&mut self.group);
        self.hlcs.append(&mut self.group_hlcs);
        while self.rows.len() >= Self::PER_INSERT {
            self.insert(conn, Self::PER_INSERT)?;
        }
        Ok(())
    }

    /// Inserts the first `rows` rows waiting.
    fn insert(&mut self, conn: &rusqlite::Connection, rows: usize) -> Result<()> {
        badge::insert_new(conn, &self.rows[..rows], &self.hlcs[..rows])?;
        self.rows.drain(..rows);
        self.hlcs.drain(..rows);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use expo_sync::Hlc;
    use uuid::Uuid;

    use super::*;
    use crate::registration::badge::apply_remote;
    use crate::registration::badge::tests::pulled_badge;
    use crate::store::test_support::store_with_event;
    use crate::store::Store;

    fn badge(attendee: u128, serial: u32, status: &str) -> BadgeRecord {
        BadgeRecord {
            attendee_id: Uuid::from_u128(attendee),
            serial,
            status: status.into(),
            ..pulled_badge()
        }
    }

    fn hlc(n: usize) -> Hlc {
        Hlc { wall_ms: n as u64 + 1, counter: 0, station: "desk-2".into() }
    }

    fn badges(store: &Store) -> Vec<(String, u32, String, String)> {
        let mut statement = store
            .conn()
            .prepare("SELECT attendee_id, serial, status, hlc FROM badges ORDER BY 1, 2")
            .unwrap();
        let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)));
        rows.unwrap().collect::<rusqlite::Result<_>>().unwrap()
    }

    /// A hub that sends badges out of key order, or one twice, gets those applied by the
    /// conflict rules: the station ends as if it had applied every one by those rules.
    #[test]
    fn badges_out_of_key_order_are_left_to_the_conflict_rules() {
        let sent = [
            badge(1, 1, "active"),
            badge(2, 1, "active"),
            badge(2, 2, "active"),
            badge(1, 2, "active"),
            badge(2, 3, "active"),
            badge(3, 1, "active"),
            badge(3, 1, "revoked"),
            badge(2, 4, "revoked"),
            badge(4, 1, "active"),
        ];
        let (_one_dir, mut one_by_one) = store_with_event();
        let (_bulk_dir, mut bulk) = store_with_event();
        one_by_one
            .write(|tx| {
                sent.iter()
                    .enumerate()
                    .try_for_each(|(n, b)| apply_remote(tx, b, &hlc(n)).map(drop))
            })
            .unwrap();
        let handed_back = bulk
            .write(|tx| -> Result<usize> {
                let mut new_badges = NewBadges::begin(tx.sql())?;
                let mut handed_back = 0;
                for (n, b) in sent.iter().enumerate() {
                    if let Some(b) = new_badges.add(tx.sql(), b.clone(), &hlc(n).to_string())? {
                        handed_back += 1;
                        new_badges.flush(tx.sql())?;
                        apply_remote(tx, &b, &hlc(n))?;
                    }
                }
                new_badges.flush(tx.sql())?;
                Ok(handed_back)
            })
            .unwrap();
        assert_eq!(handed_back, 4);
        assert_eq!(badges(&bulk), badges(&one_by_one));
    }
}
