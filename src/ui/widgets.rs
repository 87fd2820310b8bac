//! Small building blocks shared by the screens: labelled inputs (so screen readers and the
//! tests find every field by its label) and the notice line.

use eframe::egui::{self, Color32, RichText};
use expo_hardware::demo::DemoDevices;

use super::i18n::{Lang, Txt};
use super::station::Failure;

/// A one-line text field tied to its label for accessibility; returns the field's response.
pub fn labelled_text(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut String,
    password: bool,
) -> egui::Response {
    let label = ui.label(label);
    let field = egui::TextEdit::singleline(value).password(password).desired_width(260.0);
    ui.add(field).labelled_by(label.id)
}

/// The demo panel's ID-card buttons (desk and kiosk): a new visitor's card or 张三丰's on
/// the simulated reader, or the card taken away.
pub fn demo_card_buttons(ui: &mut egui::Ui, lang: Lang, simulators: &DemoDevices) {
    if ui.button(Txt::TapNewCard.get(lang)).clicked() {
        simulators.tap_card(super::devices::new_visitor_card());
    }
    if ui.button(Txt::TapSampleCard.get(lang)).clicked() {
        simulators.tap_card(expo_hardware::idcard::sample_resident_card());
    }
    if ui.button(Txt::RemoveCard.get(lang)).clicked() {
        simulators.remove_card();
    }
}

/// Red text under a field, when it has an error.
pub fn field_error(ui: &mut egui::Ui, error: Option<&str>) {
    if let Some(error) = error {
        ui.label(RichText::new(error).color(Color32::from_rgb(230, 80, 70)));
    }
}

/// A message for the operator: what just happened, good or bad.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub ok: bool,
    pub text: String,
}

impl Notice {
    pub fn ok(text: impl Into<String>) -> Self {
        Self { ok: true, text: text.into() }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Self { ok: false, text: text.into() }
    }

    pub fn failure(lang: Lang, failure: &Failure) -> Self {
        Self::error(failure_text(lang, failure))
    }

    pub fn show(&self, ui: &mut egui::Ui) {
        let colour =
            if self.ok { Color32::from_rgb(60, 170, 90) } else { Color32::from_rgb(230, 80, 70) };
        let icon = if self.ok { "✔" } else { "!" };
        ui.label(RichText::new(format!("{icon} {}", self.text)).color(colour).strong());
    }
}

/// A failure in the operator's words, with the library's detail where it helps.
pub fn failure_text(lang: Lang, failure: &Failure) -> String {
    match failure {
        Failure::BadLogin => Txt::BadLogin.get(lang).into(),
        Failure::LockedOut { seconds } => format!("{} ({seconds} s)", Txt::LockedOut.get(lang)),
        Failure::Forbidden(_) | Failure::NoOperator => Txt::NotAllowed.get(lang).into(),
        Failure::NotFound => Txt::NotFound.get(lang).into(),
        Failure::Revoked(reason) => format!("{}: {reason}", Txt::BadgeRevoked.get(lang)),
        Failure::Invalid(_) => Txt::FixErrors.get(lang).into(),
        Failure::Duplicate(detail) => format!("{}: {detail}", Txt::Duplicate.get(lang)),
        Failure::InvalidBadge(reason) => format!("{} ({reason})", Txt::InvalidBadge.get(lang)),
        Failure::Printing(detail) => format!("{}: {detail}", Txt::PrintFailed.get(lang)),
        Failure::Refused(why) => why.get(lang).into(),
        Failure::Other(detail) => format!("{}: {detail}", Txt::Failed.get(lang)),
    }
}
