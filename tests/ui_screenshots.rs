//! Screenshots of each mode in a real window under Xvfb, for the README and for a person to
//! look at: `cargo test -p expo-kiosk --test ui_screenshots -- --ignored`. Needs Debian's
//! xvfb, imagemagick (`import`) and xdotool. The PNGs go to `$EXPO_KIOSK_SCREENSHOTS`, or
//! `screenshots/` under Cargo's test temp directory.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

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

/// The app's process and its X window.
struct Window {
    _process: Killed,
    id: String,
}

impl Window {
    /// Xvfb runs no window manager to give a window the keyboard: this does.
    fn focus(&self) {
        xdotool(&["windowfocus", "--sync", &self.id]);
    }
}

fn app(data: &Path, args: &[&str]) -> Window {
    let child = Command::new(env!("CARGO_BIN_EXE_expo-kiosk"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("DISPLAY", DISPLAY)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(6));
    let found = Command::new("xdotool")
        .args(["search", "--sync", "--onlyvisible", "--pid", &child.id().to_string()])
        .env("DISPLAY", DISPLAY)
        .output()
        .unwrap();
    let window =
        String::from_utf8_lossy(&found.stdout).lines().next().unwrap_or_default().to_owned();
    assert!(!window.is_empty(), "no window for the app");
    std::thread::sleep(Duration::from_secs(2));
    let window = Window { _process: Killed(child), id: window };
    window.focus();
    window
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

/// Where `demo --kiosk` shows its buttons in a 1280×800 window: the cards of a new visitor
/// and of 张三丰 (the demo's walk-in), and the walk-in form's Save.
const DEMO_CARD_OF_NEW_VISITOR: (u32, u32) = (1198, 36);
const DEMO_CARD_OF_WALK_IN: (u32, u32) = (1205, 59);
const KIOSK_SAVE: (u32, u32) = (272, 572);
/// The English form's title takes two lines: its Save is lower.
const KIOSK_SAVE_EN: (u32, u32) = (257, 612);

fn click((x, y): (u32, u32)) {
    xdotool(&["mousemove", &x.to_string(), &y.to_string(), "click", "1"]);
}

/// The screen as PNG bytes.
fn screen() -> Vec<u8> {
    let out = Command::new("import")
        .args(["-window", "root", "png:-"])
        .env("DISPLAY", DISPLAY)
        .output()
        .unwrap();
    assert!(out.status.success(), "screenshot");
    out.stdout
}

/// Logs in by keyboard alone: the login screen puts the cursor in the name field, Tab moves
/// to the PIN. False when nothing on the screen changed.
fn login(window: &Window, name: &str, pin: &str) -> bool {
    let before = screen();
    window.focus();
    type_slowly(name);
    xdotool(&["key", "Tab"]);
    type_slowly(pin);
    xdotool(&["key", "Return"]);
    std::thread::sleep(Duration::from_secs(2));
    screen() != before
}

/// The app opened and logged in. Now and then a window under Xvfb never takes the keyboard
/// (no window manager; cause not found): that window is closed and another one opened.
fn logged_in_app(
    data: &Path,
    args: &[&str],
    name: &str,
    pin: &str,
    login_shot: Option<(&Path, &str)>,
) -> Window {
    for _ in 0..3 {
        let window = app(data, args);
        if let Some((out, file)) = login_shot {
            shot(out, file);
        }
        if login(&window, name, pin) {
            return window;
        }
    }
    panic!("no window took the keyboard in three tries");
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
        let _desk =
            logged_in_app(data.path(), &["demo"], "desk", "1234", Some((&out, "desk-login.png")));
        type_slowly("zs");
        xdotool(&["key", "Down"]);
        shot(&out, "desk.png");
        xdotool(&["key", "F2"]);
        shot(&out, "desk-walk-in.png");
    }
    {
        let _desk = logged_in_app(data.path(), &["demo", "--lang", "en"], "desk", "1234", None);
        type_slowly("wang");
        xdotool(&["key", "Down"]);
        shot(&out, "desk-en.png");
    }
    {
        // The kiosk with the demo's card reader buttons at the right edge.
        let _kiosk = app(data.path(), &["demo", "--kiosk"]);
        shot(&out, "kiosk-welcome.png");
        click(DEMO_CARD_OF_WALK_IN);
        std::thread::sleep(Duration::from_secs(2));
        shot(&out, "kiosk-walk-in.png");
        type_slowly("13812345678");
        click(KIOSK_SAVE);
        std::thread::sleep(Duration::from_secs(4));
        shot(&out, "kiosk-done.png");
    }
    {
        let _kiosk = app(data.path(), &["demo", "--kiosk", "--lang", "en"]);
        click(DEMO_CARD_OF_NEW_VISITOR);
        std::thread::sleep(Duration::from_secs(2));
        type_slowly("1381234");
        click(KIOSK_SAVE_EN);
        std::thread::sleep(Duration::from_secs(2));
        shot(&out, "kiosk-walk-in-en.png");
    }
    {
        let _admin = logged_in_app(data.path(), &["run", "--mode", "admin"], "admin", "0000", None);
        // The dashboard loads on the station thread; give it a refresh.
        std::thread::sleep(Duration::from_secs(2));
        shot(&out, "admin.png");
    }
    for name in [
        "desk-login",
        "desk",
        "desk-walk-in",
        "desk-en",
        "kiosk-welcome",
        "kiosk-walk-in",
        "kiosk-done",
        "kiosk-walk-in-en",
        "admin",
    ] {
        let file = out.join(format!("{name}.png"));
        assert!(std::fs::metadata(&file).unwrap().len() > 10_000, "{} looks empty", file.display());
    }
    println!("screenshots in {}", out.display());
}
