//! The attendees of a hub snapshot that are new to this station, written the way an
//! import writes its new rows: 50 to a statement with keys assigned here, the running
//! totals counted aside, the search terms gathered as numbers and written in key order at
//! the end (`term_batch`). An attendee this station already holds, by id or registration
//! code, is left to the caller, which applies it by the conflict rules like a pulled one.

use expo_sync::protocol::AttendeeRecord;
use foldhash::HashSet;

use super::import::{counted, CompanySet, NewRows};
use super::term_batch::{TermBatch, Vocabulary};
use super::{search, Result};
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
