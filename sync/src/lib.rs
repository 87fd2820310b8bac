//! expo-sync: what crosses the network between stations and the central hub.
//!
//! - [`protocol`]: the wire types (changes, records, push and pull messages). Both the
//!   station (the `expo-kiosk` crate) and the hub speak exactly these.
//! - [`hlc`]: the hybrid logical clock that orders changes across stations whose wall
//!   clocks disagree by minutes.
//! - [`conflict`]: which version of a record every station and the hub keep.
//! - [`client`] and [`station`]: the station side (blocking HTTP client, outbox
//!   contract, sync rounds and the background worker).
//! - [`hub`]: `expo-hub`, the central service (HTTP API, SQLite and PostgreSQL storage).
//! - [`output`] and [`logging`]: what the hub and the stations both write: owner-only
//!   data files, formula-safe CSV, and logs without credentials.

pub mod client;
pub mod conflict;
pub mod hlc;
pub mod hub;
pub mod logging;
pub mod output;
pub mod protocol;
pub mod station;

pub use hlc::{Hlc, HlcClock};
pub use protocol::{Change, Record};
