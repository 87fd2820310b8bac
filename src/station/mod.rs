//! The station worker: the only thread of the app that touches the store. The UI sends a
//! [`Request`] and picks up the [`Response`] on a later frame, so no database write, argon2
//! check or badge signing ever runs on the UI thread.

//!
//! `mod.rs` holds the requests, the responses and the worker's loop; each group of requests
//! is answered in a file of its own.

mod admin;
mod attendees;
pub mod device_settings;
mod event;
mod failure;
mod printing;
mod reports;
mod session;

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;

use expo_sync::protocol::AuditRecord;

use failure::describe;
pub use failure::{DuplicateOf, Failure, Refusal};
use printing::Printing;
use session::Sync;

use crate::badges::printer::TestPrint;
use crate::badges::queue::{JobId, PrintJobView, QueueCounts};
use crate::badges::render::BadgeLayout;
use crate::domain::{AttendeeId, EventDefinition, FieldError, NewAttendee};
use crate::heartbeat::DeviceBoard;
use crate::operators::{self, Operator, OperatorChange, OperatorEntry, Permission, Role};
use crate::registration::badge::BadgeState;
use crate::registration::import::ImportReport;
use crate::registration::search::SearchHit;
use crate::registration::DuplicateHint;
use crate::station_sync::EventWatch;
use crate::stats::{Chart, DayFigures};
use crate::store::Store;
use device_settings::DeviceSettings;

/// How often an idle worker passes on the print queue's news.
const PRINT_REPORT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// What the UI asks of the station. Not `Debug`: a login carries a PIN and a walk-in an
/// ID number, and neither may reach a log.
pub enum Request {
    /// Check an operator's PIN; on success the worker acts as that operator.
    Login {
        name: String,
        pin: String,
    },
    /// Act as this station's self-service kiosk (no PIN: a kiosk has no operator).
    StartKiosk,
    /// Forget the operator.
    Logout,
    Search {
        query: String,
    },
    Open(AttendeeId),
    /// A scanned code: a badge token or a registration code.
    Scan(String),
    /// An ID card was read: open its attendee or pre-fill a walk-in.
    IdCard(CardIdentity),
    /// Validate a walk-in form and look for duplicates, without saving.
    CheckWalkIn(NewAttendee),
    Register(NewAttendee),
    Edit {
        attendee: AttendeeId,
        input: NewAttendee,
    },
    /// Print the badge; with a reason, a reprint that supersedes the current badge.
    Print {
        attendee: AttendeeId,
        reprint_reason: Option<String>,
    },
    Revoke {
        attendee: AttendeeId,
        reason: String,
    },
    Status,
    /// The attendee's full ID number, for a role that may see it (audited).
    RevealId(AttendeeId),
    /// The newest print jobs, for the print-queue window.
    PrintQueue,
    /// Queue every failed print job again (the printer is back).
    RetryFailedPrints,
    /// Newest audit entries, optionally about one attendee (id or registration code).
    Audit {
        attendee: Option<String>,
        limit: u32,
    },
    Operators,
    /// Change an operator's role, PIN or whether it may log in.
    ChangeOperator {
        name: String,
        change: OperatorChange,
    },
    AddOperator {
        name: String,
        role: Role,
        pin: String,
    },
    Import {
        path: PathBuf,
        skip_invalid: bool,
    },
    /// The dashboard's figures for a venue day (today when `None`).
    Dashboard {
        date: Option<chrono::NaiveDate>,
    },
    /// Lay out a sample badge on a shipped template, for the admin's preview.
    BadgePreview {
        template: String,
    },
    /// The event definition as stored, for the admin's editor.
    EventDefinition,
    /// Replace the event definition with the admin's edit (settings, zones, categories,
    /// badge template).
    UpdateEvent(Box<EventDefinition>),
    /// The station's device settings and what could be picked for them.
    DeviceSettings,
    SaveDeviceSettings(DeviceSettings),
    /// Print a test badge on this printer (`None`: `printers.toml`'s default).
    TestPrint {
        printer: Option<String>,
    },
    /// Save an exported chart under the station's `exports/` directory.
    SaveExport {
        file_name: String,
        content: ExportContent,
    },
}

/// What a dashboard export holds.
pub enum ExportContent {
    Csv(Vec<u8>),
    /// A screenshot of the chart, 8-bit RGBA rows.
    Png {
        width: u32,
        height: u32,
        rgba: Vec<u8>,
    },
}

/// The identity read from an ID card, as the walk-in form needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct CardIdentity {
    pub name: String,
    /// An id understood by [`IdType::parse`].
    pub id_type: &'static str,
    /// The full document number: kept in memory only, never logged or shown unmasked.
    pub id_number: String,
    /// As printed on the card (男 / 女 / M / F).
    pub gender: String,
    pub birth_date: String,
    pub country: String,
    /// The Chinese name on a foreign permanent residence card (`name` is its English
    /// name); empty on other cards.
    pub chinese_name: String,
}

impl CardIdentity {
    /// A registration of the card's holder, before anything is typed.
    pub fn to_input(&self) -> NewAttendee {
        NewAttendee {
            name: self.name.clone(),
            id_type: self.id_type.into(),
            id_number: self.id_number.clone(),
            country: self.country.clone(),
            chinese_name: self.chinese_name.clone(),
            ..NewAttendee::default()
        }
    }
}

impl std::fmt::Debug for CardIdentity {
    // Debug output can reach logs: the document number only masked.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardIdentity")
            .field("name", &self.name)
            .field("id_type", &self.id_type)
            .field("id_number", &crate::domain::id_document::mask(&self.id_number))
            .finish_non_exhaustive()
    }
}

/// What the station answers.
#[derive(Debug)]
pub enum Response {
    Ready(StationInfo),
    /// The station could not be opened; nothing else will follow.
    Unavailable(String),
    LoggedIn(Operator),
    SearchResults {
        query: String,
        hits: Vec<SearchHit>,
    },
    Opened(AttendeeView),
    /// A scanned badge this event signed that is not valid (revoked, superseded, out of its
    /// days): its holder, for the desk's verdict card, and the reason code of
    /// [`crate::credential::Invalid`].
    BadgeRefused {
        holder: AttendeeView,
        reason: &'static str,
    },
    /// A scan or card matched nobody; the code is safe to show (never an ID number).
    NotFound {
        code: String,
    },
    /// An ID card with no attendee yet: the walk-in form starts from it.
    WalkInFromCard(CardIdentity),
    /// The check of a walk-in form, for the input it was made on.
    WalkInChecked {
        input: NewAttendee,
        errors: Vec<FieldError>,
        duplicates: Vec<DuplicateHint>,
    },
    Registered(AttendeeView),
    Edited(AttendeeView),
    /// The badge is queued for the station's printer.
    Printed {
        attendee: AttendeeView,
        serial: u16,
        token: String,
        job: JobId,
    },
    /// A print job moved on (sent, printed, retrying, failed).
    PrintJob(PrintJobView),
    /// The newest print jobs, newest first.
    PrintQueue(Vec<PrintJobView>),
    /// An attendee's full ID number, shown to an operator whose role allows it.
    IdRevealed(RevealedId),
    Revoked(AttendeeView),
    Status(StatusSnapshot),
    Audit(Vec<AuditRow>),
    /// Every operator of the station, enabled or not.
    Operators(Vec<OperatorEntry>),
    OperatorChanged(OperatorEntry),
    OperatorAdded(Operator),
    Imported(ImportReport),
    Dashboard(Box<DashboardData>),
    BadgePreview(Box<BadgePreview>),
    EventDefinition(Box<EventDefinition>),
    DeviceSettings(DeviceChoices),
    /// The device settings were saved; they apply when the app next starts.
    DeviceSettingsSaved,
    /// The test badge reached the printer.
    TestPrinted(TestPrint),
    /// The event definition changed here; the new station info.
    EventUpdated(StationInfo),
    /// The event definition or its keys arrived by sync; the new station info.
    EventChanged(StationInfo),
    /// An export was written to this file.
    Exported(PathBuf),
    Failed(Failure),
}

/// The saved device settings, the serial ports found on this machine (path and what is
/// behind it) and the configured printers.
#[derive(Clone, Debug, Default)]
pub struct DeviceChoices {
    pub saved: DeviceSettings,
    pub ports: Vec<(String, String)>,
    /// V4L cameras: index and name.
    pub cameras: Vec<(u32, String)>,
    pub printers: Vec<String>,
    pub default_printer: Option<String>,
}

/// A sample badge laid out on a template, with the logo's pixels to paint it.
#[derive(Debug)]
pub struct BadgePreview {
    pub template: String,
    pub description: String,
    pub layout: BadgeLayout,
    /// The event logo as 8-bit RGBA rows.
    pub logo: ([usize; 2], Vec<u8>),
}

/// A day's figures with the charts made of them.
#[derive(Debug)]
pub struct DashboardData {
    pub figures: DayFigures,
    pub charts: Vec<Chart>,
}

/// The event and station, for titles and the category picker.
#[derive(Clone, Debug, Default)]
pub struct StationInfo {
    pub station: String,
    pub event_name: String,
    pub event_name_en: String,
    pub categories: Vec<CategoryChoice>,
    /// The event's `kiosk_walk_in_category`: where a kiosk registers a card nobody holds.
    pub kiosk_walk_in_category: Option<String>,
    pub has_operators: bool,
    /// The venue's time zone: every time on screen is the venue's local time.
    pub timezone: chrono_tz::Tz,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryChoice {
    pub id: String,
    pub label_zh: String,
    pub label_en: String,
    pub required: Vec<String>,
}

/// An attendee as the screens show them: the ID number only masked.
#[derive(Clone, Debug, PartialEq)]
pub struct AttendeeView {
    pub id: AttendeeId,
    pub registration_code: Option<String>,
    pub name: String,
    /// The Chinese name beside `name`, when there is one.
    pub chinese_name: String,
    pub company: String,
    pub title: String,
    pub category: String,
    pub phone: String,
    pub email: String,
    pub country: String,
    pub id_type: Option<String>,
    pub id_masked: Option<String>,
    pub source: String,
    pub consent: bool,
    pub badges: Vec<BadgeState>,
}

impl AttendeeView {
    /// The active badge's serial, if any.
    pub fn active_badge(&self) -> Option<u16> {
        self.badges.iter().find(|b| b.status == "active").map(|b| b.serial)
    }

    pub fn is_revoked(&self) -> bool {
        self.badges.last().is_some_and(|b| b.status == "revoked")
    }

    /// The form for editing this attendee; an empty ID number keeps the stored one.
    pub fn to_input(&self) -> NewAttendee {
        NewAttendee {
            registration_code: self.registration_code.clone().unwrap_or_default(),
            name: self.name.clone(),
            company: self.company.clone(),
            title: self.title.clone(),
            category: self.category.clone(),
            phone: self.phone.clone(),
            email: self.email.clone(),
            country: self.country.clone(),
            id_type: self.id_type.clone().unwrap_or_default(),
            id_number: String::new(),
            consent: self.consent,
            tags: Vec::new(),
            chinese_name: self.chinese_name.clone(),
        }
    }
}

/// A full ID number on its way to the screen: wiped from memory when dropped, and never
/// printed by `Debug` (responses may be logged).
pub struct RevealedId {
    pub attendee: AttendeeId,
    pub number: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for RevealedId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevealedId")
            .field("attendee", &self.attendee)
            .field("number", &crate::domain::id_document::mask(&self.number))
            .finish()
    }
}

/// The status bar's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusSnapshot {
    /// The printer badges go to; `None` when `printers.toml` names no default.
    pub printer: Option<String>,
    pub print_jobs: QueueCounts,
    pub pending_sync: u64,
    pub sync: SyncState,
    pub registered_today: u64,
    /// Badges this station's printer received today (jobs sent or printed).
    pub printed_today: u64,
}

/// The background sync with the hub, as the status bar shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SyncState {
    /// The station has no hub enrolment (`expo-kiosk sync enrol`).
    #[default]
    NotEnrolled,
    /// Enrolled; the last round that completed, in venue time (`HH:MM:SS`), and the error
    /// of the last attempt if it failed.
    Enrolled { last_success: Option<String>, last_error: Option<String> },
    /// The enrolment or the sync worker could not be started.
    Unavailable(String),
}

/// An audit entry with the name of the attendee it concerns (whose number a `reveal_id`
/// showed), which the screen masks.
#[derive(Clone, Debug)]
pub struct AuditRow {
    pub record: AuditRecord,
    pub attendee: Option<String>,
}

/// The UI's end of the worker.
pub struct StationHandle {
    requests: Option<Sender<Request>>,
    /// The devices the app drives, as the heartbeat reports them.
    devices: DeviceBoard,
    responses: Receiver<Response>,
    thread: Option<JoinHandle<()>>,
}

impl StationHandle {
    /// Opens the station in `data_dir` on a new thread; `wake` is called after each response
    /// (the UI passes a repaint request).
    pub fn open(data_dir: PathBuf, wake: impl Fn() + Send + 'static) -> std::io::Result<Self> {
        let (request_tx, request_rx) = mpsc::channel();
        let (response_tx, responses) = mpsc::channel();
        let devices = DeviceBoard::default();
        let reported = devices.clone();
        let thread = std::thread::Builder::new().name("station".into()).spawn(move || {
            let reply = |response| {
                // A closed channel means the UI is gone: nothing left to tell.
                let delivered = response_tx.send(response).is_ok();
                wake();
                delivered
            };
            match Store::open(&data_dir) {
                Ok(store) => {
                    let printing = Printing::start(&data_dir);
                    let sync = Sync::start(&data_dir, reported);
                    let event = EventWatch::new(&store);
                    Worker { store, operator: None, printing, sync, event, card_read: None }
                        .run(&request_rx, reply)
                }
                Err(error) => {
                    reply(Response::Unavailable(format!("{}: {error}", data_dir.display())));
                }
            }
        })?;
        Ok(Self { requests: Some(request_tx), devices, responses, thread: Some(thread) })
    }

    /// Where the app shows its devices' state for the heartbeat.
    pub fn devices(&self) -> &DeviceBoard {
        &self.devices
    }

    /// Queues a request; if the worker has stopped, the failure arrives as a response.
    pub fn send(&self, request: Request) {
        let sent = self.requests.as_ref().is_some_and(|tx| tx.send(request).is_ok());
        if !sent {
            tracing::error!("the station worker has stopped; request dropped");
        }
    }

    /// The next response, if one has arrived.
    pub fn try_recv(&self) -> Option<Response> {
        // Disconnected means the worker stopped; `send` has logged that already.
        self.responses.try_recv().ok()
    }
}

impl Drop for StationHandle {
    fn drop(&mut self) {
        // Closing the request channel ends the worker's loop once it finishes its request.
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the station worker panicked");
            }
        }
    }
}

struct Worker {
    store: Store,
    operator: Option<Operator>,
    printing: Printing,
    sync: Sync,
    event: EventWatch,
    /// The ID card read last that matched nobody: the one identity a self-service
    /// registration may be made for.
    card_read: Option<CardIdentity>,
}

impl Worker {
    fn run(mut self, requests: &Receiver<Request>, reply: impl Fn(Response) -> bool) {
        if !reply(self.info().map_or_else(|f| Response::Unavailable(describe(&f)), Response::Ready))
        {
            return;
        }
        loop {
            let first = match requests.recv_timeout(PRINT_REPORT_INTERVAL) {
                Ok(first) => first,
                Err(RecvTimeoutError::Timeout) => {
                    if !self.report_printing(&reply) || !self.report_event_change(&reply) {
                        return;
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut batch = vec![first];
            batch.extend(requests.try_iter());
            // Typing queues a search per key: only the newest one of a batch is worth running.
            let last_search = batch.iter().rposition(|r| matches!(r, Request::Search { .. }));
            for (index, request) in batch.into_iter().enumerate() {
                if matches!(request, Request::Search { .. }) && Some(index) != last_search {
                    continue;
                }
                let response = self.handle(request).unwrap_or_else(|failure| {
                    // The screen words it by class; the system's words are for the log.
                    if let Failure::Other { class, detail } = &failure {
                        tracing::warn!(?class, %detail, "a station request failed");
                    }
                    Response::Failed(failure)
                });
                if !reply(response) {
                    return;
                }
            }
            if !self.report_printing(&reply) || !self.report_event_change(&reply) {
                return;
            }
        }
    }

    /// Reloads an event that sync changed and tells the UI; false once the UI has gone.
    fn report_event_change(&mut self, reply: &impl Fn(Response) -> bool) -> bool {
        if !self.event.changed(&self.store) {
            return true;
        }
        let response = match self.store.reload_event() {
            Ok(()) => self.info().map_or_else(Response::Failed, Response::EventChanged),
            Err(error) => Response::Failed(error.into()),
        };
        reply(response)
    }

    fn info(&self) -> Result<StationInfo, Failure> {
        let definition = &self.store.event()?.definition;
        let event = &definition.event;
        Ok(StationInfo {
            station: self.store.station_id().to_owned(),
            event_name: event.name.clone(),
            event_name_en: event.name_en.clone(),
            categories: definition
                .categories
                .iter()
                .map(|c| CategoryChoice {
                    id: c.id.clone(),
                    label_zh: c.label_zh.clone(),
                    label_en: c.label_en.clone(),
                    required: c.required.clone(),
                })
                .collect(),
            kiosk_walk_in_category: event.kiosk_walk_in_category.clone(),
            timezone: definition.timezone(),
            has_operators: !operators::list(&self.store)?.is_empty(),
        })
    }

    fn operator(&self, permission: Permission) -> Result<Operator, Failure> {
        let operator = self.acting()?.clone();
        operator.require(permission)?;
        Ok(operator)
    }

    /// The logged-in operator (or the kiosk), for the library to authorize.
    fn acting(&self) -> Result<&Operator, Failure> {
        self.operator.as_ref().ok_or(Failure::NoOperator)
    }

    /// One request, answered by the function of its group.
    fn handle(&mut self, request: Request) -> Result<Response, Failure> {
        match request {
            Request::Login { name, pin } => self.login(&name, &pin),
            Request::StartKiosk => Ok(self.start_kiosk()),
            Request::Logout => self.logout(),
            Request::Search { query } => self.search(query),
            Request::Open(id) => Ok(Response::Opened(self.view(id)?)),
            Request::Scan(code) => self.scan(code.trim()),
            Request::IdCard(card) => self.read_id_card(card),
            Request::CheckWalkIn(input) => self.check_walk_in(input),
            Request::Register(input) => self.register(&input),
            Request::Edit { attendee, input } => self.edit(attendee, &input),
            Request::Print { attendee, reprint_reason } => {
                self.print(attendee, reprint_reason.as_deref())
            }
            Request::Revoke { attendee, reason } => self.revoke(attendee, &reason),
            Request::Status => Ok(Response::Status(self.status()?)),
            Request::RevealId(attendee) => self.reveal_id(attendee),
            Request::PrintQueue => self.print_queue(),
            Request::RetryFailedPrints => self.retry_failed_prints(),
            Request::Audit { attendee, limit } => self.audit(attendee.as_deref(), limit),
            Request::Operators => self.operators(),
            Request::ChangeOperator { name, change } => self.change_operator(&name, &change),
            Request::AddOperator { name, role, pin } => self.add_operator(&name, role, &pin),
            Request::Import { path, skip_invalid } => self.import(&path, skip_invalid),
            Request::Dashboard { date } => self.dashboard(date),
            Request::BadgePreview { template } => self.badge_preview(&template),
            Request::EventDefinition => self.event_definition(),
            Request::UpdateEvent(definition) => self.update_event(&definition),
            Request::DeviceSettings => self.device_settings(),
            Request::SaveDeviceSettings(settings) => self.save_device_settings(&settings),
            Request::TestPrint { printer } => self.test_print(printer.as_deref()),
            Request::SaveExport { file_name, content } => self.save_export(&file_name, content),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_response_that_carries_an_id_number_prints_it() {
        const NUMBER: &str = "11010519491231002X";
        let card = CardIdentity {
            name: "李小明".into(),
            id_type: "resident_id",
            id_number: NUMBER.into(),
            gender: "男".into(),
            birth_date: "1949-12-31".into(),
            country: "中国".into(),
            chinese_name: String::new(),
        };
        let responses = [
            Response::WalkInChecked {
                input: card.to_input(),
                errors: Vec::new(),
                duplicates: Vec::new(),
            },
            Response::WalkInFromCard(card),
            Response::IdRevealed(RevealedId {
                attendee: AttendeeId(uuid::Uuid::nil()),
                number: zeroize::Zeroizing::new(NUMBER.into()),
            }),
        ];
        for response in responses {
            let printed = format!("{response:?}");
            assert!(!printed.contains(NUMBER), "{printed}");
            assert!(printed.contains("1101**********002X"), "masked, not left out: {printed}");
        }
    }
}
