//! The station worker: the only thread of the app that touches the store. The UI sends a
//! [`Request`] and picks up the [`Response`] on a later frame, so no database write, argon2
//! check or badge signing ever runs on the UI thread.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;

use chrono::TimeZone;
use expo_sync::heartbeat::StationMode;
use expo_sync::protocol::{AttendeeRecord, AuditRecord};
use expo_sync::station::{SyncWorker, WorkerOptions};

use crate::badges::printer::TestPrint;
use crate::badges::queue::{self, JobId, PrintJobView, PrintWorker, QueueCounts, WorkerUpdate};
use crate::badges::render::{self, BadgeLayout};
use crate::badges::{BadgeData, BadgeError, PrintProblem, PrinterConfig, Template};
use crate::domain::{
    AttendeeId, EventDefinition, FieldError, IdDocument, IdType, NewAttendee, Source,
};
use crate::heartbeat::DeviceBoard;
use crate::operators::{
    self, Operator, OperatorChange, OperatorEntry, OperatorError, Permission, Role,
};
use crate::provisioning::{self, ProvisioningError};
use crate::registration::badge::{self, BadgeState};
use crate::registration::import::{self, ImportOptions, ImportReport};
use crate::registration::search::{self, SearchHit};
use crate::registration::{self, DuplicateHint, RegistrationError};
use crate::station_sync::{self, EventWatch};
use crate::stats::{self, Chart, DayFigures, StatsError, VenueDay};
use crate::store::{self, Store, StoreError};
use crate::ui::devices::DeviceSettings;
use crate::ui::i18n::Txt;

/// How often an idle worker passes on the print queue's news.
const PRINT_REPORT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// Most results a live search shows.
const SEARCH_LIMIT: usize = 30;
/// Jobs the print-queue window lists: a morning's worth at one desk.
const PRINT_QUEUE_ROWS: usize = 100;

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

/// Why a request failed, in terms a screen can word for people.
#[derive(Debug)]
pub enum Failure {
    BadLogin,
    /// Too many wrong PINs for the name: the next try must wait this long.
    LockedOut {
        seconds: u64,
    },
    Forbidden(Permission),
    NotFound,
    Revoked(String),
    Invalid(Vec<FieldError>),
    Duplicate(DuplicateOf),
    /// A badge that did not verify: the reason code of [`crate::credential::Invalid`].
    InvalidBadge(&'static str),
    NoOperator,
    /// The badge could not be queued or printed (no printer, already printed, ...).
    Printing(PrintProblem),
    /// A request the library refused for a reason the operator can fix, in their words.
    Refused(Txt),
    Other(String),
}

/// What a refused registration would have registered twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DuplicateOf {
    /// This registration code belongs to another attendee.
    RegistrationCode(String),
    /// This ID document is registered to another attendee.
    IdDocument,
}

impl Failure {
    /// The code of every printing failure, also for a job the kiosk watched fail.
    pub const PRINTING_CODE: &'static str = "E-PRINT";

    /// A short code a kiosk shows so staff know what happened.
    pub fn reason_code(&self) -> String {
        match self {
            Failure::BadLogin => "E-LOGIN".into(),
            Failure::LockedOut { .. } => "E-LOCKED".into(),
            Failure::Forbidden(_) | Failure::NoOperator => "E-ROLE".into(),
            Failure::NotFound => "E-NOTFOUND".into(),
            Failure::Revoked(_) => "E-REVOKED".into(),
            Failure::Invalid(_) => "E-INVALID".into(),
            Failure::Duplicate(_) => "E-DUPLICATE".into(),
            Failure::InvalidBadge(reason) => format!("E-BADGE-{}", reason.to_uppercase()),
            Failure::Printing(_) => Self::PRINTING_CODE.into(),
            Failure::Refused(_) => "E-REFUSED".into(),
            Failure::Other(_) => "E-STATION".into(),
        }
    }
}

impl From<RegistrationError> for Failure {
    fn from(error: RegistrationError) -> Self {
        match error {
            RegistrationError::Invalid(errors) => Failure::Invalid(errors),
            RegistrationError::NotFound(_) => Failure::NotFound,
            RegistrationError::Revoked(_, reason) => Failure::Revoked(reason),
            RegistrationError::Operator(error) => error.into(),
            RegistrationError::DuplicateCode { code, .. } => {
                Failure::Duplicate(DuplicateOf::RegistrationCode(code))
            }
            RegistrationError::DuplicateIdDocument { .. } => {
                Failure::Duplicate(DuplicateOf::IdDocument)
            }
            other => Failure::Other(other.to_string()),
        }
    }
}

impl From<OperatorError> for Failure {
    fn from(error: OperatorError) -> Self {
        match error {
            OperatorError::BadLogin => Failure::BadLogin,
            OperatorError::LockedOut { seconds, .. } => Failure::LockedOut { seconds },
            OperatorError::Forbidden { permission, .. } => Failure::Forbidden(permission),
            OperatorError::WeakSecret => Failure::Refused(Txt::WeakPin),
            OperatorError::BadName => Failure::Refused(Txt::BadOperatorName),
            OperatorError::Exists(_) => Failure::Refused(Txt::OperatorExists),
            OperatorError::LastAdmin(_) => Failure::Refused(Txt::LastAdmin),
            OperatorError::OutOfScope { .. } => Failure::Refused(Txt::OutOfScope),
            other => Failure::Other(other.to_string()),
        }
    }
}

impl From<BadgeError> for Failure {
    fn from(error: BadgeError) -> Self {
        if let Some(problem) = error.print_problem() {
            return Failure::Printing(problem);
        }
        match error {
            BadgeError::Registration(error) => error.into(),
            BadgeError::Operator(error) => error.into(),
            BadgeError::Store(error) => error.into(),
            // Layout problems are not the printer's: the admin's template preview meets them.
            other => Failure::Other(other.to_string()),
        }
    }
}

impl From<StatsError> for Failure {
    fn from(error: StatsError) -> Self {
        match error {
            StatsError::Store(error) => error.into(),
            StatsError::Operator(error) => error.into(),
            other => Failure::Other(other.to_string()),
        }
    }
}

impl From<ProvisioningError> for Failure {
    fn from(error: ProvisioningError) -> Self {
        match error {
            ProvisioningError::Operator(error) => error.into(),
            ProvisioningError::Store(error) => error.into(),
            other => Failure::Other(other.to_string()),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Other(error.to_string())
    }
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

/// The background sync with the hub, on its own thread and store connection, when the
/// station is enrolled.
enum Sync {
    Running(SyncWorker),
    NotEnrolled,
    Unavailable(String),
}

impl Sync {
    fn start(data_dir: &std::path::Path, devices: DeviceBoard) -> Sync {
        let options = WorkerOptions::default();
        match station_sync::start_background_sync(data_dir, options, StationMode::App, devices) {
            Ok(Some(worker)) => Sync::Running(worker),
            Ok(None) => Sync::NotEnrolled,
            Err(error) => {
                tracing::error!(%error, "cannot start the background sync");
                Sync::Unavailable(error.to_string())
            }
        }
    }

    fn state(&self, timezone: chrono_tz::Tz) -> SyncState {
        match self {
            Sync::NotEnrolled => SyncState::NotEnrolled,
            Sync::Unavailable(reason) => SyncState::Unavailable(reason.clone()),
            Sync::Running(worker) => {
                let status = worker.status();
                SyncState::Enrolled {
                    last_success: status.last_success.map(|at| {
                        chrono::DateTime::<chrono::Utc>::from(at)
                            .with_timezone(&timezone)
                            .format("%H:%M:%S")
                            .to_string()
                    }),
                    last_error: status.last_error,
                }
            }
        }
    }
}

/// The station's badge printer, when `printers.toml` names a default one, with the print
/// queue's worker thread that sends the jobs and reports on them.
enum Printing {
    Ready {
        printer: String,
        worker: PrintWorker,
    },
    /// Why nothing can be printed here, for the operator who tries.
    Unavailable(String),
}

impl Printing {
    fn start(data_dir: &std::path::Path) -> Printing {
        // The printer picked in the admin's Devices tab, else `printers.toml`'s default.
        let chosen = match DeviceSettings::load(data_dir) {
            Ok(devices) => devices.printer,
            Err(reason) => return Printing::Unavailable(reason),
        };
        let started = PrinterConfig::load(data_dir).and_then(|config| {
            let printer = config.resolve(chosen.as_deref())?.name;
            Ok(Printing::Ready { printer, worker: PrintWorker::spawn(data_dir.to_owned(), config) })
        });
        started.unwrap_or_else(|error| Printing::Unavailable(error.to_string()))
    }

    fn printer(&self) -> Option<&str> {
        match self {
            Printing::Ready { printer, .. } => Some(printer),
            Printing::Unavailable(_) => None,
        }
    }
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
                let response = self.handle(request).unwrap_or_else(Response::Failed);
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

    /// Passes on what the print queue's worker reported since the last look; false once
    /// the UI has gone.
    fn report_printing(&self, reply: &impl Fn(Response) -> bool) -> bool {
        let Printing::Ready { worker, .. } = &self.printing else { return true };
        for update in worker.updates().try_iter() {
            let response = match update {
                WorkerUpdate::Job(job) => Response::PrintJob(job),
                WorkerUpdate::Error(detail) => {
                    Response::Failed(Failure::Printing(PrintProblem::QueueUnavailable { detail }))
                }
            };
            if !reply(response) {
                return false;
            }
        }
        true
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
        let operator = self.operator.clone().ok_or(Failure::NoOperator)?;
        operator.require(permission)?;
        Ok(operator)
    }

    fn handle(&mut self, request: Request) -> Result<Response, Failure> {
        Ok(match request {
            Request::Login { name, pin } => {
                let operator = operators::login(&mut self.store, name.trim(), &pin)?;
                self.operator = Some(operator.clone());
                Response::LoggedIn(operator)
            }
            Request::StartKiosk => {
                let operator = Operator::kiosk(self.store.station_id());
                self.operator = Some(operator.clone());
                Response::LoggedIn(operator)
            }
            Request::Logout => {
                self.operator = None;
                self.card_read = None;
                Response::Status(self.status()?)
            }
            Request::Search { query } => {
                let operator = self.operator(Permission::Search)?;
                let hits =
                    search::search(self.store.conn(), &query, SEARCH_LIMIT, &operator.categories)?;
                Response::SearchResults { query, hits }
            }
            Request::Open(id) => Response::Opened(self.view(id)?),
            Request::Scan(code) => self.scan(code.trim())?,
            Request::IdCard(card) => {
                let response = self.id_card(card)?;
                self.card_read = match &response {
                    Response::WalkInFromCard(card) => Some(card.clone()),
                    _ => None,
                };
                response
            }
            Request::CheckWalkIn(input) => {
                let operator = self.operator(Permission::Register)?;
                let today = registration::venue_today(&self.store)?;
                let event = &self.store.event()?.definition;
                let errors = input
                    .validate_registration(event, registration_source(&operator), today)
                    .err()
                    .unwrap_or_default();
                let mut duplicates = registration::duplicate_hints(&self.store, &input)?;
                if !operator.can(Permission::Search) {
                    // A kiosk learns that someone else holds these details, never who.
                    duplicates.iter_mut().for_each(|hint| hint.name.clear());
                }
                Response::WalkInChecked { input, errors, duplicates }
            }
            Request::Register(input) => {
                let operator = self.operator(Permission::Register)?;
                let source = registration_source(&operator);
                if source == Source::SelfService {
                    // A kiosk registers the holder of the card it just read, and no one else.
                    let from_card = self.card_read.as_ref().is_some_and(|card| {
                        card.id_type == input.id_type.trim()
                            && card.id_number == input.id_number.trim()
                            && card.name.trim() == input.name.trim()
                    });
                    if !from_card {
                        return Err(Failure::Refused(Txt::NotFromCard));
                    }
                }
                let record = registration::register(&mut self.store, &operator, &input, source)?;
                self.card_read = None;
                Response::Registered(self.view(AttendeeId(record.id))?)
            }
            Request::Edit { attendee, input } => {
                let operator = self.operator(Permission::Edit)?;
                registration::edit(&mut self.store, &operator, attendee, &input)?;
                Response::Edited(self.view(attendee)?)
            }
            Request::Print { attendee, reprint_reason } => {
                let needed =
                    if reprint_reason.is_some() { Permission::Reprint } else { Permission::Print };
                let operator = self.operator(needed)?;
                let (printer, worker) = match &self.printing {
                    Printing::Ready { printer, worker } => (printer, worker),
                    Printing::Unavailable(reason) => {
                        return Err(Failure::Printing(PrintProblem::QueueUnavailable {
                            detail: reason.clone(),
                        }))
                    }
                };
                let job = queue::enqueue(
                    &mut self.store,
                    &operator,
                    attendee,
                    reprint_reason.as_deref(),
                    printer,
                )?;
                worker.wake();
                // The badge the job prints is now the active one: this only signs its token.
                let badge = badge::active_badge(&self.store, attendee)?;
                Response::Printed {
                    attendee: self.view(attendee)?,
                    serial: badge.serial,
                    token: badge.token,
                    job,
                }
            }
            Request::Revoke { attendee, reason } => {
                let operator = self.operator(Permission::Revoke)?;
                badge::revoke(&mut self.store, &operator, attendee, &reason)?;
                Response::Revoked(self.view(attendee)?)
            }
            Request::Status => Response::Status(self.status()?),
            Request::RevealId(attendee) => {
                let operator = self.operator(Permission::RevealId)?;
                let number = registration::reveal_id_number(&mut self.store, &operator, attendee)?
                    .ok_or(Failure::NotFound)?;
                Response::IdRevealed(RevealedId { attendee, number })
            }
            Request::PrintQueue => {
                self.operator(Permission::Print)?;
                Response::PrintQueue(queue::jobs(self.store.conn(), PRINT_QUEUE_ROWS)?)
            }
            Request::RetryFailedPrints => {
                let operator = self.operator(Permission::Print)?;
                queue::retry_failed(&mut self.store, &operator)?;
                if let Printing::Ready { worker, .. } = &self.printing {
                    worker.wake();
                }
                Response::PrintQueue(queue::jobs(self.store.conn(), PRINT_QUEUE_ROWS)?)
            }
            Request::Audit { attendee, limit } => {
                self.operator(Permission::ViewAudit)?;
                let attendee = match attendee.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
                    Some(text) => Some(registration::resolve(self.store.conn(), text)?.id),
                    None => None,
                };
                let entries = store::audit_entries(self.store.conn(), attendee, limit)?;
                let mut rows = Vec::with_capacity(entries.len());
                for record in entries {
                    let attendee = match record.attendee_id {
                        Some(id) => registration::load(self.store.conn(), AttendeeId(id))?
                            .map(|attendee| attendee.name),
                        None => None,
                    };
                    rows.push(AuditRow { record, attendee });
                }
                Response::Audit(rows)
            }
            Request::Operators => {
                self.operator(Permission::ManageOperators)?;
                Response::Operators(operators::list_all(&self.store)?)
            }
            Request::ChangeOperator { name, change } => {
                let admin = self.operator(Permission::ManageOperators)?;
                Response::OperatorChanged(operators::change(
                    &mut self.store,
                    &admin,
                    &name,
                    &change,
                )?)
            }
            Request::AddOperator { name, role, pin } => {
                let admin = self.operator(Permission::ManageOperators)?;
                Response::OperatorAdded(operators::add(
                    &mut self.store,
                    &admin,
                    &name,
                    role,
                    &pin,
                    &[],
                )?)
            }
            Request::Import { path, skip_invalid } => {
                let admin = self.operator(Permission::Import)?;
                let bytes = std::fs::read(&path)
                    .map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
                let options = ImportOptions { dry_run: false, skip_invalid };
                Response::Imported(import::import_csv(&mut self.store, &admin, &bytes, options)?)
            }
            Request::Dashboard { date } => {
                self.operator(Permission::ViewReports)?;
                Response::Dashboard(Box::new(self.dashboard(date)?))
            }
            Request::BadgePreview { template } => {
                self.operator(Permission::ManageEvent)?;
                Response::BadgePreview(Box::new(self.badge_preview(&template)?))
            }
            Request::EventDefinition => {
                self.operator(Permission::ManageEvent)?;
                Response::EventDefinition(Box::new(self.store.event()?.definition.clone()))
            }
            Request::UpdateEvent(definition) => {
                let operator = self.operator(Permission::ManageEvent)?;
                let template = &definition.event.badge_template;
                if *template != self.store.event()?.definition.event.badge_template {
                    // A new template must lay out, or no badge would print.
                    Template::load(template)?;
                }
                provisioning::update_definition(&mut self.store, &operator, &definition)?;
                Response::EventUpdated(self.info()?)
            }
            Request::DeviceSettings => {
                self.operator(Permission::ManageEvent)?;
                Response::DeviceSettings(self.device_choices()?)
            }
            Request::SaveDeviceSettings(settings) => {
                let operator = self.operator(Permission::ManageEvent)?;
                settings.save(self.store.data_dir()).map_err(Failure::Other)?;
                let detail =
                    serde_json::to_value(&settings).map_err(|e| Failure::Other(e.to_string()))?;
                self.store.write(|tx| tx.audit(&operator.name, "device_settings", None, detail))?;
                Response::DeviceSettingsSaved
            }
            Request::TestPrint { printer } => {
                self.operator(Permission::ManageEvent)?;
                let printer =
                    PrinterConfig::load(self.store.data_dir())?.resolve(printer.as_deref())?;
                let event = &self.store.event()?.definition.event;
                // The template the station's badges print on, as the print queue picks it.
                let template =
                    Template::load(printer.template.as_deref().unwrap_or(&event.badge_template))?;
                Response::TestPrinted(printer.print_test_badge(&template, &event.name)?)
            }
            Request::SaveExport { file_name, content } => {
                self.operator(Permission::ViewReports)?;
                Response::Exported(self.save_export(&file_name, content)?)
            }
        })
    }

    fn dashboard(&self, date: Option<chrono::NaiveDate>) -> Result<DashboardData, Failure> {
        let definition = &self.store.event()?.definition;
        let date = match date {
            Some(date) => date,
            None => registration::venue_today(&self.store)?,
        };
        let day = VenueDay::new(date, definition.timezone())?;
        let zones: Vec<String> = definition.zones.iter().map(|z| z.id.clone()).collect();
        let figures = stats::day_figures(
            self.store.conn(),
            &definition.event.id,
            &zones,
            &day,
            chrono::Utc::now(),
        )?;
        let charts = stats::charts(&figures, definition);
        Ok(DashboardData { figures, charts })
    }

    /// A made-up attendee of the event's first category on `template`: what a badge of it
    /// looks like, laid out by the same code as the PDF.
    fn badge_preview(&self, template: &str) -> Result<BadgePreview, Failure> {
        let template = Template::load(template)?;
        let event = &self.store.event()?.definition;
        let category = event.categories.first().ok_or(Failure::NotFound)?;
        let sample = BadgeData::sample(&event.event.name, category);
        let layout = render::layout(&template, &sample)?;
        let logo = decode_png(render::logo_png())?;
        Ok(BadgePreview {
            template: template.name.clone(),
            description: template.description.clone(),
            layout,
            logo,
        })
    }

    fn device_choices(&self) -> Result<DeviceChoices, Failure> {
        let data_dir = self.store.data_dir();
        let saved = DeviceSettings::load(data_dir).map_err(Failure::Other)?;
        let ports = expo_hardware::inventory::serial_ports()
            .map_err(|e| Failure::Other(format!("listing serial ports: {e}")))?
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
            .map_err(|e| Failure::Other(format!("listing cameras: {e}")))?
            .into_iter()
            .map(|camera| (camera.index, camera.name))
            .collect();
        let printers = PrinterConfig::load(data_dir)?;
        Ok(DeviceChoices {
            saved,
            ports,
            cameras,
            printers: printers.printers.iter().map(|p| p.name.clone()).collect(),
            default_printer: printers.default,
        })
    }

    fn save_export(&self, file_name: &str, content: ExportContent) -> Result<PathBuf, Failure> {
        // The name comes from the dashboard, never from typing; still, only a plain file
        // name may leave this directory's reach.
        if file_name.is_empty() || file_name.contains(['/', '\\']) || file_name.starts_with('.') {
            return Err(Failure::Other(format!("not a file name: {file_name:?}")));
        }
        let path = self.store.data_dir().join("exports").join(file_name);
        let bytes = match content {
            ExportContent::Csv(bytes) => bytes,
            ExportContent::Png { width, height, rgba } => encode_png(width, height, &rgba)?,
        };
        store::write_private_file(&path, &bytes)
            .map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
        Ok(path)
    }

    fn view(&self, id: AttendeeId) -> Result<AttendeeView, Failure> {
        let record = registration::load(self.store.conn(), id)?.ok_or(Failure::NotFound)?;
        if let Some(operator) = &self.operator {
            if !operator.handles(&record.category) {
                // Outside the operator's categories: as if it did not exist.
                return Err(Failure::NotFound);
            }
        }
        let badges = badge::badges_of(self.store.conn(), id)?;
        Ok(to_view(record, badges))
    }

    /// A badge token opens its attendee once it verifies; anything else is tried as a
    /// registration code.
    fn scan(&self, code: &str) -> Result<Response, Failure> {
        if code.starts_with(crate::credential::TOKEN_PREFIX) {
            let today = registration::venue_today(&self.store)?;
            return match badge::verify(&self.store, code, today)? {
                Ok(verified) => Ok(Response::Opened(self.view(verified.claims.attendee)?)),
                // A holder this station does not know (or this operator may not see) gets
                // the bare verdict.
                Err(invalid) => {
                    match badge::signed_holder(&self.store, code)?.map(|h| self.view(h)) {
                        Some(Ok(holder)) => {
                            Ok(Response::BadgeRefused { holder, reason: invalid.as_str() })
                        }
                        _ => Err(Failure::InvalidBadge(invalid.as_str())),
                    }
                }
            };
        }
        match registration::resolve(self.store.conn(), code) {
            Ok(record) => Ok(Response::Opened(self.view(AttendeeId(record.id))?)),
            Err(RegistrationError::NotFound(_)) => {
                Ok(Response::NotFound { code: code.chars().take(40).collect() })
            }
            Err(other) => Err(other.into()),
        }
    }

    fn id_card(&self, card: CardIdentity) -> Result<Response, Failure> {
        let event = self.store.event()?;
        let id_type =
            IdType::parse(card.id_type).ok_or_else(|| Failure::Other("unknown ID type".into()))?;
        let today = registration::venue_today(&self.store)?;
        let existing = match (&event.data_key, IdDocument::parse(id_type, &card.id_number, today)) {
            (Some(key), Ok(document)) => {
                registration::find_by_id_hash(self.store.conn(), &key.lookup_hash(&document))?
            }
            // A card whose number does not validate is shown in the form, where the check
            // reports it; without a data key there is nothing to look up.
            _ => None,
        };
        match existing {
            Some(id) => Ok(Response::Opened(self.view(id)?)),
            None => Ok(Response::WalkInFromCard(card)),
        }
    }

    fn status(&self) -> Result<StatusSnapshot, Failure> {
        let since = self.venue_midnight_utc()?;
        let registered_today = self
            .store
            .conn()
            .query_row(
                "SELECT count(*) FROM audit WHERE action = 'register' AND at >= ?1",
                [&since],
                |r| r.get(0),
            )
            .map_err(|e| Failure::Other(e.to_string()))?;
        let print_jobs = queue::counts(self.store.conn(), &since)?;
        Ok(StatusSnapshot {
            printer: self.printing.printer().map(str::to_owned),
            print_jobs,
            sync: self.sync.state(self.store.event()?.definition.timezone()),
            pending_sync: self.store.pending_outbox_count()?,
            registered_today,
            printed_today: print_jobs.sent_since,
        })
    }

    /// The start of the venue's today, as the audit log's UTC timestamps write it.
    fn venue_midnight_utc(&self) -> Result<String, Failure> {
        let tz = self.store.event()?.definition.timezone();
        let today = registration::venue_today(&self.store)?;
        let midnight =
            today.and_hms_opt(0, 0, 0).and_then(|t| tz.from_local_datetime(&t).earliest());
        Ok(midnight.map(|t| store::format_time(t.with_timezone(&chrono::Utc))).unwrap_or_default())
    }
}

fn to_view(record: AttendeeRecord, badges: Vec<BadgeState>) -> AttendeeView {
    AttendeeView {
        id: AttendeeId(record.id),
        registration_code: record.registration_code,
        name: record.name,
        company: record.company,
        title: record.title,
        category: record.category,
        phone: record.phone,
        email: record.email,
        country: record.country,
        id_type: record.id_type,
        id_masked: record.id_masked,
        source: record.source,
        consent: record.consent,
        badges,
    }
}

/// How an operator's registrations are counted and checked: a kiosk's are self-service,
/// under the event's kiosk policy.
fn registration_source(operator: &Operator) -> Source {
    if operator.role == Role::Kiosk {
        Source::SelfService
    } else {
        Source::WalkIn
    }
}

fn describe(failure: &Failure) -> String {
    match failure {
        Failure::Other(text) => text.clone(),
        other => other.reason_code(),
    }
}

/// RGBA pixels as a PNG file.
fn encode_png(width: u32, height: u32, rgba: &[u8]) -> Result<Vec<u8>, Failure> {
    let failed = |e: png::EncodingError| Failure::Other(format!("PNG: {e}"));
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(rgba).map_err(failed)?;
    writer.finish().map_err(failed)?;
    Ok(bytes)
}

/// A PNG as 8-bit RGBA rows.
fn decode_png(bytes: &[u8]) -> Result<([usize; 2], Vec<u8>), Failure> {
    let failed = |e: png::DecodingError| Failure::Other(format!("PNG: {e}"));
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().map_err(failed)?;
    let size =
        reader.output_buffer_size().ok_or_else(|| Failure::Other("PNG: image too large".into()))?;
    let mut pixels = vec![0; size];
    let frame = reader.next_frame(&mut pixels).map_err(failed)?;
    pixels.truncate(frame.buffer_size());
    let size = [frame.width as usize, frame.height as usize];
    match frame.color_type {
        png::ColorType::Rgba => Ok((size, pixels)),
        png::ColorType::GrayscaleAlpha => {
            Ok((size, pixels.chunks(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect()))
        }
        other => Err(Failure::Other(format!("PNG: unexpected colour type {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_screenshot_is_saved_as_a_png_that_decodes_to_the_same_pixels() {
        let rgba: Vec<u8> = (0..3 * 2 * 4).map(|i| i as u8 * 10).collect();
        let bytes = encode_png(3, 2, &rgba).unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
        let mut decoded = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut decoded).unwrap();
        assert_eq!((info.width, info.height), (3, 2));
        assert_eq!(decoded, rgba);
        assert!(encode_png(3, 2, &rgba[..5]).is_err(), "too few pixels is an error, not a panic");
    }

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
