//! expo-sync: what crosses the network between stations and the central hub. The hub
//! itself (HTTP server, SQLite and PostgreSQL storage) is the `expo-hub` crate in
//! `sync/hub`, so station binaries link none of it.
//!
//! - [`protocol`]: the wire types (changes, records, push and pull messages). Both the
//!   station (the `expo-kiosk` crate) and the hub speak exactly these.
//! - [`authority`]: which station role may make which change (hub and stations alike).
//! - [`validate`]: the domain rules every change meets before anyone stores it.
//! - [`scope`]: what each station role receives of other stations' changes (the hub
//!   applies it to every pull).
//! - [`endorsement`]: the organiser authority (held by the hub) and the badge-signing
//!   keys it endorses and revokes.
//! - [`hlc`]: the hybrid logical clock that orders changes across stations whose wall
//!   clocks disagree by minutes.
//! - [`conflict`]: which version of a record every station and the hub keep.
//! - [`client`] and [`station`]: the station side (blocking HTTP client, outbox
//!   contract, sync rounds and the background worker).
//! - [`output`] and [`logging`]: what the hub and the stations both write: owner-only
//!   data files, formula-safe CSV, and logs without credentials.
//! - [`heartbeat`]: what a station reports about itself to the hub for the operations
//!   console (print queue, devices, gate lanes), and the hub's bounds on it.

pub mod authority;
pub mod client;
pub mod conflict;
pub mod endorsement;
pub mod heartbeat;
pub mod hlc;
pub mod logging;
pub mod output;
pub mod protocol;
pub mod scope;
pub mod station;
#[cfg(any(test, feature = "test-support"))]
pub mod test_records;
pub mod validate;

pub use authority::StationRole;
pub use hlc::{Hlc, HlcClock};
pub use protocol::{Change, Record};
