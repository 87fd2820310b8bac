//! Badges through the real binary: render, scan back, print to a spool folder, reprint.
//! Needs poppler-utils (`pdftoppm`, `pdftotext`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use expo_kiosk::demo::demo_event_toml;
use expo_kiosk::store::Store;
use serde_json::Value;

struct Station {
    dir: tempfile::TempDir,
}

impl Station {
    /// A station provisioned with the example event moved so that it runs today.
    fn with_event_today() -> Self {
        let station = Station { dir: tempfile::tempdir().unwrap() };
        let file = station
            .file("event.toml", demo_event_toml(chrono::Local::now().date_naive()).as_bytes());
        station.ok(&["event", "init", "--file", file.to_str().unwrap()]);
        station
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_expo-kiosk"));
        command.arg("--data-dir").arg(self.data()).args(args).env_remove("EXPO_KIOSK_PIN");
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn register(&self, name: &str, company: &str) -> String {
        self.ok(&[
            "register",
            "--name",
            name,
            "--company",
            company,
            "--category",
            "参展商",
            "--title",
            "销售总监 Sales Director",
            "--country",
            "中国",
            "--phone",
            "13812345678",
        ])
        .trim()
        .to_owned()
    }

    fn queue(&self) -> Vec<Value> {
        let jobs: Value = serde_json::from_str(&self.ok(&["print-queue", "--json"])).unwrap();
        jobs.as_array().unwrap().clone()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn pdftotext(pdf: &Path) -> String {
    let out =
        Command::new("pdftotext").arg(pdf).arg("-").output().expect("pdftotext (poppler-utils)");
    assert!(out.status.success(), "pdftotext: {}", text(&out.stderr));
    text(&out.stdout)
}

/// Rasterises `page` (from 1) at 300 dpi and decodes the QR code in it.
fn scan(pdf: &Path, page: usize, dir: &Path) -> String {
    let prefix = dir.join("scan");
    let page = page.to_string();
    let out = Command::new("pdftoppm")
        .args(["-r", "300", "-gray", "-png", "-singlefile", "-f", &page, "-l", &page])
        .arg(pdf)
        .arg(&prefix)
        .output()
        .expect("pdftoppm (poppler-utils)");
    assert!(out.status.success(), "pdftoppm: {}", text(&out.stderr));
    // The project's own decoder: the one the gates' cameras and `scan-image` use.
    expo_hardware::qr::decode_file(prefix.with_extension("png")).expect("the QR code decodes")
}

#[test]
fn round_trip_render_scan_and_verify() {
    let station = Station::with_event_today();
    let id = station.register("欧阳娜娜", "上海国际展览有限公司");
    let pdf = station.path("badge.pdf");
    station.ok(&["badge", "render", &id, "--out", pdf.to_str().unwrap()]);

    let size = std::fs::metadata(&pdf).unwrap().len();
    assert!(size <= 200 * 1024, "a Chinese badge is {size} bytes, over 200 KB");
    let words = pdftotext(&pdf);
    for expected in ["欧阳娜娜", "上海国际展览有限公司", "参展商", "Exhibitor", "销售总监"]
    {
        assert!(words.contains(expected), "{expected} not in the PDF text: {words}");
    }

    let token = scan(&pdf, 1, station.dir.path());
    let store = Store::open(&station.data()).unwrap();
    let today = expo_kiosk::registration::venue_today(&store).unwrap();
    let verified = expo_kiosk::registration::badge::verify(&store, &token, today)
        .unwrap()
        .expect("the scanned token verifies");
    assert_eq!(verified.claims.attendee.to_string(), id);
    assert_eq!(verified.category, "exhibitor");
    // The same token the station hands out for this badge.
    assert_eq!(station.ok(&["badge", "token", &id]).trim(), token);
}

#[test]
fn every_template_keeps_40_character_names_on_the_page() {
    let station = Station::with_event_today();
    let cjk = "欧阳".repeat(20);
    let latin = "Maximilian-Alexander Wolfgang von Hohenz";
    assert_eq!((cjk.chars().count(), latin.chars().count()), (40, 40));
    let ids = [station.register(&cjk, &"国际展览".repeat(10)), station.register(latin, latin)];
    for template in ["lanyard-90x130", "cr80", "label-4x6"] {
        for (id, name) in ids.iter().zip([&cjk, latin]) {
            let pdf = station.path(&format!("{template}.pdf"));
            station.ok(&[
                "badge",
                "render",
                id,
                "--template",
                template,
                "--out",
                pdf.to_str().unwrap(),
            ]);
            let squeezed: String = pdftotext(&pdf).split_whitespace().collect();
            let name: String = name.split_whitespace().collect();
            assert!(squeezed.contains(&name), "{template}: the whole name {name} is on the badge");
            assert_words_inside_the_page(&pdf, template);
        }
    }
}

/// Every word's box, as poppler lays it out, lies inside the page.
fn assert_words_inside_the_page(pdf: &Path, template: &str) {
    let out = Command::new("pdftotext").args(["-bbox"]).arg(pdf).arg("-").output().unwrap();
    let html = text(&out.stdout);
    let attr = |tag: &str, name: &str| -> f64 {
        let start = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        tag[start..].split('"').next().unwrap().parse().unwrap()
    };
    let page = html.split("<page ").nth(1).expect("a page");
    let (width, height) = (attr(page, "width"), attr(page, "height"));
    let words: Vec<&str> = html.split("<word ").skip(1).collect();
    assert!(words.len() >= 5, "{template}: {words:?}");
    for word in words {
        let (x0, y0, x1, y1) =
            (attr(word, "xMin"), attr(word, "yMin"), attr(word, "xMax"), attr(word, "yMax"));
        assert!(
            x0 >= 0.0 && y0 >= 0.0 && x1 <= width + 0.5 && y1 <= height + 0.5,
            "{template}: word outside the {width}x{height} page: {word}"
        );
    }
}

#[test]
fn render_all_makes_one_page_per_attendee_of_the_category() {
    let station = Station::with_event_today();
    station.register("张三", "上海展览");
    station.register("李四", "杭州电子");
    station.ok(&["register", "--name", "Visitor One", "--category", "public_visitor"]);
    let pdf = station.path("exhibitors.pdf");
    let out = station.ok(&[
        "badge",
        "render",
        "--all",
        "--category",
        "exhibitor",
        "--out",
        pdf.to_str().unwrap(),
    ]);
    assert!(out.contains("2 badges"), "{out}");
    let info = Command::new("pdfinfo").arg(&pdf).output().unwrap();
    assert!(text(&info.stdout).lines().any(|l| l.starts_with("Pages:") && l.ends_with(" 2")));
    let words = pdftotext(&pdf);
    assert!(words.contains("张三") && words.contains("李四") && !words.contains("Visitor One"));
}

/// `Pages:` of pdfinfo.
fn page_count(pdf: &Path) -> usize {
    let info = Command::new("pdfinfo").arg(pdf).output().expect("pdfinfo (poppler-utils)");
    assert!(info.status.success(), "pdfinfo: {}", text(&info.stderr));
    let info = text(&info.stdout);
    let line = info.lines().find(|l| l.starts_with("Pages:")).expect("a Pages: line");
    line["Pages:".len()..].trim().parse().unwrap()
}

#[test]
fn render_all_streams_many_pages_that_each_scan_back() {
    let station = Station::with_event_today();
    let count = 24;
    let ids: Vec<String> = {
        let mut store = Store::open(&station.data()).unwrap();
        (1..=count)
            .map(|i| {
                let input = expo_kiosk::domain::NewAttendee {
                    // Codes fix the page order: --all sorts by registration code.
                    registration_code: format!("R{i:03}"),
                    name: attendee_name(i),
                    company: "上海国际展览有限公司".into(),
                    category: "exhibitor".into(),
                    phone: format!("138{i:08}"),
                    consent: true,
                    ..Default::default()
                };
                let source = expo_kiosk::domain::Source::PreRegistered;
                expo_kiosk::registration::register(
                    &mut store,
                    &expo_kiosk::operators::Operator::admin("test"),
                    &input,
                    source,
                )
                .unwrap()
                .id
                .to_string()
            })
            .collect()
    };
    // A revoked badge is left out of the batch.
    station.ok(&["badge", "token", &ids[2]]);
    station.ok(&["badge", "revoke", &ids[2], "--reason", "lost"]);

    let pdf = station.path("all.pdf");
    let out = station.ok(&["badge", "render", "--all", "--out", pdf.to_str().unwrap()]);
    assert!(out.contains(&format!("{} badges", count - 1)), "{out}");
    assert!(out.contains("1 revoked left out"), "{out}");
    assert_eq!(page_count(&pdf), count - 1);
    let squeezed = |text: &str| text.split_whitespace().collect::<String>();
    let words = squeezed(&pdftotext(&pdf));
    for i in (1..=count).filter(|&i| i != 3) {
        let name = squeezed(&attendee_name(i));
        assert!(words.contains(&name), "{name} not in the PDF text");
    }
    assert!(!words.contains(&squeezed(&attendee_name(3))), "the revoked badge was rendered");
    let leftovers: Vec<_> = std::fs::read_dir(station.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".part"))
        .collect();
    assert!(leftovers.is_empty(), "the temporary file stays behind: {leftovers:?}");

    // The last page holds the last attendee's badge, and its QR code verifies.
    let token = scan(&pdf, count - 1, station.dir.path());
    let store = Store::open(&station.data()).unwrap();
    let today = expo_kiosk::registration::venue_today(&store).unwrap();
    let verified = expo_kiosk::registration::badge::verify(&store, &token, today)
        .unwrap()
        .expect("the scanned token verifies");
    assert_eq!(verified.claims.attendee.to_string(), ids[count - 1]);
}

/// Chinese and Latin names in turn, each unique.
fn attendee_name(i: usize) -> String {
    if i % 2 == 0 {
        format!("欧阳娜娜{i:02}")
    } else {
        format!("Maria Rossi {i:02}")
    }
}

#[test]
fn printing_to_a_spool_folder_end_to_end() {
    let station = Station::with_event_today();
    let spool = station.path("hot-folder");
    std::fs::create_dir(&spool).unwrap();
    std::fs::create_dir_all(station.data()).unwrap();
    station.file(
        "data/printers.toml",
        format!("default = \"hot\"\n[[printer]]\nname = \"hot\"\nkind = \"spool\"\ndir = {:?}\ntemplate = \"cr80\"\n", spool)
            .as_bytes(),
    );
    let listed = station.ok(&["printers", "list"]);
    assert!(listed.contains("hot") && listed.contains("cr80"), "{listed}");

    let id = station.register("欧阳娜娜", "上海国际展览有限公司");
    let out = station.ok(&["badge", "print", &id]);
    assert!(out.contains("sent"), "{out}");
    let files: Vec<PathBuf> =
        std::fs::read_dir(&spool).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "exactly one file, no temp file left: {files:?}");
    let jobs = station.queue();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["status"], "sent");
    assert_eq!(
        files[0].file_name().unwrap().to_str().unwrap(),
        format!("{}.pdf", jobs[0]["id"].as_str().unwrap())
    );
    assert!(pdftotext(&files[0]).contains("欧阳娜娜"));

    // The same badge again without a reprint is refused: it already went out.
    let again = station.run(&["badge", "print", &id]);
    assert_eq!(again.status.code(), Some(4), "refused: {}", text(&again.stderr));
    assert!(text(&again.stderr).contains("already printed"), "{}", text(&again.stderr));

    // The printer software takes the file: the next pass marks the job printed.
    std::fs::remove_file(&files[0]).unwrap();
    station.ok(&["print-queue", "--retry"]);
    assert_eq!(station.queue()[0]["status"], "printed");
}

/// A real CUPS queue: `.ci/run` starts cupsd with a cups-pdf queue and names it and its output
/// folder in `EXPO_TEST_CUPS_QUEUE` and `EXPO_TEST_CUPS_OUT`. Without them (no CUPS on this
/// machine) the test says so and checks nothing, like the hub's PostgreSQL suite; in CI
/// (`CI` set) it fails instead, so a broken CUPS set-up cannot pass unseen.
#[test]
fn a_badge_printed_to_a_real_cups_queue_comes_out_as_a_pdf() {
    let (Ok(queue), Ok(out_dir)) =
        (std::env::var("EXPO_TEST_CUPS_QUEUE"), std::env::var("EXPO_TEST_CUPS_OUT"))
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but EXPO_TEST_CUPS_QUEUE and EXPO_TEST_CUPS_OUT are not"
        );
        eprintln!("skipped: set EXPO_TEST_CUPS_QUEUE and EXPO_TEST_CUPS_OUT to a cups-pdf queue");
        return;
    };
    let out_dir = Path::new(&out_dir);
    let before: Vec<PathBuf> = pdfs_in(out_dir);
    let station = Station::with_event_today();
    let id = station.register("欧阳娜娜", "上海国际展览有限公司");
    station.ok(&["badge", "print", &id, "--printer", &format!("cups:{queue}")]);
    assert_eq!(station.queue()[0]["status"], "sent", "CUPS has the job");

    // cups-pdf writes the file once the job has gone through its filters (its Ghostscript pass
    // turns the font into Type 3 glyphs without text, so the QR code is what is checked).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let printed = loop {
        let new: Vec<PathBuf> =
            pdfs_in(out_dir).into_iter().filter(|pdf| !before.contains(pdf)).collect();
        if let [pdf] = new.as_slice() {
            if station.queue()[0]["printer_job"].as_str().is_some_and(lp_done) {
                break pdf.clone();
            }
        }
        assert!(std::time::Instant::now() < deadline, "no PDF from CUPS in {}", out_dir.display());
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    let token = scan(&printed, 1, station.dir.path());
    assert_eq!(station.ok(&["badge", "token", &id]).trim(), token, "the printed badge's QR");

    // A later pass asks CUPS, which completes the job just after the file is written:
    // printed, once.
    loop {
        station.ok(&["print-queue", "--retry"]);
        let jobs = station.queue();
        assert_eq!(jobs.len(), 1);
        if jobs[0]["status"] == "printed" {
            break;
        }
        assert_eq!(jobs[0]["status"], "sent");
        assert!(std::time::Instant::now() < deadline, "CUPS never completed the job");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// Whether CUPS lists the request among its completed jobs (then cups-pdf has closed the file).
fn lp_done(request: &str) -> bool {
    Command::new("lpstat").args(["-W", "completed", "-o"]).output().is_ok_and(|out| {
        text(&out.stdout).lines().any(|line| line.starts_with(&format!("{request} ")))
    })
}

fn pdfs_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "pdf"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_missing_lp_fails_the_job_with_a_clear_error_and_keeps_it() {
    let station = Station::with_event_today();
    let id = station.register("王五", "北京会展");
    let empty_path = station.path("no-tools");
    std::fs::create_dir(&empty_path).unwrap();
    let path = [("PATH", empty_path.to_str().unwrap())];
    let out = station.run_with(&["badge", "print", &id, "--printer", "cups:Badges"], &path);
    assert_eq!(out.status.code(), Some(1), "nothing was printed");
    assert!(text(&out.stdout).contains("the `lp` command is missing"), "{}", text(&out.stdout));
    let jobs = station.queue();
    assert_eq!(jobs.len(), 1, "the job is kept");
    assert_eq!(jobs[0]["status"], "queued", "waiting for its next attempt");
    assert_eq!(jobs[0]["attempts"], 1);
    assert!(jobs[0]["last_error"].as_str().unwrap().contains("`lp` command is missing"));

    // The queue words the job's stored problem in the operator's language.
    let zh = text(&station.run(&["print-queue", "--lang", "zh"]).stdout);
    assert!(zh.contains("缺少 lp 命令：请安装 CUPS"), "{zh}");
    assert!(!zh.contains("is missing"), "no English reason: {zh}");
    let en = text(&station.run(&["print-queue", "--lang", "en"]).stdout);
    assert!(en.contains("the `lp` command is missing"), "{en}");
}

#[test]
fn a_reprint_needs_the_permission_and_a_reason_and_revokes_the_old_badge() {
    let station = Station::with_event_today();
    let id = station.register("欧阳娜娜", "上海国际展览有限公司");
    let pin = [("EXPO_KIOSK_PIN", "2580")];
    for (name, role) in [("kiosk1", "kiosk"), ("desk1", "desk")] {
        let out = station.run_with(&["operator", "add", name, "--role", role], &pin);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let old_token = station.ok(&["badge", "token", &id]).trim().to_owned();
    station.ok(&["badge", "print", &id, "--printer", "none"]);

    let no_reason = station.run(&["badge", "print", &id, "--printer", "none", "--reprint"]);
    assert_eq!(no_reason.status.code(), Some(2), "a reprint without --reason is a usage error");
    let blank =
        station.run(&["badge", "print", &id, "--printer", "none", "--reprint", "--reason", "  "]);
    assert_eq!(blank.status.code(), Some(6), "a blank reason is invalid");
    assert!(text(&blank.stderr).contains("needs a reason"), "{}", text(&blank.stderr));
    let kiosk = station.run_with(
        &[
            "badge",
            "print",
            &id,
            "--printer",
            "none",
            "--reprint",
            "--reason",
            "lost",
            "--as",
            "kiosk1",
        ],
        &pin,
    );
    assert_eq!(kiosk.status.code(), Some(4), "refused");
    assert!(text(&kiosk.stderr).contains("may not reprint"), "{}", text(&kiosk.stderr));

    let desk = station.run_with(
        &[
            "badge",
            "print",
            &id,
            "--printer",
            "none",
            "--reprint",
            "--reason",
            "lost",
            "--as",
            "desk1",
        ],
        &pin,
    );
    assert!(desk.status.success(), "{}", text(&desk.stderr));
    assert!(text(&desk.stdout).contains("reprint 1 of 欧阳娜娜"), "{}", text(&desk.stdout));
    let jobs = station.queue();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0]["badge_serial"], 2, "the reprint prints a new serial");
    assert_eq!(jobs[0]["requested_by"], "desk1");

    let verdict = station.run(&["verify", &old_token, "--json"]);
    assert_eq!(verdict.status.code(), Some(1));
    let verdict: Value = serde_json::from_slice(&verdict.stdout).unwrap();
    assert_eq!(verdict["reason"], "revoked");
    let new_token = station.ok(&["badge", "token", &id]).trim().to_owned();
    assert_ne!(new_token, old_token);
    station.ok(&["verify", &new_token]);

    let audit: Value =
        serde_json::from_str(&station.ok(&["audit", "--attendee", &id, "--json"])).unwrap();
    let actions: Vec<&str> =
        audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"reprint") && actions.contains(&"print_reprint"), "{actions:?}");
    let reprint =
        audit.as_array().unwrap().iter().find(|e| e["action"] == "print_reprint").unwrap();
    assert_eq!(
        (reprint["actor"].as_str(), reprint["detail"]["reason"].as_str()),
        (Some("desk1"), Some("lost"))
    );
}
