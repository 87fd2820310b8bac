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
use super::widgets::venue_time;
use super::UiError;
use crate::credential::TOKEN_PREFIX;
use crate::gate::{Clock, GateConfig, LaneVerdict};
use crate::station::{Failure, Request, Response};
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
    shown: Vec<(Lane, Option<(LaneVerdict, Instant)>)>,
}

/// A lane as its screen names it: by its zone (what a visitor reads), with its id for staff.
struct Lane {
    id: String,
    zone_zh: String,
    zone_en: String,
}

impl Lane {
    fn title(&self, lang: Lang) -> String {
        format!("{} · {}", lang.pick(&self.zone_zh, &self.zone_en), self.id)
    }
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
    pub fn with_lanes(
        data_dir: &Path,
        config: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, UiError> {
        let failed =
            |e: &dyn std::fmt::Display| UiError::Gate(format!("{}: {e}", config.display()));
        let store = Store::open(data_dir).map_err(|e| failed(&e))?;
        let text = std::fs::read_to_string(config).map_err(|e| failed(&e))?;
        let definition = &store.event().map_err(|e| failed(&e))?.definition;
        let config_parsed = GateConfig::from_toml(&text, definition).map_err(|e| failed(&e))?;
        let shown = config_parsed
            .lanes
            .iter()
            .map(|lane| {
                let zone = definition.zones.iter().find(|zone| zone.id == lane.zone);
                let lane = Lane {
                    id: lane.id.clone(),
                    zone_zh: zone.map_or_else(|| lane.zone.clone(), |zone| zone.name.clone()),
                    zone_en: zone.map(|zone| zone.name_en.clone()).unwrap_or_default(),
                };
                (lane, None)
            })
            .collect();
        let gate = crate::gate::Gate::start(store, config_parsed, clock).map_err(|e| failed(&e))?;
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
            Response::BadgeRefused { reason, .. } => {
                Some(Verdict::Invalid(Failure::InvalidBadge(reason).reason_code()))
            }
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
        let pass = self.verdict.as_ref().map(|v| matches!(v, Verdict::Valid { .. }));
        let screen = verdict_frame(pass).corner_radius(0.0).inner_margin(24.0);
        egui::CentralPanel::default().frame(screen).show(ui, |ui| {
            if pass.is_some() {
                ui.visuals_mut().override_text_color = Some(Color32::WHITE);
            }
            ui.vertical_centered(|ui| {
                ui.add_space(60.0);
                match &self.verdict {
                    None => ui.label(RichText::new(Txt::GateScanHint.get(lang)).size(36.0)),
                    Some(Verdict::Valid { name, category }) => {
                        ui.label(
                            RichText::new(format!("✔ {}", Txt::GateValid.get(lang)))
                                .size(72.0)
                                .strong(),
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
                                .size(72.0)
                                .strong(),
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
            if let Some((_, shown)) =
                self.shown.iter_mut().find(|(lane, _)| lane.id == verdict.lane)
            {
                *shown = Some((verdict, Instant::now()));
            }
        }
        for (_, shown) in &mut self.shown {
            if shown.as_ref().is_some_and(|(_, at)| at.elapsed() > VERDICT_SHOWN) {
                *shown = None;
            }
        }
        egui::CentralPanel::default().show(ui, |ui| {
            let lanes = self.shown.len().max(1) as f32;
            let width = (ui.available_width() - 12.0 * (lanes - 1.0)) / lanes;
            let height = ui.available_height();
            ui.horizontal_top(|ui| {
                for (lane, shown) in &self.shown {
                    let verdict = shown.as_ref().map(|(v, _)| v);
                    verdict_frame(verdict.map(LaneVerdict::is_pass)).show(ui, |ui| {
                        ui.set_width(width - 24.0);
                        ui.set_min_height(height - 24.0);
                        ui.vertical_centered(|ui| {
                            lane_panel(ui, shell, lane, verdict);
                        });
                    });
                }
            });
        });
    }
}

const PASS: Color32 = Color32::from_rgb(40, 140, 70);
const STOP: Color32 = Color32::from_rgb(200, 50, 45);

/// The area a verdict fills in its colour, read from two metres away; none while waiting.
fn verdict_frame(pass: Option<bool>) -> egui::Frame {
    let fill = match pass {
        Some(true) => PASS,
        Some(false) => STOP,
        None => Color32::TRANSPARENT,
    };
    egui::Frame::new().fill(fill).inner_margin(12.0).corner_radius(8.0)
}

/// One lane: waiting for a badge, or the last verdict in large type on its colour.
fn lane_panel(ui: &mut egui::Ui, shell: &Shell<'_>, lane: &Lane, verdict: Option<&LaneVerdict>) {
    let lang = shell.lang;
    ui.label(RichText::new(lane.title(lang)).size(24.0).strong());
    ui.add_space(40.0);
    let Some(verdict) = verdict else {
        ui.label(RichText::new(Txt::GateScanHint.get(lang)).size(36.0));
        return;
    };
    ui.visuals_mut().override_text_color = Some(Color32::WHITE);
    let mark = if verdict.is_pass() { "✔" } else { "✘" };
    // Both languages at once: the person at the turnstile may read either.
    ui.label(RichText::new(format!("{mark} {}", verdict.message_zh)).size(72.0).strong());
    ui.label(RichText::new(verdict.message_en).size(48.0).strong());
    if let Some(entered) = &verdict.entered {
        // "Already inside": since when, and through which lane.
        let time = venue_time(&entered.at, shell.info.timezone);
        let clock = time.split(' ').nth(1).unwrap_or(&time);
        ui.label(
            RichText::new(format!(
                "{} {clock} · {} {}",
                Txt::GateInsideSince.get(lang),
                Txt::GateThroughLane.get(lang),
                entered.lane
            ))
            .size(32.0),
        );
    }
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
