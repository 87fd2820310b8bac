//! Who acts at the station, and the status bar's figures: login, kiosk, logout, status,
//! and the background sync whose state the status bar shows.

use chrono::TimeZone;
use expo_sync::heartbeat::StationMode;
use expo_sync::station::{SyncWorker, WorkerOptions};

use super::{Failure, Response, StatusSnapshot, SyncState, Worker};
use crate::badges::queue;
use crate::heartbeat::DeviceBoard;
use crate::operators::{self, Operator};
use crate::registration;
use crate::station_sync;
use crate::store;

/// The background sync with the hub, on its own thread and store connection, when the
/// station is enrolled.
pub(super) enum Sync {
    Running(SyncWorker),
    NotEnrolled,
    Unavailable(String),
}

impl Sync {
    pub(super) fn start(data_dir: &std::path::Path, devices: DeviceBoard) -> Sync {
        let options = WorkerOptions::default();
        match station_sync::start_background_sync(data_dir, options, StationMode::App, devices) {
            Ok(Some(worker)) => Sync::Running(worker),
            Ok(None) => Sync::NotEnrolled,
            Err(error) => {
                tracing::error!(%error, "cannot start the background sync");
                Sync::Unavailable(error.to_string())
            }
        }
    }

    fn state(&self, timezone: chrono_tz::Tz) -> SyncState {
        match self {
            Sync::NotEnrolled => SyncState::NotEnrolled,
            Sync::Unavailable(reason) => SyncState::Unavailable(reason.clone()),
            Sync::Running(worker) => {
                let status = worker.status();
                SyncState::Enrolled {
                    last_success: status.last_success.map(|at| {
                        chrono::DateTime::<chrono::Utc>::from(at)
                            .with_timezone(&timezone)
                            .format("%H:%M:%S")
                            .to_string()
                    }),
                    last_error: status.last_error,
                }
            }
        }
    }
}

impl Worker {
    pub(super) fn login(&mut self, name: &str, pin: &str) -> Result<Response, Failure> {
        let operator = operators::login(&mut self.store, name.trim(), pin)?;
        self.operator = Some(operator.clone());
        Ok(Response::LoggedIn(operator))
    }

    pub(super) fn start_kiosk(&mut self) -> Response {
        let operator = Operator::kiosk(self.store.station_id());
        self.operator = Some(operator.clone());
        Response::LoggedIn(operator)
    }

    pub(super) fn logout(&mut self) -> Result<Response, Failure> {
        self.operator = None;
        self.card_read = None;
        Ok(Response::Status(self.status()?))
    }

    pub(super) fn status(&self) -> Result<StatusSnapshot, Failure> {
        let since = self.venue_midnight_utc()?;
        let registered_today = self
            .store
            .conn()
            .query_row(
                "SELECT count(*) FROM audit WHERE action = 'register' AND at >= ?1",
                [&since],
                |r| r.get(0),
            )
            .map_err(|e| Failure::unavailable(e.to_string()))?;
        let print_jobs = queue::counts(self.store.conn(), &since)?;
        Ok(StatusSnapshot {
            printer: self.printing.printer().map(str::to_owned),
            print_jobs,
            sync: self.sync.state(self.store.event()?.definition.timezone()),
            pending_sync: self.store.pending_outbox_count()?,
            registered_today,
            printed_today: print_jobs.sent_since,
        })
    }

    /// The start of the venue's today, as the audit log's UTC timestamps write it.
    fn venue_midnight_utc(&self) -> Result<String, Failure> {
        let tz = self.store.event()?.definition.timezone();
        let today = registration::venue_today(&self.store)?;
        let midnight =
            today.and_hms_opt(0, 0, 0).and_then(|t| tz.from_local_datetime(&t).earliest());
        Ok(midnight.map(|t| store::format_time(t.with_timezone(&chrono::Utc))).unwrap_or_default())
    }
}
