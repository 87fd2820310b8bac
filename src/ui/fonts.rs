//! The embedded CJK font, so the app shows Chinese on a machine with no fonts installed.

pub use crate::assets::cjk_font;
use eframe::egui::{self, epaint::text::FontPriority, FontData, FontFamily};

/// Adds the CJK font to both families, after egui's own fonts so Latin text keeps them.
pub fn install(ctx: &egui::Context) {
    let families = [FontFamily::Proportional, FontFamily::Monospace]
        .into_iter()
        .map(|family| egui::epaint::text::InsertFontFamily {
            family,
            priority: FontPriority::Lowest,
        })
        .collect();
    ctx.add_font(egui::epaint::text::FontInsert {
        name: "wqy-microhei".into(),
        data: FontData::from_static(cjk_font()),
        families,
    });
}
