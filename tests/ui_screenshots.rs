//! Screenshots of each mode in a real window under Xvfb, for the README and for a person to
//! look at: `cargo test -p expo-kiosk --test ui_screenshots -- --ignored`. Needs Debian's
//! xvfb, imagemagick (`import`) and xdotool. The PNGs go to `$EXPO_KIOSK_SCREENSHOTS`, or
//! `screenshots/` under Cargo's test temp directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const DISPLAY: &str = ":97";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        // Only processes this test started, by their own handle.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn app(data: &Path, args: &[&str]) -> Killed {
    let child = Command::new(env!("CARGO_BIN_EXE_expo-kiosk"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("DISPLAY", DISPLAY)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(6));
    // Xvfb runs no window manager to give the new window the keyboard.
    let found = Command::new("xdotool")
        .args(["search", "--sync", "--onlyvisible", "--pid", &child.id().to_string()])
        .env("DISPLAY", DISPLAY)
        .output()
        .unwrap();
    let window =
        String::from_utf8_lossy(&found.stdout).lines().next().unwrap_or_default().to_owned();
    assert!(!window.is_empty(), "no window for the app");
    std::thread::sleep(Duration::from_secs(2));
    xdotool(&["windowfocus", &window]);
    let focused =
        Command::new("xdotool").arg("getwindowfocus").env("DISPLAY", DISPLAY).output().unwrap();
    eprintln!("window {window}, focus {}", String::from_utf8_lossy(&focused.stdout).trim());
    Killed(child)
}

fn xdotool(args: &[&str]) {
    let status = Command::new("xdotool").args(args).env("DISPLAY", DISPLAY).status().unwrap();
    assert!(status.success(), "xdotool {args:?}");
    std::thread::sleep(Duration::from_millis(700));
}

/// Types like a person: slow enough for the wedge detector to see typing, not a scan.
fn type_slowly(text: &str) {
    xdotool(&["type", "--delay", "150", text]);
}

fn shot(out: &Path, name: &str) {
    let status = Command::new("import")
        .args(["-window", "root"])
        .arg(out.join(name))
        .env("DISPLAY", DISPLAY)
        .status()
        .unwrap();
    assert!(status.success(), "screenshot {name}");
}

/// Clicks into the login fields (centred at these points in a 1280×800 window) and types.
fn login(name: &str, pin: &str) {
    xdotool(&["mousemove", "640", "157", "click", "1"]);
    type_slowly(name);
    xdotool(&["mousemove", "640", "199", "click", "1"]);
    type_slowly(pin);
    xdotool(&["key", "Return"]);
    std::thread::sleep(Duration::from_secs(1));
}

#[test]
#[ignore = "needs Xvfb, imagemagick and xdotool; run by hand for the README"]
fn screenshots_of_each_mode() {
    let out = std::env::var_os("EXPO_KIOSK_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
    std::fs::create_dir_all(&out).unwrap();
    let _xvfb = Killed(
        Command::new("Xvfb")
            .args([DISPLAY, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_secs(1));
    let data = tempfile::tempdir().unwrap();
    // The demo station with its operators, prepared once; each window then opens at once.
    let prepared = Command::new(env!("CARGO_BIN_EXE_expo-kiosk"))
        .arg("--data-dir")
        .arg(data.path())
        .args(["demo", "--headless"])
        .output()
        .unwrap();
    assert!(prepared.status.success());

    {
        let _desk = app(data.path(), &["demo"]);
        shot(&out, "desk-login.png");
        login("desk", "1234");
        type_slowly("zs");
        xdotool(&["key", "Down"]);
        shot(&out, "desk.png");
        xdotool(&["key", "F2"]);
        shot(&out, "desk-walk-in.png");
    }
    {
        let _desk = app(data.path(), &["demo", "--lang", "en"]);
        login("desk", "1234");
        type_slowly("wang");
        xdotool(&["key", "Down"]);
        shot(&out, "desk-en.png");
    }
    {
        let _kiosk = app(data.path(), &["run", "--mode", "kiosk"]);
        shot(&out, "kiosk-welcome.png");
        // A scanner types at a few ms per key: the wedge detector sees a scan.
        xdotool(&["type", "--delay", "5", "R0000042\n"]);
        std::thread::sleep(Duration::from_secs(1));
        shot(&out, "kiosk-confirm.png");
    }
    {
        let _admin = app(data.path(), &["run", "--mode", "admin"]);
        login("admin", "0000");
        // The dashboard loads on the station thread; give it a refresh.
        std::thread::sleep(Duration::from_secs(2));
        shot(&out, "admin.png");
    }
    for name in
        ["desk-login", "desk", "desk-walk-in", "desk-en", "kiosk-welcome", "kiosk-confirm", "admin"]
    {
        let file = out.join(format!("{name}.png"));
        assert!(std::fs::metadata(&file).unwrap().len() > 10_000, "{} looks empty", file.display());
    }
    println!("screenshots in {}", out.display());
}
