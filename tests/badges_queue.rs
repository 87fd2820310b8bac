//! The print queue through the library: a dead printer, a crash in the middle of a job,
//! and the worker thread. Nothing is lost and nothing prints twice.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use expo_kiosk::badges::printer::{Backend, Printer, PrinterConfig, RetryPolicy};
use expo_kiosk::badges::queue::{self, JobStatus, PrintJobView};
use expo_kiosk::badges::{PrintWorker, WorkerUpdate};
use expo_kiosk::demo::demo_event_toml;
use expo_kiosk::domain::{AttendeeId, NewAttendee, Source};
use expo_kiosk::operators::Operator;
use expo_kiosk::registration::badge;
use expo_kiosk::store::Store;

struct Fixture {
    dir: tempfile::TempDir,
    store: Store,
    admin: Operator,
    attendee: AttendeeId,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("data")).unwrap();
        let today = chrono::Local::now().date_naive();
        expo_kiosk::provisioning::init(
            &mut store,
            &expo_kiosk::operators::Operator::admin("test"),
            &demo_event_toml(today),
        )
        .unwrap();
        let admin = Operator::station_admin(store.station_id());
        let input = NewAttendee {
            name: "欧阳娜娜".into(),
            company: "上海国际展览有限公司".into(),
            category: "exhibitor".into(),
            phone: "13812345678".into(),
            consent: true,
            ..NewAttendee::default()
        };
        let record =
            expo_kiosk::registration::register(&mut store, &admin, &input, Source::WalkIn).unwrap();
        Fixture { dir, store, admin, attendee: AttendeeId(record.id) }
    }

    fn spool_dir(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    /// One spool printer "hot", retried twice without waiting.
    fn printers(&self) -> PrinterConfig {
        PrinterConfig {
            default: Some("hot".into()),
            retry: RetryPolicy { max_attempts: 2, backoff_seconds: 0, max_backoff_seconds: 0 },
            printers: vec![Printer {
                name: "hot".into(),
                backend: Backend::Spool { dir: self.spool_dir() },
                template: None,
            }],
        }
    }

    fn enqueue(&mut self) -> queue::JobId {
        queue::enqueue(&mut self.store, &self.admin, self.attendee, None, "hot").unwrap()
    }

    fn only_job(&self) -> PrintJobView {
        let jobs = queue::jobs(self.store.conn(), 10).unwrap();
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        jobs.into_iter().next().unwrap()
    }

    fn outbox_statuses(&self) -> Vec<String> {
        let mut stmt = self
            .store
            .conn()
            .prepare("SELECT change FROM outbox WHERE kind = 'print_job' ORDER BY seq")
            .unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|change| {
                let change: serde_json::Value = serde_json::from_str(&change.unwrap()).unwrap();
                change["record"]["data"]["status"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    }

    /// Puts the job in `sending` as a crash would leave it.
    fn crash_while_sending(&self, printer_job: Option<&str>) {
        self.store
            .conn()
            .execute(
                "UPDATE print_jobs SET status = 'sending', attempts = attempts + 1, printer_job = ?1",
                [printer_job],
            )
            .unwrap();
    }
}

fn pdfs_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_dead_printer_fails_the_job_clearly_and_an_operator_retry_prints_it_once() {
    let mut fx = Fixture::new();
    let printers = fx.printers();
    let id = fx.enqueue();

    // The spool folder does not exist: both attempts fail, the job is kept as failed.
    let first = queue::process_due(&mut fx.store, &printers).unwrap();
    assert_eq!(first.last().map(|j| j.status), Some(JobStatus::Queued), "retried after a backoff");
    queue::process_due(&mut fx.store, &printers).unwrap();
    let job = fx.only_job();
    assert_eq!((job.id, job.status, job.attempts), (id, JobStatus::Failed, 2));
    let error = job.last_error.unwrap().to_string();
    assert!(
        error.contains("cannot write to the spool folder") && error.contains("spool"),
        "{error}"
    );
    // A failed job stays failed until someone asks.
    assert!(queue::process_due(&mut fx.store, &printers).unwrap().is_empty());

    // The printer comes back; the operator retries.
    std::fs::create_dir(fx.spool_dir()).unwrap();
    assert_eq!(
        queue::retry_failed(&mut fx.store, &expo_kiosk::operators::Operator::admin("desk1"))
            .unwrap(),
        1
    );
    queue::process_due(&mut fx.store, &printers).unwrap();
    let job = fx.only_job();
    assert_eq!((job.status, job.attempts, job.last_error), (JobStatus::Sent, 1, None));
    assert_eq!(pdfs_in(&fx.spool_dir()), vec![format!("{id}.pdf")]);
    assert_eq!(fx.outbox_statuses(), ["queued", "queued", "failed", "queued", "sent"]);
}

#[test]
fn a_crash_after_staging_finishes_the_job_without_sending_it_again() {
    let mut fx = Fixture::new();
    std::fs::create_dir(fx.spool_dir()).unwrap();
    let printers = fx.printers();
    let id = fx.enqueue();
    // The crash: the badge was fully written under its temporary name and the queue had
    // recorded it, but the rename never happened.
    let part = fx.spool_dir().join(format!(".{id}.pdf.part"));
    std::fs::write(&part, b"%PDF- staged badge").unwrap();
    fx.crash_while_sending(Some(&format!("{id}.pdf")));

    let recovered = queue::recover(&mut fx.store, &printers).unwrap();
    assert_eq!(recovered.iter().map(|j| j.status).collect::<Vec<_>>(), vec![JobStatus::Sent]);
    assert_eq!(pdfs_in(&fx.spool_dir()), vec![format!("{id}.pdf")]);
    assert_eq!(
        std::fs::read(fx.spool_dir().join(format!("{id}.pdf"))).unwrap(),
        b"%PDF- staged badge"
    );
    // Nothing more is sent.
    assert!(queue::process_due(&mut fx.store, &printers).unwrap().is_empty());
    assert_eq!(pdfs_in(&fx.spool_dir()).len(), 1);
}

#[test]
fn a_crash_before_staging_completed_sends_the_job_exactly_once() {
    let mut fx = Fixture::new();
    std::fs::create_dir(fx.spool_dir()).unwrap();
    let printers = fx.printers();
    let id = fx.enqueue();
    // The crash: half a temporary file, nothing recorded.
    std::fs::write(fx.spool_dir().join(format!(".{id}.pdf.part")), b"%PDF- half").unwrap();
    fx.crash_while_sending(None);

    let recovered = queue::recover(&mut fx.store, &printers).unwrap();
    assert_eq!(recovered[0].status, JobStatus::Queued);
    assert!(pdfs_in(&fx.spool_dir()).is_empty(), "the half file is gone, nothing was published");
    queue::process_due(&mut fx.store, &printers).unwrap();
    assert_eq!(fx.only_job().status, JobStatus::Sent);
    assert_eq!(pdfs_in(&fx.spool_dir()), vec![format!("{id}.pdf")]);
    let badge = std::fs::read(fx.spool_dir().join(format!("{id}.pdf"))).unwrap();
    assert!(
        badge.starts_with(b"%PDF-") && badge.len() > 1000,
        "a real badge replaced the half file"
    );
}

#[test]
fn a_crash_inside_lp_is_left_for_a_person_not_printed_again() {
    let mut fx = Fixture::new();
    let mut printers = fx.printers();
    printers.printers[0].backend = Backend::Cups { queue: "Badges".into() };
    fx.enqueue();
    fx.crash_while_sending(None);
    queue::recover(&mut fx.store, &printers).unwrap();
    let job = fx.only_job();
    assert_eq!(job.status, JobStatus::Failed);
    assert!(job.last_error.unwrap().to_string().contains("check whether it printed"));
}

#[test]
fn printing_twice_before_it_went_out_is_one_job() {
    let mut fx = Fixture::new();
    let first = fx.enqueue();
    assert_eq!(fx.enqueue(), first);
    assert_eq!(fx.only_job().id, first);
}

#[test]
fn printing_again_on_another_printer_moves_the_job_that_has_not_gone_out() {
    let mut fx = Fixture::new();
    let spare = fx.dir.path().join("spare");
    std::fs::create_dir(&spare).unwrap();
    let mut printers = fx.printers();
    printers.printers.push(Printer {
        name: "spare".into(),
        backend: Backend::Spool { dir: spare.clone() },
        template: None,
    });
    // "hot" has no folder: the job waits to be retried there.
    let id = fx.enqueue();
    queue::process_due(&mut fx.store, &printers).unwrap();
    assert_eq!((fx.only_job().status, fx.only_job().attempts), (JobStatus::Queued, 1));

    let moved = queue::enqueue(&mut fx.store, &fx.admin, fx.attendee, None, "spare").unwrap();
    assert_eq!(moved, id, "the same job, not a second badge");
    let job = fx.only_job();
    assert_eq!((job.printer.as_str(), job.status, job.attempts), ("spare", JobStatus::Queued, 0));
    queue::process_due(&mut fx.store, &printers).unwrap();
    assert_eq!(fx.only_job().status, JobStatus::Sent);
    assert_eq!(pdfs_in(&spare), vec![format!("{id}.pdf")]);

    // The first printer coming back prints nothing, and the badge is not printed again.
    std::fs::create_dir(fx.spool_dir()).unwrap();
    queue::process_due(&mut fx.store, &printers).unwrap();
    assert!(pdfs_in(&fx.spool_dir()).is_empty());
    let again = queue::enqueue(&mut fx.store, &fx.admin, fx.attendee, None, "hot");
    assert!(again.is_err(), "went out once: only a reprint prints it again");
    let moves: i64 = fx
        .store
        .conn()
        .query_row(
            "SELECT count(*) FROM audit WHERE action = 'print_moved' \
             AND json_extract(detail, '$.from') = 'hot' AND json_extract(detail, '$.to') = 'spare'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(moves, 1);
    // Queued, retried at "hot", moved to "spare" (the hub learns of the move), sent.
    assert_eq!(fx.outbox_statuses(), ["queued", "queued", "queued", "sent"]);
}

#[test]
fn a_reprint_whose_print_job_cannot_be_written_leaves_the_badge_as_it_was() {
    let mut fx = Fixture::new();
    fx.enqueue();
    let reprints = |store: &Store| -> i64 {
        store
            .conn()
            .query_row("SELECT count(*) FROM audit WHERE action = 'reprint'", [], |r| r.get(0))
            .unwrap()
    };
    // The job's row cannot be written (as when the disk fills): the write fails whole.
    fx.store
        .conn()
        .execute_batch(
            "CREATE TEMP TRIGGER refuse_jobs BEFORE INSERT ON print_jobs \
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
        )
        .unwrap();
    let failed = queue::enqueue(&mut fx.store, &fx.admin, fx.attendee, Some("lost"), "hot");
    assert!(failed.is_err());
    let badges = badge::badges_of(fx.store.conn(), fx.attendee).unwrap();
    assert_eq!(
        badges.iter().map(|b| (b.serial, b.status.as_str())).collect::<Vec<_>>(),
        [(1, "active")],
        "no new serial without its print job"
    );
    assert_eq!(reprints(&fx.store), 0);

    fx.store.conn().execute_batch("DROP TRIGGER refuse_jobs;").unwrap();
    queue::enqueue(&mut fx.store, &fx.admin, fx.attendee, Some("lost"), "hot").unwrap();
    let badges = badge::badges_of(fx.store.conn(), fx.attendee).unwrap();
    assert_eq!(
        badges.iter().map(|b| (b.serial, b.status.as_str())).collect::<Vec<_>>(),
        [(1, "superseded"), (2, "active")]
    );
    assert_eq!(reprints(&fx.store), 1);
    let jobs = queue::jobs(fx.store.conn(), 10).unwrap();
    assert_eq!(jobs.iter().filter(|job| job.badge_serial == 2).count(), 1, "{jobs:?}");
}

#[test]
fn a_failed_job_of_a_badge_since_reprinted_is_history_not_retried() {
    let mut fx = Fixture::new();
    let printers = fx.printers();
    let first = fx.enqueue();
    // The printer is dead: the serial-1 job fails; the desk reprints (serial 2), which fails too.
    queue::process_due(&mut fx.store, &printers).unwrap();
    queue::process_due(&mut fx.store, &printers).unwrap();
    let second =
        queue::enqueue(&mut fx.store, &fx.admin, fx.attendee, Some("jammed"), "hot").unwrap();
    queue::process_due(&mut fx.store, &printers).unwrap();
    queue::process_due(&mut fx.store, &printers).unwrap();
    let jobs = queue::jobs(fx.store.conn(), 10).unwrap();
    let job = |id| jobs.iter().find(|j| j.id == id).unwrap();
    assert_eq!((job(first).status, job(second).status), (JobStatus::Failed, JobStatus::Failed));
    assert!(!job(first).needs_retry() && job(second).needs_retry());
    let counts = queue::counts(fx.store.conn(), "").unwrap();
    assert_eq!(counts.failed, 1, "only the current badge's job waits for a person");

    // The printer is back: a retry prints the current badge, once, and not the old one.
    std::fs::create_dir(fx.spool_dir()).unwrap();
    assert_eq!(
        queue::retry_failed(&mut fx.store, &expo_kiosk::operators::Operator::admin("desk1"))
            .unwrap(),
        1
    );
    queue::process_due(&mut fx.store, &printers).unwrap();
    assert_eq!(pdfs_in(&fx.spool_dir()), vec![format!("{second}.pdf")]);
    assert_eq!(queue::counts(fx.store.conn(), "").unwrap().failed, 0);
}

#[test]
fn the_worker_sends_queued_jobs_and_reports_each_state() {
    let mut fx = Fixture::new();
    std::fs::create_dir(fx.spool_dir()).unwrap();
    let id = fx.enqueue();
    let worker = PrintWorker::spawn(fx.dir.path().join("data"), fx.printers());
    worker.wake();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while !seen.contains(&JobStatus::Printed) && Instant::now() < deadline {
        match worker.updates().recv_timeout(Duration::from_millis(200)) {
            Ok(WorkerUpdate::Job(job)) => {
                assert_eq!(job.id, id);
                seen.push(job.status);
                if job.status == JobStatus::Sent {
                    // The printer software takes the file.
                    std::fs::remove_file(fx.spool_dir().join(format!("{id}.pdf"))).unwrap();
                }
            }
            Ok(WorkerUpdate::Error(error)) => panic!("worker error: {error}"),
            Err(_) => {}
        }
    }
    assert_eq!(seen, vec![JobStatus::Sending, JobStatus::Sent, JobStatus::Printed]);
    drop(worker);
    assert_eq!(fx.only_job().status, JobStatus::Printed);
}

#[test]
fn a_failed_job_stores_its_problem_typed_and_an_old_text_still_shows() {
    use expo_kiosk::badges::printer::PrinterFault;
    use expo_kiosk::badges::{JobError, PrintProblem};
    use expo_kiosk::ui::error_text::job_error;
    use expo_kiosk::ui::Lang;

    let mut fx = Fixture::new();
    let printers = fx.printers();
    fx.enqueue();
    // The spool folder does not exist.
    queue::process_due(&mut fx.store, &printers).unwrap();
    queue::process_due(&mut fx.store, &printers).unwrap();
    let error = fx.only_job().last_error.unwrap();
    let JobError::Problem(problem) = &error else { panic!("not typed: {error:?}") };
    let PrintProblem::Printer { printer, fault } = problem.as_ref() else {
        panic!("not a printer problem: {problem:?}");
    };
    assert_eq!(printer, "hot");
    assert!(matches!(fault, PrinterFault::SpoolWrite { .. }), "{fault:?}");
    let (zh, en) = (job_error(&error, Lang::Zh), job_error(&error, Lang::En));
    assert!(zh.contains("无法写入打印文件夹"), "{zh}");
    assert!(en.contains("cannot write to the spool folder"), "{en}");
    let stored: Option<String> =
        fx.store.conn().query_row("SELECT last_problem FROM print_jobs", [], |r| r.get(0)).unwrap();
    assert!(stored.unwrap().contains("spool_write"), "stored as typed JSON");

    // A job that failed before problems were typed keeps its English text, in any language.
    fx.store
        .conn()
        .execute("UPDATE print_jobs SET last_error = 'paper jam', last_problem = NULL", [])
        .unwrap();
    let legacy = fx.only_job().last_error.unwrap();
    assert_eq!(legacy, JobError::Legacy("paper jam".into()));
    assert_eq!(job_error(&legacy, Lang::Zh), "paper jam");
}
