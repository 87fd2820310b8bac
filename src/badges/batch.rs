//! Many badges in one PDF: pre-printing a category's badges (or everyone's) before the
//! show. The PDF streams to its file a round of badges at a time, so a batch of 10,000
//! needs no more memory than a batch of 500.

use std::io::BufWriter;
use std::path::Path;
use std::sync::mpsc;

use rusqlite::params;
use tempfile::NamedTempFile;

use super::render::{badge_pdf, render_pages, BadgeData};
use super::template::Template;
use super::BadgeError;
use crate::domain::AttendeeId;
use crate::operators::Operator;
use crate::registration::{badge, RegistrationError};
use crate::store::{Store, StoreError};

/// Badges read from the store, then laid out on every core, between two writes to the
/// file: enough to keep the threads busy, few enough to keep memory flat.
const BADGES_PER_ROUND: usize = 512;

/// A rendered batch.
#[derive(Debug)]
pub struct Batch {
    /// Badges in the PDF, one page each.
    pub badges: usize,
    /// Attendees left out because their badge is revoked.
    pub revoked: usize,
    /// The size of the PDF file.
    pub bytes: u64,
}

/// Writes the badges of these attendees, in order, to the PDF file `out`, issuing a
/// badge to whoever has none yet. The PDF is written beside `out` under a temporary
/// name and renamed when complete: an interrupted run leaves no truncated `out`.
///
/// Reading and issuing badges (the store, one transaction per round) runs on this thread
/// while the previous round is laid out and written on others.
pub fn render_attendees(
    store: &mut Store,
    operator: &Operator,
    template: &Template,
    attendees: &[AttendeeId],
    out: &Path,
) -> Result<Batch, BadgeError> {
    let partial = temporary_beside(out)?;
    let pdf = badge_pdf(template, BufWriter::new(partial.as_file()))?;
    let mut revoked = 0;
    let written = std::thread::scope(|scope| {
        // One round queued while another is rendered: memory stays at two rounds.
        let (rounds, queued) = mpsc::sync_channel::<Vec<BadgeData>>(1);
        let writer = scope.spawn(move || {
            let mut pdf = pdf;
            for badges in queued {
                for page in render_pages(template, &badges)? {
                    pdf.add_page(page)?;
                }
            }
            Ok::<_, BadgeError>(pdf)
        });
        let read = read_rounds(store, operator, attendees, &rounds, &mut revoked);
        drop(rounds);
        // A writer that panicked hit a bug: carry its panic on rather than hide it.
        let written = writer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        read.and(written)
    })?;
    let badges = written.page_count();
    written.finish()?;
    let file = partial.as_file();
    let bytes = file
        .sync_all()
        .and_then(|()| file.metadata())
        .map_err(|source| BadgeError::Io { path: partial.path().to_owned(), source })?
        .len();
    partial
        .persist(out)
        .map_err(|failed| BadgeError::Io { path: out.to_owned(), source: failed.error })?;
    Ok(Batch { badges, revoked, bytes })
}

/// Sends the badges of `attendees` to `rounds`, a round at a time, counting the revoked
/// ones left out. Stops early when the writer has failed.
fn read_rounds(
    store: &mut Store,
    operator: &Operator,
    attendees: &[AttendeeId],
    rounds: &mpsc::SyncSender<Vec<BadgeData>>,
    revoked: &mut usize,
) -> Result<(), BadgeError> {
    let definition = store.event()?.definition.clone();
    for round in attendees.chunks(BADGES_PER_ROUND) {
        let mut badges = Vec::with_capacity(round.len());
        for issue in badge::ensure_badges(store, operator, round)? {
            match issue {
                Ok(issue) => badges.push(BadgeData::for_attendee(
                    &definition,
                    &issue.record,
                    issue.badge.token,
                )?),
                Err(RegistrationError::Revoked(..)) => *revoked += 1,
                Err(other) => return Err(other.into()),
            }
        }
        if rounds.send(badges).is_err() {
            // The writer hung up because it failed: its error is the one to report.
            break;
        }
    }
    Ok(())
}

/// An empty file in `out`'s folder (so the final rename stays on one file system),
/// named after `out`, removed again when dropped unless persisted.
fn temporary_beside(out: &Path) -> Result<NamedTempFile, BadgeError> {
    let dir = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = out
        .file_name()
        .ok_or_else(|| BadgeError::Render(format!("{} does not name a file", out.display())))?;
    let prefix = format!(".{}.", name.to_string_lossy());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".part");
    // Readable like any file the user creates (the umask applies), not private as
    // temporary files are by default.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir).map_err(|source| BadgeError::Io { path: dir.to_owned(), source })
}

/// Every attendee, or those of one category (id or Chinese label), by registration code
/// then name: the order the organiser's lists use.
pub fn attendees_in(store: &Store, category: Option<&str>) -> Result<Vec<AttendeeId>, BadgeError> {
    let category = match category {
        Some(wanted) => {
            Some(store.event()?.definition.category(wanted).map(|(_, c)| c.id.clone()).ok_or_else(
                || BadgeError::Render(format!("the event has no category {wanted:?}")),
            )?)
        }
        None => None,
    };
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT id FROM attendees WHERE ?1 IS NULL OR category = ?1 \
             ORDER BY registration_code IS NULL, registration_code, name, id",
        )
        .map_err(StoreError::from)?;
    let ids = stmt
        .query_map(params![category], |r| r.get::<_, String>(0))
        .map_err(StoreError::from)?
        .map(|row| -> Result<AttendeeId, BadgeError> {
            let text = row.map_err(StoreError::from)?;
            uuid::Uuid::parse_str(&text)
                .map(AttendeeId)
                .map_err(|_| StoreError::Corrupt(format!("attendee id {text:?}")).into())
        })
        .collect::<Result<Vec<_>, BadgeError>>()?;
    Ok(ids)
}
