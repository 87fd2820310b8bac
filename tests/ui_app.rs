//! The desktop app driven headless through its accessibility tree (egui_kittest): every
//! widget is found by its visible label, as a screen reader would find it. The station
//! worker and, where used, the simulated devices run for real on their own threads.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

#[path = "support/endorsed.rs"]
mod endorsed;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::Harness;
use expo_kiosk::demo::demo_event_toml;
use expo_kiosk::domain::{NewAttendee, Source};
use expo_kiosk::operators::{self, Operator, Role};
use expo_kiosk::store::Store;
use expo_kiosk::ui::devices::{CameraChoice, DeviceSettings};
use expo_kiosk::ui::{install_fonts, App, AppConfig, DeviceSetup, KioskStep, Lang, Mode};

/// A station with the demo event (opening today), three attendees and three operators.
struct Station {
    dir: tempfile::TempDir,
}

impl Station {
    fn new() -> Self {
        Self::with_event(&demo_event_toml(chrono::Local::now().date_naive()))
    }

    fn with_event(event_toml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        expo_kiosk::provisioning::init(
            &mut store,
            &expo_kiosk::operators::Operator::admin("test"),
            event_toml,
        )
        .unwrap();
        let people = [
            ("R0001", "张三", "上海展览有限公司", "13812345678"),
            ("R0002", "张三丰", "武当科技", "13987654321"),
            ("R0003", "李四", "北京会展", "13700001111"),
        ];
        for (code, name, company, phone) in people {
            let input = NewAttendee {
                registration_code: code.into(),
                name: name.into(),
                company: company.into(),
                category: "professional_visitor".into(),
                phone: phone.into(),
                consent: true,
                ..NewAttendee::default()
            };
            register_as_test(&mut store, &input);
        }
        let admin = Operator::station_admin(store.station_id());
        for (name, role, pin) in [("desk", Role::Desk, "1234"), ("admin", Role::Admin, "0000")] {
            operators::add(&mut store, &admin, name, role, pin, &[]).unwrap();
        }
        // The station's printer is a hot folder, so a print can be checked on disk.
        let spool = dir.path().join("printed");
        std::fs::create_dir(&spool).unwrap();
        std::fs::write(
            dir.path().join("printers.toml"),
            format!(
                "default = \"desk\"\n[[printer]]\nname = \"desk\"\nkind = \"spool\"\ndir = {:?}\n",
                spool.display().to_string()
            ),
        )
        .unwrap();
        Station { dir }
    }

    /// The badge PDFs the station's printer received.
    fn printed(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.dir.path().join("printed")) {
            Ok(entries) => entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

fn open_app(config: AppConfig, step_dt: f32) -> Harness<'static, App> {
    open_app_sized(config, step_dt, [1280.0, 800.0])
}

fn open_app_sized(config: AppConfig, step_dt: f32, size: [f32; 2]) -> Harness<'static, App> {
    let app = App::new(config, || {}).unwrap();
    let mut harness = Harness::builder()
        .with_size(size)
        .with_step_dt(step_dt)
        .with_context_setup(install_fonts)
        .build_ui_state(|ui, app: &mut App| app.ui(ui), app);
    wait_until(&mut harness, "the station opens", |app| app.is_ready());
    harness
}

fn desk(station: &Station, devices: DeviceSetup) -> Harness<'static, App> {
    let mut config = AppConfig::new(station.path(), Mode::Desk);
    config.devices = devices;
    open_app(config, 0.25)
}

/// Steps frames until `done` holds; the worker and devices answer on their own threads.
fn wait_until(harness: &mut Harness<'static, App>, what: &str, done: impl Fn(&App) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(harness.state()) {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    harness.step();
}

/// Steps frames until a label containing `text` shows.
fn wait_for_text(harness: &mut Harness<'static, App>, what: &str, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while harness.query_by_label_contains(text).is_none() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Steps frames while `busy` holds, for conditions beyond the app's state (the store, a
/// widget's state).
fn step_while(
    harness: &mut Harness<'static, App>,
    what: &str,
    mut busy: impl FnMut(&Harness<'static, App>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while busy(harness) {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The first column of a query's rows, as text.
fn strings(store: &Store, sql: &str) -> Vec<String> {
    let mut statement = store.conn().prepare(sql).unwrap();
    let rows = statement.query_map([], |r| r.get(0)).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

fn type_into(harness: &mut Harness<'static, App>, label: &str, text: &str) {
    harness.get_by_label(label).focus();
    harness.step();
    harness.get_by_label(label).type_text(text);
    harness.step();
}

/// Empties a field with Backspace, as a person would, and types `text` into it.
fn replace_text(harness: &mut Harness<'static, App>, label: &str, text: &str) {
    harness.get_by_label(label).focus();
    harness.step();
    harness.key_press(egui::Key::End);
    for _ in 0..40 {
        harness.key_press(egui::Key::Backspace);
    }
    harness.step();
    harness.get_by_label(label).type_text(text);
    harness.step();
}

fn click(harness: &mut Harness<'static, App>, label: &str) {
    harness.get_by_label(label).click();
    harness.step();
    harness.step();
}

fn login(harness: &mut Harness<'static, App>, name: &str, pin: &str) {
    type_into(harness, "操作员", name);
    type_into(harness, "PIN 码", pin);
    click(harness, "登录");
    wait_until(harness, "the operator is logged in", |app| app.operator().is_some());
}

#[test]
fn login_rejects_a_wrong_pin_and_the_role_decides_the_actions() {
    let station = Station::new();
    let mut harness = desk(&station, DeviceSetup::None);
    harness.check_accessibility();

    type_into(&mut harness, "操作员", "desk");
    type_into(&mut harness, "PIN 码", "9999");
    click(&mut harness, "登录");
    wait_for_text(&mut harness, "no bad-login message", "操作员或 PIN 码错误");
    assert!(harness.state().operator().is_none());

    // The name stays; the PIN field was cleared.
    type_into(&mut harness, "PIN 码", "1234");
    click(&mut harness, "登录");
    wait_until(&mut harness, "the operator is logged in", |app| app.operator().is_some());
    open_by_scan(&mut harness, "R0003");
    assert!(harness.query_by_label("打印胸卡 (Enter)").is_some());
    assert!(harness.query_by_label("作废胸卡…").is_none(), "a desk operator cannot revoke");
    assert!(harness.query_by_label("管理").is_none(), "a desk operator has no admin mode");
    harness.check_accessibility();

    click(&mut harness, "退出登录");
    wait_until(&mut harness, "logged out", |app| app.operator().is_none());
    assert!(
        harness.query_by_label_contains("李四").is_none(),
        "nothing of the last operator's work stays"
    );
    login(&mut harness, "admin", "0000");
    open_by_scan(&mut harness, "R0003");
    click(&mut harness, "打印胸卡 (Enter)");
    wait_until(&mut harness, "the badge is printed", |app| {
        app.desk().selected().is_some_and(|a| a.active_badge().is_some())
    });
    assert!(harness.query_by_label("作废胸卡…").is_some(), "an admin may revoke");
    assert!(harness.query_by_label("管理").is_some());
}

#[test]
fn after_five_wrong_pins_even_the_right_one_waits_and_the_screen_says_so() {
    let station = Station::new();
    {
        let mut store = Store::open(&station.path()).unwrap();
        for _ in 0..5 {
            assert!(operators::login(&mut store, "desk", "0000").is_err());
        }
    }
    let mut harness = desk(&station, DeviceSetup::None);
    type_into(&mut harness, "操作员", "desk");
    type_into(&mut harness, "PIN 码", "1234");
    click(&mut harness, "登录");
    wait_for_text(&mut harness, "the lockout message", "PIN 错误次数过多，请稍后再试");
    assert!(harness.state().operator().is_none());
    assert!(is_enabled(&harness, "登录"), "the form can be used again after the wait");
}

/// A keyboard-wedge scan: the whole code and Enter within one frame, at scanner speed.
fn wedge_scan(harness: &mut Harness<'static, App>, code: &str) {
    let events = &mut harness.input_mut().events;
    events.push(egui::Event::Text(code.to_owned()));
    events.push(enter_pressed());
    harness.step();
}

fn enter_pressed() -> egui::Event {
    egui::Event::Key {
        key: egui::Key::Enter,
        physical_key: None,
        pressed: true,
        repeat: false,
        modifiers: egui::Modifiers::NONE,
    }
}

fn open_by_scan(harness: &mut Harness<'static, App>, code: &str) {
    wedge_scan(harness, code);
    wait_until(harness, "the scanned attendee opens", |app| {
        app.desk().selected().is_some_and(|a| a.registration_code.as_deref() == Some(code))
    });
    assert_eq!(harness.state().desk().query(), "", "a scan is not typed into the search field");
}

#[test]
fn search_as_you_type_select_with_the_keyboard_and_print_with_enter() {
    let station = Station::new();
    let mut harness = desk(&station, DeviceSetup::None);
    login(&mut harness, "desk", "1234");

    type_into(&mut harness, "搜索", "zs");
    wait_until(&mut harness, "results for zs", |app| !app.desk().result_names().is_empty());
    let names = harness.state().desk().result_names().join(",");
    assert!(
        names.contains("张三") && names.contains("张三丰") && !names.contains("李四"),
        "{names}"
    );

    harness.key_press(egui::Key::ArrowDown);
    harness.step();
    wait_until(&mut harness, "the first result opens", |app| app.desk().selected().is_some());
    let selected = harness.state().desk().selected().unwrap().name.clone();
    assert!(selected.starts_with("张三"));
    assert!(harness.query_by_label(&selected).is_some(), "the card shows the name");

    harness.key_press(egui::Key::Enter);
    wait_until(&mut harness, "Enter prints the badge", |app| {
        app.desk().selected().is_some_and(|a| a.active_badge() == Some(1))
    });
    // The print queue's worker sends the job to the printer and reports back.
    let deadline = Instant::now() + Duration::from_secs(20);
    while harness.query_by_label_contains("已打印胸卡").is_none() {
        if Instant::now() > deadline {
            let labels: Vec<String> =
                harness.query_all_by_label_contains("胸卡").map(|n| format!("{n:?}")).collect();
            panic!("the print job never reached the printer: {labels:?} {:?}", station.printed());
        }
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    let printed = station.printed();
    assert_eq!(printed.len(), 1, "{printed:?}");
    assert!(std::fs::read(&printed[0]).unwrap().starts_with(b"%PDF"));

    // Printed: the card offers what comes next (a reprint with a reason, the next visitor),
    // not a print the station would refuse, and Enter asks for nothing.
    assert!(
        harness.query_by_label("打印胸卡 (Enter)").is_none(),
        "a printed badge offers no print"
    );
    assert!(harness.query_by_label("补打…").is_some());
    assert!(harness.query_by_label("下一位 (Esc)").is_some());
    harness.key_press(egui::Key::Enter);
    // The station answers in order: once the next search's results are back, a print asked
    // for by that Enter would have been refused on screen already.
    replace_text(&mut harness, "搜索", "ls");
    wait_until(&mut harness, "results for ls", |app| app.desk().result_names() == ["李四"]);
    let notice = harness.state().desk().notice().cloned().unwrap();
    assert!(notice.ok, "Enter on a printed badge asked for a refused print: {notice:?}");
    assert_eq!(station.printed().len(), 1);

    click(&mut harness, "下一位 (Esc)");
    assert_eq!(harness.state().desk().query(), "");
    assert!(harness.state().desk().selected().is_none());
    assert!(harness.query_by_label_contains("输入以搜索").is_some(), "ready for the next visitor");
}

/// A desk operator logged in on demo devices lays a card on the simulated SAM reader with
/// the demo panel's button `card` (the real driver reads it over a pseudo-terminal); the
/// walk-in form it pre-fills is open.
fn desk_walk_in_from_card(station: &Station, card: &str) -> Harness<'static, App> {
    let mut harness = desk(station, DeviceSetup::Demo);
    login(&mut harness, "desk", "1234");
    click(&mut harness, card);
    wait_until(&mut harness, "the card pre-fills the walk-in form", |app| {
        app.desk().is_form_open()
    });
    harness
}

#[test]
fn id_card_prefills_a_walk_in_that_is_validated_saved_and_printed() {
    let station = Station::new();
    let mut harness = desk_walk_in_from_card(&station, "放置张三丰的身份证");
    assert!(harness.query_by_label_contains("来自身份证: 张三丰").is_some());
    let id_field = format!("{:?}", harness.get_by_label("证件号码"));
    assert!(!id_field.contains("202311012"), "the card's number is not on screen: {id_field}");
    harness.check_accessibility();

    // Make it invalid on purpose: a bad phone and email, no category.
    type_into(&mut harness, "手机", "12345");
    type_into(&mut harness, "邮箱", "not-an-email");
    click(&mut harness, "保存");
    wait_until(&mut harness, "the validation errors", |app| !app.desk().form_errors().is_empty());
    let fields: Vec<&str> = harness.state().desk().form_errors().iter().map(|(f, _)| *f).collect();
    assert!(
        fields.contains(&"phone") && fields.contains(&"email") && fields.contains(&"category"),
        "{fields:?}"
    );
    assert!(!fields.contains(&"id_number"), "the card's number is valid: {fields:?}");

    // Fix every field: errors clear as they are corrected.
    replace_text(&mut harness, "手机", "13611112222");
    replace_text(&mut harness, "邮箱", "zsf@example.com");
    click(&mut harness, "类别 *");
    click(&mut harness, "媒体");
    type_into(&mut harness, "公司 *", "武当日报");
    // The live check of the corrected form clears the errors (and moves the buttons up)
    // before the operator's eye reaches Save.
    wait_until(&mut harness, "the corrected form checks clean", |app| {
        app.desk().form_errors().is_empty()
    });
    click(&mut harness, "保存");
    wait_until(&mut harness, "the walk-in is saved", |app| !app.desk().is_form_open());
    let saved = harness.state().desk().selected().unwrap().clone();
    assert_eq!(saved.name, "张三丰");
    assert_eq!(saved.category, "media");
    let masked = saved.id_masked.clone().unwrap();
    assert!(masked.contains('*') && !masked.contains("202311012"), "ID number masked: {masked}");
    assert!(harness.query_by_label(&masked).is_some(), "the card shows the masked number");

    // Saving a walk-in prints the badge: no second Enter.
    wait_until(&mut harness, "saving prints the badge", |app| {
        app.desk().selected().is_some_and(|a| a.active_badge() == Some(1))
    });
    step_while(&mut harness, "the badge reaches the printer", |_| station.printed().is_empty());
    assert_eq!(station.printed().len(), 1);
    // The next walk-in's form does not open under the last one's notice.
    harness.key_press(egui::Key::F2);
    harness.step();
    assert!(harness.state().desk().is_form_open());
    assert!(harness.state().desk().notice().is_none(), "{:?}", harness.state().desk().notice());
    assert!(harness.query_by_label_contains("已保存").is_none());
    harness.key_press(egui::Key::Escape);
    harness.step();

    // The same card again opens the attendee instead of a second walk-in.
    click(&mut harness, "拿走身份证");
    std::thread::sleep(Duration::from_millis(600));
    harness.key_press(egui::Key::Escape);
    harness.step();
    click(&mut harness, "放置张三丰的身份证");
    wait_until(&mut harness, "the card opens the registered attendee", |app| {
        app.desk().selected().is_some_and(|a| a.id == saved.id)
    });
    assert!(!harness.state().desk().is_form_open());
}

/// Searches the desk for `query` (the field emptied first) until its results are back.
fn desk_finds(harness: &mut Harness<'static, App>, query: &str) -> Vec<String> {
    replace_text(harness, "搜索", query);
    wait_until(harness, "search results", |app| {
        app.desk().query() == query && !app.desk().result_names().is_empty()
    });
    harness.state().desk().result_names().into_iter().map(str::to_owned).collect()
}

#[test]
fn a_foreign_permanent_residence_card_keeps_both_names_and_the_desk_finds_either() {
    let station = Station::new();
    let mut harness = desk_walk_in_from_card(&station, "放置史密斯的外国人永久居留证");
    assert!(harness.query_by_label_contains("SMITH, JOHN ALEXANDER (史密斯)").is_some());
    click(&mut harness, "类别 *");
    click(&mut harness, "媒体");
    type_into(&mut harness, "公司 *", "Reuters");
    type_into(&mut harness, "邮箱 *", "john.smith@example.com");
    click(&mut harness, "保存");
    wait_until(&mut harness, "the walk-in is saved", |app| {
        !app.desk().is_form_open() && app.desk().selected().is_some()
    });
    let saved = harness.state().desk().selected().unwrap().clone();
    assert_eq!(
        (saved.name.as_str(), saved.chinese_name.as_str()),
        ("SMITH, JOHN ALEXANDER", "史密斯")
    );
    assert!(harness.query_by_label("史密斯").is_some(), "the card shows the Chinese name too");
    let store = Store::open(&station.path()).unwrap();
    let stored = strings(
        &store,
        "SELECT name || ' / ' || chinese_name FROM attendees WHERE chinese_name <> ''",
    );
    assert_eq!(stored, ["SMITH, JOHN ALEXANDER / 史密斯"]);

    // Found by either name, and by the Chinese name's pinyin, in full or as initials.
    for query in ["史密斯", "smith", "alexander", "shimisi", "sms"] {
        let names = desk_finds(&mut harness, query);
        assert!(names.contains(&"SMITH, JOHN ALEXANDER".to_owned()), "{query}: {names:?}");
    }
    // The result row names both.
    assert!(harness.query_by_label_contains("SMITH, JOHN ALEXANDER  ·  史密斯").is_some());
}

#[test]
fn walk_in_warns_about_a_duplicate_phone_with_a_similar_name() {
    let station = Station::new();
    let mut harness = desk(&station, DeviceSetup::None);
    login(&mut harness, "desk", "1234");
    harness.key_press(egui::Key::F2);
    harness.step();
    harness.step();
    assert!(harness.state().desk().is_form_open());
    let name = format!("{:?}", harness.get_by_label("姓名 *"));
    assert!(name.contains("focused: true"), "F2 puts the cursor in the name field: {name}");
    type_into(&mut harness, "姓名 *", "张三");
    type_into(&mut harness, "手机", "13812345678");
    click(&mut harness, "类别 *");
    click(&mut harness, "普通观众");
    click(&mut harness, "保存");
    wait_for_text(&mut harness, "no duplicate warning", "相同手机号且姓名相近");
    assert!(harness.state().desk().is_form_open(), "nothing saved before the operator decides");
    click(&mut harness, "打开已有记录");
    wait_until(&mut harness, "the existing attendee opens", |app| {
        app.desk().selected().is_some_and(|a| a.registration_code.as_deref() == Some("R0001"))
    });
}

#[test]
fn kiosk_confirms_masked_details_prints_and_forgets_the_visitor_when_idle() {
    let station = Station::new();
    let mut config = AppConfig::new(station.path(), Mode::Kiosk);
    config.kiosk_idle_timeout = Duration::from_secs(3);
    // Small frame steps: a wedge scan's keys must arrive at scanner speed.
    let mut harness = open_app(config, 0.02);
    assert!(harness.query_by_label("搜索").is_none(), "a kiosk has no search");
    assert!(harness.query_by_label_contains("请扫描确认二维码或放置身份证").is_some());
    assert!(
        harness.query_by_label_contains("隐私说明").is_some(),
        "what a card read takes, why and for how long is said before any card is read"
    );

    wedge_scan(&mut harness, "R0002");
    wait_until(&mut harness, "the details to confirm", |app| {
        matches!(app.kiosk().step(), KioskStep::Confirm(_))
    });
    assert!(harness.query_by_label("张*丰").is_some(), "the name is masked");
    assert!(harness.query_by_label("张三丰").is_none());
    assert!(harness.query_by_label_contains("****4321").is_some(), "the phone is masked");
    assert!(harness.query_by_label_contains("13987654321").is_none());
    harness.check_accessibility();

    // Nobody touches the screen: back to the welcome screen, the details gone.
    for _ in 0..200 {
        harness.step();
    }
    assert_eq!(harness.state().kiosk().step(), &KioskStep::Welcome);
    assert!(harness.query_by_label("张*丰").is_none());

    wedge_scan(&mut harness, "R0002");
    wait_until(&mut harness, "the details again", |app| {
        matches!(app.kiosk().step(), KioskStep::Confirm(_))
    });
    click(&mut harness, "确认并打印");
    wait_until(&mut harness, "printed", |app| app.kiosk().step() == &KioskStep::Done);
    assert!(harness.query_by_label("请取走您的胸卡，祝您参观愉快！").is_some());
    assert_eq!(station.printed().len(), 1, "\"take your badge\" only once it went out");

    wedge_scan(&mut harness, "NOPE-123");
    for _ in 0..200 {
        harness.step();
    }
    wedge_scan(&mut harness, "NOPE-123");
    wait_until(&mut harness, "the see-the-desk screen", |app| {
        matches!(app.kiosk().step(), KioskStep::SeeDesk { .. })
    });
    assert!(harness.query_by_label("原因代码: E-NOTFOUND").is_some());
}

#[test]
fn kiosk_leaves_only_with_an_admin_pin() {
    let station = Station::new();
    let mut harness = open_app(AppConfig::new(station.path(), Mode::Kiosk), 0.02);
    click(&mut harness, "工作人员");
    type_into(&mut harness, "操作员", "desk");
    type_into(&mut harness, "PIN 码", "1234");
    click(&mut harness, "退出");
    wait_for_text(&mut harness, "a desk PIN was not refused", "E-ROLE");
    assert!(!harness.state().wants_close());
    harness.get_by_label("操作员").focus();
    harness.step();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.get_by_label("操作员").type_text("admin");
    harness.step();
    type_into(&mut harness, "PIN 码", "0000");
    click(&mut harness, "退出");
    wait_until(&mut harness, "the admin PIN closes the kiosk", App::wants_close);
}

#[test]
fn the_language_switch_changes_every_label() {
    let station = Station::new();
    let mut harness = desk(&station, DeviceSetup::None);
    assert!(harness.query_by_label("登录").is_some());
    click(&mut harness, "English");
    assert_eq!(harness.state().lang(), Lang::En);
    assert!(harness.query_by_label("登录").is_none());
    login_en(&mut harness);
    assert!(harness.query_by_label("Search").is_some());
    assert!(harness.query_by_label("New walk-in (F2)").is_some());
    assert!(harness.query_by_label_contains("Sync pending").is_some());
    // The English status bar, wider than the screen, wraps rather than losing its end.
    let today = harness.get_by_label_contains("Today: ").rect();
    assert!(today.max.x <= 1280.0, "{today:?}");
    click(&mut harness, "中文");
    assert!(harness.query_by_label("搜索").is_some());
    assert!(harness.query_by_label_contains("待同步").is_some());
}

fn login_en(harness: &mut Harness<'static, App>) {
    type_into(harness, "Operator", "desk");
    type_into(harness, "PIN", "1234");
    click(harness, "Log in");
    wait_until(harness, "logged in", |app| app.operator().is_some());
}

#[test]
fn admin_mode_shows_operators_and_filters_the_audit_log() {
    let station = Station::new();
    let mut harness = open_app(AppConfig::new(station.path(), Mode::Admin), 0.25);
    login(&mut harness, "admin", "0000");
    click(&mut harness, "操作员管理");
    assert!(harness.query_all_by_label("desk").count() >= 1, "the desk operator is listed");
    click(&mut harness, "审计日志");
    let deadline = Instant::now() + Duration::from_secs(20);
    // Actions in the operator's words, not their keys.
    while harness.query_all_by_label("登记").count() < 3 {
        assert!(Instant::now() < deadline, "no audit entries");
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(harness.query_by_label("register").is_none());
    type_into(&mut harness, "筛选（操作员、动作）", "登记");
    assert!(harness.query_all_by_label("登记").count() >= 3);
    assert!(harness.query_by_label("登录").is_none(), "the filter hides other actions");
    harness.check_accessibility();
}

#[test]
fn the_audit_log_shows_venue_time_whom_each_entry_concerns_and_filters_by_operator_and_action() {
    let station = Station::new();
    let mut harness = open_app(AppConfig::new(station.path(), Mode::Admin), 0.25);
    login(&mut harness, "admin", "0000");
    click(&mut harness, "审计日志");
    step_while(&mut harness, "the audit entries", |h| h.query_all_by_label("登记").count() < 3);
    // The attendee each registration concerns, masked.
    for masked in ["张*", "张*丰", "李*"] {
        assert!(harness.query_by_label(masked).is_some(), "{masked}");
    }
    assert!(harness.query_by_label("张三丰").is_none(), "names masked");
    assert!(harness.query_by_label_contains("Z").is_none(), "no raw UTC time");
    assert!(harness.query_by_label_contains("{").is_none(), "no JSON");
    assert!(harness.query_all_by_label_contains("来源: ").count() >= 3, "the detail's words");
    // Ids in the detail, in the operator's words: the source and the category's label.
    let shown = |h: &Harness<'static, App>| {
        ["来源: 预登记", "类别: 专业观众"].map(|words| h.query_all_by_label_contains(words).count())
    };
    assert_eq!(shown(&harness), [3, 3]);
    for id in ["pre_registered", "professional_visitor"] {
        assert!(harness.query_by_label_contains(id).is_none(), "{id} shown as an id");
    }
    type_into(&mut harness, "筛选（操作员、动作）", "预登记");
    assert_eq!(shown(&harness), [3, 3], "found by the words shown");
    replace_text(&mut harness, "筛选（操作员、动作）", "");

    // Only the admin's entries: its login, none of the registrations.
    harness.get_by_role_and_label(egui::accesskit::Role::ComboBox, "操作者").click();
    harness.step();
    harness.step();
    harness.get_by_role_and_label(egui::accesskit::Role::Button, "admin").click();
    harness.step();
    harness.step();
    assert!(harness.query_by_label("登录").is_some());
    assert_eq!(harness.query_all_by_label("登记").count(), 0);

    // Everyone's registrations.
    harness.get_by_role_and_label(egui::accesskit::Role::ComboBox, "操作者").click();
    harness.step();
    harness.step();
    harness.get_by_role_and_label(egui::accesskit::Role::Button, "全部").click();
    harness.step();
    harness.get_by_role_and_label(egui::accesskit::Role::ComboBox, "动作").click();
    harness.step();
    harness.step();
    harness.get_by_role_and_label(egui::accesskit::Role::Button, "登记").click();
    harness.step();
    harness.step();
    assert_eq!(
        harness.query_all_by_role_and_label(egui::accesskit::Role::Label, "登记").count(),
        3
    );
    assert!(harness.query_by_label("登录").is_none());

    // One attendee's entries, asked for by registration code.
    type_into(&mut harness, "参会者（ID 或注册码）", "R0003");
    click(&mut harness, "刷新");
    step_while(&mut harness, "only R0003's entries", |h| h.query_by_label("张*").is_some());
    assert!(harness.query_by_label("李*").is_some());
    assert!(harness.query_by_label("张*丰").is_none());
    harness.check_accessibility();
}

#[test]
fn the_audit_log_names_roles_and_edited_fields_in_the_operators_words() {
    let station = Station::new();
    {
        let mut store = Store::open(&station.path()).unwrap();
        let admin = Operator::admin("test");
        let mut input = NewAttendee {
            name: "王五".into(),
            company: "旧公司".into(),
            category: "professional_visitor".into(),
            phone: "13611112222".into(),
            ..NewAttendee::default()
        };
        let record =
            expo_kiosk::registration::register(&mut store, &admin, &input, Source::WalkIn).unwrap();
        input.company = "新公司".into();
        input.tags = vec!["VIP".into()];
        let id = expo_kiosk::domain::AttendeeId(record.id);
        expo_kiosk::registration::edit(&mut store, &admin, id, &input).unwrap();
        let csv = "registration_code,name,company,category,phone\n\
                   R0100,赵六,赵氏贸易,professional_visitor,13511112222\n";
        let options = expo_kiosk::registration::import::ImportOptions::default();
        expo_kiosk::registration::import::import_csv(&mut store, &admin, csv.as_bytes(), options)
            .unwrap();
        // A first print: its audit entry has a job, a printer and no reprint reason.
        expo_kiosk::badges::enqueue(&mut store, &admin, id, None, "desk").unwrap();
    }
    let mut harness = open_app(AppConfig::new(station.path(), Mode::Admin), 0.25);
    login(&mut harness, "admin", "0000");
    click(&mut harness, "审计日志");
    step_while(&mut harness, "the audit entries", |h| {
        h.query_by_label_contains("修改的字段").is_none()
    });
    assert!(harness.query_by_label_contains("修改的字段: 公司, 标签").is_some(), "edited fields");
    for role in ["角色: 登记台", "角色: 管理"] {
        assert!(harness.query_all_by_label_contains(role).count() > 0, "{role}");
    }
    for id in ["role: ", "fields", "company", "tags", "角色: desk", "角色: admin"] {
        assert!(harness.query_by_label_contains(id).is_none(), "{id} shown as an id");
    }
    // An import's counts and an operator serving every category, in words too.
    assert!(harness.query_by_label("新增: 1, 更新: 0, 未变: 0, 跳过的错误行: 0").is_some());
    assert!(
        harness.query_all_by_label_contains("类别范围: 全部类别").count() >= 2,
        "desk and admin"
    );
    assert!(harness.query_by_label_contains("打印机: desk").is_some());
    for key in ["created", "skipped_invalid", "null", "job: ", "printer", "reprints"] {
        assert!(harness.query_by_label_contains(key).is_none(), "{key} shown as a key");
    }
}

#[test]
fn the_dashboard_shows_the_day_and_exports_a_chart_as_csv() {
    let station = Station::new();
    let mut harness = open_app(AppConfig::new(station.path(), Mode::Admin), 0.25);
    login(&mut harness, "admin", "0000");
    wait_for_text(&mut harness, "the dashboard never loaded", "更新于");
    assert!(harness.query_by_label("今日登记").is_some());
    assert!(harness.query_by_label("每小时登记（按来源）").is_some());
    assert!(harness.query_by_label("各区域当前在场人数").is_some());

    harness.query_all_by_label("导出 CSV").next().unwrap().click();
    wait_for_text(&mut harness, "no export notice", "已导出到");
    let exports: Vec<_> = std::fs::read_dir(station.path().join("exports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(exports.len(), 1, "{exports:?}");
    let name = exports[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(name.starts_with("registrations_by_source-") && name.ends_with(".csv"), "{name}");
    let csv = std::fs::read_to_string(&exports[0]).unwrap();
    let registered: u32 = csv
        .lines()
        .skip(1)
        .map(|line| line.rsplit(',').next().unwrap().parse::<u32>().unwrap())
        .sum();
    assert_eq!(registered, 3, "the three pre-registered attendees: {csv}");
    assert!(csv.lines().next().unwrap().contains("预登记"), "{csv}");

    type_into(&mut harness, "日期 (YYYY-MM-DD，空为今天)", "24/11");
    assert!(harness.query_by_label_contains("日期格式应为 YYYY-MM-DD").is_some());
    harness.check_accessibility();
}

#[test]
fn kiosk_sends_the_visitor_to_the_desk_when_the_printer_fails() {
    let station = Station::new();
    // The printer's hot folder is gone (unplugged share, full disk...): sending fails.
    std::fs::remove_dir(station.path().join("printed")).unwrap();
    let mut harness = open_app(AppConfig::new(station.path(), Mode::Kiosk), 0.02);
    wedge_scan(&mut harness, "R0002");
    wait_until(&mut harness, "the details to confirm", |app| {
        matches!(app.kiosk().step(), KioskStep::Confirm(_))
    });
    click(&mut harness, "确认并打印");
    wait_until(&mut harness, "the see-the-desk screen", |app| {
        app.kiosk().step() == &KioskStep::SeeDesk { code: "E-PRINT".into() }
    });
    assert!(station.printed().is_empty());
}

#[test]
fn admin_previews_a_badge_template_and_makes_it_the_events() {
    let station = Station::new();
    // The save button sits below the template's preview: the window must reach it.
    let mut harness = admin_app(&station);
    login(&mut harness, "admin", "0000");
    click(&mut harness, "活动设置");
    // The event's own template first, laid out by the badge code.
    wait_for_text(&mut harness, "the event's template", "90 × 130 mm lanyard badge");
    click(&mut harness, "选择胸卡模板");
    click(&mut harness, "cr80");
    wait_for_text(&mut harness, "the CR80 preview", "CR80 card, 85.6 × 54 mm");
    click(&mut harness, "保存更改");
    wait_for_text(&mut harness, "the template was not saved", "已保存");
    let store = Store::open(&station.path()).unwrap();
    assert_eq!(store.event().unwrap().definition.event.badge_template, "cr80");
    assert_eq!(event_updates_by(&store, "admin"), 1, "audited under the admin's name");
    harness.check_accessibility();
}

/// An admin app tall enough to show the whole event editor (clicks land on screen).
fn admin_app(station: &Station) -> Harness<'static, App> {
    open_app_sized(AppConfig::new(station.path(), Mode::Admin), 0.25, [1280.0, 1800.0])
}

/// The admin's event editor, logged in as admin, once the stored event has arrived.
fn event_editor(station: &Station) -> Harness<'static, App> {
    let mut harness = admin_app(station);
    login(&mut harness, "admin", "0000");
    click(&mut harness, "活动设置");
    wait_for_text(&mut harness, "the event editor", "保存更改");
    harness
}

fn event_updates_by(store: &Store, actor: &str) -> i64 {
    store
        .conn()
        .query_row(
            "SELECT count(*) FROM audit WHERE action = 'event_update' AND actor = ?1",
            [actor],
            |r| r.get(0),
        )
        .unwrap()
}

fn is_enabled(harness: &Harness<'static, App>, label: &str) -> bool {
    !harness.get_by_label(label).accesskit_node().is_disabled()
}

fn save_is_enabled(harness: &Harness<'static, App>) -> bool {
    is_enabled(harness, "保存更改")
}

#[test]
fn admin_edits_a_categorys_hours_and_a_zone_label_and_saves_them_for_every_station() {
    let station = Station::new();
    let mut harness = event_editor(&station);
    assert!(!save_is_enabled(&harness), "nothing to save before an edit");

    click(&mut harness, "professional_visitor · 专业观众");
    assert_eq!(harness.get_by_label("结束时间 (HH:MM)").value().as_deref(), Some("17:00"));
    replace_text(&mut harness, "结束时间 (HH:MM)", "18:30");
    click(&mut harness, "hall-1 · 1号馆");
    replace_text(&mut harness, "区域英文名", "Hall One (North)");
    assert!(harness.query_by_label_contains("保存前请更正").is_none(), "the edit is valid");
    assert!(save_is_enabled(&harness));
    harness.check_accessibility();
    click(&mut harness, "保存更改");
    wait_for_text(&mut harness, "the saved notice", "已保存");

    let store = Store::open(&station.path()).unwrap();
    let definition = &store.event().unwrap().definition;
    let (_, visitor) = definition.category("professional_visitor").unwrap();
    assert_eq!(visitor.access[0].to, chrono::NaiveTime::from_hms_opt(18, 30, 0).unwrap());
    assert_eq!(definition.zone("hall-1").unwrap().name_en, "Hall One (North)");
    assert_eq!(event_updates_by(&store, "admin"), 1);
    let detail: String = store
        .conn()
        .query_row("SELECT detail FROM audit WHERE action = 'event_update'", [], |r| r.get(0))
        .unwrap();
    assert!(detail.contains("category:professional_visitor") && detail.contains("zone:hall-1"));
    let queued = strings(&store, "SELECT change FROM outbox WHERE kind = 'event' ORDER BY seq");
    assert_eq!(queued.len(), 2, "the event at init, then the edit");
    assert!(queued[1].contains("Hall One (North)"), "the edit is what the hub receives");
    // The editor reloads the stored definition: nothing is left to save or revert.
    step_while(&mut harness, "the editor reloads the saved event", |h| is_enabled(h, "撤销更改"));
    assert!(!save_is_enabled(&harness));
    assert_eq!(harness.get_by_label("结束时间 (HH:MM)").value().as_deref(), Some("18:30"));
}

#[test]
fn an_event_ending_before_it_starts_is_shown_and_cannot_be_saved() {
    let station = Station::new();
    let mut harness = event_editor(&station);
    let first_day = chrono::Local::now().date_naive();
    let before = first_day.pred_opt().unwrap().to_string();
    replace_text(&mut harness, "结束日期 (YYYY-MM-DD)", &before);
    // Under the field and in the list above the save button.
    let deadline = Instant::now() + Duration::from_secs(20);
    while harness.query_all_by_label_contains("结束日期早于开始日期").count() < 2 {
        assert!(Instant::now() < deadline, "the error never showed");
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!save_is_enabled(&harness));
    click(&mut harness, "保存更改");
    click(&mut harness, "撤销更改");
    assert!(harness.query_by_label_contains("结束日期早于开始日期").is_none());
    assert_eq!(
        harness.get_by_label("结束日期 (YYYY-MM-DD)").value(),
        Some((first_day + chrono::Days::new(3)).to_string())
    );
    let store = Store::open(&station.path()).unwrap();
    assert_eq!(event_updates_by(&store, "admin"), 0, "nothing was saved");
    harness.check_accessibility();
}

#[test]
fn a_desk_operator_cannot_reach_the_event_editor() {
    let station = Station::new();
    let mut harness = admin_app(&station);
    type_into(&mut harness, "操作员", "desk");
    type_into(&mut harness, "PIN 码", "1234");
    click(&mut harness, "登录");
    wait_for_text(&mut harness, "the refusal", "当前角色无权执行此操作");
    assert!(harness.state().operator().is_none());
    assert!(harness.query_by_label("活动设置").is_none());
}

/// Logs in as admin, opens the Devices tab and its printer list once the station worker's
/// choices have arrived (the list open, showing the configured printers).
fn open_printer_choices(harness: &mut Harness<'static, App>) {
    login(harness, "admin", "0000");
    click(harness, "设备设置");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        click(harness, "打印机");
        if harness.query_by_label("desk").is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the configured printers never arrived");
        harness.key_press(egui::Key::Escape);
        harness.step();
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn admin_prints_a_test_badge_on_the_chosen_printer_and_hears_how_it_went() {
    let station = Station::new();
    let mut harness = open_app(AppConfig::new(station.path(), Mode::Admin), 0.25);
    open_printer_choices(&mut harness);
    click(&mut harness, "desk");
    click(&mut harness, "打印测试胸卡");
    wait_for_text(&mut harness, "the test print's notice", "测试胸卡已发送到打印机: desk");
    assert_eq!(station.printed().len(), 1, "the PDF reached the printer's hot folder");
    assert!(!station.path().join("devices.toml").exists(), "trying a printer saves nothing");

    // The printer's folder is gone: the failure is said, in the operator's language.
    std::fs::remove_dir_all(station.path().join("printed")).unwrap();
    click(&mut harness, "打印测试胸卡");
    wait_for_text(&mut harness, "the failed test print", "打印失败: ");
    assert!(harness.query_by_label_contains("测试胸卡已发送").is_none(), "the old notice went");
    harness.check_accessibility();
}

/// A camera simulator playing a badge held up to it, as `[camera] frames = "DIR"` in the
/// station's devices.toml; returns the settings read back.
fn camera_playing_a_badge(station: &Station, code: &str) -> DeviceSettings {
    let frames = station.path().join("camera-frames");
    std::fs::create_dir_all(&frames).unwrap();
    let frame = expo_hardware::qr::corpus::held_up_frame(code).unwrap();
    frame.save(frames.join("confirmation.png")).unwrap();
    std::fs::write(
        station.path().join("devices.toml"),
        format!("[camera]\nframes = {:?}\n", frames.display().to_string()),
    )
    .unwrap();
    let settings = DeviceSettings::load(&station.path()).unwrap();
    assert_eq!(settings.camera, Some(CameraChoice::Frames(frames)));
    settings
}

#[test]
fn the_status_bar_and_the_devices_tab_say_how_the_camera_is_linked() {
    let station = Station::new();
    let settings = camera_playing_a_badge(&station, "R0003");
    let mut harness = desk(&station, DeviceSetup::Ports(settings.clone()));
    login(&mut harness, "desk", "1234");
    wait_for_text(&mut harness, "the status bar", "摄像头扫码: 已连接");
    assert!(harness.query_by_label("扫码枪: 未配置").is_some(), "beside the scanner's");
    drop(harness);

    // The admin's camera row: the saved choice, how the camera runs now, a new folder saved.
    let mut config = AppConfig::new(station.path(), Mode::Admin);
    config.devices = DeviceSetup::Ports(settings);
    let mut harness = open_app(config, 0.25);
    open_printer_choices(&mut harness);
    harness.key_press(egui::Key::Escape);
    harness.step();
    assert_eq!(harness.query_all_by_label("当前: 已连接").count(), 1, "the camera's row");
    assert_eq!(harness.query_all_by_label("当前: 未配置").count(), 2, "scanner and reader");
    let other = station.path().join("other-frames");
    replace_text(&mut harness, "图片文件或文件夹", &other.display().to_string());
    click(&mut harness, "保存");
    wait_for_text(&mut harness, "the saved notice", "已保存，重启应用后生效");
    let saved = DeviceSettings::load(&station.path()).unwrap();
    assert_eq!(saved.camera, Some(CameraChoice::Frames(other)));
    harness.check_accessibility();
}

#[test]
fn admin_device_settings_are_saved_for_the_next_start() {
    let station = Station::new();
    let mut harness = open_app(AppConfig::new(station.path(), Mode::Admin), 0.25);
    open_printer_choices(&mut harness);
    assert!(harness.query_by_label("printers.toml 默认 (desk)").is_some());
    click(&mut harness, "desk");
    click(&mut harness, "保存");
    wait_for_text(&mut harness, "the saved notice", "已保存，重启应用后生效");
    let saved = std::fs::read_to_string(station.path().join("devices.toml")).unwrap();
    assert_eq!(saved.trim(), "printer = \"desk\"");
    let store = Store::open(&station.path()).unwrap();
    let audited: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM audit WHERE action = 'device_settings'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(audited, 1);
    harness.check_accessibility();
}

#[test]
fn the_print_queue_shows_a_failed_badge_and_retries_it_once_the_printer_is_back() {
    let station = Station::new();
    // The hot folder is gone and the printer is tried once: the job fails at once.
    let spool = station.path().join("printed");
    std::fs::remove_dir(&spool).unwrap();
    std::fs::write(
        station.path().join("printers.toml"),
        format!(
            "default = \"desk\"\nretry = {{ max_attempts = 1, backoff_seconds = 0, max_backoff_seconds = 0 }}\n\
             [[printer]]\nname = \"desk\"\nkind = \"spool\"\ndir = {:?}\n",
            spool.display().to_string()
        ),
    )
    .unwrap();
    let mut harness = desk(&station, DeviceSetup::None);
    login(&mut harness, "desk", "1234");
    open_by_scan(&mut harness, "R0002");
    harness.key_press(egui::Key::Enter);
    wait_for_text(&mut harness, "the failed print", "打印失败");

    wait_for_text(&mut harness, "the status bar's failed count", "0 等待 · 1 失败");
    assert!(harness.query_by_label_contains("3 登记 · 0 打印").is_some(), "nothing printed yet");
    harness.get_by_label_contains("打印队列: ").click();
    wait_until(&mut harness, "the queue window lists the job", |app| {
        app.print_queue().jobs().len() == 1
    });
    assert_eq!(harness.state().print_queue().jobs()[0].attendee_name, "张三丰");
    assert_eq!(harness.query_all_by_label("张三丰").count(), 2, "the card and the queue's row");
    let error = harness.state().print_queue().jobs()[0].last_error.clone().unwrap();
    assert!(error.to_string().contains("cannot write to the spool folder"), "{error}");
    // The stored problem is worded in the operator's language, not the library's English.
    let shown = harness.query_all_by_label_contains("无法写入打印文件夹").count();
    assert_eq!(shown, 2, "the desk's notice and the queue's row");
    let english = harness.query_all_by_label_contains("cannot write to the spool folder").count();
    assert_eq!(english, 0, "no English reason on the Chinese screen");

    // The printer is back: one click sends the badge, once.
    std::fs::create_dir(&spool).unwrap();
    click(&mut harness, "重试失败的任务 (1)");
    wait_for_text(&mut harness, "the job went out", "已发送到打印机");
    wait_for_text(&mut harness, "the status bar's counts", "0 等待 · 0 失败");
    wait_for_text(&mut harness, "today's printed count", "3 登记 · 1 打印");
    assert_eq!(station.printed().len(), 1);
    assert!(!is_enabled(&harness, "重试失败的任务 (0)"), "nothing left to retry");
    harness.check_accessibility();
}

#[test]
fn admin_replaces_a_desk_pin_and_disables_the_operator_who_left() {
    let station = Station::new();
    let mut harness = open_app(AppConfig::new(station.path(), Mode::Admin), 0.25);
    login(&mut harness, "admin", "0000");
    click(&mut harness, "操作员管理");
    wait_for_text(&mut harness, "the operators", "修改 desk");

    click(&mut harness, "修改 desk");
    type_into(&mut harness, "新 PIN（留空则不变）", "8642");
    // Exhibitors only: the desk handles that category's attendees and no others.
    click(&mut harness, "参展商");
    click(&mut harness, "保存");
    wait_for_text(&mut harness, "the new PIN saved", "已保存: desk");
    let mut store = Store::open(&station.path()).unwrap();
    assert!(operators::login(&mut store, "desk", "1234").is_err(), "the old PIN is gone");
    let desk = operators::login(&mut store, "desk", "8642").unwrap();
    assert_eq!(desk.categories, ["exhibitor"]);

    click(&mut harness, "修改 desk");
    click(&mut harness, "可以登录");
    click(&mut harness, "保存");
    wait_for_text(&mut harness, "the operator disabled", "已停用");
    assert!(operators::login(&mut store, "desk", "8642").is_err(), "disabled");

    // The station's only admin cannot disable itself: the change is refused and said.
    click(&mut harness, "修改 admin");
    click(&mut harness, "可以登录");
    click(&mut harness, "保存");
    wait_for_text(&mut harness, "the refusal", "这是本站最后一个可登录的管理员");
    assert!(operators::login(&mut store, "admin", "0000").is_ok());
    harness.check_accessibility();
}

#[test]
fn only_a_role_that_may_sees_the_full_id_number_and_only_for_a_while() {
    let station = Station::new();
    {
        let mut store = Store::open(&station.path()).unwrap();
        let input = NewAttendee {
            registration_code: "R0009".into(),
            name: "王五".into(),
            company: "上海展览有限公司".into(),
            category: "professional_visitor".into(),
            phone: "13600001111".into(),
            id_type: "resident_id".into(),
            id_number: "11010519491231002X".into(),
            consent: true,
            ..NewAttendee::default()
        };
        register_as_test(&mut store, &input);
    }
    let reveal = "显示完整号码（留审计记录）";
    let mut harness = desk(&station, DeviceSetup::None);
    login(&mut harness, "desk", "1234");
    open_by_scan(&mut harness, "R0009");
    assert!(harness.query_by_label_contains("002X").is_some(), "the masked number shows");
    assert!(harness.query_by_label(reveal).is_none(), "a desk role may not reveal");
    click(&mut harness, "退出登录");
    wait_until(&mut harness, "logged out", |app| app.operator().is_none());

    login(&mut harness, "admin", "0000");
    open_by_scan(&mut harness, "R0009");
    click(&mut harness, reveal);
    wait_for_text(&mut harness, "the full number", "11010519491231002X");
    let store = Store::open(&station.path()).unwrap();
    let reveals: i64 = store
        .conn()
        .query_row(
            "SELECT count(*) FROM audit WHERE action = 'reveal_id' AND actor = 'admin'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(reveals, 1, "the reveal is audited");
    // Half a minute later (frames of 0.25 s) the number is masked again.
    for _ in 0..130 {
        harness.step();
    }
    assert!(harness.query_by_label_contains("11010519491231002X").is_none());
    assert!(harness.query_by_label(reveal).is_some());
    harness.check_accessibility();

    // The audit log says whose number was shown (the name masked), in the operator's words.
    click(&mut harness, "管理");
    click(&mut harness, "审计日志");
    step_while(&mut harness, "the reveal in the audit log", |h| {
        h.query_by_label("查看完整证件号").is_none()
    });
    harness.get_by_role_and_label(egui::accesskit::Role::ComboBox, "动作").click();
    harness.step();
    harness.step();
    harness.get_by_role_and_label(egui::accesskit::Role::Button, "查看完整证件号").click();
    harness.step();
    harness.step();
    assert_eq!(harness.query_all_by_label("王*").count(), 1, "whose number: 王五, masked");
    assert!(harness.query_by_label("王五").is_none());
}

/// The demo event with its kiosks registering walk-ins in `category`, or in none.
fn event_with_kiosk_walk_ins(category: Option<&str>) -> String {
    let demo = demo_event_toml(chrono::Local::now().date_naive());
    let setting = "kiosk_walk_in_category = \"public_visitor\"\n";
    assert!(demo.contains(setting), "the demo event lets kiosks register walk-ins");
    let replacement = category.map(|c| format!("kiosk_walk_in_category = \"{c}\"\n"));
    demo.replace(setting, replacement.as_deref().unwrap_or_default())
}

/// A kiosk with the demo's simulated ID-card reader, and its panel to tap cards.
fn kiosk_with_card_reader(station: &Station, idle_seconds: u64) -> Harness<'static, App> {
    let mut config = AppConfig::new(station.path(), Mode::Kiosk);
    config.devices = DeviceSetup::Demo;
    config.kiosk_idle_timeout = Duration::from_secs(idle_seconds);
    open_app(config, 0.02)
}

fn attendee_count(station: &Station) -> i64 {
    let store = Store::open(&station.path()).unwrap();
    store.conn().query_row("SELECT count(*) FROM attendees", [], |r| r.get(0)).unwrap()
}

/// A kiosk registering walk-ins in `category` whose visitor laid a card nobody holds on
/// its reader (the demo panel's button `card`): at the register step.
fn kiosk_walk_in_from_card(
    category: &str,
    idle_seconds: u64,
    card: &str,
) -> (Station, Harness<'static, App>) {
    let station = Station::with_event(&event_with_kiosk_walk_ins(Some(category)));
    let mut harness = kiosk_with_card_reader(&station, idle_seconds);
    click(&mut harness, card);
    wait_until(&mut harness, "the register step", |app| app.kiosk().step() == &KioskStep::Register);
    (station, harness)
}

#[test]
fn a_kiosk_walk_in_from_a_foreign_permanent_residence_card_keeps_both_names() {
    let (station, mut harness) =
        kiosk_walk_in_from_card("public_visitor", 60, "放置史密斯的外国人永久居留证");
    assert!(harness.query_by_label("SMITH, JOHN ALEXANDER 史密斯").is_some(), "both names shown");
    type_into(&mut harness, "手机", "13611112222");
    click(&mut harness, "保存并打印胸卡");
    step_while(&mut harness, "saved", |_| attendee_count(&station) == 3);
    let store = Store::open(&station.path()).unwrap();
    let stored = strings(
        &store,
        "SELECT name || ' / ' || chinese_name FROM attendees WHERE source = 'self_service'",
    );
    assert_eq!(stored, ["SMITH, JOHN ALEXANDER / 史密斯"]);
}

#[test]
fn kiosk_registers_an_unknown_id_card_as_a_walk_in_and_prints_the_badge() {
    // Trade visitors must give their company: the kiosk asks for it as well as the phone.
    let (station, mut harness) =
        kiosk_walk_in_from_card("professional_visitor", 5, "放置张三丰的身份证");
    assert!(harness.state().kiosk().has_walk_in_form());
    // The card's details: the holder's own name in full, the number only masked.
    assert!(harness.query_by_label("张三丰").is_some());
    assert!(harness.query_by_label("男 M").is_some());
    assert!(harness.query_by_label("2023-11-01").is_some());
    assert!(harness.query_by_label("1101**********2176").is_some());
    assert!(harness.query_by_label_contains("202311012").is_none(), "no full ID number");
    assert!(harness.query_by_label("邮箱").is_none(), "only what the category requires");
    harness.check_accessibility();

    // A bad phone and no company: plain words under each field, nothing saved.
    type_into(&mut harness, "手机", "12345");
    click(&mut harness, "保存并打印胸卡");
    wait_for_text(&mut harness, "the phone's problem", "请输入您的手机号码");
    assert!(harness.query_by_label("请填写您的单位名称").is_some());
    assert_eq!(harness.state().kiosk().step(), &KioskStep::Register, "Save did not proceed");
    assert_eq!(attendee_count(&station), 3, "nothing saved");
    harness.check_accessibility();

    replace_text(&mut harness, "手机", "13611112222");
    type_into(&mut harness, "公司", "武当派");
    assert!(harness.query_by_label_contains("请输入您的手机号码").is_none(), "fixed fields clear");
    click(&mut harness, "保存并打印胸卡");
    wait_until(&mut harness, "saved and printed", |app| app.kiosk().step() == &KioskStep::Done);
    assert!(!harness.state().kiosk().has_walk_in_form(), "the card's data went with the form");
    let printed = station.printed();
    assert_eq!(printed.len(), 1, "{printed:?}");
    assert!(std::fs::read(&printed[0]).unwrap().starts_with(b"%PDF"));

    // Saved as a desk walk-in is, under the kiosk's name: audited and queued for the hub.
    let store = Store::open(&station.path()).unwrap();
    let (category, source, company, id_masked, phone): (String, String, String, String, String) =
        store
            .conn()
            .query_row(
                "SELECT category, source, company, id_masked, phone FROM attendees \
                 WHERE name = '张三丰' AND registration_code IS NULL",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
    assert_eq!(
        (category.as_str(), source.as_str(), company.as_str(), phone.as_str()),
        ("professional_visitor", "self_service", "武当派", "13611112222")
    );
    assert_eq!(id_masked, "1101**********2176");
    let details = strings(
        &store,
        "SELECT detail FROM audit WHERE action = 'register' AND actor LIKE 'kiosk@%'",
    );
    assert_eq!(details.len(), 1, "{details:?}");
    assert!(details[0].contains("self_service"), "{details:?}");
    let queued = strings(&store, "SELECT change FROM outbox WHERE kind = 'attendee'");
    assert_eq!(
        queued.iter().filter(|change| change.contains("武当派")).count(),
        1,
        "the walk-in is queued for the hub"
    );
    drop(store);

    // Another visitor starts typing and walks away: the form and the card's data go.
    click(&mut harness, "拿走身份证");
    wait_until(&mut harness, "the welcome screen", |app| app.kiosk().step() == &KioskStep::Welcome);
    click(&mut harness, "放置新访客身份证");
    wait_until(&mut harness, "the next register step", |app| {
        app.kiosk().step() == &KioskStep::Register
    });
    type_into(&mut harness, "手机", "13622223333");
    for _ in 0..400 {
        harness.step();
    }
    assert_eq!(harness.state().kiosk().step(), &KioskStep::Welcome);
    assert!(!harness.state().kiosk().has_walk_in_form());
    assert!(harness.query_by_label("手机").is_none());
    assert!(harness.query_by_label_contains("13622223333").is_none());
    assert!(harness.query_by_label_contains("**********").is_none(), "no card details left");
}

#[test]
fn kiosk_without_the_walk_in_setting_sends_an_unknown_card_to_the_desk() {
    let station = Station::with_event(&event_with_kiosk_walk_ins(None));
    let mut harness = kiosk_with_card_reader(&station, 45);
    click(&mut harness, "放置张三丰的身份证");
    wait_until(&mut harness, "the see-the-desk screen", |app| {
        app.kiosk().step() == &KioskStep::SeeDesk { code: "E-NOREG".into() }
    });
    assert!(harness.query_by_label("原因代码: E-NOREG").is_some());
    assert!(!harness.state().kiosk().has_walk_in_form());
    assert!(harness.query_by_label("手机").is_none());
}

#[test]
fn kiosk_walk_in_with_a_known_phone_and_similar_name_goes_to_the_desk_showing_nobody_else() {
    // The demo event: walk-ins register as visitors, who need only a phone.
    let station = Station::new();
    let mut harness = kiosk_with_card_reader(&station, 45);
    click(&mut harness, "放置张三丰的身份证");
    wait_until(&mut harness, "the register step", |app| app.kiosk().step() == &KioskStep::Register);
    assert!(harness.query_by_label("公司").is_none(), "visitors need no company");
    // R0002 is 张三丰 of 武当科技 with this phone.
    type_into(&mut harness, "手机", "13987654321");
    click(&mut harness, "保存并打印胸卡");
    wait_until(&mut harness, "the see-the-desk screen", |app| {
        app.kiosk().step() == &KioskStep::SeeDesk { code: "E-DUPLICATE".into() }
    });
    assert!(harness.query_by_label("原因代码: E-DUPLICATE").is_some());
    for other in ["武当科技", "4321", "张*丰", "R0002"] {
        assert!(harness.query_by_label_contains(other).is_none(), "{other} is on screen");
    }
    assert!(harness.query_by_label("张三丰").is_none(), "no name but the demo panel's");
    assert!(!harness.state().kiosk().has_walk_in_form());
    assert_eq!(attendee_count(&station), 3, "nothing saved");
    assert!(station.printed().is_empty());
}

#[test]
fn admin_sets_and_clears_the_category_kiosks_register_walk_ins_in() {
    let station = Station::new();
    let mut harness = event_editor(&station);
    click(&mut harness, "自助机现场登记类别");
    click(&mut harness, "无（请访客到登记台）");
    assert!(save_is_enabled(&harness));
    harness.check_accessibility();
    click(&mut harness, "保存更改");
    wait_for_text(&mut harness, "the saved notice", "已保存");
    let kiosk_category = || {
        let store = Store::open(&station.path()).unwrap();
        let category = store.event().unwrap().definition.event.kiosk_walk_in_category.clone();
        category
    };
    assert_eq!(kiosk_category(), None, "kiosks send walk-ins to a desk now");
    let store = Store::open(&station.path()).unwrap();
    let detail = strings(&store, "SELECT detail FROM audit WHERE action = 'event_update'");
    assert!(detail[0].contains("kiosk_walk_in_category"), "{detail:?}");
    drop(store);

    // Once the editor holds the saved event again, pick a category.
    step_while(&mut harness, "the editor reloads the saved event", |h| is_enabled(h, "撤销更改"));
    click(&mut harness, "自助机现场登记类别");
    click(&mut harness, "专业观众 (professional_visitor)");
    click(&mut harness, "保存更改");
    step_while(&mut harness, "the category is saved", |_| {
        kiosk_category().as_deref() != Some("professional_visitor")
    });
}

/// Keys one frame apart, as a slow screen (software rendering) hands a scanner's burst on.
fn keys_one_frame_apart(harness: &mut Harness<'static, App>, code: &str) {
    one_key_per_frame(harness, code);
    harness.input_mut().events.push(enter_pressed());
    harness.step();
}

#[test]
fn a_wider_keyboard_scan_gap_reads_a_scan_that_a_slow_screen_spread_over_frames() {
    let station = Station::new();
    // Frames 150 ms apart: with the default 50 ms gap a burst reads as typing.
    let mut config = AppConfig::new(station.path(), Mode::Desk);
    let mut harness = open_app(config, 0.15);
    login(&mut harness, "desk", "1234");
    keys_one_frame_apart(&mut harness, "R0002");
    wait_until(&mut harness, "the keys to land in the search field", |app| {
        app.desk().query() == "R0002"
    });
    assert!(harness.state().desk().selected().is_none());

    config = AppConfig::new(station.path(), Mode::Desk);
    config.wedge.max_gap = Duration::from_millis(200);
    let mut harness = open_app(config, 0.15);
    login(&mut harness, "desk", "1234");
    keys_one_frame_apart(&mut harness, "R0002");
    wait_until(&mut harness, "the scan opens the attendee", |app| {
        app.desk().selected().is_some_and(|a| a.registration_code.as_deref() == Some("R0002"))
    });
    assert_eq!(harness.state().desk().query(), "", "a scan is not typed into the search field");
}

#[test]
fn a_desk_verifies_a_badge_from_a_station_whose_key_arrived_by_sync_without_a_restart() {
    let station = Station::new();
    // Another desk of the event, joined from this station's bundle, with its own key.
    let other_dir = tempfile::tempdir().unwrap();
    let token = {
        let bundle =
            expo_kiosk::provisioning::export(&Store::open(&station.path()).unwrap(), true).unwrap();
        let mut other = Store::open(other_dir.path()).unwrap();
        expo_kiosk::provisioning::import(
            &mut other,
            &expo_kiosk::operators::Operator::admin("test"),
            &bundle,
            true,
        )
        .unwrap();
        let input = NewAttendee {
            registration_code: "R0100".into(),
            name: "王五".into(),
            company: "杭州会展".into(),
            category: "professional_visitor".into(),
            phone: "13600002222".into(),
            consent: true,
            ..NewAttendee::default()
        };
        let record = expo_kiosk::registration::register(
            &mut other,
            &expo_kiosk::operators::Operator::admin("desk2"),
            &input,
            Source::WalkIn,
        )
        .unwrap();
        let id = expo_kiosk::domain::AttendeeId(record.id);
        expo_kiosk::registration::badge::ensure_badge(
            &mut other,
            &expo_kiosk::operators::Operator::admin("desk2"),
            id,
        )
        .unwrap()
        .token
    };
    let mut harness = desk(&station, DeviceSetup::None);
    login(&mut harness, "desk", "1234");
    wedge_scan(&mut harness, &token);
    wait_for_text(&mut harness, "the unknown key refused", "unknown_key");

    // The other desk's changes (the attendee, the badge, and its key as the hub's
    // organiser authority endorsed it) arrive through sync's own connection, as the sync
    // worker writes them.
    let other = expo_kiosk::station_sync::StoreOutbox::open(other_dir.path()).unwrap();
    let here = expo_kiosk::station_sync::StoreOutbox::open(&station.path()).unwrap();
    endorsed::apply_with_endorsed_key(&other, &here);

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        wedge_scan(&mut harness, &token);
        std::thread::sleep(Duration::from_millis(200));
        harness.step();
        if harness.state().desk().selected().is_some_and(|a| a.name == "王五") {
            break;
        }
        assert!(Instant::now() < deadline, "the desk never learnt the other desk's key");
    }
}

#[test]
fn a_kiosk_station_registers_only_the_holder_of_the_card_it_just_read() {
    use expo_kiosk::station::{Failure, Request, Response, StationHandle};

    let station = Station::new();
    let handle = StationHandle::open(station.path(), || {}).unwrap();
    let next = || -> Response {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match handle.try_recv() {
                Some(Response::Ready(_) | Response::Status(_)) => {}
                Some(response) => return response,
                None => {
                    assert!(Instant::now() < deadline, "the station never answered");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    };
    handle.send(Request::StartKiosk);
    assert!(matches!(next(), Response::LoggedIn(_)));
    // No card was read: a registration sent straight to the station, with someone's
    // number typed in, is refused.
    let typed = NewAttendee {
        name: "赵六".into(),
        category: "public_visitor".into(),
        phone: "13600003333".into(),
        id_type: "resident_id".into(),
        id_number: "11010519491231002X".into(),
        consent: true,
        ..NewAttendee::default()
    };
    handle.send(Request::Register(typed));
    match next() {
        Response::Failed(failure @ Failure::Refused(_)) => {
            assert_eq!(failure.reason_code(), "E-REFUSED")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let store = Store::open(&station.path()).unwrap();
    let registered: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM attendees WHERE name = '赵六'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(registered, 0);
}

// ---- Issue 21: day one at the desk, the kiosk and the dashboard ----

fn one_key_per_frame(harness: &mut Harness<'static, App>, text: &str) {
    for key in text.chars() {
        harness.input_mut().events.push(egui::Event::Text(key.to_string()));
        harness.step();
    }
}

/// A person's keys, one frame apart (slower than any scanner).
fn keys_typed(harness: &mut Harness<'static, App>, text: &str) {
    one_key_per_frame(harness, text);
    // The wedge detector hands the last key on once the scanner-speed gap has passed.
    harness.step();
}

#[test]
fn the_desk_search_field_edits_at_the_caret_backspace_and_input_method_included() {
    let station = Station::new();
    let mut harness = desk(&station, DeviceSetup::None);
    login(&mut harness, "desk", "1234");

    keys_typed(&mut harness, "4362");
    assert_eq!(harness.state().desk().query(), "4362");
    harness.key_press(egui::Key::Backspace);
    harness.step();
    assert_eq!(harness.state().desk().query(), "436", "Backspace removes the last digit");

    // Home, then a key: it lands where the caret is, and the caret moves after it.
    harness.key_press(egui::Key::Home);
    harness.step();
    keys_typed(&mut harness, "9");
    harness.key_press(egui::Key::Delete);
    harness.step();
    assert_eq!(harness.state().desk().query(), "936");

    // An input method's commit lands at the caret too (here the end).
    harness.key_press(egui::Key::End);
    harness.step();
    harness.input_mut().events.push(egui::Event::Ime(egui::ImeEvent::Commit("张".into())));
    harness.step();
    keys_typed(&mut harness, "8");
    assert_eq!(harness.state().desk().query(), "936张8");

    // Esc clears; typing starts afresh at the start.
    harness.key_press(egui::Key::Escape);
    harness.step();
    keys_typed(&mut harness, "zs");
    harness.key_press(egui::Key::Backspace);
    harness.step();
    assert_eq!(harness.state().desk().query(), "z");
}

#[test]
fn admin_opened_from_the_desk_lists_every_operator_and_the_audit_log_at_once() {
    let station = Station::new();
    let mut harness = desk(&station, DeviceSetup::None);
    login(&mut harness, "admin", "0000");
    click(&mut harness, "管理");
    click(&mut harness, "操作员管理");
    wait_for_text(&mut harness, "the operator list", "修改 desk");
    assert!(harness.query_by_label("修改 admin").is_some(), "every operator is listed");

    // The name field, not the column header of the same words.
    let name_field = harness
        .get_all_by_label("操作员")
        .find(|node| node.accesskit_node().role() == egui::accesskit::Role::TextInput)
        .unwrap();
    name_field.focus();
    harness.step();
    harness.input_mut().events.push(egui::Event::Text("gate1".into()));
    harness.step();
    type_into(&mut harness, "PIN 码", "5678");
    harness.get_by_role_and_label(egui::accesskit::Role::ComboBox, "角色").click();
    harness.step();
    harness.step();
    // The picker's choice, drawn after the button that goes back to the desk.
    harness
        .get_all_by_role_and_label(egui::accesskit::Role::Button, "登记台")
        .last()
        .unwrap()
        .click();
    harness.step();
    harness.step();
    harness.get_by_role_and_label(egui::accesskit::Role::Button, "添加操作员").click();
    wait_for_text(&mut harness, "the new operator", "修改 gate1");
    assert!(harness.query_by_label("修改 desk").is_some(), "the others stay listed");
    assert!(harness.query_by_label("修改 admin").is_some(), "the others stay listed");

    click(&mut harness, "审计日志");
    step_while(&mut harness, "the audit entries", |h| h.query_all_by_label("登记").count() < 3);
}

/// The attendee with `code`, for setting the scene through the library.
fn attendee_id(store: &Store, code: &str) -> expo_kiosk::domain::AttendeeId {
    let record = expo_kiosk::registration::resolve(store.conn(), code).unwrap();
    expo_kiosk::domain::AttendeeId(record.id)
}

/// A badge issued to `code`'s holder (as if printed at a desk); its token.
fn issue_badge(station: &Station, code: &str) -> String {
    let mut store = Store::open(&station.path()).unwrap();
    let id = attendee_id(&store, code);
    expo_kiosk::registration::badge::ensure_badge(
        &mut store,
        &expo_kiosk::operators::Operator::admin("desk"),
        id,
    )
    .unwrap()
    .token
}

/// A pre-registered public visitor (no company asked).
fn register_named(station: &Station, code: &str, name: &str, phone: &str) {
    let mut store = Store::open(&station.path()).unwrap();
    let input = NewAttendee {
        registration_code: code.into(),
        name: name.into(),
        category: "public_visitor".into(),
        phone: phone.into(),
        consent: true,
        ..NewAttendee::default()
    };
    expo_kiosk::registration::register(
        &mut store,
        &expo_kiosk::operators::Operator::admin("test"),
        &input,
        Source::PreRegistered,
    )
    .unwrap();
}

fn kiosk(station: &Station, idle_seconds: u64) -> Harness<'static, App> {
    let mut config = AppConfig::new(station.path(), Mode::Kiosk);
    config.kiosk_idle_timeout = Duration::from_secs(idle_seconds);
    open_app(config, 0.02)
}

fn kiosk_stops_at(harness: &mut Harness<'static, App>, code: &str) {
    let expected = KioskStep::SeeDesk { code: code.into() };
    wait_until(harness, code, |app| app.kiosk().step() == &expected);
}

#[test]
fn kiosk_says_in_plain_words_why_it_stops_in_the_visitors_language() {
    let station = Station::new();
    issue_badge(&station, "R0001");
    let mut harness = kiosk(&station, 60);

    // Collected already: said before any confirm step, and where to go for another.
    wedge_scan(&mut harness, "R0001");
    kiosk_stops_at(&mut harness, "E-COLLECTED");
    assert!(harness.query_by_label_contains("您的胸卡已经领取过了").is_some());
    assert!(harness.query_by_label_contains("登记台补办").is_some());
    assert!(harness.query_by_label_contains("E-PRINT").is_none());
    click(&mut harness, "重新开始");

    // In English for a visitor who chose English.
    click(&mut harness, "English");
    wedge_scan(&mut harness, "R9999");
    kiosk_stops_at(&mut harness, "E-NOTFOUND");
    assert!(harness.query_by_label_contains("We could not find your registration").is_some());
    click(&mut harness, "Start over");

    // A revoked badge.
    let token = issue_badge(&station, "R0003");
    {
        let mut store = Store::open(&station.path()).unwrap();
        let id = attendee_id(&store, "R0003");
        expo_kiosk::registration::badge::revoke(
            &mut store,
            &expo_kiosk::operators::Operator::admin("admin"),
            id,
            "lost",
        )
        .unwrap();
    }
    wedge_scan(&mut harness, &token);
    kiosk_stops_at(&mut harness, "E-BADGE-REVOKED");
    // Start over brought the kiosk back to its own language.
    assert!(harness.query_by_label_contains("这张胸卡已作废").is_some());
}

#[test]
fn kiosk_refusals_and_messages_sit_in_the_middle_of_the_screen_at_both_sizes() {
    let station = Station::new();
    issue_badge(&station, "R0001");
    for [width, height] in [[1920.0, 1080.0], [1280.0, 800.0]] {
        let mut config = AppConfig::new(station.path(), Mode::Kiosk);
        config.kiosk_idle_timeout = Duration::from_secs(60);
        let mut harness = open_app_sized(config, 0.02, [width, height]);
        // The welcome screen, then a refusal, each from its icon's top to its last line.
        let welcome = harness.get_by_label_contains("请扫描确认二维码或放置身份证").rect();
        let mid = (welcome.min.y + welcome.max.y) / 2.0;
        assert!(mid > height * 0.35 && mid < height * 0.75, "welcome at {width}: {welcome:?}");
        wedge_scan(&mut harness, "R0001");
        kiosk_stops_at(&mut harness, "E-COLLECTED");
        let words = harness.get_by_label_contains("您的胸卡已经领取过了").rect();
        let start_over = harness.get_by_label("重新开始").rect();
        // The icon (96 points) and its gap sit above the words.
        let middle = (words.min.y - 104.0 + start_over.max.y) / 2.0;
        assert!(
            (middle - height / 2.0).abs() < height * 0.05,
            "the refusal at {width}×{height} spans {} to {}, not the middle",
            words.min.y - 104.0,
            start_over.max.y
        );
    }
}

#[test]
fn kiosk_says_in_plain_words_that_a_badge_for_a_later_day_is_not_valid_yet() {
    // The event opens tomorrow at the venue: today's badge is signed but not valid yet.
    let venue_today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let station = Station::with_event(&demo_event_toml(venue_today.succ_opt().unwrap()));
    let token = issue_badge(&station, "R0001");
    let mut harness = kiosk(&station, 60);
    wedge_scan(&mut harness, &token);
    kiosk_stops_at(&mut harness, "E-BADGE-NOT_YET_VALID");
    assert!(harness.query_by_label_contains("您的胸卡还未到有效日期").is_some());
    assert!(harness.query_by_label_contains("请到登记台咨询").is_none(), "not the catch-all");
    click(&mut harness, "重新开始");
    click(&mut harness, "English");
    wedge_scan(&mut harness, &token);
    kiosk_stops_at(&mut harness, "E-BADGE-NOT_YET_VALID");
    assert!(harness.query_by_label_contains("Your badge is not valid yet").is_some());
}

#[test]
fn kiosk_warns_before_the_idle_reset_and_greets_the_next_visitor_in_its_own_language() {
    let station = Station::new();
    let mut harness = kiosk(&station, 4);
    click(&mut harness, "English");
    wedge_scan(&mut harness, "R0002");
    wait_until(&mut harness, "the confirm step", |app| {
        matches!(app.kiosk().step(), KioskStep::Confirm(_))
    });
    assert!(harness.query_by_label("Are you still there?").is_none());
    // Half the idle time without a touch: the question, with the seconds left.
    step_while(&mut harness, "the still-there question", |h| {
        h.query_by_label("Are you still there?").is_none()
    });
    assert!(matches!(harness.state().kiosk().step(), KioskStep::Confirm(_)));
    assert!(harness.query_by_label_contains("starts over in").is_some());
    click(&mut harness, "I am here, continue");
    harness.step();
    assert!(harness.query_by_label("Are you still there?").is_none(), "a touch answers it");
    let step = harness.state().kiosk().step().clone();
    assert!(matches!(step, KioskStep::Confirm(_)), "{step:?}");

    // Nobody answers: back to the welcome screen, in the kiosk's own language.
    step_while(&mut harness, "the reset", |h| h.state().kiosk().step() != &KioskStep::Welcome);
    harness.step();
    assert_eq!(harness.state().lang(), Lang::Zh);
    assert!(harness.query_by_label_contains("请扫描确认二维码或放置身份证").is_some());

    // Someone switches to English and walks away without scanning: Chinese again once idle.
    click(&mut harness, "English");
    assert_eq!(harness.state().lang(), Lang::En);
    step_while(&mut harness, "the welcome screen's own language", |h| h.state().lang() != Lang::Zh);
}

#[test]
fn kiosk_masks_a_latin_name_recognisably_and_keeps_start_over_on_a_1280_by_800_screen() {
    let station = Station::with_event(&event_with_kiosk_walk_ins(Some("professional_visitor")));
    register_named(&station, "R0010", "Lee Wilson", "13811112222");
    let mut harness = kiosk_with_card_reader(&station, 60);
    wedge_scan(&mut harness, "R0010");
    wait_until(&mut harness, "the confirm step", |app| {
        matches!(app.kiosk().step(), KioskStep::Confirm(_))
    });
    assert!(harness.query_by_label("Lee W.").is_some(), "not L********n");
    click(&mut harness, "这不是我");
    let start_over = harness.get_by_label("重新开始").rect();
    assert!(start_over.max.y <= 800.0 && start_over.max.x <= 1280.0, "{start_over:?}");
    click(&mut harness, "重新开始");

    // The walk-in form: its Start over stays on screen, clear of Save.
    click(&mut harness, "放置新访客身份证");
    wait_until(&mut harness, "the register step", |app| app.kiosk().step() == &KioskStep::Register);
    let start_over = harness.get_by_label("重新开始").rect();
    assert!(start_over.max.y <= 800.0 && start_over.min.y >= 0.0, "{start_over:?}");
    let save = harness.get_by_label("保存并打印胸卡").rect();
    assert!(!start_over.intersects(save));
}

#[test]
fn kiosk_keypad_types_the_phone_and_latin_letters_with_large_keys() {
    let station = Station::with_event(&event_with_kiosk_walk_ins(Some("professional_visitor")));
    let mut harness = kiosk_with_card_reader(&station, 60);
    click(&mut harness, "放置新访客身份证");
    wait_until(&mut harness, "the register step", |app| app.kiosk().step() == &KioskStep::Register);

    // The phone first: a digit pad with keys a fingertip hits.
    let key = harness.get_by_label("7").rect();
    assert!(key.width() >= 60.0 && key.height() >= 60.0, "{key:?}");
    for digit in "136111122229".chars() {
        click(&mut harness, &digit.to_string());
    }
    click(&mut harness, "退格");
    // Touching the company field turns the pad into letters.
    harness.get_by_label("公司").click();
    harness.step();
    harness.step();
    click(&mut harness, "大写");
    for letter in ["A", "C", "M", "E"] {
        click(&mut harness, letter);
    }
    click(&mut harness, "大写");
    click(&mut harness, "空格");
    click(&mut harness, "l");
    click(&mut harness, "t");
    click(&mut harness, "d");
    click(&mut harness, "保存并打印胸卡");
    wait_until(&mut harness, "saved and printed", |app| app.kiosk().step() == &KioskStep::Done);
    let store = Store::open(&station.path()).unwrap();
    let saved = strings(
        &store,
        "SELECT phone || '|' || company FROM attendees WHERE registration_code IS NULL",
    );
    assert_eq!(saved, ["13611112222|ACME ltd"]);
}

#[test]
fn kiosk_staff_exit_says_how_long_a_locked_name_waits() {
    let station = Station::new();
    {
        let mut store = Store::open(&station.path()).unwrap();
        for _ in 0..5 {
            assert!(operators::login(&mut store, "admin", "9999").is_err());
        }
    }
    let mut harness = kiosk(&station, 60);
    click(&mut harness, "工作人员");
    type_into(&mut harness, "操作员", "admin");
    type_into(&mut harness, "PIN 码", "0000");
    click(&mut harness, "退出");
    wait_for_text(&mut harness, "the lock-out", "E-LOCKED");
    let locked = format!("{:?}", harness.get_by_label_contains("E-LOCKED"));
    assert!(locked.contains(" s)"), "the wait in seconds: {locked}");
    assert!(!harness.state().wants_close());
}

#[test]
fn a_revoked_badge_scanned_at_the_desk_opens_a_verdict_card_and_a_replacement_can_be_issued() {
    let station = Station::new();
    let token = issue_badge(&station, "R0003");
    let mut harness = desk(&station, DeviceSetup::None);
    login(&mut harness, "admin", "0000");
    open_by_scan(&mut harness, "R0003");

    // Revoke with a preset reason.
    click(&mut harness, "作废胸卡…");
    click(&mut harness, "他人冒用");
    click(&mut harness, "确认");
    wait_until(&mut harness, "the badge revoked", |app| {
        app.desk().selected().is_some_and(|a| a.is_revoked())
    });
    let store = Store::open(&station.path()).unwrap();
    let reasons = strings(&store, "SELECT reason FROM badges WHERE status = 'revoked'");
    assert_eq!(reasons, ["他人冒用"]);

    // Scanned later: the holder, category, reason, when and by whom, not one red line.
    harness.key_press(egui::Key::Escape);
    harness.step();
    wedge_scan(&mut harness, &token);
    wait_for_text(&mut harness, "the verdict card", "此胸卡已作废");
    assert_eq!(harness.state().desk().selected().unwrap().name, "李四");
    assert!(harness.query_by_label("李四").is_some());
    assert!(harness.query_by_label("专业观众").is_some());
    assert!(harness.query_by_label("他人冒用").is_some());
    assert!(harness.query_by_label("admin").is_some(), "who revoked it");
    let at = strings(&store, "SELECT changed_at FROM badges WHERE status = 'revoked'");
    let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let local = chrono::DateTime::parse_from_rfc3339(&at[0]).unwrap().with_timezone(&tz);
    let shown = local.format("%Y-%m-%d %H:%M:%S").to_string();
    assert!(harness.query_by_label(&shown).is_some(), "when, in venue time: {shown}");

    // A replacement: a new serial, printed; the revoked badge stays revoked.
    click(&mut harness, "补发新胸卡…");
    click(&mut harness, "胸卡遗失");
    click(&mut harness, "确认");
    wait_until(&mut harness, "the replacement", |app| {
        app.desk().selected().is_some_and(|a| a.active_badge() == Some(2))
    });
    let states = strings(&store, "SELECT serial || status FROM badges ORDER BY serial");
    assert_eq!(states, ["1revoked", "2active"]);
}

#[test]
fn desk_rows_without_a_company_show_no_empty_separators_and_homophone_names_are_flagged() {
    let station = Station::new();
    register_named(&station, "R0011", "李晓明", "13766665555");
    register_named(&station, "R0012", "王五", "13700002222");
    let mut harness = desk(&station, DeviceSetup::None);
    login(&mut harness, "desk", "1234");
    type_into(&mut harness, "搜索", "王五");
    wait_until(&mut harness, "results", |app| !app.desk().result_names().is_empty());
    assert!(harness.query_by_label_contains("王五").is_some());
    assert!(harness.query_by_label_contains("·  ·").is_none(), "no empty company between dots");
    assert!(harness.query_by_label("王五  ·  普通观众  ·  …2222").is_some());

    harness.key_press(egui::Key::Escape);
    harness.step();
    harness.key_press(egui::Key::F2);
    harness.step();
    type_into(&mut harness, "姓名 *", "李小明");
    type_into(&mut harness, "手机", "13766665555");
    click(&mut harness, "类别 *");
    click(&mut harness, "普通观众");
    click(&mut harness, "保存");
    wait_for_text(&mut harness, "the homophone warning", "相同手机号且姓名相近");
    assert!(harness.query_by_label_contains("李晓明").is_some());
    assert!(harness.state().desk().is_form_open(), "nothing saved before the operator decides");
}

/// The demo event in a time zone whose date is not this machine's today: its venue day
/// began at a midnight this machine's clock has not reached (or has passed).
fn event_on_another_day() -> (String, chrono::NaiveDate) {
    let local_today = chrono::Local::now().date_naive();
    for zone in ["Etc/GMT-14", "Etc/GMT+12"] {
        let tz: chrono_tz::Tz = zone.parse().unwrap();
        let venue_today = chrono::Utc::now().with_timezone(&tz).date_naive();
        if venue_today != local_today {
            let demo = demo_event_toml(local_today);
            let event =
                demo.replace("timezone = \"Asia/Shanghai\"", &format!("timezone = \"{zone}\""));
            assert_ne!(event, demo);
            return (event, venue_today);
        }
    }
    unreachable!("one of UTC+14 and UTC-12 is on another date than any local clock")
}

#[test]
fn the_dashboard_says_when_the_venue_day_changed_and_shows_yesterday_in_one_click() {
    let (event, venue_today) = event_on_another_day();
    let station = Station::with_event(&event);
    let mut harness = open_app(AppConfig::new(station.path(), Mode::Admin), 0.25);
    login(&mut harness, "admin", "0000");
    wait_for_text(&mut harness, "the dashboard", "更新于");
    let updated = format!("{:?}", harness.get_by_label_contains("更新于"));
    assert!(!updated.contains("Z\""), "venue time, not raw UTC: {updated}");
    wait_for_text(&mut harness, "the new-day notice", "场馆已过午夜");
    let yesterday = venue_today.pred_opt().unwrap();
    click(&mut harness, &format!("查看前一天 {yesterday}"));
    wait_for_text(&mut harness, "yesterday's figures", &format!("{yesterday} Etc/"));
    assert!(harness.query_by_label_contains("场馆已过午夜").is_none());
    harness.check_accessibility();
}

#[test]
fn the_devices_tab_shows_what_runs_now_and_the_print_queue_its_times() {
    let station = Station::new();
    let mut config = AppConfig::new(station.path(), Mode::Admin);
    config.devices = DeviceSetup::Demo;
    let mut harness = open_app(config, 0.25);
    login(&mut harness, "admin", "0000");
    click(&mut harness, "设备设置");
    // The saved choice is none (the demo's simulators run without devices.toml); what runs
    // now is said beside it, as in the desk's status bar.
    step_while(&mut harness, "the devices' state", |h| {
        h.query_all_by_label("当前: 已连接").count() < 2
    });
}

#[test]
fn the_print_queue_window_shows_when_each_job_was_asked_for() {
    let station = Station::new();
    let mut harness = desk(&station, DeviceSetup::None);
    login(&mut harness, "desk", "1234");
    open_by_scan(&mut harness, "R0002");
    harness.key_press(egui::Key::Enter);
    wait_for_text(&mut harness, "the print", "胸卡 1");
    harness.get_by_label_contains("打印队列: ").click();
    wait_until(&mut harness, "the job listed", |app| app.print_queue().jobs().len() == 1);
    harness.step();
    let job = harness.state().print_queue().jobs()[0].clone();
    let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let asked = chrono::DateTime::parse_from_rfc3339(&job.created_at).unwrap().with_timezone(&tz);
    let shown = asked.format("%Y-%m-%d %H:%M:%S").to_string();
    assert!(harness.query_all_by_label(&shown).count() >= 1, "asked for at {shown}, venue time");
    assert!(harness.query_by_label("提交时间").is_some());
}

#[test]
fn the_language_switch_at_login_leaves_the_cursor_in_the_field() {
    let station = Station::new();
    let mut harness = desk(&station, DeviceSetup::None);
    type_into(&mut harness, "操作员", "de");
    click(&mut harness, "English");
    harness.step();
    // Typing goes on in the name field, with no click back into it.
    harness.input_mut().events.push(egui::Event::Text("sk".into()));
    harness.step();
    type_into(&mut harness, "PIN", "1234");
    click(&mut harness, "Log in");
    wait_until(&mut harness, "desk logged in", |app| app.operator().is_some());
    assert_eq!(harness.state().operator().unwrap().name, "desk");
}

#[test]
fn the_event_editor_picks_the_time_zone_from_a_list_and_a_colour_on_a_wheel() {
    let station = Station::new();
    let mut harness = event_editor(&station);
    // Neither is a text field any more.
    let fields: Vec<String> = harness
        .query_all_by_role(egui::accesskit::Role::TextInput)
        .map(|field| format!("{field:?}"))
        .collect();
    assert!(fields.iter().all(|f| !f.contains("Asia/Shanghai")), "{fields:?}");
    click(&mut harness, "时区");
    click(&mut harness, "Asia/Tokyo");
    click(&mut harness, "professional_visitor · 专业观众");
    assert!(harness
        .query_by_role_and_label(egui::accesskit::Role::ColorWell, "胸卡颜色 (#RRGGBB)")
        .is_some());
    click(&mut harness, "保存更改");
    wait_for_text(&mut harness, "the saved notice", "已保存");
    let store = Store::open(&station.path()).unwrap();
    assert_eq!(store.event().unwrap().definition.event.timezone, "Asia/Tokyo");
}

/// Registers a pre-registered attendee as the test's own admin.
fn register_as_test(store: &mut Store, input: &NewAttendee) {
    let admin = expo_kiosk::operators::Operator::admin("test");
    expo_kiosk::registration::register(store, &admin, input, Source::PreRegistered).unwrap();
}

#[test]
fn the_desk_and_the_kiosk_accept_a_qr_from_the_simulated_camera() {
    // The desk of the demo: a badge printed, then held up to the simulated camera.
    let station = Station::new();
    let mut harness = desk(&station, DeviceSetup::Demo);
    login(&mut harness, "desk", "1234");
    open_by_scan(&mut harness, "R0002");
    harness.key_press(egui::Key::Enter);
    wait_for_text(&mut harness, "the badge to print", "已打印胸卡");
    harness.key_press(egui::Key::Escape);
    harness.step();
    assert!(harness.state().desk().selected().is_none());
    click(&mut harness, "向摄像头出示刚打印的胸卡");
    wait_until(&mut harness, "the camera's code opens the attendee", |app| {
        app.desk().selected().is_some_and(|a| a.registration_code.as_deref() == Some("R0002"))
    });
    wait_for_text(&mut harness, "the preview outlines the code", "摄像头：已识别二维码");
    assert_eq!(harness.state().desk().query(), "", "the camera does not type into the search");
    drop(harness);

    // A kiosk whose devices.toml names the camera simulator playing a photographed
    // confirmation code, as `[camera] frames = "DIR"`.
    let settings = camera_playing_a_badge(&station, "R0003");
    let mut config = AppConfig::new(station.path(), Mode::Kiosk);
    config.devices = DeviceSetup::Ports(settings);
    let mut harness = open_app(config, 0.02);
    wait_until(&mut harness, "the kiosk confirms the camera's code", |app| {
        matches!(app.kiosk().step(), KioskStep::Confirm(_))
    });
    assert!(harness.query_by_label("李*").is_some(), "R0003 is 李四, masked");
}
