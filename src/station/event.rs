//! The admin's settings of the event and the station: the event definition and its badge
//! template, and the station's device settings.

use super::{BadgePreview, DeviceChoices, Failure, Response, Worker};
use crate::badges::render;
use crate::badges::{BadgeData, PrinterConfig, Template};
use crate::domain::EventDefinition;
use crate::operators::Permission;
use crate::provisioning;
use crate::station::device_settings::DeviceSettings;

impl Worker {
    pub(super) fn event_definition(&self) -> Result<Response, Failure> {
        self.operator(Permission::ManageEvent)?;
        Ok(Response::EventDefinition(Box::new(self.store.event()?.definition.clone())))
    }

    /// Replaces the event definition with the admin's edit.
    pub(super) fn update_event(
        &mut self,
        definition: &EventDefinition,
    ) -> Result<Response, Failure> {
        // The definition's problems, its badge template's among them, are the domain's.
        let operator = self.operator(Permission::ManageEvent)?;
        provisioning::update_definition(&mut self.store, &operator, definition)?;
        Ok(Response::EventUpdated(self.info()?))
    }

    /// A made-up attendee of the event's first category on `template`: what a badge of it
    /// looks like, laid out by the same code as the PDF.
    pub(super) fn badge_preview(&self, template: &str) -> Result<Response, Failure> {
        self.operator(Permission::ManageEvent)?;
        let template = Template::load(template)?;
        let event = &self.store.event()?.definition;
        let category = event.categories.first().ok_or(Failure::NotFound)?;
        let sample = BadgeData::sample(&event.event.name, category);
        let layout = render::layout(&template, &sample)?;
        let logo = decode_png(render::logo_png())?;
        Ok(Response::BadgePreview(Box::new(BadgePreview {
            template: template.name.clone(),
            description: template.description.clone(),
            layout,
            logo,
        })))
    }

    /// The station's device settings and what could be picked for them.
    pub(super) fn device_settings(&self) -> Result<Response, Failure> {
        self.operator(Permission::ManageEvent)?;
        let data_dir = self.store.data_dir();
        let saved = DeviceSettings::load(data_dir).map_err(Failure::unavailable)?;
        let ports = expo_hardware::inventory::serial_ports()
            .map_err(|e| Failure::unavailable(format!("listing serial ports: {e}")))?
            .into_iter()
            .map(|port| {
                // The stable by-id link survives re-plugging into another USB socket.
                let path = port.stable_path.unwrap_or(port.path);
                let what = port
                    .usb
                    .map(|usb| {
                        let product = usb.product.unwrap_or_default();
                        format!("{:04x}:{:04x} {product}", usb.vendor_id, usb.product_id)
                    })
                    .unwrap_or_default();
                (path.display().to_string(), what)
            })
            .collect();
        let cameras = expo_hardware::inventory::cameras()
            .map_err(|e| Failure::unavailable(format!("listing cameras: {e}")))?
            .into_iter()
            .map(|camera| (camera.index, camera.name))
            .collect();
        let printers = PrinterConfig::load(data_dir)?;
        Ok(Response::DeviceSettings(DeviceChoices {
            saved,
            ports,
            cameras,
            printers: printers.printers.iter().map(|p| p.name.clone()).collect(),
            default_printer: printers.default,
        }))
    }

    /// Saves the device settings (they apply when the app next starts), audited.
    pub(super) fn save_device_settings(
        &mut self,
        settings: &DeviceSettings,
    ) -> Result<Response, Failure> {
        let operator = self.operator(Permission::ManageEvent)?;
        settings.save(self.store.data_dir()).map_err(Failure::unavailable)?;
        let detail =
            serde_json::to_value(settings).map_err(|e| Failure::unavailable(e.to_string()))?;
        self.store.write(|tx| tx.audit(&operator.name, "device_settings", None, detail))?;
        Ok(Response::DeviceSettingsSaved)
    }
}

/// A PNG as 8-bit RGBA rows.
fn decode_png(bytes: &[u8]) -> Result<([usize; 2], Vec<u8>), Failure> {
    let failed = |e: png::DecodingError| Failure::invalid(format!("PNG: {e}"));
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().map_err(failed)?;
    let size =
        reader.output_buffer_size().ok_or_else(|| Failure::invalid("PNG: image too large"))?;
    let mut pixels = vec![0; size];
    let frame = reader.next_frame(&mut pixels).map_err(failed)?;
    pixels.truncate(frame.buffer_size());
    let size = [frame.width as usize, frame.height as usize];
    match frame.color_type {
        png::ColorType::Rgba => Ok((size, pixels)),
        png::ColorType::GrayscaleAlpha => {
            Ok((size, pixels.chunks(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect()))
        }
        other => Err(Failure::invalid(format!("PNG: unexpected colour type {other:?}"))),
    }
}
