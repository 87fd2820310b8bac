//! The desktop app driven headless through its accessibility tree (egui_kittest): every
//! widget is found by its visible label, as a screen reader would find it. The station
//! worker and, where used, the simulated devices run for real on their own threads.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::Harness;
use expo_kiosk::demo::demo_event_toml;
use expo_kiosk::domain::{NewAttendee, Source};
use expo_kiosk::operators::{self, Operator, Role};
use expo_kiosk::store::Store;
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
        expo_kiosk::provisioning::init(&mut store, "test", event_toml).unwrap();
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
            expo_kiosk::registration::register(&mut store, "test", &input, Source::PreRegistered)
                .unwrap();
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

    // Printing the same badge again is refused: a second copy is a reprint, with a reason.
    harness.key_press(egui::Key::Enter);
    wait_for_text(&mut harness, "a second print was not refused", "打印失败");
    assert_eq!(station.printed().len(), 1);

    type_into(&mut harness, "搜索", "3");
    wait_until(&mut harness, "phone-tail search", |app| app.desk().query() == "zs3");
    harness.key_press(egui::Key::Escape);
    harness.step();
    assert_eq!(harness.state().desk().query(), "");
}

#[test]
fn id_card_prefills_a_walk_in_that_is_validated_saved_and_printed() {
    let station = Station::new();
    let mut harness = desk(&station, DeviceSetup::Demo);
    login(&mut harness, "desk", "1234");

    // The demo panel lays 张三丰's resident card on the simulated SAM reader; the real
    // driver reads it over a pseudo-terminal.
    click(&mut harness, "放置张三丰的身份证");
    wait_until(&mut harness, "the card pre-fills the walk-in form", |app| {
        app.desk().is_form_open()
    });
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

    harness.key_press(egui::Key::Enter);
    wait_until(&mut harness, "the badge prints", |app| {
        app.desk().selected().is_some_and(|a| a.active_badge() == Some(1))
    });

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
    while harness.query_all_by_label("register").count() < 3 {
        assert!(Instant::now() < deadline, "no audit entries");
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    type_into(&mut harness, "筛选（操作员、动作）", "register");
    assert!(harness.query_all_by_label("register").count() >= 3);
    assert!(harness.query_by_label("login").is_none(), "the filter hides other actions");
    harness.check_accessibility();
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

#[test]
fn admin_device_settings_are_saved_for_the_next_start() {
    let station = Station::new();
    let mut harness = open_app(AppConfig::new(station.path(), Mode::Admin), 0.25);
    login(&mut harness, "admin", "0000");
    click(&mut harness, "设备设置");
    // The choices arrive from the station worker: open the printer list until it has them.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        click(&mut harness, "打印机");
        if harness.query_by_label("desk").is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the configured printers never arrived");
        harness.key_press(egui::Key::Escape);
        harness.step();
        std::thread::sleep(Duration::from_millis(50));
    }
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
    let error = harness.state().print_queue().jobs()[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("cannot write to the spool folder"), "{error}");
    let shown = harness.query_all_by_label_contains("cannot write to the spool folder").count();
    assert_eq!(shown, 2, "the desk's notice and the queue's row");

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
        expo_kiosk::registration::register(&mut store, "test", &input, Source::PreRegistered)
            .unwrap();
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

#[test]
fn kiosk_registers_an_unknown_id_card_as_a_walk_in_and_prints_the_badge() {
    // Trade visitors must give their company: the kiosk asks for it as well as the phone.
    let station = Station::with_event(&event_with_kiosk_walk_ins(Some("professional_visitor")));
    let mut harness = kiosk_with_card_reader(&station, 5);

    click(&mut harness, "放置张三丰的身份证");
    wait_until(&mut harness, "the register step", |app| app.kiosk().step() == &KioskStep::Register);
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
    for key in code.chars() {
        harness.input_mut().events.push(egui::Event::Text(key.to_string()));
        harness.step();
    }
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
    use expo_sync::station::StationOutbox;

    let station = Station::new();
    // Another desk of the event, joined from this station's bundle, with its own key.
    let other_dir = tempfile::tempdir().unwrap();
    let token = {
        let bundle =
            expo_kiosk::provisioning::export(&Store::open(&station.path()).unwrap(), true).unwrap();
        let mut other = Store::open(other_dir.path()).unwrap();
        expo_kiosk::provisioning::import(&mut other, "test", &bundle, true).unwrap();
        let input = NewAttendee {
            registration_code: "R0100".into(),
            name: "王五".into(),
            company: "杭州会展".into(),
            category: "professional_visitor".into(),
            phone: "13600002222".into(),
            consent: true,
            ..NewAttendee::default()
        };
        let record =
            expo_kiosk::registration::register(&mut other, "desk2", &input, Source::WalkIn)
                .unwrap();
        let id = expo_kiosk::domain::AttendeeId(record.id);
        expo_kiosk::registration::badge::ensure_badge(&mut other, "desk2", id).unwrap().token
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
    let organiser = expo_sync::endorsement::Authority::generate();
    expo_kiosk::provisioning::pin_authority(&mut here.store(), &organiser.public_hex()).unwrap();
    let other_key = {
        let store = other.store();
        let key = store.event().unwrap().signing_key.as_ref().unwrap().verifying_key();
        organiser.endorse(store.station_id(), &hex::encode(key.as_bytes())).unwrap()
    };
    let mut changes = other.pending(1000).unwrap();
    changes.push(expo_sync::endorsement::Authority::change(other_key));
    here.apply_remote(&changes, 1).unwrap();

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
    use expo_kiosk::ui::station::{Failure, Request, Response, StationHandle};

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
