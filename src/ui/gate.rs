//! A gate lane's screen: the verdict on the last scanned badge, verified offline.

use eframe::egui::{self, Color32, RichText};

use super::app::Shell;
use super::desk::category_label;
use super::devices::DeviceInput;
use super::i18n::Txt;
use super::station::{Failure, Request, Response};
use crate::credential::TOKEN_PREFIX;

#[derive(Default)]
pub struct Gate {
    verdict: Option<Verdict>,
}

enum Verdict {
    Valid { name: String, category: String },
    Invalid(String),
}

impl Gate {
    pub fn on_response(&mut self, response: Response) {
        self.verdict = match response {
            Response::Opened(view) => {
                Some(Verdict::Valid { name: view.name, category: view.category })
            }
            Response::Failed(failure) => Some(Verdict::Invalid(failure.reason_code())),
            Response::NotFound { .. } => Some(Verdict::Invalid(Failure::NotFound.reason_code())),
            _ => return,
        };
    }

    pub fn show(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>, inputs: Vec<DeviceInput>) {
        let lang = shell.lang;
        for input in inputs {
            if let DeviceInput::Scan(code) = input {
                if code.starts_with(TOKEN_PREFIX) {
                    shell.station.send(Request::Scan(code));
                } else {
                    // Only a badge opens a gate; a registration code is for the desk.
                    self.verdict =
                        Some(Verdict::Invalid(Failure::InvalidBadge("malformed").reason_code()));
                }
            }
        }
        egui::CentralPanel::default().show(ui, |ui| {
            ui.vertical_centered(|ui| {
                ui.add_space(60.0);
                match &self.verdict {
                    None => ui.label(RichText::new(Txt::GateScanHint.get(lang)).size(36.0)),
                    Some(Verdict::Valid { name, category }) => {
                        ui.label(
                            RichText::new(format!("✔ {}", Txt::GateValid.get(lang)))
                                .size(48.0)
                                .color(Color32::from_rgb(60, 170, 90)),
                        );
                        ui.label(
                            RichText::new(format!(
                                "{name} · {}",
                                category_label(shell.info, lang, category)
                            ))
                            .size(30.0),
                        )
                    }
                    Some(Verdict::Invalid(code)) => {
                        ui.label(
                            RichText::new(format!("✘ {}", Txt::InvalidBadge.get(lang)))
                                .size(48.0)
                                .color(Color32::from_rgb(230, 80, 70)),
                        );
                        ui.label(
                            RichText::new(format!("{}: {code}", Txt::ReasonCode.get(lang)))
                                .size(26.0),
                        )
                    }
                };
            });
        });
    }
}
