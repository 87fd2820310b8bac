//! The data centre's integration API (issue 16): organiser API keys, the live feed and
//! badge revocation, against a real in-process hub over HTTP on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use common::TestHub;
use expo_hub::api_keys::{self, ApiKeyError, Scope};
use expo_hub::{HubStore, StoreError};
use expo_sync::protocol::Record;
use serde_json::{json, Value};

common::hub_suite!(api_keys_are_kept_apart_from_station_credentials_and_revoked_at_once,);

/// One request to the hub with `Authorization: Bearer KEY` (when given); the status and
/// the JSON answer.
fn call(method: &str, url: &str, bearer: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    if let Some(bearer) = bearer {
        request = request.header("authorization", format!("Bearer {bearer}"));
    }
    let body = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
    let mut response =
        agent.run(request.header("content-type", "application/json").body(body).unwrap()).unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn add_key<S: HubStore>(hub: &TestHub<S>, name: &str, scopes: &[Scope]) -> String {
    hub.runtime.block_on(api_keys::add_key(hub.store.as_ref(), name, scopes)).unwrap()
}

fn error_code(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"].as_str().unwrap_or_default())
}

fn api_keys_are_kept_apart_from_station_credentials_and_revoked_at_once<S: HubStore>(
    hub: TestHub<S>,
) {
    let feed = format!("{}/v1/feed", hub.url);
    let crm = add_key(&hub, "crm", &[Scope::FeedRead, Scope::BadgesRevoke]);
    let registrar = add_key(&hub, "registrar", &[Scope::RegistrationsWrite]);
    let station = hub.enrolled("desk-1");

    let (status, answer) = call("GET", &feed, Some(&crm), None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["entries"], json!([]));

    // Wrong, missing and other kinds of credentials.
    assert_eq!(error_code(&call("GET", &feed, Some("expo_0000"), None)), (401, "unauthorized"));
    assert_eq!(error_code(&call("GET", &feed, None, None)), (401, "unauthorized"));
    assert_eq!(error_code(&call("GET", &feed, Some(&station), None)), (401, "unauthorized"));
    assert_eq!(error_code(&call("GET", &feed, Some(&registrar), None)), (403, "missing_scope"));
    let pull = format!("{}/v1/pull?since=0", hub.url);
    assert_eq!(error_code(&call("GET", &pull, Some(&crm), None)), (401, "unauthorized"));
    let push = json!({ "protocol": expo_sync::protocol::PROTOCOL_VERSION, "changes": [] });
    let push_url = format!("{}/v1/push", hub.url);
    assert_eq!(
        error_code(&call("POST", &push_url, Some(&crm), Some(&push))),
        (401, "unauthorized")
    );
    assert_eq!(call("GET", &pull, Some(&station), None).0, 200, "the station itself still works");

    // The hub holds hashes only, and knows when each key was last used.
    let keys = hub.runtime.block_on(hub.store.api_keys()).unwrap();
    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["crm", "registrar"]);
    assert_eq!(keys[0].scopes, "feed:read,badges:revoke");
    assert!(keys[0].last_used_at.is_some());
    assert!(keys.iter().all(|k| k.key_hash != crm && k.key_hash != registrar));
    assert!(keys.iter().all(|k| k.revoked_at.is_none()));

    // Revocation takes effect on the next request.
    hub.runtime.block_on(api_keys::revoke_key(hub.store.as_ref(), "crm")).unwrap();
    assert_eq!(error_code(&call("GET", &feed, Some(&crm), None)), (401, "api_key_revoked"));
    let keys = hub.runtime.block_on(hub.store.api_keys()).unwrap();
    assert!(keys[0].revoked_at.is_some() && keys[1].revoked_at.is_none());

    // Names are unique (a revoked key keeps its name) and checked.
    let again =
        hub.runtime.block_on(api_keys::add_key(hub.store.as_ref(), "crm", &[Scope::FeedRead]));
    assert!(matches!(again, Err(ApiKeyError::Store(StoreError::ApiKeyExists(_)))), "{again:?}");
    let bad =
        hub.runtime.block_on(api_keys::add_key(hub.store.as_ref(), "a b", &[Scope::FeedRead]));
    assert!(matches!(bad, Err(ApiKeyError::InvalidName(_))), "{bad:?}");
    let unknown = hub.runtime.block_on(api_keys::revoke_key(hub.store.as_ref(), "nobody"));
    assert!(matches!(unknown, Err(StoreError::UnknownApiKey(_))), "{unknown:?}");

    // Every key action is audited, for the stations that keep the audit log.
    let admin = hub.client("admin-1");
    let actions: Vec<String> = admin
        .pull(0, 100)
        .unwrap()
        .changes
        .into_iter()
        .filter_map(|change| match change.record {
            Record::Audit(entry) => Some(format!("{} {}", entry.action, entry.detail["key"])),
            _ => None,
        })
        .collect();
    assert_eq!(
        actions,
        [r#"api_key_added "crm""#, r#"api_key_added "registrar""#, r#"api_key_revoked "crm""#]
    );
}
