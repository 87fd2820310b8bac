//! What is plugged in, read from sysfs for `expo-kiosk doctor`: serial ports (with USB vendor,
//! product and the stable `/dev/serial/by-id` name where known) and V4L cameras.
//!
//! sysfs is read directly so the crate needs no libudev (serialport runs without default features).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Kernel name prefixes of serial ports worth listing (USB adapters, CDC devices, on-board UARTs).
const SERIAL_PREFIXES: [&str; 4] = ["ttyUSB", "ttyACM", "ttyS", "ttyAMA"];
/// Driver of the legacy 8250 UART slots the kernel registers whether or not a chip is present.
const PHANTOM_UART_DRIVER: &str = "serial8250";
/// How many parent directories to climb from a tty or video node to its USB device.
const USB_SEARCH_DEPTH: usize = 4;

/// USB identity of the device behind a port or camera.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UsbIdentity {
    /// Vendor id, e.g. 0x1A86 (WCH, maker of the CH340 on LCUS relay boards).
    pub vendor_id: u16,
    /// Product id, e.g. 0x7523.
    pub product_id: u16,
    /// Manufacturer string, when the device reports one.
    pub manufacturer: Option<String>,
    /// Product string, when the device reports one.
    pub product: Option<String>,
}

/// A serial port found in sysfs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SerialPortEntry {
    /// Device node, e.g. `/dev/ttyUSB0`.
    pub path: PathBuf,
    /// Stable `/dev/serial/by-id/...` link to the same node, for configuration files.
    pub stable_path: Option<PathBuf>,
    /// USB identity, `None` for on-board UARTs.
    pub usb: Option<UsbIdentity>,
}

/// A V4L capture device found in sysfs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CameraEntry {
    /// Device node, e.g. `/dev/video0`.
    pub path: PathBuf,
    /// The `N` in `/dev/videoN`, as the camera feature's settings take it.
    pub index: u32,
    /// Name the driver reports.
    pub name: String,
    /// USB identity, when it is a USB camera.
    pub usb: Option<UsbIdentity>,
}

/// Where to look: the real system, or a fake tree in tests.
#[derive(Debug, Clone)]
pub struct Roots {
    /// sysfs mount, normally `/sys`.
    pub sys: PathBuf,
    /// device directory, normally `/dev`.
    pub dev: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Self { sys: PathBuf::from("/sys"), dev: PathBuf::from("/dev") }
    }
}

/// Serial ports on this machine, sorted by path.
pub fn serial_ports() -> io::Result<Vec<SerialPortEntry>> {
    serial_ports_in(&Roots::default())
}

/// V4L capture devices on this machine, sorted by index.
pub fn cameras() -> io::Result<Vec<CameraEntry>> {
    cameras_in(&Roots::default())
}

/// [`serial_ports`] under other roots.
pub fn serial_ports_in(roots: &Roots) -> io::Result<Vec<SerialPortEntry>> {
    let stable_links = by_id_links(&roots.dev.join("serial/by-id"))?;
    let mut ports = Vec::new();
    for (name, class_dir) in class_entries(&roots.sys.join("class/tty"))? {
        if !SERIAL_PREFIXES.iter().any(|prefix| name.starts_with(prefix)) {
            continue;
        }
        // Virtual terminals and pseudo-terminals have no `device`: they are not ports.
        let Ok(device) = fs::canonicalize(class_dir.join("device")) else { continue };
        if driver_name(&device).as_deref() == Some(PHANTOM_UART_DRIVER) {
            continue;
        }
        let path = roots.dev.join(&name);
        let stable_path =
            stable_links.iter().find(|(_, target)| target == &name).map(|(link, _)| link.clone());
        ports.push(SerialPortEntry { path, stable_path, usb: usb_identity(&device) });
    }
    ports.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(ports)
}

/// [`cameras`] under other roots.
pub fn cameras_in(roots: &Roots) -> io::Result<Vec<CameraEntry>> {
    let mut cameras = Vec::new();
    for (name, class_dir) in class_entries(&roots.sys.join("class/video4linux"))? {
        // UVC cameras register a second node (index 1) for metadata; only index 0 captures.
        if read_trimmed(&class_dir.join("index")).is_some_and(|index| index != "0") {
            continue;
        }
        let Some(index) = name.strip_prefix("video").and_then(|n| n.parse().ok()) else { continue };
        let usb = fs::canonicalize(class_dir.join("device"))
            .ok()
            .and_then(|device| usb_identity(&device));
        let camera_name = read_trimmed(&class_dir.join("name")).unwrap_or_default();
        cameras.push(CameraEntry { path: roots.dev.join(&name), index, name: camera_name, usb });
    }
    cameras.sort_by_key(|camera| camera.index);
    Ok(cameras)
}

/// (name, path) of each entry of a sysfs class directory; a missing class is an empty list.
fn class_entries(dir: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        if let Some(name) = entry.file_name().to_str() {
            found.push((name.to_owned(), entry.path()));
        }
    }
    Ok(found)
}

/// (link path, kernel name of its target) for each link in `/dev/serial/by-id`.
fn by_id_links(dir: &Path) -> io::Result<Vec<(PathBuf, String)>> {
    Ok(class_entries(dir)?
        .into_iter()
        .filter_map(|(_, link)| {
            let target = fs::read_link(&link).ok()?;
            let name = target.file_name()?.to_str()?.to_owned();
            Some((link, name))
        })
        .collect())
}

/// The name of the driver bound to `device`, if any.
fn driver_name(device: &Path) -> Option<String> {
    let driver = fs::read_link(device.join("driver")).ok()?;
    Some(driver.file_name()?.to_str()?.to_owned())
}

/// Climbs from `device` to the USB device directory (the one with `idVendor`) and reads it.
fn usb_identity(device: &Path) -> Option<UsbIdentity> {
    let usb_device =
        device.ancestors().take(USB_SEARCH_DEPTH + 1).find(|dir| dir.join("idVendor").is_file())?;
    let hex = |file: &str| {
        read_trimmed(&usb_device.join(file)).and_then(|text| u16::from_str_radix(&text, 16).ok())
    };
    Some(UsbIdentity {
        vendor_id: hex("idVendor")?,
        product_id: hex("idProduct")?,
        manufacturer: read_trimmed(&usb_device.join("manufacturer")),
        product: read_trimmed(&usb_device.join("product")),
    })
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|text| text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }

    /// A fake sysfs with a CH340 adapter, a CDC scanner, a phantom UART, a pty and a UVC camera.
    fn fake_tree() -> (tempfile::TempDir, Roots) {
        let root = tempfile::tempdir().expect("tempdir");
        let (sys, dev) = (root.path().join("sys"), root.path().join("dev"));
        let usb = sys.join("devices/pci0000:00/usb1");
        let ch340 = usb.join("1-1");
        write(&ch340.join("idVendor"), "1a86\n");
        write(&ch340.join("idProduct"), "7523\n");
        write(&ch340.join("product"), "USB Serial\n");
        let ch340_port = ch340.join("1-1:1.0/ttyUSB0");
        fs::create_dir_all(&ch340_port).expect("mkdir");
        let scanner = usb.join("1-2");
        write(&scanner.join("idVendor"), "0c2e\n");
        write(&scanner.join("idProduct"), "0b61\n");
        write(&scanner.join("manufacturer"), "Honeywell\n");
        let scanner_interface = scanner.join("1-2:1.0");
        fs::create_dir_all(&scanner_interface).expect("mkdir");
        let uart = sys.join("devices/platform/serial8250");
        fs::create_dir_all(&uart).expect("mkdir");
        let drivers = sys.join("bus/platform/drivers/serial8250");
        fs::create_dir_all(&drivers).expect("mkdir");
        symlink(&drivers, uart.join("driver")).expect("link");
        let camera = usb.join("1-3");
        write(&camera.join("idVendor"), "046d\n");
        write(&camera.join("idProduct"), "0825\n");
        let camera_interface = camera.join("1-3:1.0");
        fs::create_dir_all(&camera_interface).expect("mkdir");

        let tty = sys.join("class/tty");
        for (name, device) in [
            ("ttyUSB0", Some(&ch340_port)),
            ("ttyACM0", Some(&scanner_interface)),
            ("ttyS0", Some(&uart)),
        ] {
            fs::create_dir_all(tty.join(name)).expect("mkdir");
            if let Some(device) = device {
                symlink(device, tty.join(name).join("device")).expect("link");
            }
        }
        fs::create_dir_all(tty.join("tty1")).expect("virtual terminal");
        fs::create_dir_all(tty.join("ttyS1")).expect("uart without device");
        let video = sys.join("class/video4linux");
        for (name, index) in [("video0", "0"), ("video1", "1")] {
            write(&video.join(name).join("index"), index);
            write(&video.join(name).join("name"), "HD Webcam C270\n");
            symlink(&camera_interface, video.join(name).join("device")).expect("link");
        }
        fs::create_dir_all(dev.join("serial/by-id")).expect("mkdir");
        symlink("../../ttyACM0", dev.join("serial/by-id/usb-Honeywell_Scanner-if00"))
            .expect("link");
        (root, Roots { sys, dev })
    }

    #[test]
    fn lists_usb_serial_ports_with_identity_and_stable_names() {
        let (_root, roots) = fake_tree();
        let ports = serial_ports_in(&roots).expect("ports");
        let paths: Vec<_> =
            ports.iter().map(|p| p.path.strip_prefix(&roots.dev).expect("under dev")).collect();
        assert_eq!(
            paths,
            [Path::new("ttyACM0"), Path::new("ttyUSB0")],
            "phantom UART and terminals skipped"
        );
        let scanner = &ports[0];
        assert_eq!(
            scanner.stable_path,
            Some(roots.dev.join("serial/by-id/usb-Honeywell_Scanner-if00"))
        );
        let usb = scanner.usb.as_ref().expect("usb identity");
        assert_eq!((usb.vendor_id, usb.product_id), (0x0C2E, 0x0B61));
        assert_eq!(usb.manufacturer.as_deref(), Some("Honeywell"));
        let relay = ports[1].usb.as_ref().expect("usb identity");
        assert_eq!(
            (relay.vendor_id, relay.product_id, relay.product.as_deref()),
            (0x1A86, 0x7523, Some("USB Serial"))
        );
        assert_eq!(ports[1].stable_path, None);
    }

    #[test]
    fn lists_capture_nodes_only() {
        let (_root, roots) = fake_tree();
        let cameras = cameras_in(&roots).expect("cameras");
        assert_eq!(cameras.len(), 1);
        assert_eq!((cameras[0].index, cameras[0].name.as_str()), (0, "HD Webcam C270"));
        assert_eq!(cameras[0].usb.as_ref().map(|usb| usb.vendor_id), Some(0x046D));
    }

    #[test]
    fn missing_classes_are_empty_lists() {
        let root = tempfile::tempdir().expect("tempdir");
        let roots = Roots { sys: root.path().join("sys"), dev: root.path().join("dev") };
        assert_eq!(serial_ports_in(&roots).expect("ports"), []);
        assert_eq!(cameras_in(&roots).expect("cameras"), []);
    }
}
