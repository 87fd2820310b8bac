//! How the hub finds attendees for the console's look-up
//! ([`crate::store::HubStore::search_attendees`]) without reading every attendee's JSON:
//! each back-end keeps a search table by triggers on `current_state`
//! (`sqlite_attendee_search.rs`, `postgres_attendee_search.rs`), so it is right after
//! every push, merge and revocation, whoever made it.
//!
//! - A name "contains" the search text when one of its parts starts with it: the parts
//!   are the name (folded to lower case) from each of its first [`PART_POSITIONS`]
//!   characters on, cut to [`PART_CHARS`] characters, in an index, so a search reads one
//!   index range. A longer search text is looked up by its first [`PART_CHARS`]
//!   characters and checked against the whole name.
//! - A search reads at most [`SCAN_PARTS`] parts: a text that many names contain ("an")
//!   shows the first matches in name-part order and the "more matches" notice, as any
//!   look-up beyond its limit does.
//! - Registration codes are an index; phones are found by an index of their last 7 digits
//!   (a phone search needs 7 or more), then checked as before (the phone's digits end
//!   with the search's).
//! - Merged-away attendees are not in the table.

/// Characters of a name part.
pub const PART_CHARS: usize = 32;
/// The name positions a part may start at: a name longer than this is found by the text
/// it starts with before that point, and a hostile 4 KiB name costs 64 parts, not 4,096.
pub const PART_POSITIONS: usize = 64;
/// Name parts one search reads at most.
pub const SCAN_PARTS: usize = 2_000;
