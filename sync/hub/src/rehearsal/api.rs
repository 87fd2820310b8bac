//! The data centre's traffic through the hub's integration API: registrations by
//! `PUT /v1/registrations` and lost badges by `POST /v1/revocations`, with an API key that
//! `expo-hub key add` made, after `expo-hub event import` gave the hub the event. A hub
//! without that API is told apart, and the rehearsal's data centre then works as the
//! organiser's admin station instead.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use expo_kiosk::domain::NewAttendee;
use serde_json::{json, Value};
use uuid::Uuid;

use super::RehearsalError;

pub struct DataCentreApi {
    agent: ureq::Agent,
    base: String,
    authorization: String,
    /// Whether the hub has `POST /v1/revocations` (a hub may take registrations first).
    pub revokes: bool,
}

/// Runs `expo-hub --db URL ARGS...` and answers its standard output, `None` when the
/// command does not exist in this hub.
fn hub_command(
    executable: &Path,
    db: &str,
    args: &[&str],
) -> Result<Option<String>, RehearsalError> {
    let run = || {
        Command::new(executable)
            .arg("--db")
            .arg(db)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .map_err(|e| RehearsalError::Io(format!("running {}: {e}", executable.display())))
    };
    let mut out = run()?;
    // The command's schema check at connect can deadlock against the running hubs on
    // PostgreSQL (seen with two hubs up): tried again, a few times.
    for _ in 0..5 {
        if !String::from_utf8_lossy(&out.stderr).contains("deadlock detected") {
            break;
        }
        tracing::warn!(command = args[0], "PostgreSQL deadlock at the command's connect; again");
        out = run()?;
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("unrecognized subcommand") {
        return Ok(None);
    }
    if !out.status.success() {
        return Err(RehearsalError::Hub(format!("expo-hub {}: {}", args[0], stderr.trim())));
    }
    Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
}

impl DataCentreApi {
    /// Gives the hub the event (`bundle`: with the data key) and an API key; `None` when
    /// this hub has no integration API.
    pub fn set_up(
        executable: &Path,
        db: &str,
        hub_url: &str,
        bundle: &Path,
    ) -> Result<Option<Self>, RehearsalError> {
        let bundle = bundle.to_string_lossy();
        if hub_command(executable, db, &["event", "import", &bundle])?.is_none() {
            return Ok(None);
        }
        let scopes = "registrations:write,badges:revoke";
        let Some(added) =
            hub_command(executable, db, &["key", "add", "rehearsal", "--scope", scopes])?
        else {
            return Ok(None);
        };
        let key = added.lines().last().unwrap_or_default().trim().to_owned();
        let api = Self {
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(30)))
                .http_status_as_error(false)
                .build()
                .into(),
            base: hub_url.trim_end_matches('/').to_owned(),
            authorization: format!("Bearer {key}"),
            revokes: false,
        };
        // A hub that has the commands but not yet the routes answers 404.
        match api.send("PUT", "/v1/registrations", &json!({ "registrations": [] })) {
            Ok(_) => {}
            Err(error) if error.starts_with("404") => return Ok(None),
            Err(error) => {
                return Err(RehearsalError::Hub(format!("PUT /v1/registrations: {error}")))
            }
        }
        // An empty request: refused as such where the route exists.
        let revokes = match api.send("POST", "/v1/revocations", &json!({})) {
            Err(error) => !error.starts_with("404") && !error.starts_with("405"),
            Ok(_) => true,
        };
        Ok(Some(Self { revokes, ..api }))
    }

    fn send(&self, method: &str, path: &str, body: &Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "PUT" => self.agent.put(&url),
            _ => self.agent.post(&url),
        };
        let mut response = request
            .header("authorization", &self.authorization)
            .send_json(body)
            .map_err(|e| format!("unreachable: {e}"))?;
        let status = response.status().as_u16();
        let answer: Value = response.body_mut().read_json().map_err(|e| format!("{status} {e}"))?;
        if status >= 300 {
            return Err(format!("{status} {}", answer["error"].as_str().unwrap_or_default()));
        }
        Ok(answer)
    }

    /// Registers `people` in one batch; answers the attendee id of each one registered.
    pub fn register(&self, people: &[NewAttendee]) -> Result<Vec<Uuid>, String> {
        let registrations: Vec<Value> = people
            .iter()
            .map(|p| {
                json!({
                    "registration_code": p.registration_code, "name": p.name,
                    "company": p.company, "title": p.title, "category": p.category,
                    "phone": p.phone, "email": p.email, "country": p.country,
                    "id_type": p.id_type, "id_number": p.id_number,
                })
            })
            .collect();
        let answer =
            self.send("PUT", "/v1/registrations", &json!({ "registrations": registrations }))?;
        let results = answer["results"].as_array().cloned().unwrap_or_default();
        let ids: Vec<Uuid> = results
            .iter()
            .filter_map(|r| r["attendee_id"].as_str().and_then(|id| Uuid::parse_str(id).ok()))
            .collect();
        if ids.len() < people.len() {
            let refused = results.iter().find(|r| r["attendee_id"].is_null());
            return Err(format!(
                "registration {}",
                refused.map_or("unanswered".into(), |r| r["result"].to_string())
            ));
        }
        Ok(ids)
    }

    /// Revokes the attendee's current badge (a lost badge reported by phone); answers the
    /// serial the hub revoked, its current one for the attendee.
    pub fn revoke(&self, attendee: Uuid) -> Result<u32, String> {
        let body = json!({ "attendee_id": attendee, "reason": "lost" });
        let answer = self.send("POST", "/v1/revocations", &body)?;
        answer["badge_serial"]
            .as_u64()
            .and_then(|serial| u32::try_from(serial).ok())
            .ok_or_else(|| "revocation answered without a serial".to_owned())
    }
}
