//! The station's HTTP client of the hub: blocking (ureq), so the station's sync thread
//! and the `expo-kiosk sync` command need no async runtime.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::de::DeserializeOwned;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::heartbeat::{Heartbeat, HeartbeatAck};
use crate::protocol::{
    Change, EndorseRequest, EnrolRequest, EnrolResponse, ErrorBody, EventRecord, PullResponse,
    PushRequest, PushResponse, SigningKeyRecord, PROTOCOL_HEADER, PROTOCOL_VERSION, WAIT_HEADER,
};

/// Longest one request may take, connect and body included. A push of one batch is
/// far below this on any working network; a stalled one must fail so it can be retried.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest one snapshot download may take before it is cut (and resumed by the station
/// from the last chunk it verified).
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(600);
/// Largest hub answer read into memory (a pull page is a few MiB at most).
const MAX_RESPONSE_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The hub could not be reached or the connection broke: retry later.
    #[error("hub unreachable: {0}")]
    Transport(ureq::Error),
    /// The hub's certificate is not from an authority this station trusts.
    #[error(
        "the hub's certificate is not trusted ({0}); enrol again with --hub-ca and the \
         hub-ca.pem of `expo-hub cert`"
    )]
    UntrustedHub(ureq::Error),
    /// The hub answered with an error body.
    #[error("hub refused the request ({status} {}): {}", .body.error, .body.message)]
    Refused { status: u16, body: ErrorBody },
    /// The certificate authority given for the hub cannot be used.
    #[error("hub certificate authority: {0}")]
    BadAuthority(String),
    /// A snapshot download broke off or does not verify.
    #[error(transparent)]
    Snapshot(crate::snapshot::SnapshotError),
    /// The hub answered something that is not the protocol.
    #[error("unexpected answer from the hub (HTTP {status}): {reason}")]
    Unexpected { status: u16, reason: String },
}

impl ClientError {
    /// True when repeating the same request later can succeed: network failures, hub
    /// overload or storage outages. False when the station must change something first
    /// (bad or revoked credential, protocol mismatch, rejected data).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Transport(_) => true,
            // A cut or a corrupted answer: asking again can get good bytes.
            ClientError::Snapshot(_) => true,
            ClientError::BadAuthority(_) | ClientError::UntrustedHub(_) => false,
            ClientError::Refused { status, .. } | ClientError::Unexpected { status, .. } => {
                *status >= 500 || *status == 429 || *status == 408
            }
        }
    }
}

impl From<ureq::Error> for ClientError {
    fn from(error: ureq::Error) -> Self {
        use rustls::Error as TlsError;
        // rustls reports a refused certificate from inside the connection's I/O.
        let refused_certificate = match &error {
            ureq::Error::Io(io) => io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<TlsError>())
                .is_some_and(|tls| matches!(tls, TlsError::InvalidCertificate(_))),
            ureq::Error::Rustls(tls) => matches!(tls, TlsError::InvalidCertificate(_)),
            _ => false,
        };
        if refused_certificate {
            ClientError::UntrustedHub(error)
        } else {
            ClientError::Transport(error)
        }
    }
}

/// Which certificate authorities the station accepts for an `https://` hub: the public
/// web's, or only the one `expo-hub cert` made for this hub (`hub-ca.pem`).
#[derive(Clone, Debug, Default)]
pub struct HubTrust {
    authority: Option<ureq::tls::Certificate<'static>>,
}

impl HubTrust {
    /// Trusts the authority in `pem` alone.
    pub fn authority_pem(pem: &[u8]) -> Result<Self, ClientError> {
        let authority = ureq::tls::Certificate::from_pem(pem)
            .map_err(|e| ClientError::BadAuthority(format!("not a PEM certificate ({e})")))?;
        Ok(Self { authority: Some(authority) })
    }

    fn agent(&self) -> ureq::Agent {
        let roots = match &self.authority {
            Some(authority) => {
                ureq::tls::RootCerts::new_with_certs(std::slice::from_ref(authority))
            }
            None => ureq::tls::RootCerts::WebPki,
        };
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            // 4xx and 5xx answers carry an ErrorBody we want to read, not a bare status.
            .http_status_as_error(false)
            .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
            .build();
        ureq::Agent::with_parts(config, DefaultConnector::default(), HubResolver::default())
    }
}

/// ureq's resolver, but a hub named by its IP address (as a venue's hub usually is) needs
/// no lookup and gets none. ureq resolves before every request, pooled connection or not,
/// and bounds each lookup by the request's timeout on a thread of its own: a thread
/// started and ended per request, for an address that was there all along. At full size
/// (issue 17) that was 2 % of the stations' sync CPU.
#[derive(Debug, Default)]
struct HubResolver(DefaultResolver);

impl Resolver for HubResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match literal_address(uri) {
            Some(address) => {
                let mut addresses = self.empty();
                addresses.push(address);
                Ok(addresses)
            }
            None => self.0.resolve(uri, config, timeout),
        }
    }
}

/// The socket address of `uri` when its host is an IP address (IPv6 in brackets).
fn literal_address(uri: &ureq::http::Uri) -> Option<SocketAddr> {
    let host = uri.host()?;
    let ip: IpAddr = host.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
    let port = match (uri.port_u16(), uri.scheme_str()) {
        (Some(port), _) => port,
        (None, Some("http")) => 80,
        (None, Some("https")) => 443,
        (None, _) => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// `hub_url` without a trailing slash, so paths can be appended.
fn base_url(hub_url: &str) -> String {
    hub_url.trim_end_matches('/').to_owned()
}

/// Trades a one-time enrolment code for this station's credential, which the hub binds
/// to `station_id` (the id this station stamps on its changes).
pub fn enrol(
    hub_url: &str,
    code: &str,
    station_id: &str,
    trust: &HubTrust,
) -> Result<EnrolResponse, ClientError> {
    let request = trust
        .agent()
        .post(format!("{}/v1/enrol", base_url(hub_url)))
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string());
    let body = EnrolRequest {
        protocol: PROTOCOL_VERSION,
        code: code.to_owned(),
        station_id: Some(station_id.to_owned()),
    };
    read_answer(request.send_json(&body)?)
}

/// A snapshot answer being read (see [`HubClient::snapshot`]).
pub type Snapshot = crate::snapshot::Decoder<std::io::BufReader<ureq::BodyReader<'static>>>;

/// A connection to the hub as one enrolled station.
#[derive(Clone)]
pub struct HubClient {
    agent: ureq::Agent,
    base: String,
    authorization: String,
}

impl std::fmt::Debug for HubClient {
    /// Never prints the credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubClient").field("base", &self.base).finish_non_exhaustive()
    }
}

impl HubClient {
    /// `token` is the credential [`enrol`] returned; an `https://` hub must show a
    /// certificate from a public authority.
    pub fn new(hub_url: &str, token: &str) -> Self {
        Self::trusting(hub_url, token, &HubTrust::default())
    }

    /// Like [`Self::new`], for a hub whose certificate `trust` vouches for.
    pub fn trusting(hub_url: &str, token: &str, trust: &HubTrust) -> Self {
        Self {
            agent: trust.agent(),
            base: base_url(hub_url),
            authorization: format!("Bearer {token}"),
        }
    }

    pub fn hub_url(&self) -> &str {
        &self.base
    }

    /// Whether the hub answers its health check (`GET /healthz`) within `timeout`; for
    /// `expo-kiosk doctor`, which must not wait a sync request's minute.
    pub fn health(&self, timeout: Duration) -> Result<(), ClientError> {
        let mut response = self
            .agent
            .get(format!("{}/healthz", self.base))
            .config()
            .timeout_global(Some(timeout))
            .build()
            .call()?;
        if response.status().is_success() {
            return Ok(());
        }
        let status = response.status().as_u16();
        let bytes = response.body_mut().with_config().limit(MAX_RESPONSE_BYTES).read_to_vec()?;
        let reason = String::from_utf8_lossy(&bytes).chars().take(200).collect();
        Err(ClientError::Unexpected { status, reason })
    }

    /// Sends one batch; the answer lists every change id the hub now holds durably.
    pub fn push(&self, changes: &[Change]) -> Result<PushResponse, ClientError> {
        let body = PushRequest { protocol: PROTOCOL_VERSION, changes: changes.to_vec() };
        let request = self.authorized(self.agent.post(self.url("/v1/push")));
        read_answer(request.send_json(&body)?)
    }

    /// Other stations' changes after `cursor` (0 for everything), at most `limit`.
    pub fn pull(&self, cursor: i64, limit: usize) -> Result<PullResponse, ClientError> {
        read_answer(self.pull_request(cursor, limit).call()?)
    }

    /// The badge revocations among other stations' changes after `cursor`, at most `limit`
    /// (`only=revocations`), for a station that applies them ahead of a long catch-up. The
    /// answer's cursor tells where the next such page starts, not how far the station's
    /// own pull has come.
    pub fn pull_revocations(&self, cursor: i64, limit: usize) -> Result<PullResponse, ClientError> {
        read_answer(self.pull_request(cursor, limit).query("only", "revocations").call()?)
    }

    /// [`Self::pull`] that the hub holds up to `wait` (whole seconds) while nothing is
    /// past `cursor`, answering as soon as a change arrives. Also answers how long the
    /// hub was prepared to wait: `None` from a hub that never waits (it answered at once).
    pub fn pull_waiting(
        &self,
        cursor: i64,
        limit: usize,
        wait: Duration,
    ) -> Result<(PullResponse, Option<Duration>), ClientError> {
        let response =
            self.pull_request(cursor, limit).query("wait", wait.as_secs().to_string()).call()?;
        let granted = response
            .headers()
            .get(WAIT_HEADER)
            .and_then(|value| value.to_str().ok()?.parse().ok())
            .map(Duration::from_secs);
        Ok((read_answer(response)?, granted))
    }

    fn pull_request(
        &self,
        cursor: i64,
        limit: usize,
    ) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        self.authorized(self.agent.get(self.url("/v1/pull")))
            .query("since", cursor.to_string())
            .query("limit", limit.to_string())
    }

    /// Asks the hub to endorse this station's badge-signing key (hex); answers the
    /// endorsement, which every other station receives by sync too.
    pub fn endorse(&self, public_key: &str) -> Result<SigningKeyRecord, ClientError> {
        let body = EndorseRequest { protocol: PROTOCOL_VERSION, public_key: public_key.to_owned() };
        let request = self.authorized(self.agent.post(self.url("/v1/keys")));
        read_answer(request.send_json(&body)?)
    }

    /// The event definition and every station's public key, `None` before any upload.
    pub fn event(&self) -> Result<Option<EventRecord>, ClientError> {
        match read_answer(self.authorized(self.agent.get(self.url("/v1/event"))).call()?) {
            Ok(event) => Ok(Some(event)),
            Err(ClientError::Refused { status: 404, .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Uploads the event definition and this station's keys; returns the merged record
    /// (the hub keeps the union of every station's keys).
    pub fn put_event(&self, event: &EventRecord) -> Result<EventRecord, ClientError> {
        let request = self.authorized(self.agent.put(self.url("/v1/event")));
        read_answer(request.send_json(event)?)
    }

    /// Reports this station's state (`POST /v1/heartbeat`); answers the clock offset the
    /// hub saw.
    pub fn heartbeat(&self, heartbeat: &Heartbeat) -> Result<HeartbeatAck, ClientError> {
        let request = self.authorized(self.agent.post(self.url("/v1/heartbeat")));
        read_answer(request.send_json(heartbeat)?)
    }

    /// The hub's current state after entity key `after` ("" from the start), as a
    /// [`crate::snapshot`] stream to read chunk by chunk. Its body may take minutes for a
    /// large event, so only its first answer has the usual time limit; a stalled body is
    /// cut after [`SNAPSHOT_TIMEOUT`] and resumed by the caller.
    pub fn snapshot(&self, after: &str) -> Result<Snapshot, ClientError> {
        let request = self
            .authorized(self.agent.get(self.url("/v1/snapshot")))
            .query("after", after)
            .config()
            .timeout_global(Some(SNAPSHOT_TIMEOUT))
            .build();
        let response = request.call()?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            // Always an error here: the answer is not a success.
            let refusal = read_answer::<serde::de::IgnoredAny>(response).err();
            return Err(refusal.unwrap_or(ClientError::Unexpected {
                status,
                reason: "an error status without an error".into(),
            }));
        }
        let reader =
            std::io::BufReader::with_capacity(256 * 1024, response.into_body().into_reader());
        crate::snapshot::Decoder::start(reader, after).map_err(ClientError::Snapshot)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authorized<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        request
            .header("authorization", &self.authorization)
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
    }
}

fn read_answer<T: DeserializeOwned>(
    mut response: ureq::http::Response<ureq::Body>,
) -> Result<T, ClientError> {
    let status = response.status().as_u16();
    let bytes = response.body_mut().with_config().limit(MAX_RESPONSE_BYTES).read_to_vec()?;
    // Status and size only: the body may hold a credential (enrolment) or personal data.
    tracing::debug!(status, bytes = bytes.len(), "hub answered");
    if response.status().is_success() {
        return serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Unexpected { status, reason: e.to_string() });
    }
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) => Err(ClientError::Refused { status, body }),
        // A proxy or load balancer in front of the hub answered, not the hub.
        Err(_) => Err(ClientError::Unexpected {
            status,
            reason: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn a_hub_named_by_address_needs_no_lookup_and_a_named_one_gets_it() {
        let address = |url: &str| literal_address(&url.parse().unwrap());
        assert_eq!(
            address("http://127.0.0.1:8443/v1/pull"),
            Some("127.0.0.1:8443".parse().unwrap())
        );
        assert_eq!(address("https://10.0.0.2/v1/push"), Some("10.0.0.2:443".parse().unwrap()));
        assert_eq!(address("http://[::1]/healthz"), Some("[::1]:80".parse().unwrap()));
        assert_eq!(address("http://hub.venue.lan:8443/"), None);
        assert_eq!(address("http://localhost:8443/"), None);
    }

    /// Answers `requests` requests, one per connection or several on one, with 200.
    fn answering_server(requests: usize) -> (SocketAddr, std::thread::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut connections = 0;
            let mut answered = 0;
            while answered < requests {
                let (mut stream, _) = listener.accept().unwrap();
                connections += 1;
                let mut buffer = [0u8; 4096];
                while answered < requests {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            stream
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                                .unwrap();
                            answered += 1;
                        }
                    }
                }
            }
            connections
        });
        (address, server)
    }

    #[test]
    fn a_hub_is_reached_by_its_address_on_one_kept_connection_and_by_its_name() {
        let (address, server) = answering_server(3);
        let by_address = HubClient::new(&format!("http://{address}"), "token");
        for _ in 0..3 {
            by_address.health(Duration::from_secs(10)).unwrap();
        }
        assert_eq!(server.join().unwrap(), 1, "the connection is kept between requests");
        let (address, server) = answering_server(1);
        let by_name = HubClient::new(&format!("http://localhost:{}", address.port()), "token");
        by_name.health(Duration::from_secs(10)).unwrap();
        server.join().unwrap();
    }
}
