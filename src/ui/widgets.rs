//! Small building blocks shared by the screens: labelled inputs (so screen readers and the
//! tests find every field by its label) and the notice line.

use eframe::egui::{self, Color32, RichText};
use expo_hardware::demo::DemoDevices;

use super::error_text::class_heading;
use super::i18n::{print_problem, refusal, Lang, Txt};
use crate::error_class::Classified;
use crate::station::{DuplicateOf, Failure};

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

/// The demo panel's ID-card buttons (desk and kiosk): a new visitor's card, 张三丰's or
/// SMITH JOHN ALEXANDER's (a foreign permanent residence card: both names) on the
/// simulated reader, or the card taken away.
pub fn demo_card_buttons(ui: &mut egui::Ui, lang: Lang, simulators: &DemoDevices) {
    if ui.button(Txt::TapNewCard.get(lang)).clicked() {
        simulators.tap_card(super::devices::new_visitor_card());
    }
    if ui.button(Txt::TapSampleCard.get(lang)).clicked() {
        simulators.tap_card(expo_hardware::idcard::sample_resident_card());
    }
    if ui.button(Txt::TapForeignCard.get(lang)).clicked() {
        simulators.tap_card(expo_hardware::idcard::sample_foreign_card());
    }
    if ui.button(Txt::RemoveCard.get(lang)).clicked() {
        simulators.remove_card();
    }
}

/// An edit made to a text field from outside it: keys a wedge detector held back, or a
/// kiosk's on-screen keypad.
pub enum Caret<'a> {
    Type(&'a str),
    Backspace,
}

/// Makes `edit` to the text of the `TextEdit` with `id` at its caret (replacing a selection)
/// and moves the caret after it, as the same keys typed into the field would.
pub fn edit_at_caret(ctx: &egui::Context, id: egui::Id, text: &mut String, edit: Caret<'_>) {
    use egui::text::{CCursor, CCursorRange};
    use egui::TextBuffer as _;
    let mut state = egui::TextEdit::load_state(ctx, id).unwrap_or_default();
    let end = CCursor::end_of_str(text);
    // A caret left past the end (the text was cleared) goes to the end.
    let clamp = |c: CCursor| CCursor::new(c.index.min(end.index));
    let range = state.cursor.char_range().map_or(CCursorRange::one(end), |range| {
        CCursorRange::two(clamp(range.primary), clamp(range.secondary))
    });
    let caret = match edit {
        Caret::Type(typed) => {
            let mut caret = text.delete_selected(&range);
            text.insert_text_at(&mut caret, typed, usize::MAX);
            caret
        }
        Caret::Backspace if range.is_empty() => text.delete_previous_char(range.primary),
        Caret::Backspace => text.delete_selected(&range),
    };
    state.cursor.set_char_range(Some(CCursorRange::one(caret)));
    state.store(ctx, id);
}

/// A stored UTC time (RFC 3339) as the venue's local time, `2026-05-12 09:30:05`, which is
/// what everyone at the venue reads on the wall clock. Anything else is shown as it is.
pub fn venue_time(at_utc: &str, timezone: chrono_tz::Tz) -> String {
    chrono::DateTime::parse_from_rfc3339(at_utc).map_or_else(
        |_| at_utc.to_owned(),
        |at| at.with_timezone(&timezone).format("%Y-%m-%d %H:%M:%S").to_string(),
    )
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

    /// A failure under the heading of its class, the class the CLI's exit code comes from.
    pub fn failure(lang: Lang, failure: &Failure) -> Self {
        let heading = class_heading(failure.class(), lang);
        Self::error(format!("{heading} · {}", failure_text(lang, failure)))
    }

    pub fn show(&self, ui: &mut egui::Ui) {
        let colour =
            if self.ok { Color32::from_rgb(60, 170, 90) } else { Color32::from_rgb(230, 80, 70) };
        let icon = if self.ok { "✔" } else { "!" };
        ui.label(RichText::new(format!("{icon} {}", self.text)).color(colour).strong());
    }
}

/// A failure of the system beneath (a device driver, the hub connection, a file) in
/// `lang`: its own words are English, so the Chinese screen names only what failed and
/// points to the station's log, which has the words.
pub fn system_failure(lang: Lang, what: Txt, detail: &str) -> String {
    match lang {
        Lang::En => format!("{}: {detail}", what.get(lang)),
        Lang::Zh => format!("{}: {}", what.get(lang), Txt::SeeStationLog.get(lang)),
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
        Failure::Duplicate(DuplicateOf::RegistrationCode(code)) => {
            format!("{}: {} {code}", Txt::Duplicate.get(lang), Txt::CodeTaken.get(lang))
        }
        Failure::Duplicate(DuplicateOf::IdDocument) => {
            format!("{}: {}", Txt::Duplicate.get(lang), Txt::IdDocumentTaken.get(lang))
        }
        Failure::InvalidBadge(reason) => format!("{} ({reason})", Txt::InvalidBadge.get(lang)),
        Failure::Printing(problem) => {
            format!("{}: {}", Txt::PrintFailed.get(lang), print_problem(problem, lang))
        }
        Failure::Refused(why) => refusal(*why).get(lang).into(),
        // The system's own words are English: the Chinese screen names the failure and its
        // code, and the station's log keeps the words.
        Failure::Other { detail, .. } => match lang {
            Lang::En => format!("{}: {detail}", Txt::Failed.get(lang)),
            Lang::Zh => format!("{} ({})", Txt::Failed.get(lang), failure.reason_code()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_utc_times_show_as_the_venues_wall_clock() {
        let shanghai = chrono_tz::Asia::Shanghai;
        assert_eq!(venue_time("2026-05-11T16:30:05.123Z", shanghai), "2026-05-12 00:30:05");
        assert_eq!(venue_time("2026-05-12T01:00:00+00:00", chrono_tz::UTC), "2026-05-12 01:00:00");
        assert_eq!(venue_time("not a time", shanghai), "not a time");
    }

    #[test]
    fn a_device_or_hub_failure_keeps_its_english_words_off_the_chinese_screen() {
        let detail = "timed out waiting for the reader's answer";
        assert_eq!(system_failure(Lang::Zh, Txt::IdReader, detail), "身份证阅读器: 详情见本站日志");
        assert!(system_failure(Lang::En, Txt::IdReader, detail).ends_with(detail));
    }

    #[test]
    fn a_failure_is_headed_by_its_class_and_no_system_english_reaches_the_chinese_screen() {
        let locked = Notice::failure(Lang::Zh, &Failure::BadLogin);
        assert!(locked.text.starts_with("已拒绝 · "), "{}", locked.text);
        let disk = Failure::unavailable("disk I/O error: database or disk is full");
        let zh = Notice::failure(Lang::Zh, &disk);
        assert_eq!(zh.text, "暂时无法完成 · 操作失败 (E-STATION)");
        let en = Notice::failure(Lang::En, &disk);
        assert_eq!(
            en.text,
            "Cannot be done now · Failed: disk I/O error: database or disk is full"
        );
        let image = Notice::failure(Lang::En, &Failure::invalid("PNG: image too large"));
        assert!(image.text.starts_with("Please correct · "), "{}", image.text);
    }

    #[test]
    fn a_refused_duplicate_says_what_is_taken_in_the_operators_language() {
        let code = Failure::Duplicate(DuplicateOf::RegistrationCode("R0042".into()));
        let id = Failure::Duplicate(DuplicateOf::IdDocument);
        assert_eq!(failure_text(Lang::Zh, &code), "重复登记: 已登记给另一位观众的注册码 R0042");
        assert_eq!(failure_text(Lang::Zh, &id), "重复登记: 此证件已登记给另一位观众");
        assert!(failure_text(Lang::En, &code).contains("already holds registration code R0042"));
        assert!(failure_text(Lang::En, &id).contains("ID document is already registered"));
    }
}
