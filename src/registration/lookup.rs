//! Reads of personal data as an operator: search, an attendee's record and the audit log.
//! Each takes the acting operator and checks its function permission and category scope
//! itself, so no screen or command reads past them. (Revealing an ID number and the
//! follow-up export, which are audited, check the same in `reveal_id_number` and
//! `stats::follow_up::export`.)

use expo_sync::protocol::{AttendeeRecord, AuditRecord};
use rusqlite::Connection;

use super::search::{self, SearchHit};
use super::{load, Result};
use crate::domain::AttendeeId;
use crate::operators::{Operator, Permission};
use crate::store;

/// The attendees matching `query` that `operator` handles, best first, at most `limit`.
/// Needs [`Permission::Search`].
pub fn search(
    conn: &Connection,
    operator: &Operator,
    query: &str,
    limit: usize,
) -> Result<Vec<SearchHit>> {
    operator.require(Permission::Search)?;
    search::search(conn, query, limit, &operator.categories)
}

/// One attendee's record for `operator`. Every role opens records (a desk finds them, a
/// kiosk opens its own visitor's, a gate shows its verdict's holder), so the category
/// scope is the check: an attendee outside it is answered as one that does not exist
/// (`None`), and the operator learns nothing of them.
pub fn attendee(
    conn: &Connection,
    operator: &Operator,
    id: AttendeeId,
) -> Result<Option<AttendeeRecord>> {
    Ok(load(conn, id)?.filter(|record| operator.handles(&record.category)))
}

/// The newest `limit` audit entries `operator` may read, optionally about one attendee:
/// needs [`Permission::ViewAudit`], and an operator limited to some categories reads the
/// entries about attendees of those categories and the entries about no attendee.
pub fn audit_log(
    conn: &Connection,
    operator: &Operator,
    attendee: Option<AttendeeId>,
    limit: u32,
) -> Result<Vec<AuditRecord>> {
    operator.require(Permission::ViewAudit)?;
    if let Some(id) = attendee {
        if attendee_hidden(conn, operator, id)? {
            return Ok(Vec::new());
        }
    }
    Ok(store::audit_entries_in(conn, attendee.map(|a| a.0), &operator.categories, limit)?)
}

/// Whether `id` is an attendee of a category `operator` does not handle.
fn attendee_hidden(conn: &Connection, operator: &Operator, id: AttendeeId) -> Result<bool> {
    Ok(load(conn, id)?.is_some_and(|record| !operator.handles(&record.category)))
}
