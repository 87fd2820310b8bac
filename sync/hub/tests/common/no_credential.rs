//! Looking for a credential in captured logs, whole or in the pieces a byte dump splits
//! it into (an HTTP library's trace prints 16 bytes a line).

/// Panics if `log` holds any 12 characters in a row of `token`, or any group of the
/// enrolment `code` (`K7QM-2XHD-9PTA`: a dump line holds at least two groups whole).
pub fn assert_no_credential(log: &str, token: &str, code: &str) {
    let token: Vec<char> = token.chars().collect();
    for piece in token.windows(12).map(|w| w.iter().collect::<String>()) {
        assert!(!log.contains(&piece), "the log holds part of the token ({piece}):\n{log}");
    }
    for group in code.split('-') {
        assert!(!log.contains(group), "the log holds part of the enrolment code ({group}):\n{log}");
    }
}
