//! The station's print queue as the desk sees it: what waits to go out, what failed and
//! why, and "retry the failed jobs" once the printer is back. Opened from the status bar.

use eframe::egui::{self, RichText};

use super::error_text::job_error;
use super::i18n::{Lang, Txt};
use super::widgets::{field_error, venue_time};
use crate::badges::queue::{JobStatus, PrintJobView};
use crate::station::{Request, StationHandle};

#[derive(Default)]
pub struct PrintQueueWindow {
    open: bool,
    jobs: Vec<PrintJobView>,
}

impl PrintQueueWindow {
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Opens the window and asks the station for the jobs.
    pub fn open(&mut self, station: &StationHandle) {
        self.open = true;
        station.send(Request::PrintQueue);
    }

    /// Closes the window and forgets the jobs (the next operator asks again).
    pub fn close(&mut self) {
        *self = Self::default();
    }

    pub fn on_jobs(&mut self, jobs: Vec<PrintJobView>) {
        self.jobs = jobs;
    }

    /// The jobs shown, newest first.
    pub fn jobs(&self) -> &[PrintJobView] {
        &self.jobs
    }

    /// `timezone` is the venue's: when each job was asked for and last changed, as the
    /// venue's clock reads.
    pub fn show(
        &mut self,
        ctx: &egui::Context,
        lang: Lang,
        timezone: chrono_tz::Tz,
        station: &StationHandle,
    ) {
        let mut open = self.open;
        egui::Window::new(Txt::PrintQueue.get(lang))
            .open(&mut open)
            .default_width(940.0)
            .collapsible(false)
            .show(ctx, |ui| {
                let failed = self.jobs.iter().filter(|j| j.needs_retry()).count();
                ui.horizontal(|ui| {
                    let retry = ui.add_enabled(
                        failed > 0,
                        egui::Button::new(format!("{} ({failed})", Txt::RetryFailed.get(lang))),
                    );
                    if retry.clicked() {
                        station.send(Request::RetryFailedPrints);
                    }
                    if ui.button(Txt::Refresh.get(lang)).clicked() {
                        station.send(Request::PrintQueue);
                    }
                });
                ui.separator();
                if self.jobs.is_empty() {
                    ui.label(Txt::NoPrintJobs.get(lang));
                    return;
                }
                egui::ScrollArea::vertical().max_height(420.0).show(ui, |ui| {
                    let headings = [
                        Txt::Name,
                        Txt::Badge,
                        Txt::Printer,
                        Txt::JobStatus,
                        Txt::Attempts,
                        Txt::JobRequestedAt,
                        Txt::JobUpdatedAt,
                    ]
                    .map(|heading| RichText::new(heading.get(lang)).strong());
                    row(ui, headings);
                    for job in &self.jobs {
                        ui.separator();
                        row(
                            ui,
                            [
                                job.attendee_name.as_str(),
                                &job.badge_serial.to_string(),
                                &job.printer,
                                status_text(job).get(lang),
                                &job.attempts.to_string(),
                                &venue_time(&job.created_at, timezone),
                                &venue_time(&job.updated_at, timezone),
                            ]
                            .map(RichText::new),
                        );
                        // Why it failed, on its own line so it reads whole.
                        let error = job.last_error.as_ref().map(|error| job_error(error, lang));
                        field_error(ui, error.as_deref());
                    }
                });
            });
        if !open {
            self.close();
        }
    }
}

/// Widths of the columns: name, serial, printer, state, attempts, asked for, last change.
const COLUMNS: [f32; 7] = [160.0, 40.0, 140.0, 130.0, 50.0, 150.0, 150.0];

fn row(ui: &mut egui::Ui, cells: [RichText; 7]) {
    ui.horizontal(|ui| {
        for (cell, width) in cells.into_iter().zip(COLUMNS) {
            ui.add_sized([width, 18.0], egui::Label::new(cell).truncate());
        }
    });
}

fn status_text(job: &PrintJobView) -> Txt {
    match job.status {
        JobStatus::Queued if job.attempts > 0 => Txt::PrintRetrying,
        JobStatus::Queued => Txt::JobQueued,
        JobStatus::Sending => Txt::JobSending,
        JobStatus::Sent => Txt::JobSent,
        JobStatus::Printed => Txt::Printed,
        JobStatus::Failed if !job.badge_active => Txt::JobBadgeReplaced,
        JobStatus::Failed => Txt::PrintFailed,
    }
}
