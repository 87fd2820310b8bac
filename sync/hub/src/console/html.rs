//! The console's pages, rendered on the server. Every text that comes from a station, a
//! form or the database goes through [`escape`]; the pages load nothing from elsewhere
//! (inline CSS and script only), so they work on a venue LAN with no internet.

use std::fmt::Write as _;

use expo_sync::heartbeat::PrinterState;

use super::auth::{ConsoleRole, Page, Session};
use super::i18n::{Lang, T};
use crate::api_keys::{ApiKeyRow, Scope};
use crate::heartbeat::StationReport;
use crate::store::{AuditRow, FleetRow};

/// A station silent for longer stands out.
pub const SILENT_AFTER_MS: i64 = 30_000;

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:system-ui,'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{display:flex;align-items:center;gap:1.5em;background:#1d2330;color:#fff;padding:.6em 1.2em}
header a,header button{color:#fff;text-decoration:none;background:none;border:0;font:inherit;cursor:pointer}
header nav{display:flex;gap:1.2em}
header nav a.current{border-bottom:2px solid #6fb3ff}
td:first-child{white-space:nowrap}
header .spacer{flex:1}
main{padding:1.2em}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{border-bottom:1px solid #dde1e8;padding:.4em .6em;text-align:left;vertical-align:top}
th{background:#e9ecf2}
tr.alert td{background:#fff1f0}
.bad{color:#b3261e;font-weight:600}
.muted{color:#6b7280}
.box{background:#fff;padding:1em;margin:1em 0;max-width:40em}
.code{font:600 2em monospace;letter-spacing:.1em}
form.inline{display:inline}
input,select,button.action{font:inherit;padding:.3em .5em}
.error{color:#b3261e}
";

/// A whole page: `session` (when signed in) gives the navigation of its role's pages.
pub fn page(lang: Lang, title: T, session: Option<(&Session, Page)>, body: &str) -> String {
    let mut nav = String::new();
    let mut account = String::new();
    if let Some((session, current)) = session {
        for page in session.role.pages() {
            let (path, label) = page_link(*page);
            let class = if *page == current { " class=\"current\"" } else { "" };
            let _ = write!(nav, "<a href=\"{path}\"{class}>{}</a>", label.get(lang));
        }
        account = format!(
            "<span>{user} ({role})</span><form class=\"inline\" method=\"post\" \
             action=\"/console/sign-out\">{csrf}<button>{out}</button></form>",
            user = escape(&session.user),
            role = session.role.as_str(),
            csrf = csrf_field(&session.csrf),
            out = T::SignOut.get(lang),
        );
    }
    let other = lang.other();
    format!(
        "<!DOCTYPE html><html lang=\"{code}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title} · {console}</title><style>{STYLE}</style></head><body>\
         <header><strong>{console}</strong><nav>{nav}</nav><span class=\"spacer\"></span>\
         {account}<a href=\"?lang={other_code}\" id=\"lang\">{other_name}</a></header>\
         <main><h1>{title}</h1>{body}</main></body></html>",
        code = lang.code(),
        title = title.get(lang),
        console = T::Console.get(lang),
        other_code = other.code(),
        other_name = T::LanguageName.get(other),
    )
}

fn page_link(page: Page) -> (&'static str, T) {
    match page {
        Page::Fleet => ("/console/fleet", T::Fleet),
        Page::Stations => ("/console/stations", T::Stations),
        Page::Keys => ("/console/keys", T::ApiKeys),
        Page::Audit => ("/console/audit", T::Audit),
        Page::Accuracy => ("/console/accuracy", T::Accuracy),
        Page::Lookup => ("/console/attendees", T::Lookup),
        Page::Venue => ("/console/venue", T::VenueNow),
    }
}

pub fn csrf_field(token: &str) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", escape(token))
}

pub fn sign_in_form(lang: Lang, csrf: &str, problem: Option<T>) -> String {
    let problem = problem
        .map(|t| format!("<p class=\"error\" role=\"alert\">{}</p>", t.get(lang)))
        .unwrap_or_default();
    let body = format!(
        "{problem}<form class=\"box\" method=\"post\" action=\"/console/sign-in\">{csrf}\
         <p><label>{user}<br><input name=\"name\" autocomplete=\"username\" required maxlength=\"64\"></label></p>\
         <p><label>{password}<br><input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label></p>\
         <p><button class=\"action\">{sign_in}</button></p></form>",
        csrf = csrf_field(csrf),
        user = T::UserName.get(lang),
        password = T::Password.get(lang),
        sign_in = T::SignIn.get(lang),
    );
    page(lang, T::SignIn, None, &body)
}

/// A message page (refusals, bad input, not found).
pub fn message(lang: Lang, title: T, session: Option<(&Session, Page)>, text: &str) -> String {
    page(lang, title, session, &format!("<p class=\"error\">{}</p>", escape(text)))
}

/// The fleet table's body: one row per station, the ones that need attention marked.
pub fn fleet_rows(lang: Lang, fleet: &[FleetRow], now_ms: i64) -> String {
    if fleet.is_empty() {
        return format!("<tr><td colspan=\"10\">{}</td></tr>", T::NoStations.get(lang));
    }
    let mut rows = String::new();
    for station in fleet {
        let report = station.last_report.as_ref().and_then(|(at, json)| {
            StationReport::parse(json)
                .map_err(
                    |error| tracing::warn!(station = station.name, %error, "unreadable report"),
                )
                .ok()
                .map(|report| (*at, report))
        });
        rows.push_str(&fleet_row(lang, station, report.as_ref(), now_ms));
    }
    rows
}

fn bad(text: &str) -> String {
    format!("<span class=\"bad\">{text}</span>")
}

fn fleet_row(
    lang: Lang,
    station: &FleetRow,
    report: Option<&(i64, StationReport)>,
    now_ms: i64,
) -> String {
    let name = escape(&station.name);
    let role = station.role.map_or("", |role| role.as_str());
    let head = format!("<td><a href=\"/console/fleet/{name}\">{name}</a></td><td>{role}</td>");
    if station.revoked {
        return format!(
            "<tr class=\"revoked muted\" data-station=\"{name}\">{head}<td colspan=\"8\">{}</td></tr>",
            T::Revoked.get(lang)
        );
    }
    let Some((at, report)) = report else {
        let state = if station.enrolled { T::Never } else { T::NotEnrolled };
        return format!(
            "<tr class=\"alert\" data-station=\"{name}\">{head}<td></td><td>{}</td><td colspan=\"6\"></td></tr>",
            bad(state.get(lang))
        );
    };
    let beat = &report.heartbeat;
    let silent_for = now_ms.saturating_sub(*at);
    let silent = silent_for > SILENT_AFTER_MS;
    let ago = format!("{} {}", silent_for / 1000, T::SecondsAgo.get(lang));
    let last_seen = if silent { bad(&format!("{} · {ago}", T::Silent.get(lang))) } else { ago };
    let mode = beat.mode.as_str();
    let printer_failing = beat.printer.is_some_and(|p| p.state == PrinterState::Failing);
    let printer = match beat.printer {
        None => format!("<span class=\"muted\">{}</span>", T::NoPrinter.get(lang)),
        Some(p) => {
            let state = match p.state {
                PrinterState::Ready => T::PrinterReady.get(lang).to_owned(),
                PrinterState::Failing => bad(T::PrinterFailing.get(lang)),
            };
            format!(
                "{state}<br>{} {} · {} {}",
                p.waiting,
                T::Waiting.get(lang),
                p.failed,
                T::Failed.get(lang)
            )
        }
    };
    let devices: Vec<String> = beat
        .devices
        .iter()
        .map(|d| {
            let name = escape(&d.name);
            if d.connected {
                format!("{name}: {}", T::Connected.get(lang))
            } else {
                bad(&format!("{name}: {}", T::Disconnected.get(lang)))
            }
        })
        .collect();
    let device_lost = beat.devices.iter().any(|d| !d.connected);
    let lanes: Vec<String> = beat
        .lanes
        .iter()
        .map(|lane| {
            let text = format!(
                "{}: {} {} · {} {}",
                escape(&lane.lane),
                lane.scans_per_minute,
                T::ScansPerMinute.get(lang),
                lane.denied_per_minute,
                T::Denied.get(lang)
            );
            if lane.denies_most() {
                bad(&text)
            } else {
                text
            }
        })
        .collect();
    let lane_denying = beat.lanes.iter().any(|lane| lane.denies_most());
    let error = beat.last_error.as_deref().map(|e| bad(&escape(e))).unwrap_or_default();
    let alert =
        silent || printer_failing || lane_denying || device_lost || beat.last_error.is_some();
    format!(
        "<tr{class} data-station=\"{name}\">{head}<td>{version} · {mode}</td><td>{last_seen}</td>\
         <td>{pending}</td><td>{printer}</td><td>{devices}</td><td>{lanes}</td>\
         <td>{offset:+.1} s</td><td>{error}</td></tr>",
        class = if alert { " class=\"alert\"" } else { "" },
        version = escape(&beat.version),
        pending = beat.pending,
        devices = devices.join("<br>"),
        lanes = lanes.join("<br>"),
        // Tenths of a second; adding 0.0 turns a rounded -0.0 into 0.0.
        offset = (report.clock_offset_ms as f64 / 100.0).round() / 10.0 + 0.0,
    )
}

pub fn fleet_header(lang: Lang) -> String {
    let cells: String = [
        T::Station,
        T::Role,
        T::Version,
        T::LastSeen,
        T::Pending,
        T::Printer,
        T::Devices,
        T::Lanes,
        T::ClockOffset,
        T::LastError,
    ]
    .iter()
    .map(|t| format!("<th>{}</th>", t.get(lang)))
    .collect();
    format!("<tr>{cells}</tr>")
}

/// The fleet page: the table, kept current by the server's events without reloads.
pub fn fleet_page(lang: Lang, session: &Session, rows: &str) -> String {
    let body = format!(
        "<p><span id=\"live\" class=\"muted\">{live} ●</span></p>\
         <table><thead>{header}</thead><tbody id=\"fleet-body\">{rows}</tbody></table>\
         <script>\
         const events = new EventSource('/console/fleet/events');\
         const live = document.getElementById('live');\
         events.addEventListener('fleet', (e) => {{\
           document.getElementById('fleet-body').innerHTML = e.data;\
           live.textContent = '{live} ● ' + new Date().toLocaleTimeString();\
         }});\
         events.addEventListener('signed_out', () => {{ events.close(); location.href = '/console/sign-in'; }});\
         events.onerror = () => {{ live.textContent = '{live} ○'; }};\
         </script>",
        live = T::Live.get(lang),
        header = fleet_header(lang),
    );
    page(lang, T::Fleet, Some((session, Page::Fleet)), &body)
}

/// One station's heartbeat history.
pub fn history_page(
    lang: Lang,
    session: &Session,
    station: &str,
    history: &[(i64, StationReport)],
) -> String {
    let mut rows = String::new();
    for (at, report) in history {
        let beat = &report.heartbeat;
        let lanes: Vec<String> = beat
            .lanes
            .iter()
            .map(|l| format!("{} {}/{}", escape(&l.lane), l.denied_per_minute, l.scans_per_minute))
            .collect();
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            utc(*at),
            beat.pending,
            beat.printer.map(|p| format!("{}/{}", p.waiting, p.failed)).unwrap_or_default(),
            lanes.join(", "),
            beat.last_error.as_deref().map(escape).unwrap_or_default(),
        );
    }
    let body = format!(
        "<p><a href=\"/console/fleet\">{back}</a></p><h2>{station} · {history}</h2>\
         <table><thead><tr><th>{time}</th><th>{pending}</th><th>{printer} ({waiting}/{failed})</th>\
         <th>{lanes}</th><th>{error}</th></tr></thead><tbody>{rows}</tbody></table>",
        back = T::Back.get(lang),
        station = escape(station),
        history = T::History.get(lang),
        time = T::Time.get(lang),
        pending = T::Pending.get(lang),
        printer = T::Printer.get(lang),
        waiting = T::Waiting.get(lang),
        failed = T::Failed.get(lang),
        lanes = T::Lanes.get(lang),
        error = T::LastError.get(lang),
    );
    page(lang, T::Fleet, Some((session, Page::Fleet)), &body)
}

/// `at_ms` as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn utc(at_ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_default()
}

/// The stations page: every station with a revoke button, and the form that adds one.
pub fn stations_page(lang: Lang, session: &Session, fleet: &[FleetRow], notice: &str) -> String {
    let csrf = csrf_field(&session.csrf);
    let mut rows = String::new();
    for station in fleet {
        let name = escape(&station.name);
        let state = if station.revoked {
            T::Revoked.get(lang).to_owned()
        } else if !station.enrolled {
            T::NotEnrolled.get(lang).to_owned()
        } else {
            String::new()
        };
        let revoke = if station.revoked {
            String::new()
        } else {
            revoke_button(lang, "/console/stations/revoke", T::RevokeConfirm, &csrf, &name)
        };
        let _ = write!(
            rows,
            "<tr data-station=\"{name}\"><td>{name}</td><td>{}</td><td>{state}</td><td>{revoke}</td></tr>",
            station.role.map_or("", |r| r.as_str()),
        );
    }
    let roles: String = expo_sync::StationRole::ALL
        .iter()
        .map(|role| format!("<option>{}</option>", role.as_str()))
        .collect();
    let body = format!(
        "{notice}<form class=\"box\" method=\"post\" action=\"/console/stations\">{csrf}\
         <h2>{add_station}</h2>\
         <label>{station} <input name=\"name\" required maxlength=\"64\" pattern=\"[A-Za-z0-9._-]+\"></label> \
         <label>{role} <select name=\"role\">{roles}</select></label> \
         <button class=\"action\">{add}</button></form>\
         <table><thead><tr><th>{station}</th><th>{role}</th><th></th><th></th></tr></thead>\
         <tbody>{rows}</tbody></table>",
        add_station = T::AddStation.get(lang),
        station = T::Station.get(lang),
        role = T::Role.get(lang),
        add = T::Add.get(lang),
    );
    page(lang, T::Stations, Some((session, Page::Stations)), &body)
}

/// A form of one button that posts `name` (escaped already) to `action`, once the user
/// confirms.
fn revoke_button(lang: Lang, action: &str, confirm: T, csrf_field: &str, name: &str) -> String {
    format!(
        "<form class=\"inline\" method=\"post\" action=\"{action}\" \
         onsubmit=\"return confirm('{confirm}')\">{csrf_field}\
         <input type=\"hidden\" name=\"name\" value=\"{name}\">\
         <button class=\"action\">{revoke}</button></form>",
        confirm = confirm.get(lang),
        revoke = T::Revoke.get(lang),
    )
}

/// What the page says after a station was added: its code as text and as a QR code.
pub fn station_added(lang: Lang, name: &str, code: &str) -> String {
    format!(
        "<div class=\"box\" id=\"added\"><h2>{added}: {name}</h2><p>{code_label}</p>\
         <p class=\"code\" id=\"enrolment-code\">{code}</p>{qr}\
         <p>{enrol_with}: <code>expo-kiosk sync enrol --hub URL --code {code}</code></p>\
         <p class=\"muted\">{once}</p></div>",
        added = T::StationAdded.get(lang),
        name = escape(name),
        code_label = T::EnrolmentCode.get(lang),
        code = escape(code),
        qr = qr_svg(code),
        enrol_with = T::EnrolWith.get(lang),
        once = T::CodeOnce.get(lang),
    )
}

pub fn notice(text: &str) -> String {
    format!("<p class=\"box\" role=\"status\">{}</p>", escape(text))
}

/// `data` as a QR code in inline SVG, drawn from the `qrcode` crate's module matrix with
/// the four-module quiet zone the standard asks for.
pub fn qr_svg(data: &str) -> String {
    let Ok(code) = qrcode::QrCode::new(data.as_bytes()) else {
        return String::new();
    };
    let width = code.width();
    let colors = code.to_colors();
    let mut path = String::new();
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let _ = write!(path, "M{} {}h1v1h-1z", i % width + 4, i / width + 4);
        }
    }
    let size = width + 8;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"enrolment-qr\" viewBox=\"0 0 {size} {size}\" \
         width=\"{px}\" height=\"{px}\" shape-rendering=\"crispEdges\" role=\"img\">\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>",
        px = size * 6,
    )
}

/// The API keys page: every key (never the key itself) with a revoke button, and the form
/// that adds one.
pub fn keys_page(lang: Lang, session: &Session, keys: &[ApiKeyRow], notice: &str) -> String {
    let csrf = csrf_field(&session.csrf);
    let mut rows = String::new();
    for key in keys {
        let name = escape(&key.name);
        let revoke = match &key.revoked_at {
            Some(at) => format!("{} {}", T::Revoked.get(lang), escape(at)),
            None => revoke_button(lang, "/console/keys/revoke", T::RevokeKeyConfirm, &csrf, &name),
        };
        let _ = write!(
            rows,
            "<tr data-key=\"{name}\"><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{revoke}</td></tr>",
            escape(&key.scopes),
            escape(&key.created_at),
            escape(key.last_used_at.as_deref().unwrap_or("")),
        );
    }
    let scopes: String = Scope::ALL
        .iter()
        .map(|scope| {
            format!(
                "<label><input type=\"checkbox\" name=\"scope\" value=\"{0}\"> {0}</label> ",
                scope.as_str()
            )
        })
        .collect();
    let body = format!(
        "{notice}<form class=\"box\" method=\"post\" action=\"/console/keys\">{csrf}\
         <h2>{add_key}</h2>\
         <p><label>{key_name} <input name=\"name\" required maxlength=\"64\" pattern=\"[A-Za-z0-9._-]+\"></label></p>\
         <p>{scopes_label}: {scopes}</p><button class=\"action\">{add}</button></form>\
         <table><thead><tr><th>{key_name}</th><th>{scopes_label}</th><th>{created}</th>\
         <th>{last_used}</th><th></th></tr></thead><tbody>{rows}</tbody></table>",
        add_key = T::AddKey.get(lang),
        key_name = T::KeyName.get(lang),
        scopes_label = T::Scopes.get(lang),
        add = T::Add.get(lang),
        created = T::Created.get(lang),
        last_used = T::LastUsed.get(lang),
    );
    page(lang, T::ApiKeys, Some((session, Page::Keys)), &body)
}

/// What the page says after a key was added: the key, this once.
pub fn key_added(lang: Lang, name: &str, key: &str) -> String {
    format!(
        "<div class=\"box\" id=\"added\"><h2>{added}: {name}</h2>\
         <p><code id=\"api-key\">{key}</code></p><p class=\"muted\">{once}</p></div>",
        added = T::KeyAdded.get(lang),
        name = escape(name),
        key = escape(key),
        once = T::KeyOnce.get(lang),
    )
}

pub fn audit_page(lang: Lang, session: &Session, entries: &[AuditRow]) -> String {
    let mut rows = String::new();
    for entry in entries {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            utc(entry.at_ms),
            escape(&entry.user),
            escape(&entry.action),
            escape(&entry.detail)
        );
    }
    let body = format!(
        "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>\
         <tbody>{rows}</tbody></table>",
        T::Time.get(lang),
        T::User.get(lang),
        T::Action.get(lang),
        T::Detail.get(lang),
    );
    page(lang, T::Audit, Some((session, Page::Audit)), &body)
}

/// Roles as `user list` prints them: pages and data permissions.
pub fn describe_role(role: ConsoleRole) -> String {
    let pages: Vec<&str> = role.pages().iter().map(|p| page_link(*p).0).collect();
    format!(
        "pages {}; personal data {}",
        pages.join(", "),
        if role.shows_personal_data() { "shown" } else { "hidden" }
    )
}
