//! The gate screen. With a gate config (`run --mode gate --gate-config GATE.toml`) the
//! lanes run inside the app, exactly as `expo-kiosk gate` runs them, and each lane shows
//! its last verdict full size: green or red, name, category and reason in both languages.
//! Without one, the screen verifies scanned badges offline.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui::{self, Color32, RichText};

use super::app::Shell;
use super::desk::category_label;
use super::devices::DeviceInput;
use super::i18n::Lang;
use super::i18n::Txt;
use super::station::{Failure, Request, Response};
use super::UiError;
use crate::credential::TOKEN_PREFIX;
use crate::gate::{GateConfig, LaneVerdict, SystemClock};
use crate::store::Store;

/// How long a lane shows a verdict before it asks for the next badge.
const VERDICT_SHOWN: Duration = Duration::from_secs(4);

#[derive(Default)]
pub struct Gate {
    verdict: Option<Verdict>,
    lanes: Option<LaneBoard>,
}

/// The running lanes and the last verdict of each.
struct LaneBoard {
    gate: crate::gate::Gate,
    shown: Vec<(String, Option<(LaneVerdict, Instant)>)>,
}

impl Drop for LaneBoard {
    fn drop(&mut self) {
        // Closing the window stops the lanes the orderly way: relays closed first.
        if !self.gate.stopper().stop() {
            tracing::warn!("the gate lanes had already stopped");
        }
    }
}

enum Verdict {
    Valid { name: String, category: String },
    Invalid(String),
}

impl Gate {
    /// Starts the lanes of `config` on this station's data.
    pub fn with_lanes(data_dir: &Path, config: &Path) -> Result<Self, UiError> {
        let failed =
            |e: &dyn std::fmt::Display| UiError::Gate(format!("{}: {e}", config.display()));
        let store = Store::open(data_dir).map_err(|e| failed(&e))?;
        let text = std::fs::read_to_string(config).map_err(|e| failed(&e))?;
        let definition = &store.event().map_err(|e| failed(&e))?.definition;
        let config_parsed = GateConfig::from_toml(&text, definition).map_err(|e| failed(&e))?;
        let shown = config_parsed.lanes.iter().map(|lane| (lane.id.clone(), None)).collect();
        let gate = crate::gate::Gate::start(store, config_parsed, Arc::new(SystemClock))
            .map_err(|e| failed(&e))?;
        Ok(Gate { verdict: None, lanes: Some(LaneBoard { gate, shown }) })
    }

    /// Whether lanes run in this app (the screen then needs frames for their verdicts).
    pub fn runs_lanes(&self) -> bool {
        self.lanes.is_some()
    }

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
        if let Some(board) = &mut self.lanes {
            board.show(ui, shell);
            return;
        }
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

impl LaneBoard {
    fn show(&mut self, ui: &mut egui::Ui, shell: &Shell<'_>) {
        while let Ok(verdict) = self.gate.verdicts().try_recv() {
            if let Some((_, shown)) = self.shown.iter_mut().find(|(lane, _)| *lane == verdict.lane)
            {
                *shown = Some((verdict, Instant::now()));
            }
        }
        for (_, shown) in &mut self.shown {
            if shown.as_ref().is_some_and(|(_, at)| at.elapsed() > VERDICT_SHOWN) {
                *shown = None;
            }
        }
        let lang = shell.lang;
        egui::CentralPanel::default().show(ui, |ui| {
            let lanes = self.shown.len().max(1) as f32;
            let width = (ui.available_width() - 12.0 * (lanes - 1.0)) / lanes;
            ui.horizontal_top(|ui| {
                for (lane, shown) in &self.shown {
                    ui.vertical_centered(|ui| {
                        ui.set_width(width);
                        lane_panel(ui, lang, lane, shown.as_ref().map(|(v, _)| v));
                    });
                }
            });
        });
    }
}

/// One lane: waiting for a badge, or the last verdict in large green or red.
fn lane_panel(ui: &mut egui::Ui, lang: Lang, lane: &str, verdict: Option<&LaneVerdict>) {
    ui.label(RichText::new(lane).size(20.0).strong());
    ui.add_space(40.0);
    let Some(verdict) = verdict else {
        ui.label(RichText::new(Txt::GateScanHint.get(lang)).size(36.0));
        return;
    };
    let (mark, colour) = if verdict.granted && !verdict.annulled {
        ("✔", Color32::from_rgb(60, 170, 90))
    } else {
        ("✘", Color32::from_rgb(230, 80, 70))
    };
    // Both languages at once: the person at the turnstile may read either.
    ui.label(RichText::new(format!("{mark} {}", verdict.message_zh)).size(56.0).color(colour));
    ui.label(RichText::new(verdict.message_en).size(40.0).color(colour));
    if let Some(name) = &verdict.name {
        ui.label(RichText::new(name).size(36.0));
    }
    let category = match (&verdict.category_zh, &verdict.category_en) {
        (Some(zh), Some(en)) => format!("{zh} · {en}"),
        _ => verdict.category.clone().unwrap_or_default(),
    };
    ui.label(RichText::new(category).size(26.0));
    if !verdict.granted {
        ui.label(
            RichText::new(format!("{}: {}", Txt::ReasonCode.get(lang), verdict.reason.as_str()))
                .size(20.0),
        );
    }
}
