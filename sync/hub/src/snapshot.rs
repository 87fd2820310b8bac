//! `GET /v1/snapshot?after=KEY`: the current state as one stream, for a station enrolled
//! late or offline for long (format and guarantees: [`expo_sync::snapshot`]).
//!
//! The answer is read page by page, each page in one short read transaction of its own,
//! so pushes go on while a million-entity snapshot streams, and the next page is read only
//! when the connection has taken the previous one. The cursor the answer starts with is
//! the high-water mark of its first page: everything read later is that state or newer.
//! Every change passes `expo_sync::scope::scope` for the station's role, as a pull's do:
//! what the role may not receive is read past and never sent. Where the kind alone
//! decides (`scope::by_kind`: everything a desk gets, say), the stored JSON is sent
//! without being parsed, which was most of the hub's work per record.

use std::sync::Arc;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use expo_sync::authority::StationRole;
use expo_sync::protocol::Change;
use expo_sync::scope::{self, Scoped};
use expo_sync::snapshot::Encoder;
use serde::Deserialize;

use super::store::{HubStore, SnapshotPage, StoreError};

/// Entities per page, and so per check line of the answer.
pub const SNAPSHOT_PAGE: usize = 1000;

/// Longest `after` key a request may give: entity keys are far shorter.
pub const MAX_AFTER_BYTES: usize = 512;

#[derive(Debug, Deserialize)]
pub struct SnapshotParams {
    #[serde(default)]
    pub after: String,
}

/// The answer: streamed from `first` (already read, so a storage failure before the
/// first byte is a JSON error) on, page by page.
pub fn answer<S: HubStore>(
    store: Arc<S>,
    role: Option<StationRole>,
    after: String,
    first: SnapshotPage,
) -> Response {
    let encoder = Encoder::start(first.high_water, &after);
    let role = scope::pulling_role(role);
    let state = Pages { store, role, encoder: Some(encoder), next: Some(first), last_key: after };
    let stream = futures_util::stream::try_unfold(state, Pages::next_bytes);
    ([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(stream)).into_response()
}

/// Where a streaming answer stands.
struct Pages<S> {
    store: Arc<S>,
    role: StationRole,
    /// `None` once the end line is sent.
    encoder: Option<Encoder>,
    /// The page to send next, read ahead; `None` when it is to be read.
    next: Option<SnapshotPage>,
    /// The key the state has been read up to.
    last_key: String,
}

impl<S: HubStore> Pages<S> {
    /// The next piece of the answer: one page and its check line, or the end line.
    async fn next_bytes(mut self) -> Result<Option<(Vec<u8>, Self)>, StoreError> {
        let Some(mut encoder) = self.encoder.take() else { return Ok(None) };
        let page = match self.next.take() {
            Some(page) => page,
            None => {
                let after = self.last_key.clone();
                self.store.snapshot_page(&after, SNAPSHOT_PAGE).await?
            }
        };
        let Some((last_key, _)) = page.rows.last() else {
            return Ok(Some((encoder.end(), self)));
        };
        let last_key = last_key.clone();
        let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("stored change: {e}"));
        for (key, change_json) in &page.rows {
            // Most changes are passed on as stored: the kind (the key's first part) decides.
            let kind = key.split_once(':').map_or(key.as_str(), |(kind, _)| kind);
            let scoped = match scope::by_kind(self.role, kind) {
                Some(decided) => decided,
                None => {
                    let change: Change = serde_json::from_str(change_json).map_err(corrupt)?;
                    scope::scope(self.role, &change)
                }
            };
            match scoped {
                Scoped::Withheld => {}
                Scoped::AsIs => encoder.change_json(change_json),
                Scoped::Reduced(reduced) => {
                    encoder.change_json(&serde_json::to_string(&reduced).map_err(corrupt)?);
                }
            }
        }
        let bytes = encoder.check(&last_key);
        self.last_key = last_key;
        self.encoder = Some(encoder);
        Ok(Some((bytes, self)))
    }
}
