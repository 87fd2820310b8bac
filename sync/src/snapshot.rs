//! The snapshot a station bootstraps from (`GET /v1/snapshot?after=KEY`): the hub's
//! current state as one stream, instead of every change ever made.
//!
//! The body is newline-delimited JSON, one [`Line`] per line:
//!
//! ```text
//! {"start":{"cursor":C,"after":"KEY"}}
//! {"change":{...}}                                      the winning change of an entity
//! ...                                                   (in entity-key order)
//! {"check":{"records":N,"last_key":"...","sha256":"..."}}
//! {"change":{...}}
//! ...
//! {"end":{"records":N,"sha256":"..."}}
//! ```
//!
//! - `cursor` is the pull cursor the state corresponds to: every change up to it is in
//!   the snapshot (as itself or as a version that beats it), so a station that applies the
//!   snapshot and then pulls from `cursor` misses nothing. Parts read later may already
//!   hold newer versions; pulling them again is harmless, since records are whole and
//!   merged by the conflict rules.
//! - Each `check` line carries the SHA-256 of every byte of this answer before it, and
//!   the entity key the hub has read up to. A station applies only what a check line
//!   vouched for; after a cut it asks again with `after` = the last vouched key, and the
//!   new answer's `start` line must echo it. The `end` line's digest covers the whole
//!   answer, so nothing may be dropped, reordered or cut off unnoticed.
//!
//! [`Encoder`] writes this format (the hub) and [`Decoder`] reads and verifies it (the
//! station), so both sides agree by construction.

use std::io::{BufRead, Read};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::protocol::Change;
use crate::validate::MAX_CHANGE_BYTES;

/// One line of a snapshot answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Line {
    Start { cursor: i64, after: String },
    Change(Box<Change>),
    Check { records: u64, last_key: String, sha256: String },
    End { records: u64, sha256: String },
}

/// Why a snapshot answer cannot be used (past the last check line it passed).
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The connection broke or timed out: ask again after the last vouched key.
    #[error("the snapshot download was cut: {0}")]
    Cut(#[from] std::io::Error),
    /// The bytes are not what the hub sent, or not a snapshot at all.
    #[error("the snapshot download is corrupt: {0}")]
    Corrupt(String),
}

/// Writes a snapshot answer, chunk by chunk (the hub).
pub struct Encoder {
    hasher: Sha256,
    records: u64,
    out: Vec<u8>,
}

impl Encoder {
    /// Starts an answer for the state after `after`, at pull cursor `cursor`.
    pub fn start(cursor: i64, after: &str) -> Self {
        let mut encoder = Self { hasher: Sha256::new(), records: 0, out: Vec::new() };
        encoder.line(&Line::Start { cursor, after: after.to_owned() });
        encoder
    }

    /// Adds one entity's change, given as its JSON.
    pub fn change_json(&mut self, change_json: &str) {
        self.out.extend_from_slice(b"{\"change\":");
        self.out.extend_from_slice(change_json.as_bytes());
        self.out.extend_from_slice(b"}\n");
        self.records += 1;
    }

    /// Ends a chunk with a check line vouching for everything so far, the hub having
    /// read the state up to `last_key`; returns the chunk's bytes.
    pub fn check(&mut self, last_key: &str) -> Vec<u8> {
        self.hasher.update(&self.out);
        let check = Line::Check {
            records: self.records,
            last_key: last_key.to_owned(),
            sha256: vouch(&self.hasher, self.records, last_key),
        };
        self.finish_with(&check)
    }

    /// Ends the answer; returns its last bytes.
    pub fn end(mut self) -> Vec<u8> {
        self.hasher.update(&self.out);
        let end =
            Line::End { records: self.records, sha256: vouch(&self.hasher, self.records, "") };
        self.finish_with(&end)
    }

    fn finish_with(&mut self, line: &Line) -> Vec<u8> {
        let start = self.out.len();
        self.line(line);
        // The check line itself is hashed too, so the next one vouches for it.
        self.hasher.update(&self.out[start..]);
        std::mem::take(&mut self.out)
    }

    fn line(&mut self, line: &Line) {
        // A start, check or end line holds strings and numbers only: it always serialises.
        if serde_json::to_writer(&mut self.out, line).is_ok() {
            self.out.push(b'\n');
        }
    }
}

/// The digest a check or end line carries: every byte of the answer before it (in
/// `hasher`), then the line's own count and key, so a station never resumes from a key
/// that nothing vouched for.
fn vouch(hasher: &Sha256, records: u64, last_key: &str) -> String {
    let mut hasher = hasher.clone();
    hasher.update(records.to_be_bytes());
    hasher.update(last_key.as_bytes());
    hex::encode(hasher.finalize())
}

/// Changes a check line vouched for, and where the hub had read up to.
#[derive(Debug)]
pub struct Chunk {
    pub changes: Vec<Change>,
    /// Ask again after this key to resume.
    pub last_key: String,
}

/// Reads and verifies a snapshot answer (the station): [`Decoder::next_chunk`] hands out
/// only what a check line vouched for.
pub struct Decoder<R> {
    reader: R,
    hasher: Sha256,
    records: u64,
    cursor: i64,
    line: Vec<u8>,
    finished: bool,
    bytes: u64,
}

/// Longest line a station reads: one change at its largest, with its wrapping.
const MAX_LINE_BYTES: u64 = MAX_CHANGE_BYTES as u64 + 1024;

impl<R: BufRead> Decoder<R> {
    /// Reads the answer's start line, which must be for the state after `after`.
    pub fn start(reader: R, after: &str) -> Result<Self, SnapshotError> {
        let mut decoder = Self {
            reader,
            hasher: Sha256::new(),
            records: 0,
            cursor: 0,
            line: Vec::new(),
            finished: false,
            bytes: 0,
        };
        match decoder.read_line()? {
            Some(Line::Start { cursor, after: echoed }) if echoed == after => {
                decoder.cursor = cursor;
                Ok(decoder)
            }
            Some(Line::Start { after: echoed, .. }) => Err(SnapshotError::Corrupt(format!(
                "asked for the state after {after:?}, the answer starts after {echoed:?}"
            ))),
            _ => Err(SnapshotError::Corrupt("the answer has no start line".into())),
        }
    }

    /// The pull cursor the snapshot corresponds to.
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// Bytes of the answer read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The next verified chunk, `None` once the end line verified the whole answer.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>, SnapshotError> {
        if self.finished {
            return Ok(None);
        }
        let mut changes = Vec::new();
        loop {
            // Everything before this line, which a check line must vouch for.
            let before = self.hasher.clone();
            let corrupt = |what: &str| SnapshotError::Corrupt(what.to_owned());
            match self.read_line()?.ok_or_else(|| corrupt("the answer ends without an end line"))? {
                Line::Change(change) => {
                    self.records += 1;
                    changes.push(*change);
                }
                Line::Check { records, last_key, sha256 } => {
                    self.verify(records, &sha256, &vouch(&before, records, &last_key))?;
                    return Ok(Some(Chunk { changes, last_key }));
                }
                Line::End { records, sha256 } => {
                    self.verify(records, &sha256, &vouch(&before, records, ""))?;
                    self.finished = true;
                    if !changes.is_empty() {
                        return Err(corrupt("changes after the last check line"));
                    }
                    return Ok(None);
                }
                Line::Start { .. } => return Err(corrupt("a second start line")),
            }
        }
    }

    fn verify(&self, records: u64, sha256: &str, expected: &str) -> Result<(), SnapshotError> {
        if sha256 != expected {
            return Err(SnapshotError::Corrupt("SHA-256 mismatch".into()));
        }
        if records != self.records {
            return Err(SnapshotError::Corrupt(format!(
                "{} records received, the hub counted {records}",
                self.records
            )));
        }
        Ok(())
    }

    /// The next line, hashed; `None` at the end of the stream.
    fn read_line(&mut self) -> Result<Option<Line>, SnapshotError> {
        self.line.clear();
        let read = self.reader.by_ref().take(MAX_LINE_BYTES).read_until(b'\n', &mut self.line)?;
        if read == 0 {
            return Ok(None);
        }
        self.bytes += read as u64;
        if self.line.last() != Some(&b'\n') {
            return Err(if read as u64 >= MAX_LINE_BYTES {
                SnapshotError::Corrupt("a line longer than any change".into())
            } else {
                SnapshotError::Cut(std::io::ErrorKind::UnexpectedEof.into())
            });
        }
        self.hasher.update(&self.line);
        // Where, not what: serde's message may quote the line, which holds personal data.
        serde_json::from_slice(&self.line).map(Some).map_err(|e| {
            SnapshotError::Corrupt(format!(
                "unreadable line ({:?} at column {})",
                e.classify(),
                e.column()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::hlc::Hlc;
    use crate::protocol::Record;
    use uuid::Uuid;

    fn change(serial: u32) -> Change {
        Change {
            id: Uuid::now_v7(),
            station: "desk-1".into(),
            hlc: Hlc { wall_ms: 1, counter: 0, station: "desk-1".into() },
            record: Record::Badge(crate::protocol::BadgeRecord {
                serial,
                ..crate::test_records::badge()
            }),
            pushed_by: None,
        }
    }

    /// An answer of two chunks (two changes, then one) and its changes.
    fn answer() -> (Vec<u8>, Vec<Change>) {
        let changes = vec![change(1), change(2), change(3)];
        let mut encoder = Encoder::start(42, "");
        let mut bytes = Vec::new();
        for (i, c) in changes.iter().enumerate() {
            encoder.change_json(&serde_json::to_string(c).unwrap());
            if i == 1 {
                bytes.extend(encoder.check("k2"));
            }
        }
        bytes.extend(encoder.check("k3"));
        bytes.extend(encoder.end());
        (bytes, changes)
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Chunk>, SnapshotError> {
        let mut decoder = Decoder::start(bytes, "")?;
        assert_eq!(decoder.cursor(), 42);
        let mut chunks = Vec::new();
        while let Some(chunk) = decoder.next_chunk()? {
            chunks.push(chunk);
        }
        Ok(chunks)
    }

    #[test]
    fn what_the_hub_encodes_the_station_reads_chunk_by_chunk() {
        let (bytes, changes) = answer();
        let chunks = read_all(&bytes).unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!((chunks[0].last_key.as_str(), chunks[1].last_key.as_str()), ("k2", "k3"));
        let read: Vec<Change> = chunks.into_iter().flat_map(|c| c.changes).collect();
        assert_eq!(read, changes);
    }

    #[test]
    fn a_flipped_byte_anywhere_is_refused_before_its_chunk_is_handed_out() {
        let (bytes, _) = answer();
        for at in 0..bytes.len() {
            let mut corrupt = bytes.clone();
            corrupt[at] ^= 0x01;
            let Ok(mut decoder) = Decoder::start(corrupt.as_slice(), "") else { continue };
            let mut outcome = Ok(Some(()));
            let mut handed_out = 0;
            while let Ok(Some(())) = outcome {
                outcome = decoder.next_chunk().map(|chunk| {
                    chunk.map(|c| {
                        handed_out += c.changes.len();
                    })
                });
            }
            assert!(outcome.is_err(), "byte {at} flipped went unnoticed");
            // The flipped byte's chunk never reaches the station.
            let first_check = bytes.windows(8).position(|w| w == b"{\"check\"").unwrap();
            if at < first_check {
                assert_eq!(handed_out, 0, "byte {at}");
            }
        }
    }

    #[test]
    fn a_cut_answer_ends_in_an_error_after_the_chunks_it_vouched_for() {
        let (bytes, _) = answer();
        let first_check_end = bytes.windows(8).position(|w| w == b"{\"check\"").unwrap() + 1;
        let first_check_end =
            first_check_end + bytes[first_check_end..].iter().position(|b| *b == b'\n').unwrap();
        for cut in 1..bytes.len() {
            let Ok(mut decoder) = Decoder::start(&bytes[..cut], "") else { continue };
            let first = decoder.next_chunk();
            if cut > first_check_end {
                assert_eq!(first.unwrap().unwrap().changes.len(), 2, "cut at {cut}");
                let mut rest = decoder.next_chunk();
                while let Ok(Some(_)) = rest {
                    rest = decoder.next_chunk();
                }
                assert!(rest.is_err(), "cut at {cut} went unnoticed");
            } else {
                assert!(first.is_err(), "cut at {cut} went unnoticed");
            }
        }
    }

    #[test]
    fn an_answer_for_another_position_is_refused() {
        let (bytes, _) = answer();
        assert!(matches!(Decoder::start(bytes.as_slice(), "k2"), Err(SnapshotError::Corrupt(_))));
        assert!(matches!(Decoder::start(&b"{}\n"[..], ""), Err(SnapshotError::Corrupt(_))));
    }

    #[test]
    fn an_unreadable_line_is_reported_without_its_content() {
        let line = &b"{\"start\":{\"cursor\":\"13912345678\",\"after\":\"\"}}\n"[..];
        let Err(SnapshotError::Corrupt(message)) = Decoder::start(line, "") else {
            panic!("a cursor that is not a number was taken")
        };
        assert!(!message.contains("13912345678"), "{message}");
    }
}
