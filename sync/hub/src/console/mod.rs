//! The operations console at `/console`: server-rendered pages in English and Simplified
//! Chinese for the people who run the venue (sign-in, fleet, stations, audit log).
//!
//! - Users are the hub's own (`expo-hub user add`), with argon2id passwords and a role
//!   ([`auth::ConsoleRole`]) that decides the pages, the actions and whether personal
//!   data may be shown.
//! - A session is a random token in an `HttpOnly`, `SameSite=Strict` cookie (`Secure`
//!   when the hub serves HTTPS), stored only as its hash, and ends after
//!   [`ConsoleConfig::session_lifetime`]. Every form that changes something carries the
//!   session's CSRF token; the sign-in form a token of its own cookie.
//! - Five failed sign-ins of a name in 15 minutes lock it for the rest of that window.
//! - Every sign-in, failure, refusal and change is written to the console's audit log.
//! - Pages answer HTML, their errors too (a browser reads them); the fleet updates itself
//!   through server-sent events (`/console/fleet/events`), as does "Venue now"
//!   (`/console/venue`, see [`venue`]).
//! - Data accuracy ([`accuracy`]) and the attendee look-up ([`lookup`]) change data
//!   through the same library functions as the CLI and the API, with the hub's clock.

pub mod accuracy;
pub mod auth;
pub mod html;
pub mod i18n;
pub mod lookup;
pub mod venue;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use auth::{Action, ConsoleRole, Page, Session};
use i18n::{Lang, T};

use crate::api_keys::{self, ApiKeyError};
use crate::enrolment;
use crate::heartbeat::StationReport;
use crate::notify::ChangeNotifier;
use crate::origin::HubOrigin;
use crate::store::{HubStore, StoreError};
use expo_sync::StationRole;

/// The console's settings.
#[derive(Clone, Debug)]
pub struct ConsoleConfig {
    /// Mark cookies `Secure`: only when the hub serves HTTPS, since a browser drops a
    /// `Secure` cookie set over plain HTTP (then the LAN is the only protection, as for
    /// the stations' traffic; SECURITY.md).
    pub secure_cookies: bool,
    /// How long a sign-in lasts.
    pub session_lifetime: Duration,
    /// How often the fleet page's events carry the table.
    pub fleet_refresh: Duration,
    /// The clock that decides the venue's day on "Venue now".
    pub clock: ConsoleClock,
    /// How long "Venue now" serves a day's figures before it computes them again (see
    /// [`crate::venue_now::VenueFigures`]); zero computes them at every request.
    pub venue_fresh: Duration,
}

/// The console's clock: the system's, or one pinned to a time a test sets (the venue's
/// midnight passing while a page is open), instead of a test waiting for it.
#[derive(Clone, Debug, Default)]
pub struct ConsoleClock {
    /// Milliseconds since the epoch, when pinned.
    pinned: Option<Arc<std::sync::atomic::AtomicI64>>,
}

impl ConsoleClock {
    pub fn pinned(at: chrono::DateTime<chrono::Utc>) -> Self {
        let ms = std::sync::atomic::AtomicI64::new(at.timestamp_millis());
        Self { pinned: Some(Arc::new(ms)) }
    }

    /// Moves a pinned clock (every copy of it) to `at`; the system's clock is not moved.
    pub fn set(&self, at: chrono::DateTime<chrono::Utc>) {
        if let Some(pinned) = &self.pinned {
            pinned.store(at.timestamp_millis(), std::sync::atomic::Ordering::SeqCst);
        }
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.pinned
            .as_ref()
            .and_then(|ms| {
                chrono::DateTime::from_timestamp_millis(
                    ms.load(std::sync::atomic::Ordering::SeqCst),
                )
            })
            .unwrap_or_else(chrono::Utc::now)
    }
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            session_lifetime: Duration::from_secs(8 * 60 * 60),
            fleet_refresh: Duration::from_secs(2),
            clock: ConsoleClock::default(),
            venue_fresh: Duration::from_secs(1),
        }
    }
}

struct Console<S> {
    store: Arc<S>,
    config: ConsoleConfig,
    /// The hub's clock for the changes it makes (merges, revocations), shared with the API.
    origin: Arc<HubOrigin>,
    /// Wakes the stations' long polls after the console stored changes.
    changes: Arc<ChangeNotifier>,
    /// "Venue now"'s figures, shared by its pages and live updates.
    venue: Arc<crate::venue_now::VenueFigures>,
}

const SESSION_COOKIE: &str = "expo_console";
const SIGN_IN_COOKIE: &str = "expo_console_sign_in";
const LANG_COOKIE: &str = "expo_console_lang";
/// History rows a station's page shows: the last hour.
const HISTORY_ROWS: usize = 60;
const AUDIT_ROWS: usize = 500;

/// The console's routes, to be nested at `/console`.
pub fn router<S: HubStore>(
    store: Arc<S>,
    config: ConsoleConfig,
    origin: Arc<HubOrigin>,
    changes: Arc<ChangeNotifier>,
) -> Router {
    let venue = Arc::new(crate::venue_now::VenueFigures::new(config.venue_fresh));
    let console = Arc::new(Console { store, config, origin, changes, venue });
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/fleet") }))
        .route("/sign-in", get(sign_in_page::<S>).post(sign_in::<S>))
        .route("/sign-out", post(sign_out::<S>))
        .route("/fleet", get(fleet::<S>))
        .route("/fleet/events", get(fleet_events::<S>))
        .route("/fleet/{station}", get(station_history::<S>))
        .route("/stations", get(stations::<S>).post(add_station::<S>))
        .route("/stations/revoke", post(revoke_station::<S>))
        .route("/keys", get(keys::<S>).post(add_key::<S>))
        .route("/keys/revoke", post(revoke_key::<S>))
        .route("/audit", get(audit_log::<S>))
        .route("/accuracy", get(accuracy::page::<S>))
        .route("/accuracy/merge", post(accuracy::merge::<S>))
        .route("/accuracy/dismiss", post(accuracy::dismiss::<S>))
        .route("/attendees", get(lookup::page::<S>))
        .route("/attendees/revoke", post(lookup::revoke::<S>))
        .route("/venue", get(venue::page::<S>))
        .route("/venue/events", get(venue::events::<S>))
        .route("/venue/{chart}/{format}", get(venue::chart::<S>))
        .fallback(not_found)
        .layer(axum::middleware::map_response(secure_headers))
        .with_state(console)
}

/// Headers every console answer carries: nothing from elsewhere may load, no framing, no
/// caching of pages that show the fleet.
async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
             connect-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then_some(value)
        })
}

impl<S: HubStore> Console<S> {
    fn set_cookie(&self, name: &str, value: &str, max_age_s: u64) -> HeaderValue {
        let secure = if self.config.secure_cookies { "; Secure" } else { "" };
        let text = format!(
            "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"
        );
        // Only hex tokens and language codes are ever set.
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The signed-in user of the request, if the session is live.
    async fn session(&self, headers: &HeaderMap) -> Result<Option<Session>, StoreError> {
        match cookie(headers, SESSION_COOKIE) {
            Some(token) => auth::session_of(self.store.as_ref(), token).await,
            None => Ok(None),
        }
    }

    async fn audit(&self, user: &str, action: &str, detail: String) {
        if let Err(error) = auth::audit(self.store.as_ref(), user, action, detail).await {
            tracing::error!(%error, action, "cannot write the console audit log");
        }
    }
}

/// The page's language: `?lang=` (remembered in a cookie), else the cookie, else the
/// browser's preference.
#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

/// Who asks, in which language: every console handler's first extractor.
struct Visit {
    headers: HeaderMap,
    lang: Lang,
    /// The cookie remembering a language just picked.
    remember: Option<HeaderValue>,
}

impl<S: HubStore> FromRequestParts<Arc<Console<S>>> for Visit {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console<S>>,
    ) -> Result<Self, Infallible> {
        let headers = parts.headers.clone();
        let picked = Query::<LangQuery>::try_from_uri(&parts.uri)
            .ok()
            .and_then(|Query(query)| query.lang)
            .and_then(|code| Lang::parse(&code));
        if let Some(lang) = picked {
            let remember = console.set_cookie(LANG_COOKIE, lang.code(), 365 * 24 * 3600);
            return Ok(Self { headers, lang, remember: Some(remember) });
        }
        let lang = preferred_lang(&headers);
        Ok(Self { headers, lang, remember: None })
    }
}

/// The language cookie's, else the browser's first preference if it is Chinese, else
/// English.
fn preferred_lang(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE).and_then(Lang::parse).unwrap_or_else(|| {
        let accepts_chinese = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("zh"));
        if accepts_chinese {
            Lang::ZhCn
        } else {
            Lang::En
        }
    })
}

/// A handler's answer; the `Err` side is an answer too (a refusal, the sign-in page).
type Answer = Result<Response, Response>;

impl Visit {
    fn html(&self, status: StatusCode, body: String) -> Response {
        let mut response = (status, Html(body)).into_response();
        if let Some(cookie) = &self.remember {
            response.headers_mut().append(header::SET_COOKIE, cookie.clone());
        }
        response
    }

    fn storage_failed(&self, error: StoreError) -> Response {
        tracing::error!(%error, "console: hub storage failed");
        let text = "the hub could not reach its database; retry later";
        self.html(StatusCode::SERVICE_UNAVAILABLE, html::message(self.lang, T::Console, None, text))
    }

    /// The signed-in user, or the way to the sign-in page.
    async fn session<S: HubStore>(&self, console: &Console<S>) -> Result<Session, Response> {
        match console.session(&self.headers).await {
            Ok(Some(session)) => Ok(session),
            Ok(None) => Err(to_sign_in()),
            Err(error) => Err(self.storage_failed(error)),
        }
    }

    /// The signed-in user who may open `page` (and do `action`), or the answer to give
    /// instead: the sign-in page for nobody, a refusal (audited) for a role without it.
    async fn require<S: HubStore>(
        &self,
        console: &Console<S>,
        page: Page,
        action: Option<Action>,
    ) -> Result<Session, Response> {
        let session = self.session(console).await?;
        if session.role.may_open(page) && action.is_none_or(|a| session.role.may(a)) {
            return Ok(session);
        }
        console.audit(&session.user, "refused", format!("{page:?} {action:?}")).await;
        Err(self.refusal(&session, T::Forbidden))
    }

    fn refusal(&self, session: &Session, why: T) -> Response {
        let lang = self.lang;
        let body = html::message(lang, T::Forbidden, Some((session, Page::Fleet)), why.get(lang));
        self.html(StatusCode::FORBIDDEN, body)
    }

    /// A form that changes something must carry the session's CSRF token.
    async fn check_csrf<S: HubStore>(
        &self,
        console: &Console<S>,
        session: &Session,
        sent: &str,
    ) -> Result<(), Response> {
        if auth::same_secret(sent, &session.csrf) {
            return Ok(());
        }
        console.audit(&session.user, "csrf_refused", String::new()).await;
        Err(self.refusal(session, T::FormExpired))
    }

    /// The form's fields, or a page saying what is wrong with it.
    #[allow(clippy::result_large_err)] // the `Err` is the answer a handler returns as is
    fn form<F>(
        &self,
        session: Option<&Session>,
        form: Result<Form<F>, FormRejection>,
    ) -> Result<F, Response> {
        form.map(|Form(fields)| fields).map_err(|rejection| {
            let text = format!("{}: {}", T::BadRequest.get(self.lang), rejection.body_text());
            let body =
                html::message(self.lang, T::BadRequest, session.map(|s| (s, Page::Fleet)), &text);
            self.html(StatusCode::BAD_REQUEST, body)
        })
    }

    /// The sign-in form with a fresh token in its own cookie (there is no session yet).
    fn sign_in_form<S: HubStore>(
        &self,
        console: &Console<S>,
        status: StatusCode,
        problem: Option<T>,
    ) -> Response {
        let token = auth::new_token();
        let mut response = self.html(status, html::sign_in_form(self.lang, &token, problem));
        response
            .headers_mut()
            .append(header::SET_COOKIE, console.set_cookie(SIGN_IN_COOKIE, &token, 3600));
        response
    }
}

fn to_sign_in() -> Response {
    Redirect::to("/console/sign-in").into_response()
}

async fn sign_in_page<S: HubStore>(
    State(console): State<Arc<Console<S>>>,
    visit: Visit,
) -> Response {
    visit.sign_in_form(&console, StatusCode::OK, None)
}

#[derive(Deserialize)]
struct SignInForm {
    name: String,
    password: String,
    csrf: String,
}

async fn sign_in<S: HubStore>(
    State(console): State<Arc<Console<S>>>,
    visit: Visit,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Answer {
    let form = visit.form(None, form)?;
    let expected = cookie(&visit.headers, SIGN_IN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !auth::same_secret(&form.csrf, expected) {
        return Err(visit.sign_in_form(&console, StatusCode::FORBIDDEN, Some(T::FormExpired)));
    }
    // The name is hostile until it matches a user: bounded before it reaches the log.
    let name: String = form.name.trim().chars().take(64).collect();
    if auth::locked_out(console.store.as_ref(), &name).await.map_err(|e| visit.storage_failed(e))? {
        console.audit(&name, "sign_in_locked", String::new()).await;
        return Err(visit.sign_in_form(
            &console,
            StatusCode::TOO_MANY_REQUESTS,
            Some(T::LockedOut),
        ));
    }
    let stored =
        console.store.console_password(&name).await.map_err(|e| visit.storage_failed(e))?;
    let (role, hash) = stored.unwrap_or_else(|| (String::new(), auth::stand_in_hash().to_owned()));
    let password = form.password;
    // argon2 takes tens of milliseconds of CPU: off the async workers.
    let matches = tokio::task::spawn_blocking(move || auth::password_matches(&password, &hash))
        .await
        .unwrap_or(false);
    let Some(role) = ConsoleRole::parse(&role).filter(|_| matches) else {
        console.audit(&name, auth::SIGN_IN_FAILED, String::new()).await;
        return Err(visit.sign_in_form(&console, StatusCode::UNAUTHORIZED, Some(T::WrongPassword)));
    };
    let lifetime = console.config.session_lifetime;
    let lifetime_ms = i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
    let (token, _) = auth::start_session(console.store.as_ref(), &name, role, lifetime_ms)
        .await
        .map_err(|e| visit.storage_failed(e))?;
    console.audit(&name, "sign_in", role.as_str().to_owned()).await;
    let mut response = Redirect::to("/console/fleet").into_response();
    let headers = response.headers_mut();
    headers
        .append(header::SET_COOKIE, console.set_cookie(SESSION_COOKIE, &token, lifetime.as_secs()));
    headers.append(header::SET_COOKIE, console.set_cookie(SIGN_IN_COOKIE, "", 0));
    Ok(response)
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn sign_out<S: HubStore>(
    State(console): State<Arc<Console<S>>>,
    visit: Visit,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Answer {
    let session = visit.session(&console).await?;
    let form = visit.form(Some(&session), form)?;
    visit.check_csrf(&console, &session, &form.csrf).await?;
    console
        .store
        .end_console_session(&session.token_hash)
        .await
        .map_err(|e| visit.storage_failed(e))?;
    console.audit(&session.user, "sign_out", String::new()).await;
    let mut response = to_sign_in();
    response.headers_mut().append(header::SET_COOKIE, console.set_cookie(SESSION_COOKIE, "", 0));
    Ok(response)
}

async fn fleet<S: HubStore>(State(console): State<Arc<Console<S>>>, visit: Visit) -> Answer {
    let session = visit.require(&console, Page::Fleet, None).await?;
    let fleet = console.store.fleet().await.map_err(|e| visit.storage_failed(e))?;
    let rows = html::fleet_rows(visit.lang, &fleet, auth::now_ms());
    Ok(visit.html(StatusCode::OK, html::fleet_page(visit.lang, &session, &rows)))
}

/// The fleet table's rows every [`ConsoleConfig::fleet_refresh`], as long as the session
/// lives; then one `signed_out` event and the stream ends.
async fn fleet_events<S: HubStore>(
    State(console): State<Arc<Console<S>>>,
    visit: Visit,
) -> Response {
    let lang = visit.lang;
    live_events(console, visit, Page::Fleet, "fleet", move |console| async move {
        match console.store.fleet().await {
            Ok(fleet) => Some(html::fleet_rows(lang, &fleet, auth::now_ms())),
            Err(error) => {
                tracing::error!(%error, "console: cannot read the fleet");
                None
            }
        }
    })
    .await
}

/// What a live page shows: `render`'s HTML as an event named `name` every
/// [`ConsoleConfig::fleet_refresh`] (a comment when it has nothing), as long as the
/// session lives and may open `page`; then one `signed_out` event and the stream ends.
async fn live_events<S, F, Fut>(
    console: Arc<Console<S>>,
    visit: Visit,
    page: Page,
    name: &'static str,
    render: F,
) -> Response
where
    S: HubStore,
    F: Fn(Arc<Console<S>>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<String>> + Send,
{
    if visit.require(&console, page, None).await.is_err() {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    }
    let token = cookie(&visit.headers, SESSION_COOKIE).unwrap_or_default().to_owned();
    let mut ticks = tokio::time::interval(console.config.fleet_refresh);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let render = Arc::new(render);
    let state = Some((console, token, ticks));
    let events = futures_util::stream::unfold(state, move |state| {
        let render = Arc::clone(&render);
        async move {
            let (console, token, mut ticks) = state?;
            ticks.tick().await;
            let live =
                matches!(auth::session_of(console.store.as_ref(), &token).await, Ok(Some(_)));
            if !live {
                let ended = Event::default().event("signed_out").data("");
                return Some((Ok::<_, Infallible>(ended), None));
            }
            let event = match render(Arc::clone(&console)).await {
                Some(html) => Event::default().event(name).data(html),
                None => Event::default().comment("storage unavailable"),
            };
            Some((Ok(event), Some((console, token, ticks))))
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

async fn station_history<S: HubStore>(
    State(console): State<Arc<Console<S>>>,
    visit: Visit,
    Path(station): Path<String>,
) -> Answer {
    let session = visit.require(&console, Page::Fleet, None).await?;
    let history = console
        .store
        .heartbeat_history(&station, HISTORY_ROWS)
        .await
        .map_err(|e| visit.storage_failed(e))?;
    let history: Vec<(i64, StationReport)> = history
        .into_iter()
        .filter_map(|(at, json)| StationReport::parse(&json).ok().map(|report| (at, report)))
        .collect();
    Ok(visit.html(StatusCode::OK, html::history_page(visit.lang, &session, &station, &history)))
}

async fn stations<S: HubStore>(State(console): State<Arc<Console<S>>>, visit: Visit) -> Answer {
    let session = visit.require(&console, Page::Stations, None).await?;
    stations_answer(&console, &visit, &session, StatusCode::OK, String::new()).await
}

async fn stations_answer<S: HubStore>(
    console: &Console<S>,
    visit: &Visit,
    session: &Session,
    status: StatusCode,
    notice: String,
) -> Answer {
    let fleet = console.store.fleet().await.map_err(|e| visit.storage_failed(e))?;
    Ok(visit.html(status, html::stations_page(visit.lang, session, &fleet, &notice)))
}

/// The stations page again, saying what was wrong with the form.
async fn refused_input<S: HubStore>(
    console: &Console<S>,
    visit: &Visit,
    session: &Session,
    problem: String,
) -> Answer {
    let text = format!("{}: {problem}", T::BadRequest.get(visit.lang));
    stations_answer(console, visit, session, StatusCode::BAD_REQUEST, html::notice(&text)).await
}

#[derive(Deserialize)]
struct StationForm {
    name: String,
    role: Option<String>,
    csrf: String,
}

/// The signed-in user allowed to do `action` on the stations page, with the form checked
/// (readable, CSRF token), or the answer to give instead.
async fn station_action<S: HubStore>(
    console: &Console<S>,
    visit: &Visit,
    action: Action,
    form: Result<Form<StationForm>, FormRejection>,
) -> Result<(Session, StationForm), Response> {
    let session = visit.require(console, Page::Stations, Some(action)).await?;
    let form = visit.form(Some(&session), form)?;
    visit.check_csrf(console, &session, &form.csrf).await?;
    Ok((session, form))
}

async fn add_station<S: HubStore>(
    State(console): State<Arc<Console<S>>>,
    visit: Visit,
    form: Result<Form<StationForm>, FormRejection>,
) -> Answer {
    let (session, form) = station_action(&console, &visit, Action::AddStation, form).await?;
    let Some(role) = form.role.as_deref().and_then(|r| r.parse::<StationRole>().ok()) else {
        let problem = "role: desk, kiosk, gate or admin".to_owned();
        return refused_input(&console, &visit, &session, problem).await;
    };
    match enrolment::add_station(console.store.as_ref(), &form.name, role).await {
        Ok(code) => {
            console.audit(&session.user, "station_add", format!("{} as {role}", form.name)).await;
            let added = html::station_added(visit.lang, &form.name, &code);
            stations_answer(&console, &visit, &session, StatusCode::OK, added).await
        }
        Err(error @ (StoreError::InvalidStationName(_) | StoreError::StationExists(_))) => {
            refused_input(&console, &visit, &session, error.to_string()).await
        }
        Err(error) => Err(visit.storage_failed(error)),
    }
}

async fn revoke_station<S: HubStore>(
    State(console): State<Arc<Console<S>>>,
    visit: Visit,
    form: Result<Form<StationForm>, FormRejection>,
) -> Answer {
    let (session, form) = station_action(&console, &visit, Action::RevokeStation, form).await?;
    match enrolment::revoke_station(console.store.as_ref(), &form.name).await {
        Ok(keys) => {
            let detail = format!("{} ({keys} keys)", form.name);
            console.audit(&session.user, "station_revoke", detail).await;
            let lang = visit.lang;
            let text = format!(
                "{}: {} · {keys} {}",
                T::StationRevoked.get(lang),
                form.name,
                T::KeysRevoked.get(lang)
            );
            stations_answer(&console, &visit, &session, StatusCode::OK, html::notice(&text)).await
        }
        Err(error @ StoreError::UnknownStation(_)) => {
            refused_input(&console, &visit, &session, error.to_string()).await
        }
        Err(error) => Err(visit.storage_failed(error)),
    }
}

async fn keys<S: HubStore>(State(console): State<Arc<Console<S>>>, visit: Visit) -> Answer {
    let session = visit.require(&console, Page::Keys, None).await?;
    keys_answer(&console, &visit, &session, StatusCode::OK, String::new()).await
}

async fn keys_answer<S: HubStore>(
    console: &Console<S>,
    visit: &Visit,
    session: &Session,
    status: StatusCode,
    notice: String,
) -> Answer {
    let keys = console.store.api_keys().await.map_err(|e| visit.storage_failed(e))?;
    Ok(visit.html(status, html::keys_page(visit.lang, session, &keys, &notice)))
}

/// The fields of a key form (`scope` repeats, one per box ticked).
struct KeyForm {
    name: String,
    scopes: Vec<String>,
    csrf: String,
}

/// The signed-in user allowed to do `action` on the keys page, with the form checked
/// (readable, CSRF token), or the answer to give instead.
async fn key_action<S: HubStore>(
    console: &Console<S>,
    visit: &Visit,
    action: Action,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<(Session, KeyForm), Response> {
    let session = visit.require(console, Page::Keys, Some(action)).await?;
    let mut fields = KeyForm { name: String::new(), scopes: Vec::new(), csrf: String::new() };
    for (key, value) in visit.form(Some(&session), form)? {
        match key.as_str() {
            "name" => fields.name = value,
            "scope" => fields.scopes.push(value),
            "csrf" => fields.csrf = value,
            _ => {}
        }
    }
    visit.check_csrf(console, &session, &fields.csrf).await?;
    Ok((session, fields))
}

async fn add_key<S: HubStore>(
    State(console): State<Arc<Console<S>>>,
    visit: Visit,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Answer {
    let (session, form) = key_action(&console, &visit, Action::AddKey, form).await?;
    let refused = |problem: String| {
        let text = format!("{}: {problem}", T::BadRequest.get(visit.lang));
        keys_answer(&console, &visit, &session, StatusCode::BAD_REQUEST, html::notice(&text))
    };
    let scopes = match api_keys::parse_scopes(&form.scopes.join(",")) {
        Ok(scopes) if !form.scopes.is_empty() => scopes,
        Ok(_) => return refused("tick at least one scope".into()).await,
        Err(error) => return refused(error.to_string()).await,
    };
    match api_keys::add_key(console.store.as_ref(), &form.name, &scopes).await {
        Ok(key) => {
            let detail = format!("{} ({})", form.name, form.scopes.join(","));
            console.audit(&session.user, "api_key_add", detail).await;
            let added = html::key_added(visit.lang, &form.name, &key);
            keys_answer(&console, &visit, &session, StatusCode::OK, added).await
        }
        Err(ApiKeyError::Store(error)) if !matches!(error, StoreError::ApiKeyExists(_)) => {
            Err(visit.storage_failed(error))
        }
        Err(error) => refused(error.to_string()).await,
    }
}

async fn revoke_key<S: HubStore>(
    State(console): State<Arc<Console<S>>>,
    visit: Visit,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Answer {
    let (session, form) = key_action(&console, &visit, Action::RevokeKey, form).await?;
    match api_keys::revoke_key(console.store.as_ref(), &form.name).await {
        Ok(()) => {
            console.audit(&session.user, "api_key_revoke", form.name.clone()).await;
            let text = format!("{}: {}", T::KeyRevoked.get(visit.lang), form.name);
            keys_answer(&console, &visit, &session, StatusCode::OK, html::notice(&text)).await
        }
        Err(error @ StoreError::UnknownApiKey(_)) => {
            let text = format!("{}: {error}", T::BadRequest.get(visit.lang));
            keys_answer(&console, &visit, &session, StatusCode::BAD_REQUEST, html::notice(&text))
                .await
        }
        Err(error) => Err(visit.storage_failed(error)),
    }
}

async fn audit_log<S: HubStore>(State(console): State<Arc<Console<S>>>, visit: Visit) -> Answer {
    let session = visit.require(&console, Page::Audit, None).await?;
    let entries =
        console.store.console_audit_log(AUDIT_ROWS).await.map_err(|e| visit.storage_failed(e))?;
    Ok(visit.html(StatusCode::OK, html::audit_page(visit.lang, &session, &entries)))
}

async fn not_found(headers: HeaderMap) -> Response {
    let lang = preferred_lang(&headers);
    let body = html::message(lang, T::NotFound, None, T::NotFound.get(lang));
    (StatusCode::NOT_FOUND, Html(body)).into_response()
}
