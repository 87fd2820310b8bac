//! The kiosk's step icons, drawn with shapes so they look the same on every machine and need
//! no icon font: a visitor who reads neither language still sees what each screen wants.

use eframe::egui::{self, Color32, Pos2, Rect, Stroke, StrokeKind};

/// One picture per kind of kiosk screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icon {
    /// Welcome: a waving hand is hard to draw; a badge on its lanyard says "get your badge".
    Badge,
    /// Scan a QR code or place an ID card: a QR code beside a card.
    ScanOrCard,
    /// Confirm your details: a card with a person on it.
    Person,
    /// Register: a person with a plus.
    NewPerson,
    /// Printing: a printer with a sheet coming out.
    Printer,
    /// Done: a tick in a circle.
    Done,
    /// See the desk: a warning triangle.
    Warning,
}

const INK: Color32 = Color32::from_rgb(235, 235, 235);
const ACCENT: Color32 = Color32::from_rgb(70, 160, 240);
const GOOD: Color32 = Color32::from_rgb(60, 170, 90);
const BAD: Color32 = Color32::from_rgb(240, 170, 40);

/// Draws `icon` in a `size`-point square, centred in the line.
pub fn show(ui: &mut egui::Ui, icon: Icon, size: f32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(size, size), egui::Sense::hover());
    if !ui.is_rect_visible(rect) {
        return;
    }
    let painter = ui.painter_at(rect.expand(2.0));
    let s = size / 100.0;
    // Coordinates below are on a 100 × 100 grid.
    let at = |x: f32, y: f32| Pos2::new(rect.left() + x * s, rect.top() + y * s);
    let rect_at = |x0: f32, y0: f32, x1: f32, y1: f32| Rect::from_two_pos(at(x0, y0), at(x1, y1));
    let line = Stroke::new(5.0 * s, INK);
    let accent = Stroke::new(5.0 * s, ACCENT);
    match icon {
        Icon::Badge => {
            painter.line_segment([at(35.0, 5.0), at(50.0, 25.0)], accent);
            painter.line_segment([at(65.0, 5.0), at(50.0, 25.0)], accent);
            painter.rect_stroke(rect_at(25.0, 25.0, 75.0, 95.0), 6.0 * s, line, StrokeKind::Middle);
            painter.rect_filled(rect_at(25.0, 25.0, 75.0, 40.0), 4.0 * s, ACCENT);
            painter.circle_stroke(at(50.0, 58.0), 9.0 * s, line);
            painter.line_segment([at(36.0, 82.0), at(64.0, 82.0)], line);
        }
        Icon::ScanOrCard => {
            // A QR code: three finder squares and a few modules.
            for (x, y) in [(5.0, 15.0), (33.0, 15.0), (5.0, 43.0)] {
                painter.rect_stroke(
                    rect_at(x, y, x + 17.0, y + 17.0),
                    1.0,
                    Stroke::new(4.0 * s, INK),
                    StrokeKind::Inside,
                );
                painter.rect_filled(rect_at(x + 6.0, y + 6.0, x + 11.0, y + 11.0), 0.0, INK);
            }
            for (x, y) in [(36.0, 46.0), (44.0, 52.0), (36.0, 56.0), (28.0, 36.0)] {
                painter.rect_filled(rect_at(x, y, x + 6.0, y + 6.0), 0.0, INK);
            }
            // An ID card.
            painter.rect_stroke(
                rect_at(55.0, 40.0, 97.0, 85.0),
                5.0 * s,
                accent,
                StrokeKind::Middle,
            );
            painter.circle_stroke(at(68.0, 57.0), 6.0 * s, accent);
            painter.line_segment([at(80.0, 53.0), at(91.0, 53.0)], accent);
            painter.line_segment([at(80.0, 63.0), at(91.0, 63.0)], accent);
            painter.line_segment([at(61.0, 75.0), at(91.0, 75.0)], accent);
        }
        Icon::Person | Icon::NewPerson => {
            painter.circle_stroke(at(40.0, 32.0), 16.0 * s, line);
            let shoulders = egui::epaint::PathShape::line(
                vec![
                    at(12.0, 88.0),
                    at(18.0, 62.0),
                    at(40.0, 54.0),
                    at(62.0, 62.0),
                    at(68.0, 88.0),
                ],
                line,
            );
            painter.add(shoulders);
            if icon == Icon::NewPerson {
                painter.line_segment([at(84.0, 30.0), at(84.0, 62.0)], accent);
                painter.line_segment([at(68.0, 46.0), at(100.0, 46.0)], accent);
            } else {
                painter.rect_stroke(
                    rect_at(2.0, 8.0, 98.0, 95.0),
                    6.0 * s,
                    accent,
                    StrokeKind::Middle,
                );
            }
        }
        Icon::Printer => {
            painter.rect_stroke(rect_at(30.0, 8.0, 70.0, 35.0), 2.0, line, StrokeKind::Middle);
            painter.rect_stroke(rect_at(10.0, 35.0, 90.0, 70.0), 6.0 * s, line, StrokeKind::Middle);
            painter.rect_filled(rect_at(30.0, 58.0, 70.0, 95.0), 2.0, ACCENT);
            painter.circle_filled(at(78.0, 45.0), 3.5 * s, INK);
        }
        Icon::Done => {
            painter.circle_stroke(at(50.0, 50.0), 44.0 * s, Stroke::new(6.0 * s, GOOD));
            let tick = egui::epaint::PathShape::line(
                vec![at(28.0, 52.0), at(44.0, 68.0), at(74.0, 34.0)],
                Stroke::new(8.0 * s, GOOD),
            );
            painter.add(tick);
        }
        Icon::Warning => {
            let triangle = egui::epaint::PathShape::closed_line(
                vec![at(50.0, 6.0), at(96.0, 90.0), at(4.0, 90.0)],
                Stroke::new(6.0 * s, BAD),
            );
            painter.add(triangle);
            painter.line_segment([at(50.0, 35.0), at(50.0, 62.0)], Stroke::new(8.0 * s, BAD));
            painter.circle_filled(at(50.0, 76.0), 5.0 * s, BAD);
        }
    }
}
