//! Files the hub and the stations write that hold the venue's data: databases and
//! exports are their owner's alone (0600), and a CSV meant for a spreadsheet never holds
//! a cell the spreadsheet would run as a formula.
//!
//! The station (`expo-kiosk`) uses the same functions for its own database and reports.

use std::borrow::Cow;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Creates `path` afresh for writing, readable and writable by its owner only. A file
/// already there (a temporary file a crash left behind) is replaced, not reused: it
/// would keep the mode it had.
pub fn create_private(path: &Path) -> std::io::Result<File> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    owner_only().create_new(true).open(path)
}

/// Makes the SQLite database at `path` its owner's alone before SQLite opens it: creates
/// it empty (0600) if missing, and takes group and other access away from an existing
/// file and its `-wal` and `-shm` files (a database made by an earlier version was 0644).
/// SQLite gives the `-wal` and `-shm` files it creates the database file's mode.
pub fn make_database_private(path: &Path) -> std::io::Result<()> {
    match owner_only().create_new(true).open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.as_os_str().to_owned();
                file.push(suffix);
                restrict_to_owner(&PathBuf::from(file))?;
            }
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// Options to write a file that is created readable and writable by its owner only.
fn owner_only() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Takes group and other access away from `path`, if it exists.
fn restrict_to_owner(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = match std::fs::metadata(path) {
            Ok(metadata) => metadata.permissions().mode(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(error),
        };
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// `cell` as a spreadsheet shows it as text: a cell that starts with `=`, `+`, `-` or
/// `@` (or a tab or carriage return) would be read as a formula, so it gets a leading
/// `'`, as OWASP advises. Phone numbers such as `+8613812345678` get one too, which also
/// stops a spreadsheet from showing them as `8.61381E+12`. A plain negative number
/// (`-12`, `-0.5`) is a number to a spreadsheet, not a formula, and stays as it is.
pub fn formula_safe(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('-') if is_plain_number(&cell[1..]) => Cow::Borrowed(cell),
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// Digits with at most one decimal point between digits: `12`, `0.5`.
fn is_plain_number(text: &str) -> bool {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && digits(fraction)
}

/// A CSV writer for files people open in a spreadsheet: every text cell goes through
/// [`formula_safe`]. Numbers and booleans of serialized rows are written as they are.
pub struct SpreadsheetCsv<W: Write> {
    writer: csv::Writer<W>,
    /// Whether anything was written yet: the first serialized row brings the header,
    /// unless a record (a header of the caller's) came first.
    started: bool,
}

impl<W: Write> SpreadsheetCsv<W> {
    pub fn new(out: W) -> Self {
        Self {
            writer: csv::WriterBuilder::new().has_headers(false).from_writer(out),
            started: false,
        }
    }

    /// Writes one record of text cells.
    pub fn write_record<I, T>(&mut self, record: I) -> csv::Result<()>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.started = true;
        self.writer
            .write_record(record.into_iter().map(|cell| formula_safe(cell.as_ref()).into_owned()))
    }

    /// Writes `row`, a flat struct, as one record; the first one written is preceded by
    /// a header of its field names.
    pub fn serialize<T: Serialize>(&mut self, row: &T) -> csv::Result<()> {
        let invalid = |reason: String| {
            csv::Error::from(std::io::Error::new(std::io::ErrorKind::InvalidData, reason))
        };
        let fields = match serde_json::to_value(row).map_err(|e| invalid(e.to_string()))? {
            serde_json::Value::Object(fields) => fields,
            // Not the value itself: it may be personal data.
            _ => return Err(invalid("a CSV row must be a struct".to_owned())),
        };
        if !self.started {
            self.write_record(fields.keys())?;
        }
        let mut cells = Vec::with_capacity(fields.len());
        for (name, value) in fields {
            cells.push(match value {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(text) => match formula_safe(&text) {
                    Cow::Borrowed(_) => text,
                    Cow::Owned(escaped) => escaped,
                },
                serde_json::Value::Bool(_) | serde_json::Value::Number(_) => value.to_string(),
                serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                    return Err(invalid(format!("the CSV cell {name} holds more than one value")))
                }
            });
        }
        self.writer.write_record(cells)
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }

    /// The output, flushed.
    pub fn into_inner(self) -> std::io::Result<W> {
        self.writer.into_inner().map_err(csv::IntoInnerError::into_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_a_spreadsheet_would_run_are_escaped() {
        for (cell, written) in [
            ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
            ("+8613812345678", "'+8613812345678"),
            ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("-", "'-"),
            ("-1.", "'-1."),
            ("-12", "-12"),
            ("-0.5", "-0.5"),
            ("华为 =1", "华为 =1"),
            ("", ""),
            ("13812345678", "13812345678"),
        ] {
            assert_eq!(formula_safe(cell), written, "{cell:?}");
        }
    }

    #[derive(Serialize)]
    struct Row {
        company: &'static str,
        phone: Option<&'static str>,
        serial: i64,
        consent: bool,
    }

    #[test]
    fn serialized_rows_get_a_header_and_escaped_text_cells() {
        let mut csv = SpreadsheetCsv::new(Vec::new());
        let row =
            Row { company: "=HYPERLINK(\"x\")", phone: Some("+861"), serial: -3, consent: true };
        csv.serialize(&row).unwrap();
        csv.serialize(&Row { company: "ACME", phone: None, serial: 4, consent: false }).unwrap();
        let text = String::from_utf8(csv.into_inner().unwrap()).unwrap();
        assert_eq!(
            text,
            "company,phone,serial,consent\n\"'=HYPERLINK(\"\"x\"\")\",'+861,-3,true\nACME,,4,false\n"
        );
    }

    #[test]
    fn a_header_of_the_callers_comes_once() {
        let mut csv = SpreadsheetCsv::new(Vec::new());
        csv.write_record(["company", "phone", "serial", "consent"]).unwrap();
        csv.serialize(&Row { company: "@x", phone: None, serial: 1, consent: true }).unwrap();
        let text = String::from_utf8(csv.into_inner().unwrap()).unwrap();
        assert_eq!(text, "company,phone,serial,consent\n'@x,,1,true\n");
    }

    #[cfg(unix)]
    #[test]
    fn private_files_replace_what_was_there_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("left-over.partial");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(create_private(&path).unwrap());
        let metadata = std::fs::metadata(&path).unwrap();
        assert_eq!((metadata.permissions().mode() & 0o777, metadata.len()), (0o600, 0));
    }
}
