//! The dashboard's figures and saving its exports.

use std::path::PathBuf;

use super::{DashboardData, ExportContent, Failure, Response, Worker};
use crate::operators::Permission;
use crate::registration;
use crate::stats::{self, VenueDay};
use crate::store;

impl Worker {
    /// The dashboard's figures for a venue day (today when `None`).
    pub(super) fn dashboard(&self, date: Option<chrono::NaiveDate>) -> Result<Response, Failure> {
        self.operator(Permission::ViewReports)?;
        let definition = &self.store.event()?.definition;
        let date = match date {
            Some(date) => date,
            None => registration::venue_today(&self.store)?,
        };
        let day = VenueDay::new(date, definition.timezone())?;
        let zones: Vec<String> = definition.zones.iter().map(|z| z.id.clone()).collect();
        let figures = stats::day_figures(
            self.store.conn(),
            &definition.event.id,
            &zones,
            &day,
            chrono::Utc::now(),
        )?;
        let charts = stats::charts(&figures, definition);
        Ok(Response::Dashboard(Box::new(DashboardData { figures, charts })))
    }

    /// Saves an exported chart under the station's `exports/` directory.
    pub(super) fn save_export(
        &self,
        file_name: &str,
        content: ExportContent,
    ) -> Result<Response, Failure> {
        self.operator(Permission::ViewReports)?;
        // The name comes from the dashboard, never from typing; still, only a plain file
        // name may leave this directory's reach.
        if file_name.is_empty() || file_name.contains(['/', '\\']) || file_name.starts_with('.') {
            return Err(Failure::invalid(format!("not a file name: {file_name:?}")));
        }
        let path: PathBuf = self.store.data_dir().join("exports").join(file_name);
        let bytes = match content {
            ExportContent::Csv(bytes) => bytes,
            ExportContent::Png { width, height, rgba } => encode_png(width, height, &rgba)?,
        };
        store::write_private_file(&path, &bytes)
            .map_err(|e| Failure::unavailable(format!("{}: {e}", path.display())))?;
        Ok(Response::Exported(path))
    }
}

/// RGBA pixels as a PNG file.
fn encode_png(width: u32, height: u32, rgba: &[u8]) -> Result<Vec<u8>, Failure> {
    let failed = |e: png::EncodingError| Failure::unavailable(format!("PNG: {e}"));
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(rgba).map_err(failed)?;
    writer.finish().map_err(failed)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_screenshot_is_saved_as_a_png_that_decodes_to_the_same_pixels() {
        let rgba: Vec<u8> = (0..3 * 2 * 4).map(|i| i as u8 * 10).collect();
        let bytes = encode_png(3, 2, &rgba).unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
        let mut decoded = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut decoded).unwrap();
        assert_eq!((info.width, info.height), (3, 2));
        assert_eq!(decoded, rgba);
        assert!(encode_png(3, 2, &rgba[..5]).is_err(), "too few pixels is an error, not a panic");
    }
}
