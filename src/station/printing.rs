//! Badges on paper: printing and reprinting, the print queue, and a test print.

use super::{Failure, Response, Worker};
use crate::badges::queue::{self, PrintWorker, WorkerUpdate};
use crate::badges::{PrintProblem, PrinterConfig, Template};
use crate::domain::AttendeeId;
use crate::operators::Permission;
use crate::registration::badge;
use crate::station::device_settings::DeviceSettings;

/// Jobs the print-queue window lists: a morning's worth at one desk.
const PRINT_QUEUE_ROWS: usize = 100;

/// The station's badge printer, when `printers.toml` names a default one, with the print
/// queue's worker thread that sends the jobs and reports on them.
pub(super) enum Printing {
    Ready {
        printer: String,
        worker: PrintWorker,
    },
    /// Why nothing can be printed here, for the operator who tries.
    Unavailable(String),
}

impl Printing {
    pub(super) fn start(data_dir: &std::path::Path) -> Printing {
        // The printer picked in the admin's Devices tab, else `printers.toml`'s default.
        let chosen = match DeviceSettings::load(data_dir) {
            Ok(devices) => devices.printer,
            Err(reason) => return Printing::Unavailable(reason),
        };
        let started = PrinterConfig::load(data_dir).and_then(|config| {
            let printer = config.resolve(chosen.as_deref())?.name;
            Ok(Printing::Ready { printer, worker: PrintWorker::spawn(data_dir.to_owned(), config) })
        });
        started.unwrap_or_else(|error| Printing::Unavailable(error.to_string()))
    }

    pub(super) fn printer(&self) -> Option<&str> {
        match self {
            Printing::Ready { printer, .. } => Some(printer),
            Printing::Unavailable(_) => None,
        }
    }
}

impl Worker {
    /// Passes on what the print queue's worker reported since the last look; false once
    /// the UI has gone.
    pub(super) fn report_printing(&self, reply: &impl Fn(Response) -> bool) -> bool {
        let Printing::Ready { worker, .. } = &self.printing else { return true };
        for update in worker.updates().try_iter() {
            let response = match update {
                WorkerUpdate::Job(job) => Response::PrintJob(job),
                WorkerUpdate::Error(detail) => {
                    Response::Failed(Failure::Printing(PrintProblem::QueueUnavailable { detail }))
                }
            };
            if !reply(response) {
                return false;
            }
        }
        true
    }

    /// Queues the badge; with a reason, a reprint that supersedes the current badge.
    pub(super) fn print(
        &mut self,
        attendee: AttendeeId,
        reprint_reason: Option<&str>,
    ) -> Result<Response, Failure> {
        let needed = if reprint_reason.is_some() { Permission::Reprint } else { Permission::Print };
        let operator = self.operator(needed)?;
        let (printer, worker) = match &self.printing {
            Printing::Ready { printer, worker } => (printer, worker),
            Printing::Unavailable(reason) => {
                return Err(Failure::Printing(PrintProblem::QueueUnavailable {
                    detail: reason.clone(),
                }))
            }
        };
        let job = queue::enqueue(&mut self.store, &operator, attendee, reprint_reason, printer)?;
        worker.wake();
        // The badge the job prints is now the active one: this only signs its token.
        let badge = badge::active_badge(&self.store, attendee)?;
        Ok(Response::Printed {
            attendee: self.view(attendee)?,
            serial: badge.serial,
            token: badge.token,
            job,
        })
    }

    pub(super) fn print_queue(&self) -> Result<Response, Failure> {
        self.operator(Permission::Print)?;
        Ok(Response::PrintQueue(queue::jobs(self.store.conn(), PRINT_QUEUE_ROWS)?))
    }

    pub(super) fn retry_failed_prints(&mut self) -> Result<Response, Failure> {
        let operator = self.operator(Permission::Print)?;
        queue::retry_failed(&mut self.store, &operator)?;
        if let Printing::Ready { worker, .. } = &self.printing {
            worker.wake();
        }
        Ok(Response::PrintQueue(queue::jobs(self.store.conn(), PRINT_QUEUE_ROWS)?))
    }

    /// A test badge on this printer (`None`: `printers.toml`'s default).
    pub(super) fn test_print(&self, printer: Option<&str>) -> Result<Response, Failure> {
        self.operator(Permission::ManageEvent)?;
        let printer = PrinterConfig::load(self.store.data_dir())?.resolve(printer)?;
        let event = &self.store.event()?.definition.event;
        // The template the station's badges print on, as the print queue picks it.
        let template =
            Template::load(printer.template.as_deref().unwrap_or(&event.badge_template))?;
        Ok(Response::TestPrinted(printer.print_test_badge(&template, &event.name)?))
    }
}
