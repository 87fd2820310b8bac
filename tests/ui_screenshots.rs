//! Screenshots of each mode in a real window under Xvfb, at 1280×800 and at 1920×1080, in
//! Chinese and in English, for the README and for a person to look at:
//! `cargo test -p expo-kiosk --test ui_screenshots -- --ignored`. Needs Debian's xvfb,
//! imagemagick (`import`) and xdotool. The PNGs go to `$EXPO_KIOSK_SCREENSHOTS`, or
//! `screenshots/` under Cargo's test temp directory (`pngquant` makes them small for git).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use expo_hardware::relay::{RelayProtocol, RelaySimulator};
use expo_hardware::scanner::{ScannerSimulator, Terminator};
use expo_kiosk::domain::AttendeeId;
use expo_kiosk::operators::Operator;
use expo_kiosk::registration::badge;
use expo_kiosk::store::Store;

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

/// The virtual screen's size: every window is made as large as it.
#[derive(Clone, Copy)]
struct Screen {
    width: u32,
    height: u32,
}

impl Screen {
    /// `desk.png` at 1280×800, `desk-1920.png` at 1920×1080.
    fn file(self, name: &str) -> String {
        if self.width == 1280 {
            format!("{name}.png")
        } else {
            format!("{name}-{}.png", self.width)
        }
    }

    /// A point of the demo panel, which hangs at the window's right edge, given where it is
    /// in a 1280-wide window.
    fn at_right_edge(self, (x, y): (u32, u32)) -> (u32, u32) {
        (x + self.width - 1280, y)
    }
}

fn app(screen: Screen, data: &Path, args: &[&str]) -> Window {
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
    // No window manager: the window is moved and sized to fill the screen by hand.
    xdotool(&["windowmove", &window, "0", "0"]);
    let (width, height) = (screen.width.to_string(), screen.height.to_string());
    xdotool(&["windowsize", &window, &width, &height]);
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

/// Types like a scanner: a burst the wedge detector takes for a scan.
fn scan_by_wedge(code: &str) {
    for keys in [["type", "--delay", "0", code], ["key", "--delay", "0", "Return"]] {
        let status = Command::new("xdotool").args(keys).env("DISPLAY", DISPLAY).status().unwrap();
        assert!(status.success(), "xdotool {keys:?}");
    }
    std::thread::sleep(Duration::from_millis(700));
}

fn shot(out: &Path, screen: Screen, name: &str) {
    let status = Command::new("import")
        .args(["-window", "root"])
        .arg(out.join(screen.file(name)))
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
/// The admin's Audit log tab, in Chinese and in English.
const AUDIT_TAB: (u32, u32) = (330, 44);
const AUDIT_TAB_EN: (u32, u32) = (385, 44);

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
    screen: Screen,
    data: &Path,
    args: &[&str],
    name: &str,
    pin: &str,
    login_shot: Option<(&Path, &str)>,
) -> Window {
    for _ in 0..3 {
        let window = app(screen, data, args);
        if let Some((out, file)) = login_shot {
            shot(out, screen, file);
        }
        if login(&window, name, pin) {
            return window;
        }
    }
    panic!("no window took the keyboard in three tries");
}

/// Badge tokens of the demo station: two exhibitors' (one for each lane of the gate) and a
/// revoked one (for the desk's verdict card), and the registration code of a visitor whose
/// badge is printed (the kiosk's "already collected").
struct Badges {
    exhibitors: [String; 2],
    revoked: String,
    collected_code: String,
}

fn issue_badges(data: &Path) -> Badges {
    let mut store = Store::open(data).unwrap();
    let unbadged = |store: &Store, category: &str, count: usize| -> Vec<(AttendeeId, String)> {
        let sql = "SELECT id, registration_code FROM attendees WHERE category = ?1 \
                   AND registration_code IS NOT NULL \
                   AND id NOT IN (SELECT attendee_id FROM badges) ORDER BY registration_code";
        let mut statement = store.conn().prepare(sql).unwrap();
        let rows = statement
            .query_map([category], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap();
        let rows = rows.take(count).map(|r| r.unwrap());
        rows.map(|(id, code)| (AttendeeId(id.parse().unwrap()), code)).collect()
    };
    let exhibitors = unbadged(&store, "exhibitor", 2);
    let visitors = unbadged(&store, "professional_visitor", 2);
    let desk = Operator::admin("desk");
    let mut issue = |id| badge::ensure_badge(&mut store, &desk, id).unwrap().token;
    let exhibitors = [issue(exhibitors[0].0), issue(exhibitors[1].0)];
    let revoked = issue(visitors[0].0);
    issue(visitors[1].0);
    badge::revoke(&mut store, &Operator::admin("admin"), visitors[0].0, "他人冒用").unwrap();
    Badges { exhibitors, revoked, collected_code: visitors[1].1.clone() }
}

/// `run --mode gate` with an entry and an exit lane into hall 1, on simulated scanners and
/// a simulated relay board: each lane shows the verdict of a badge scanned at it.
fn gate_screen(out: &Path, screen: Screen, data: &Path, badges: &Badges, lang: &str, name: &str) {
    let relay = RelaySimulator::new(RelayProtocol::Lcus, 2);
    let board = relay.spawn_on_pty().unwrap();
    let mut entry = ScannerSimulator::new(Terminator::Cr).unwrap();
    let mut exit = ScannerSimulator::new(Terminator::Cr).unwrap();
    let config = data.join("gate-screenshot.toml");
    let lane = |id: &str, direction: &str, channel: u8, scanner: &str| {
        format!(
            "[[lanes]]\nid = \"{id}\"\nzone = \"hall-1\"\ndirection = \"{direction}\"\n\
             relay = \"a\"\nchannel = {channel}\n\
             scanner = {{ kind = \"serial\", path = \"{scanner}\", debounce_ms = 0 }}\n"
        )
    };
    let toml = format!(
        "[[relays]]\nid = \"a\"\npath = \"{}\"\nprotocol = \"lcus\"\nchannels = 2\n{}{}",
        board.path(),
        lane("in-1", "in", 1, entry.path()),
        lane("out-1", "out", 2, exit.path()),
    );
    std::fs::write(&config, toml).unwrap();
    let config = config.to_string_lossy().to_string();
    let _gate =
        app(screen, data, &["run", "--mode", "gate", "--lang", lang, "--gate-config", &config]);
    // In, and in again without going out: "already inside", since when, through which lane
    // (outside the exhibitors' hours, the first entry is refused for that instead).
    entry.scan(&badges.exhibitors[0]).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    entry.scan(&badges.exhibitors[0]).unwrap();
    exit.scan(&badges.exhibitors[1]).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    shot(out, screen, name);
}

#[test]
#[ignore = "needs Xvfb, imagemagick and xdotool; run by hand for the README"]
fn screenshots_of_each_mode() {
    let out = std::env::var_os("EXPO_KIOSK_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
    std::fs::create_dir_all(&out).unwrap();
    let data = tempfile::tempdir().unwrap();
    // The demo station with its operators, prepared once; each window then opens at once.
    let prepared = Command::new(env!("CARGO_BIN_EXE_expo-kiosk"))
        .arg("--data-dir")
        .arg(data.path())
        .args(["demo", "--headless"])
        .output()
        .unwrap();
    assert!(prepared.status.success());
    let badges = issue_badges(data.path());
    // Under Xvfb the window is drawn in software, a frame can take longer than a scanner's
    // key gap: the setting for a slow screen (the demo's own windows keep the default).
    std::fs::write(data.path().join("devices.toml"), "keyboard_scan_gap_ms = 400\n").unwrap();
    let mut taken = Vec::new();
    for screen in [Screen { width: 1280, height: 800 }, Screen { width: 1920, height: 1080 }] {
        let size = format!("{}x{}x24", screen.width, screen.height);
        let _xvfb = Killed(
            Command::new("Xvfb")
                .args([DISPLAY, "-screen", "0", &size, "-nolisten", "tcp"])
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        std::thread::sleep(Duration::from_secs(1));
        taken.extend(screens(&out, screen, data.path(), &badges).map(|name| screen.file(name)));
    }
    for file in taken {
        let file = out.join(file);
        assert!(std::fs::metadata(&file).unwrap().len() > 10_000, "{} looks empty", file.display());
    }
    println!("screenshots in {}", out.display());
}

/// Every screen at one size; the names of the shots.
fn screens(out: &Path, screen: Screen, data: &Path, badges: &Badges) -> [&'static str; 17] {
    {
        let login_shot = Some((out, "desk-login"));
        let _desk = logged_in_app(screen, data, &["demo"], "desk", "1234", login_shot);
        type_slowly("zs");
        xdotool(&["key", "Down"]);
        shot(out, screen, "desk");
        xdotool(&["key", "F2"]);
        shot(out, screen, "desk-walk-in");
    }
    for (lang, suffix) in [("zh", ""), ("en", "-en")] {
        // `run`, which reads devices.toml and its wider scan gap for this slow screen.
        let args = ["run", "--mode", "desk", "--lang", lang];
        let _desk = logged_in_app(screen, data, &args, "desk", "1234", None);
        scan_by_wedge(&badges.revoked);
        std::thread::sleep(Duration::from_secs(1));
        shot(out, screen, &format!("desk-revoked{suffix}"));
    }
    {
        let _desk = logged_in_app(screen, data, &["demo", "--lang", "en"], "desk", "1234", None);
        type_slowly("wang");
        xdotool(&["key", "Down"]);
        shot(out, screen, "desk-en");
    }
    {
        // The kiosk with the demo's card reader buttons at the right edge.
        let _kiosk = app(screen, data, &["demo", "--kiosk"]);
        shot(out, screen, "kiosk-welcome");
    }
    for (lang, suffix) in [("zh", ""), ("en", "-en")] {
        let _kiosk = app(screen, data, &["run", "--mode", "kiosk", "--lang", lang]);
        scan_by_wedge(&badges.collected_code);
        std::thread::sleep(Duration::from_secs(1));
        shot(out, screen, &format!("kiosk-collected{suffix}"));
    }
    {
        let _kiosk = app(screen, data, &["demo", "--kiosk"]);
        // 张三丰's card once: the second time, he has collected his badge.
        let card =
            if screen.width == 1280 { DEMO_CARD_OF_WALK_IN } else { DEMO_CARD_OF_NEW_VISITOR };
        click(screen.at_right_edge(card));
        std::thread::sleep(Duration::from_secs(2));
        shot(out, screen, "kiosk-walk-in");
        if screen.width == 1280 {
            type_slowly("13812345678");
            click(KIOSK_SAVE);
            std::thread::sleep(Duration::from_secs(4));
            shot(out, screen, "kiosk-done");
        }
    }
    {
        let _kiosk = app(screen, data, &["demo", "--kiosk", "--lang", "en"]);
        click(screen.at_right_edge(DEMO_CARD_OF_NEW_VISITOR));
        std::thread::sleep(Duration::from_secs(2));
        type_slowly("1381234");
        if screen.width == 1280 {
            click(KIOSK_SAVE_EN);
        }
        std::thread::sleep(Duration::from_secs(2));
        shot(out, screen, "kiosk-walk-in-en");
    }
    for (lang, suffix, audit_tab) in [("zh", "", AUDIT_TAB), ("en", "-en", AUDIT_TAB_EN)] {
        let args = ["run", "--mode", "admin", "--lang", lang];
        let _admin = logged_in_app(screen, data, &args, "admin", "0000", None);
        // The dashboard loads on the station thread; give it a refresh.
        std::thread::sleep(Duration::from_secs(2));
        shot(out, screen, &format!("admin{suffix}"));
        click(audit_tab);
        std::thread::sleep(Duration::from_secs(2));
        shot(out, screen, &format!("admin-audit{suffix}"));
    }
    gate_screen(out, screen, data, badges, "zh", "gate");
    gate_screen(out, screen, data, badges, "en", "gate-en");
    [
        "desk-login",
        "desk",
        "desk-walk-in",
        "desk-revoked",
        "desk-en",
        "desk-revoked-en",
        "kiosk-welcome",
        "kiosk-collected",
        "kiosk-collected-en",
        "kiosk-walk-in",
        "kiosk-walk-in-en",
        "admin",
        "admin-audit",
        "admin-en",
        "admin-audit-en",
        "gate",
        "gate-en",
    ]
}
