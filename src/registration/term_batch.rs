//! The search terms of many new attendees, gathered during an import and written in
//! one go, in key order.
//!
//! A desk registration inserts its ten-odd terms at random places of `search_terms`;
//! once that B-tree outgrows the page cache, every insert reads and dirties a page of
//! its own, and a million-row import spends minutes doing so. Written in key order, the
//! same rows fill pages one after the other (and the table has no second index, in
//! another order, to spoil that: schema migration 6).

use expo_sync::protocol::AttendeeRecord;
use foldhash::HashMap;
use rusqlite::Connection;

use super::{search, LocalKey, RegistrationError, Result};
use crate::store::StoreError;

/// Rows per `INSERT` statement.
const ROWS_PER_INSERT: usize = 100;

/// Numbers for distinct terms. Rows are checked on another thread than the one that
/// writes them, so the checker numbers the terms, keeping the writer's share small.
#[derive(Default)]
pub(crate) struct Vocabulary {
    numbers: HashMap<Box<str>, u32>,
}

impl Vocabulary {
    /// The numbers of `record`'s search terms (`search::terms_for`).
    pub(crate) fn number_terms_of(&mut self, record: &AttendeeRecord) -> Result<Vec<u32>> {
        search::terms_for(record)
            .into_iter()
            .map(|term| {
                let next = number(self.numbers.len())?;
                Ok(*self.numbers.entry(term.into_boxed_str()).or_insert(next))
            })
            .collect()
    }
}

#[derive(Default)]
pub(crate) struct TermBatch {
    /// The attendee (by local key) behind each owner number. An attendee whose terms are
    /// set twice gets a second owner number, and the first one dies.
    owners: Vec<LocalKey>,
    live: Vec<bool>,
    current: HashMap<LocalKey, u32>,
    /// (term number, owner number).
    pairs: Vec<(u32, u32)>,
}

impl TermBatch {
    /// Whether the batch holds terms for `attendee`.
    pub(crate) fn holds(&self, attendee: LocalKey) -> bool {
        self.current.contains_key(&attendee)
    }

    /// Sets the terms of `attendee` (numbered by the vocabulary given to [`Self::write`]),
    /// replacing any set before.
    pub(crate) fn set(&mut self, attendee: LocalKey, terms: &[u32]) -> Result<()> {
        let owner = number(self.owners.len())?;
        if let Some(previous) = self.current.insert(attendee, owner) {
            self.live[previous as usize] = false;
        }
        self.owners.push(attendee);
        self.live.push(true);
        self.pairs.extend(terms.iter().map(|term| (*term, owner)));
        Ok(())
    }

    /// Writes every live term into `search_terms`. The attendees must have no stored
    /// terms (they are new), so nothing is deleted first.
    pub(crate) fn write(self, conn: &Connection, vocabulary: Vocabulary) -> Result<()> {
        let sorted = self.in_key_order(vocabulary)?;
        for chunk in sorted.keys.chunks(ROWS_PER_INSERT) {
            let mut insert =
                conn.prepare_cached(&insert_sql(chunk.len())).map_err(StoreError::from)?;
            for (row, key) in chunk.iter().enumerate() {
                let (term, attendee) = sorted.row(*key);
                insert.raw_bind_parameter(2 * row + 1, term).map_err(StoreError::from)?;
                insert.raw_bind_parameter(2 * row + 2, attendee).map_err(StoreError::from)?;
            }
            insert.raw_execute().map_err(StoreError::from)?;
        }
        Ok(())
    }

    /// The live (term, attendee) rows in primary-key order. Terms and attendees are
    /// ranked by their stored form, so one sort of plain integers orders the rows:
    /// SQLite compares text bytewise, like `str`, and integer keys as integers.
    fn in_key_order(self, vocabulary: Vocabulary) -> Result<SortedTerms> {
        let terms = sort_on_two_threads(vocabulary.numbers.into_iter().collect());
        let mut term_rank = vec![0u32; terms.len()];
        for (rank, (_, term)) in terms.iter().enumerate() {
            term_rank[*term as usize] = number(rank)?;
        }
        let mut by_key: Vec<u32> = (0..number(self.owners.len())?).collect();
        by_key.sort_unstable_by_key(|owner| self.owners[*owner as usize]);
        let mut owner_rank = vec![0u32; self.owners.len()];
        for (rank, owner) in by_key.iter().enumerate() {
            owner_rank[*owner as usize] = number(rank)?;
        }
        let keys: Vec<u64> = self
            .pairs
            .into_iter()
            .filter(|(_, owner)| self.live[*owner as usize])
            .map(|(term, owner)| {
                u64::from(term_rank[term as usize]) << 32 | u64::from(owner_rank[owner as usize])
            })
            .collect();
        let keys = sort_on_two_threads(keys);
        Ok(SortedTerms {
            terms: terms.into_iter().map(|(term, _)| term).collect(),
            attendees: by_key.into_iter().map(|owner| self.owners[owner as usize]).collect(),
            keys,
        })
    }
}

/// Rows as sorted `(term rank << 32) | attendee rank` keys over sorted terms and
/// attendees.
struct SortedTerms {
    terms: Vec<Box<str>>,
    attendees: Vec<LocalKey>,
    keys: Vec<u64>,
}

impl SortedTerms {
    fn row(&self, key: u64) -> (&str, LocalKey) {
        let (term, attendee) = (key >> 32, key & u64::from(u32::MAX));
        (&self.terms[term as usize], self.attendees[attendee as usize])
    }
}

/// Sorts `items`, each half on a thread of its own, then merges them: the import's row
/// checker is done by now, so its core is free.
fn sort_on_two_threads<T: Ord + Send>(mut items: Vec<T>) -> Vec<T> {
    let mut second = items.split_off(items.len() / 2);
    std::thread::scope(|scope| {
        scope.spawn(|| second.sort_unstable());
        items.sort_unstable();
    });
    let mut merged = Vec::with_capacity(items.len() + second.len());
    let (mut first, mut second) = (items.into_iter().peekable(), second.into_iter().peekable());
    while let (Some(a), Some(b)) = (first.peek(), second.peek()) {
        let next = if a <= b { first.next() } else { second.next() };
        merged.extend(next);
    }
    merged.extend(first);
    merged.extend(second);
    merged
}

/// `INSERT` of `rows` rows: one statement per row costs more than the row itself.
fn insert_sql(rows: usize) -> String {
    let values = vec!["(?, ?)"; rows].join(", ");
    format!("INSERT OR IGNORE INTO search_terms (term, attendee_key) VALUES {values}")
}

fn number(count: usize) -> Result<u32> {
    u32::try_from(count)
        .map_err(|_| RegistrationError::Import("more than 4 billion search terms".into()))
}
