//! The figures a station reports in its heartbeat (`expo_sync::heartbeat`), read from its
//! own database on the sync thread: the print queue's waiting and failed jobs, and each
//! gate lane's scans and denials over the last minute. Devices are reported by whoever
//! drives them (the desktop app's `ui::devices`), through a shared [`DeviceBoard`].

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::Utc;
use expo_sync::heartbeat::{
    DeviceReport, Figures, LaneReport, PrinterReport, PrinterState, StationFigures, StationMode,
};
use rusqlite::params;

use crate::badges::printer::PrinterConfig;
use crate::store::{format_time, Store, StoreError};

/// The devices a station drives, as their drivers last saw them.
#[derive(Clone, Debug, Default)]
pub struct DeviceBoard(Arc<Mutex<Vec<DeviceReport>>>);

impl DeviceBoard {
    /// Replaces what the board shows.
    pub fn show(&self, devices: Vec<DeviceReport>) {
        let mut shown = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if *shown != devices {
            *shown = devices;
        }
    }

    fn devices(&self) -> Vec<DeviceReport> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// A station's heartbeat figures over its own store connection.
pub struct StoreFigures {
    store: Store,
    mode: StationMode,
    has_printer: bool,
    devices: DeviceBoard,
}

impl StoreFigures {
    pub fn open(
        data_dir: &Path,
        mode: StationMode,
        devices: DeviceBoard,
    ) -> Result<Self, StoreError> {
        // A station without `printers.toml`, or with one that names no default, prints nothing.
        let has_printer =
            PrinterConfig::load(data_dir).map(|config| config.default.is_some()).unwrap_or(false);
        Ok(Self { store: Store::open(data_dir)?, mode, has_printer, devices })
    }

    fn printer(&self) -> Result<Option<PrinterReport>, rusqlite::Error> {
        if !self.has_printer {
            return Ok(None);
        }
        let (waiting, failed): (u32, u32) = self.store.conn().query_row(
            "SELECT COALESCE(SUM(status IN ('queued', 'sending')), 0),
                    COALESCE(SUM(status = 'failed'), 0)
             FROM print_jobs WHERE status IN ('queued', 'sending', 'failed')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let state = if failed > 0 { PrinterState::Failing } else { PrinterState::Ready };
        Ok(Some(PrinterReport { state, waiting, failed }))
    }

    fn lanes(&self) -> Result<Vec<LaneReport>, rusqlite::Error> {
        let since = format_time(Utc::now() - chrono::Duration::minutes(1));
        let mut query = self.store.conn().prepare_cached(
            "SELECT gate || '/' || lane, COUNT(*), COALESCE(SUM(granted = 0), 0)
             FROM gate_decisions WHERE at >= ?1 AND station = ?2
             GROUP BY gate, lane ORDER BY gate, lane",
        )?;
        // Other gates' decisions arrive by sync: only this station's lanes are its own.
        let rows = query.query_map(params![since, self.store.station_id()], |r| {
            Ok(LaneReport {
                lane: r.get(0)?,
                scans_per_minute: r.get(1)?,
                denied_per_minute: r.get(2)?,
            })
        })?;
        rows.collect()
    }
}

impl StationFigures for StoreFigures {
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }

    fn mode(&self) -> StationMode {
        self.mode
    }

    fn figures(&self) -> Figures {
        let or_log = |what: &str, error: rusqlite::Error| {
            tracing::warn!(%error, "cannot read the {what} for the heartbeat");
        };
        Figures {
            printer: self.printer().unwrap_or_else(|e| {
                or_log("print queue", e);
                None
            }),
            devices: self.devices.devices(),
            lanes: self.lanes().unwrap_or_else(|e| {
                or_log("gate lanes", e);
                Vec::new()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::store_with_event;

    #[test]
    fn lanes_count_this_stations_last_minute_and_a_failed_job_marks_the_printer_failing() {
        let (dir, store) = store_with_event();
        std::fs::write(
            dir.path().join("printers.toml"),
            "default = \"desk\"\n[[printer]]\nname = \"desk\"\nkind = \"none\"\n",
        )
        .unwrap();
        let now = Utc::now();
        let decide =
            |id: &str, lane: &str, granted: bool, at: chrono::DateTime<Utc>, station: &str| {
                store
                .conn()
                .execute(
                    "INSERT INTO gate_decisions (id, gate, lane, zone, direction, granted, reason,
                                                 at, station)
                     VALUES (?1, 'north', ?2, 'hall', 'in', ?3, 'x', ?4, ?5)",
                    params![id, lane, granted, format_time(at), station],
                )
                .unwrap();
            };
        let me = store.station_id().to_owned();
        decide("a", "1", false, now, &me);
        decide("b", "1", false, now, &me);
        decide("c", "1", true, now, &me);
        decide("d", "1", false, now - chrono::Duration::minutes(5), &me);
        decide("e", "2", false, now, "another-gate");
        for (id, status) in [("j1", "queued"), ("j2", "failed"), ("j3", "printed")] {
            store
                .conn()
                .execute(
                    "INSERT INTO print_jobs (id, attendee_id, badge_serial, printer, status,
                                             requested_by, created_at, updated_at)
                     VALUES (?1, 'x', 1, 'desk', ?2, 'op', '', '')",
                    params![id, status],
                )
                .unwrap();
        }
        let board = DeviceBoard::default();
        let figures = StoreFigures::open(dir.path(), StationMode::App, board.clone()).unwrap();
        board.show(vec![DeviceReport {
            kind: expo_sync::heartbeat::DeviceKind::Scanner,
            name: "scanner".into(),
            connected: false,
        }]);
        let got = figures.figures();
        assert_eq!(
            got.lanes,
            vec![LaneReport { lane: "north/1".into(), scans_per_minute: 3, denied_per_minute: 2 }]
        );
        assert_eq!(
            got.printer,
            Some(PrinterReport { state: PrinterState::Failing, waiting: 1, failed: 1 })
        );
        assert!(!got.devices[0].connected);
    }
}
