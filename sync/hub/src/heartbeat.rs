//! Station heartbeats at the hub (`POST /v1/heartbeat`): checked like any other hostile
//! input ([`Heartbeat::check`]), stamped with the hub's clock and the station's clock
//! offset, and kept as the station's latest report and in a short history.

use serde::{Deserialize, Serialize};

use super::store::{HubStore, StoreError};
use expo_sync::heartbeat::{Heartbeat, HeartbeatAck};

/// A heartbeat as the hub keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationReport {
    /// The station's clock minus the hub's when it arrived, in ms.
    pub clock_offset_ms: i64,
    pub heartbeat: Heartbeat,
}

impl StationReport {
    pub fn parse(json: &str) -> Result<Self, StoreError> {
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("heartbeat: {e}")))
    }
}

/// Keeps a checked heartbeat of `station`, received at `now_ms` by the hub's clock.
pub async fn receive<S: HubStore>(
    store: &S,
    station: &str,
    heartbeat: Heartbeat,
    now_ms: u64,
) -> Result<HeartbeatAck, StoreError> {
    let clock_offset_ms = i64::try_from(heartbeat.sent_at_ms)
        .unwrap_or(i64::MAX)
        .saturating_sub(i64::try_from(now_ms).unwrap_or(i64::MAX));
    let report = StationReport { clock_offset_ms, heartbeat };
    let json = serde_json::to_string(&report).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store.record_heartbeat(station, i64::try_from(now_ms).unwrap_or(i64::MAX), json).await?;
    Ok(HeartbeatAck { clock_offset_ms })
}
