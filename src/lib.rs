//! expo-kiosk: offline-first registration, badge printing and access control for
//! exhibition venues. See ARCHITECTURE.md for the map of this crate.

pub mod access;
pub mod assets;
pub mod badges;
pub mod bootstrap;
pub mod credential;
pub mod demo;
pub mod domain;
pub mod error_class;
pub mod gate;
pub mod heartbeat;
pub mod operators;
pub mod privacy;
pub mod provisioning;
pub mod registration;
pub mod station;
pub mod station_sync;
pub mod stats;
pub mod store;
pub mod ui;
