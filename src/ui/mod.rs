//! The eframe/egui desktop app: desk, kiosk, gate and admin screens.
