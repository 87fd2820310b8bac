//! The station's print queue as the desk sees it: what waits to go out, what failed and
//! why, and "retry the failed jobs" once the printer is back. Opened from the status bar.

use eframe::egui::{self, RichText};

use super::i18n::{Lang, Txt};
use super::station::{Request, StationHandle};
use super::widgets::field_error;
use crate::badges::queue::{JobStatus, PrintJobView};

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

    pub fn show(&mut self, ctx: &egui::Context, lang: Lang, station: &StationHandle) {
        let mut open = self.open;
        egui::Window::new(Txt::PrintQueue.get(lang))
            .open(&mut open)
            .default_width(760.0)
            .collapsible(false)
            .show(ctx, |ui| {
                let failed = self.jobs.iter().filter(|j| j.status == JobStatus::Failed).count();
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
                    egui::Grid::new("print-jobs").striped(true).num_columns(5).show(ui, |ui| {
                        for heading in
                            [Txt::Name, Txt::Badge, Txt::Printer, Txt::JobStatus, Txt::Attempts]
                        {
                            ui.label(RichText::new(heading.get(lang)).strong());
                        }
                        ui.end_row();
                        for job in &self.jobs {
                            ui.label(&job.attendee_name);
                            ui.label(job.badge_serial.to_string());
                            ui.label(&job.printer);
                            ui.vertical(|ui| {
                                ui.label(status_text(job).get(lang));
                                field_error(ui, job.last_error.as_deref());
                            });
                            ui.label(job.attempts.to_string());
                            ui.end_row();
                        }
                    });
                });
            });
        if !open {
            self.close();
        }
    }
}

fn status_text(job: &PrintJobView) -> Txt {
    match job.status {
        JobStatus::Queued if job.attempts > 0 => Txt::PrintRetrying,
        JobStatus::Queued => Txt::JobQueued,
        JobStatus::Sending => Txt::JobSending,
        JobStatus::Sent => Txt::JobSent,
        JobStatus::Printed => Txt::Printed,
        JobStatus::Failed => Txt::PrintFailed,
    }
}
