//! The hub's HTTP API (axum). Stateless: every request is answered from the store, so
//! any number of hub processes can serve one PostgreSQL database behind a load balancer.
//!
//! Every non-2xx answer is a JSON [`ErrorBody`], including the cases axum would answer
//! in plain text (unreadable or oversized bodies, bad query strings, unknown routes).
//! The operations console nested at `/console` is the exception: it answers a browser with
//! HTML pages, its errors included (see [`super::console`]).
//! Logs name stations and counts, never record contents.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::sync::{watch, Semaphore};

use super::api_keys::{require_scope, Scope};
use super::conflicts::{self, ConflictList, DismissRequest, MergeRequest, ResolveError};
use super::console::ConsoleConfig;
use super::enrolment::{self, secret_hash, EndorseError};
use super::feed;
use super::long_poll::LongPolls;
use super::notify::ChangeNotifier;
use super::origin::HubOrigin;
use super::registrations;
use super::revocation;
use super::snapshot::{SnapshotParams, MAX_AFTER_BYTES, SNAPSHOT_PAGE};
use super::store::{HubStore, PreparedBatch, PullPage, StationAuth, StationIdentity, StoreError};
use expo_sync::authority::StationRole;
use expo_sync::heartbeat::{Heartbeat, MAX_HEARTBEAT_BYTES};
use expo_sync::hlc::wall_clock_ms;
use expo_sync::protocol::{
    EndorseRequest, EnrolRequest, ErrorBody, EventRecord, PullResponse, PushRequest,
    PROTOCOL_HEADER, PROTOCOL_VERSION, WAIT_HEADER,
};

/// Limits of one hub process.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Largest accepted request body.
    pub body_limit: usize,
    /// Longest a request may take, body upload included.
    pub request_timeout: Duration,
    /// Largest page a pull may ask for.
    pub max_pull_limit: usize,
    /// Longest a connection may take to send a request's headers, counted from when it
    /// was accepted or its previous answer was sent: a silent or trickling client is
    /// disconnected instead of holding a connection for good.
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait in the kernel's backlog until one closes.
    /// At most half of them are long-polls waiting for changes (see `long_poll.rs`).
    pub max_connections: u32,
    /// Most changes one station may have stored at the hub: a stolen credential cannot
    /// fill the hub's disk. Ten times a large show's registrations, badges and gate
    /// decisions of one station.
    pub station_quota: u64,
    /// The operations console's cookies, sessions and refresh.
    pub console: ConsoleConfig,
    /// Longest a long-poll (`wait=S`) is held, whatever it asked; never past 1 s before
    /// `request_timeout`.
    pub max_wait: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            body_limit: 16 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            max_pull_limit: 5000,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 512,
            station_quota: 10_000_000,
            console: ConsoleConfig::default(),
            max_wait: super::long_poll::MAX_WAIT,
        }
    }
}

/// Page size of a pull that does not say.
const DEFAULT_PULL_LIMIT: usize = 1000;

#[derive(Default)]
struct Counters {
    pushes: AtomicU64,
    pulls: AtomicU64,
    changes_received: AtomicU64,
    errors: AtomicU64,
}

pub(crate) struct Hub<S> {
    pub(crate) store: Arc<S>,
    pub(crate) config: HubConfig,
    counters: Counters,
    /// Wakes long polls when this process stores changes.
    pub(crate) changes: Arc<ChangeNotifier>,
    pub(crate) long_polls: LongPolls,
    /// The clock of the changes this process makes as the data centre.
    pub(crate) origin: Arc<HubOrigin>,
}

/// The station a request authenticated as.
#[derive(Clone, Debug)]
struct Caller(StationIdentity);

/// A refused request, answered as `{"error": code, "message": ...}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing or unknown station credential")
    }

    fn no_role(station: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "station_role_missing",
            format!(
                "station {station:?} was enrolled before stations had roles: run \
                 `expo-hub station set-role {station} --role desk|kiosk|gate|admin`"
            ),
        )
    }

    fn protocol(got: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "protocol_version",
            format!("this hub speaks protocol {PROTOCOL_VERSION}, the request used {got}"),
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::InvalidEnrolmentCode => {
                Self::new(StatusCode::FORBIDDEN, "invalid_enrolment_code", error.to_string())
            }
            StoreError::InvalidStationId(_) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_station_id", error.to_string())
            }
            other => {
                tracing::error!(error = %other, "hub storage failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the hub could not reach its database; retry later",
                )
            }
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", rejection.body_text())
        } else {
            Self::new(StatusCode::BAD_REQUEST, "unreadable_body", rejection.body_text())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: self.code.to_owned(), message: self.message };
        (self.status, Json(body)).into_response()
    }
}

/// Parses a JSON body ourselves so that every failure becomes an [`ApiError`].
pub(crate) fn parse_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string()))
}

/// The hub's routes over `store`.
pub fn router<S: HubStore>(store: Arc<S>, config: HubConfig) -> Router {
    routes_and_long_polls(store, config).0
}

/// The routes, and their long-polls (which must end when the hub stops).
fn routes_and_long_polls<S: HubStore>(store: Arc<S>, config: HubConfig) -> (Router, Arc<Hub<S>>) {
    let timeout = config.request_timeout;
    let body_limit = config.body_limit;
    // The console changes data as the API does: the same clock, the same wake-ups.
    let (origin, changes) = (Arc::new(HubOrigin::default()), Arc::new(ChangeNotifier::default()));
    let console = super::console::router(
        Arc::clone(&store),
        config.console.clone(),
        Arc::clone(&origin),
        Arc::clone(&changes),
    );
    let max_waiting = (config.max_connections / 2).max(1) as usize;
    let wait_cap =
        config.max_wait.min(config.request_timeout.saturating_sub(Duration::from_secs(1)));
    let hub = Arc::new(Hub {
        store,
        config,
        counters: Counters::default(),
        changes,
        long_polls: LongPolls::new(max_waiting, wait_cap),
        origin,
    });
    let authenticated = Router::new()
        .route("/v1/push", post(push::<S>))
        .route("/v1/pull", get(pull::<S>))
        .route("/v1/event", get(get_event::<S>).put(put_event::<S>))
        .route("/v1/keys", post(endorse_key::<S>))
        .route("/v1/heartbeat", post(heartbeat::<S>))
        .route("/metrics", get(metrics::<S>))
        .route("/v1/snapshot", get(snapshot::<S>))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&hub), authenticate::<S>));
    let routes = Router::new()
        .route("/healthz", get(healthz::<S>))
        .route("/v1/enrol", post(enrol::<S>))
        // The organiser's systems: each handler checks its API key's scope itself.
        .route("/v1/feed", get(feed::feed::<S>))
        // An admin station or the organiser's API key: the handlers check which.
        .route("/v1/conflicts", get(list_conflicts::<S>))
        .route("/v1/conflicts/{id}/{action}", post(resolve_conflict::<S>))
        .route("/v1/registrations", put(registrations::route::<S>))
        .route("/v1/revocations", post(revocation::revoke::<S>))
        .merge(authenticated)
        .nest_service("/console", console)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(check_protocol_header))
        .layer(middleware::from_fn_with_state(timeout, enforce_timeout))
        .layer(DefaultBodyLimit::max(body_limit))
        // Outermost, so refusals by the layers above are counted too.
        .layer(middleware::from_fn_with_state(Arc::clone(&hub), count_errors::<S>))
        .with_state(Arc::clone(&hub));
    (routes, hub)
}

/// Serves the hub on `listener` (a `TcpListener`, or a [`super::tls::TlsListener`] for
/// HTTPS) until `shutdown` completes, then lets the requests in progress finish.
///
/// Each connection is served by hyper's HTTP/1 state machine with a header-read timeout
/// (`config.header_read_timeout`), and at most `config.max_connections` at once: a
/// permit is taken before a connection is accepted and given back when it closes.
pub async fn serve<S: HubStore, L: axum::serve::Listener<Addr: std::fmt::Debug>>(
    mut listener: L,
    store: Arc<S>,
    config: HubConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max_connections = config.max_connections.max(1);
    let permits = Arc::new(Semaphore::new(max_connections as usize));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(config.header_read_timeout);
    let (app, hub) = routes_and_long_polls(store, config);
    let (stopping, stop) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit,
            () = &mut shutdown => break,
        };
        // Never closed, so never an error: hold the permit until the connection closes.
        let Ok(permit) = permit else { break };
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let connection =
            http.serve_connection(TokioIo::new(io), TowerToHyperService::new(app.clone()));
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let outcome = tokio::select! {
                outcome = connection.as_mut() => outcome,
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = outcome {
                // A client that went silent (header-read timeout) or hung up mid-request.
                tracing::debug!(?peer, %error, "connection closed");
            }
            drop(permit);
        });
    }
    drop(listener);
    // Long-polls answer now instead of holding their connections to the end of their wait.
    hub.long_polls.stop();
    // Connections see the sender gone: each finishes its request in progress, closes and
    // gives its permit back, so all of them together mean every connection is gone.
    drop((stopping, stop));
    let _all_closed = permits.acquire_many(max_connections).await;
    Ok(())
}

async fn enforce_timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("the request took longer than {} s", limit.as_secs_f32()),
        )
        .into_response(),
    }
}

async fn check_protocol_header(request: Request, next: Next) -> Response {
    match request.headers().get(PROTOCOL_HEADER) {
        Some(value) if value.to_str().ok() != Some(PROTOCOL_VERSION.to_string().as_str()) => {
            ApiError::protocol(String::from_utf8_lossy(value.as_bytes())).into_response()
        }
        _ => next.run(request).await,
    }
}

async fn count_errors<S: HubStore>(
    State(hub): State<Arc<Hub<S>>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if !response.status().is_success() {
        hub.counters.errors.fetch_add(1, Ordering::Relaxed);
    }
    response
}

pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

/// Looks the credential up on every request, so a revocation takes effect at once on
/// every hub process.
async fn authenticate<S: HubStore>(
    State(hub): State<Arc<Hub<S>>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = bearer_token(request.headers()).ok_or_else(ApiError::unauthorized)?;
    match hub.store.authenticate(&secret_hash(token)).await? {
        StationAuth::Active(identity) => {
            request.extensions_mut().insert(Caller(identity));
            Ok(next.run(request).await)
        }
        StationAuth::Revoked(station) => {
            tracing::warn!(station, "refused a revoked station");
            Err(ApiError::new(StatusCode::FORBIDDEN, "station_revoked", "this station was revoked"))
        }
        StationAuth::Unknown => Err(ApiError::unauthorized()),
    }
}

async fn healthz<S: HubStore>(State(hub): State<Arc<Hub<S>>>) -> Result<&'static str, ApiError> {
    hub.store.ping().await?;
    Ok("ok\n")
}

async fn enrol<S: HubStore>(
    State(hub): State<Arc<Hub<S>>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: EnrolRequest = parse_body(body)?;
    if request.protocol != PROTOCOL_VERSION {
        return Err(ApiError::protocol(request.protocol));
    }
    let enrolled =
        enrolment::enrol(hub.store.as_ref(), &request.code, request.station_id.as_deref()).await?;
    tracing::info!(station = enrolled.station, role = ?enrolled.role, "station enrolled");
    Ok(Json(enrolled).into_response())
}

async fn push<S: HubStore>(
    State(hub): State<Arc<Hub<S>>>,
    Extension(Caller(caller)): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: PushRequest = parse_body(body)?;
    if request.protocol != PROTOCOL_VERSION {
        return Err(ApiError::protocol(request.protocol));
    }
    let role = caller.role.ok_or_else(|| ApiError::no_role(&caller.name))?;
    if caller.changes_stored >= hub.config.station_quota {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "quota_exceeded",
            format!(
                "this station has {} changes stored at the hub, its quota is {}",
                caller.changes_stored, hub.config.station_quota
            ),
        ));
    }
    let station_id = match (&caller.station_id, request.changes.first()) {
        (Some(bound), _) => bound.clone(),
        // Enrolled before the hub bound station ids: its first push binds one.
        (None, Some(first)) => hub.store.bind_station_id(&caller.name, &first.station).await?,
        (None, None) => String::new(),
    };
    let batch = PreparedBatch::new(role, &station_id, &request.changes, wall_clock_ms())
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "unencodable_change", e.to_string()))?;
    let received = request.changes.len();
    let station = caller.name;
    let response = hub.store.push(&station, batch).await?;
    if response.new > 0 {
        hub.changes.stored();
    }
    hub.counters.pushes.fetch_add(1, Ordering::Relaxed);
    hub.counters.changes_received.fetch_add(received as u64, Ordering::Relaxed);
    if response.refused.is_empty() {
        tracing::info!(station, received, new = response.new, "push");
    } else {
        tracing::warn!(
            station,
            received,
            new = response.new,
            refused = response.refused.len(),
            "push with refused changes"
        );
    }
    Ok(Json(response).into_response())
}

#[derive(Deserialize)]
struct PullParams {
    since: Option<i64>,
    limit: Option<usize>,
    /// Seconds to wait for a change when none is past `since` (capped).
    wait: Option<u64>,
    /// `revocations`: the badge revocations only ([`PullPage::revocations`]).
    only: Option<String>,
}

async fn pull<S: HubStore>(
    State(hub): State<Arc<Hub<S>>>,
    Extension(Caller(StationIdentity { name: station, role, .. })): Extension<Caller>,
    params: Result<Query<PullParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) =
        params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let limit = params.limit.unwrap_or(DEFAULT_PULL_LIMIT).clamp(1, hub.config.max_pull_limit);
    let since = params.since.unwrap_or(0);
    // Each station gets only what its role needs (PIPL), whatever it asks for.
    let role = expo_sync::scope::pulling_role(role);
    let wait = Duration::from_secs(params.wait.unwrap_or(0));
    let revocations_only = match params.only.as_deref() {
        None => false,
        Some("revocations") => true,
        Some(other) => {
            let reason = format!("`only` may be `revocations`, not {other:?}");
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_query", reason));
        }
    };
    let page = || match revocations_only {
        true => PullPage::revocations(role, limit),
        false => PullPage::new(role, limit),
    };
    let (response, granted) = hub
        .long_polls
        .answer(
            &hub.changes,
            wait,
            || hub.store.pull(&station, since, page()),
            // A page whose changes were all withheld from this role still moves its cursor.
            |page: &PullResponse| !page.changes.is_empty() || page.next_cursor > since,
        )
        .await?;
    hub.counters.pulls.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(station, since, sent = response.changes.len(), "pull");
    let mut answer = Json(response).into_response();
    if params.wait.is_some() {
        answer.headers_mut().insert(WAIT_HEADER, granted.as_secs().into());
    }
    Ok(answer)
}

async fn endorse_key<S: HubStore>(
    State(hub): State<Arc<Hub<S>>>,
    Extension(Caller(caller)): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: EndorseRequest = parse_body(body)?;
    if request.protocol != PROTOCOL_VERSION {
        return Err(ApiError::protocol(request.protocol));
    }
    let endorsed = enrolment::endorse_key(hub.store.as_ref(), &caller, &request.public_key)
        .await
        .map_err(|error| match error {
        EndorseError::Store(store) => ApiError::from(store),
        EndorseError::BadKey(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_key", error.to_string())
        }
        EndorseError::OtherKeyEndorsed => {
            ApiError::new(StatusCode::CONFLICT, "other_key_endorsed", error.to_string())
        }
        EndorseError::NoRole => ApiError::no_role(&caller.name),
        EndorseError::SignsNoBadges(_) | EndorseError::NoStationId => {
            ApiError::new(StatusCode::FORBIDDEN, "forbidden", error.to_string())
        }
    })?;
    tracing::info!(station = caller.name, key_id = endorsed.key_id, "signing key endorsed");
    Ok(Json(endorsed).into_response())
}

async fn get_event<S: HubStore>(State(hub): State<Arc<Hub<S>>>) -> Result<Response, ApiError> {
    match hub.store.get_event().await? {
        Some(event) => Ok(Json(event).into_response()),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "no_event", "no event uploaded yet")),
    }
}

async fn put_event<S: HubStore>(
    State(hub): State<Arc<Hub<S>>>,
    Extension(Caller(caller)): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if caller.role != Some(StationRole::Admin) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only an admin station may change the event definition",
        ));
    }
    let station = caller.name;
    let event: EventRecord = parse_body(body)?;
    if event.event_id.trim().is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_event", "event_id is empty"));
    }
    let merged = hub.store.put_event(event).await?;
    tracing::info!(station, keys = merged.public_keys.len(), "event definition uploaded");
    Ok(Json(merged).into_response())
}

/// Conflicts name people (masked): the organiser's admin stations only.
/// Who lists and resolves conflicts, which name people (masked): an admin station
/// (`station:NAME`), or an organiser API key with the scope `conflicts:write` (`key:NAME`).
async fn conflicts_caller<S: HubStore>(
    hub: &Hub<S>,
    headers: &HeaderMap,
) -> Result<String, ApiError> {
    let token = bearer_token(headers).ok_or_else(ApiError::unauthorized)?;
    match hub.store.authenticate(&secret_hash(token)).await? {
        StationAuth::Active(station) if station.role == Some(StationRole::Admin) => {
            Ok(format!("station:{}", station.name))
        }
        StationAuth::Active(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only an admin station may list, merge or dismiss conflicts",
        )),
        StationAuth::Revoked(_) => {
            Err(ApiError::new(StatusCode::FORBIDDEN, "station_revoked", "this station was revoked"))
        }
        StationAuth::Unknown => {
            let key = require_scope(hub.store.as_ref(), headers, Scope::ConflictsWrite).await?;
            Ok(format!("key:{}", key.name))
        }
    }
}

async fn list_conflicts<S: HubStore>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    conflicts_caller(&hub, &headers).await?;
    let conflicts = conflicts::list(hub.store.as_ref()).await?;
    Ok(Json(ConflictList { conflicts }).into_response())
}

impl From<ResolveError> for ApiError {
    fn from(error: ResolveError) -> Self {
        let (status, code) = match &error {
            ResolveError::Store(_) | ResolveError::Unencodable(_) => {
                return match error {
                    ResolveError::Store(store) => ApiError::from(store),
                    other => {
                        tracing::error!(error = %other, "cannot encode a hub change");
                        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", other.to_string())
                    }
                };
            }
            ResolveError::Unknown(_) => (StatusCode::NOT_FOUND, "unknown_conflict"),
            ResolveError::AlreadyResolved { .. } => (StatusCode::CONFLICT, "already_resolved"),
            ResolveError::NotInConflict { .. } => (StatusCode::BAD_REQUEST, "not_in_conflict"),
            ResolveError::NotStored(_) | ResolveError::OneAttendee(_) => {
                (StatusCode::CONFLICT, "not_mergeable")
            }
            ResolveError::AlreadyMerged { .. } => (StatusCode::CONFLICT, "already_merged"),
            ResolveError::BadReason => (StatusCode::BAD_REQUEST, "invalid_reason"),
        };
        Self::new(status, code, error.to_string())
    }
}

/// `POST /v1/conflicts/{id}/merge` (`{"keep": ATTENDEE_ID}`) and `/dismiss`
/// (`{"reason": TEXT}`).
async fn resolve_conflict<S: HubStore>(
    State(hub): State<Arc<Hub<S>>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let by = conflicts_caller(&hub, &headers).await?;
    let Ok(Path((id, action))) = path else { return Err(not_found().await) };
    let id: i64 = id.parse().map_err(|_| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_conflict", "a conflict id is a number")
    })?;
    let (store, origin) = (hub.store.as_ref(), &hub.origin);
    let resolved = match action.as_str() {
        "merge" => {
            let request: MergeRequest = parse_body(body)?;
            conflicts::merge(store, origin, id, request.keep, &by).await?
        }
        "dismiss" => {
            let request: DismissRequest = parse_body(body)?;
            conflicts::dismiss(store, origin, id, &request.reason, &by).await?
        }
        _ => return Err(not_found().await),
    };
    Ok(Json(resolved).into_response())
}

async fn heartbeat<S: HubStore>(
    State(hub): State<Arc<Hub<S>>>,
    Extension(Caller(caller)): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body?;
    if bytes.len() > MAX_HEARTBEAT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("a heartbeat is at most {MAX_HEARTBEAT_BYTES} bytes"),
        ));
    }
    let beat: Heartbeat = parse_body(Ok(bytes))?;
    if beat.protocol != PROTOCOL_VERSION {
        return Err(ApiError::protocol(beat.protocol));
    }
    beat.check()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_heartbeat", e.to_string()))?;
    let ack =
        super::heartbeat::receive(hub.store.as_ref(), &caller.name, beat, wall_clock_ms()).await?;
    tracing::debug!(station = caller.name, "heartbeat");
    Ok(Json(ack).into_response())
}

async fn metrics<S: HubStore>(State(hub): State<Arc<Hub<S>>>) -> Result<Response, ApiError> {
    let stats = hub.store.stats().await?;
    let c = &hub.counters;
    let lines = [
        ("expo_hub_changes_stored", "gauge", "Changes held by the hub database.", stats.changes),
        ("expo_hub_stations", "gauge", "Enrolled stations not revoked.", stats.active_stations),
        (
            "expo_hub_conflicts",
            "gauge",
            "Open conflicts awaiting a merge or dismissal.",
            stats.conflicts,
        ),
        (
            "expo_hub_pushes_total",
            "counter",
            "Push requests served.",
            c.pushes.load(Ordering::Relaxed),
        ),
        (
            "expo_hub_pulls_total",
            "counter",
            "Pull requests served.",
            c.pulls.load(Ordering::Relaxed),
        ),
        (
            "expo_hub_changes_received_total",
            "counter",
            "Changes received in pushes, repeats included.",
            c.changes_received.load(Ordering::Relaxed),
        ),
        (
            "expo_hub_error_responses_total",
            "counter",
            "Requests answered with an error.",
            c.errors.load(Ordering::Relaxed),
        ),
        (
            "expo_hub_waiting_requests",
            "gauge",
            "Long-polls waiting for new changes.",
            hub.long_polls.waiting() as u64,
        ),
    ];
    let text: String = lines
        .iter()
        .map(|(name, kind, help, value)| {
            format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n")
        })
        .collect();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// `GET /v1/snapshot?after=KEY`: the current state as one verified stream (`snapshot.rs`).
async fn snapshot<S: HubStore>(
    State(hub): State<Arc<Hub<S>>>,
    Extension(Caller(caller)): Extension<Caller>,
    params: Result<Query<SnapshotParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(SnapshotParams { after }) =
        params.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    if after.len() > MAX_AFTER_BYTES {
        let message = format!("after is an entity key of at most {MAX_AFTER_BYTES} bytes");
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_query", message));
    }
    let first = hub.store.snapshot_page(&after, SNAPSHOT_PAGE).await?;
    tracing::info!(station = caller.name, resumed = !after.is_empty(), "snapshot");
    Ok(super::snapshot::answer(Arc::clone(&hub.store), caller.role, after, first))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed here")
}
