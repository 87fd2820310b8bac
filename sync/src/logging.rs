//! Logging of `expo-hub` and `expo-kiosk`: to stderr, filtered by an environment
//! variable, and never with a credential in it, whatever the level asked for.
//!
//! Our own logs name stations and counts, never tokens, enrolment codes or record
//! contents. The libraries below them do not all: at trace level the HTTP client dumps
//! every byte it sends and receives (the `authorization` header, an enrolment code in
//! its request, the token in the answer), and the PostgreSQL driver logs each statement's
//! parameters at debug level. Those libraries log at info at most here.

use tracing::Level;
use tracing_log::{AsLog, LogTracer};
use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterExt, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// Crates that see requests, TLS records or SQL parameters in clear.
const WIRE_LEVEL_CRATES: [&str; 10] = [
    "ureq",
    "ureq_proto",
    "rustls",
    "tokio_rustls",
    "hyper",
    "hyper_util",
    "h2",
    "tokio_postgres",
    "postgres_protocol",
    "deadpool_postgres",
];

/// True when an event of `level` from `target` may be logged at all.
fn may_log(target: &str, level: &Level) -> bool {
    let crate_name = target.split("::").next().unwrap_or(target);
    *level <= Level::INFO || !WIRE_LEVEL_CRATES.contains(&crate_name)
}

/// Logs to stderr what the filter in `variable` (tracing's `EnvFilter` syntax) asks for,
/// `default` when it is unset or unreadable, except the wire-level crates' debug and trace.
pub fn init(variable: &str, default: &str) {
    let asked = EnvFilter::try_from_env(variable).unwrap_or_else(|_| EnvFilter::new(default));
    let log_crate_level = log_crate_level(&asked);
    let allowed = filter_fn(|metadata| may_log(metadata.target(), metadata.level()));
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(asked.and(allowed)),
    );
    // Only the first call of a process sets them: a second one changes nothing.
    if tracing::subscriber::set_global_default(subscriber).is_ok() {
        // Fails only when a `log` logger is set already, which then goes on logging.
        let _ = LogTracer::builder().with_max_level(log_crate_level).init();
    }
}

/// The most verbose records of the `log` crate worth handing to the filter. ureq logs at
/// trace every time it reads a response body; below this level the `log` macro drops
/// such a record at one comparison. Handed over, each went through the whole filter to
/// be dropped there: 2 % of a syncing station's CPU at full size (issue 17).
fn log_crate_level(asked: &EnvFilter) -> tracing_log::log::LevelFilter {
    asked.max_level_hint().unwrap_or(LevelFilter::TRACE).as_log()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_level_crates_log_at_info_at_most() {
        assert!(may_log("ureq_proto::util", &Level::INFO));
        assert!(!may_log("ureq_proto::util", &Level::TRACE));
        assert!(!may_log("tokio_postgres::query", &Level::DEBUG));
        assert!(!may_log("ureq", &Level::DEBUG));
        assert!(may_log("expo_hub::server", &Level::TRACE));
        assert!(may_log("ureqx", &Level::TRACE), "a crate is matched by its whole name");
    }

    #[test]
    fn log_crate_records_are_dropped_at_once_below_the_most_verbose_level_asked_for() {
        use tracing_log::log::LevelFilter as Log;
        assert_eq!(log_crate_level(&EnvFilter::new("info")), Log::Info);
        assert_eq!(log_crate_level(&EnvFilter::new("warn")), Log::Warn);
        assert_eq!(log_crate_level(&EnvFilter::new("warn,expo_hub=debug")), Log::Debug);
        assert_eq!(log_crate_level(&EnvFilter::new("ureq=trace")), Log::Trace);
    }
}
