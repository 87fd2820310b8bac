//! The post-show follow-up export (展后回访): every attendee of the chosen categories with
//! what the CRM needs to follow up, and their phone and e-mail only if they consented.
//! ID document numbers never leave the station this way. CSV cells a spreadsheet would
//! run as formulas (a company named `=HYPERLINK(...)`, a phone `+86...`) are escaped.

use std::io::Write;

use expo_sync::output::SpreadsheetCsv;
use rusqlite::params;
use serde::Serialize;
use serde_json::json;

use super::StatsError;
use crate::operators::{authorize, Operator, Permission};
use crate::store::Store;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// UTF-8 with a byte-order mark, so that spreadsheet programs read the Chinese right.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct FollowUpSummary {
    pub attendees: u64,
    /// Rows written with contact data (the attendee consented).
    pub with_contact: u64,
    pub without_consent: u64,
}

/// One attendee as the follow-up export writes them.
#[derive(Serialize)]
struct FollowUpRow {
    category: String,
    category_label: String,
    registration_code: String,
    name: String,
    company: String,
    title: String,
    country: String,
    source: String,
    consent: bool,
    phone: String,
    email: String,
    /// Counted entries through any gate (granted and not annulled).
    entries: u64,
    first_entry: String,
    last_entry: String,
    /// The Chinese name beside `name`, when there is one (last: a CRM reading the columns
    /// by position finds the others where they were).
    chinese_name: String,
}

enum Sink<'a> {
    Csv(Box<SpreadsheetCsv<&'a mut dyn Write>>),
    Jsonl(&'a mut dyn Write),
}

const COLUMNS: [&str; 15] = [
    "category",
    "category_label",
    "registration_code",
    "name",
    "company",
    "title",
    "country",
    "source",
    "consent",
    "phone",
    "email",
    "entries",
    "first_entry",
    "last_entry",
    "chinese_name",
];

/// Writes the export of `categories` (all when empty: all that the operator handles) to
/// `out`, by category then name, and audits who exported what. Needs
/// [`Permission::ViewReports`] and every category asked for in the operator's scope.
pub fn export(
    store: &mut Store,
    operator: &Operator,
    categories: &[String],
    format: Format,
    out: &mut dyn Write,
) -> Result<FollowUpSummary, StatsError> {
    authorize(store, operator, Permission::ViewReports, None, &[])?;
    let definition = store.event()?.definition.clone();
    let mut wanted = Vec::new();
    for category in categories {
        let (_, found) = definition
            .category(category)
            .ok_or_else(|| StatsError::UnknownCategory(category.clone()))?;
        wanted.push(found.id.clone());
    }
    if wanted.is_empty() {
        wanted.clone_from(&operator.categories);
    }
    let scope: Vec<&str> = wanted.iter().map(String::as_str).collect();
    authorize(store, operator, Permission::ViewReports, None, &scope)?;
    let csv_error = |e: csv::Error| StatsError::Output(e.to_string());
    let mut sink = match format {
        Format::Csv => {
            out.write_all("\u{feff}".as_bytes())?;
            // The header is written here so that an empty export still has one.
            let mut writer = SpreadsheetCsv::new(out);
            writer.write_record(COLUMNS).map_err(csv_error)?;
            Sink::Csv(Box::new(writer))
        }
        Format::Jsonl => Sink::Jsonl(out),
    };
    let mut summary = FollowUpSummary::default();
    {
        let mut stmt = store.conn().prepare(
            "SELECT a.category, coalesce(a.registration_code, ''), a.name, a.company, a.title, \
             a.country, a.source, a.consent, a.phone, a.email, \
             count(g.id), coalesce(min(g.at), ''), coalesce(max(g.at), ''), a.chinese_name \
             FROM attendees a LEFT JOIN gate_decisions g ON g.attendee_id = a.id \
               AND g.direction = 'in' AND g.granted AND NOT g.annulled \
             WHERE ?1 = '[]' OR a.category IN (SELECT value FROM json_each(?1)) \
             GROUP BY a.id ORDER BY a.category, a.name, a.id",
        )?;
        let filter =
            serde_json::to_string(&wanted).map_err(|e| StatsError::Output(e.to_string()))?;
        let mut rows = stmt.query(params![filter])?;
        while let Some(r) = rows.next()? {
            let category: String = r.get(0)?;
            let consent: bool = r.get(7)?;
            let label = definition
                .category(&category)
                .map(|(_, c)| format!("{} {}", c.label_zh, c.label_en))
                .unwrap_or_default();
            let (phone, email) =
                if consent { (r.get(8)?, r.get(9)?) } else { (String::new(), String::new()) };
            let row = FollowUpRow {
                category,
                category_label: label,
                registration_code: r.get(1)?,
                name: r.get(2)?,
                company: r.get(3)?,
                title: r.get(4)?,
                country: r.get(5)?,
                source: r.get(6)?,
                consent,
                phone,
                email,
                entries: r.get::<_, i64>(10)?.max(0) as u64,
                first_entry: r.get(11)?,
                last_entry: r.get(12)?,
                chinese_name: r.get(13)?,
            };
            summary.attendees += 1;
            if consent {
                summary.with_contact += 1;
            } else {
                summary.without_consent += 1;
            }
            match &mut sink {
                Sink::Csv(writer) => writer.serialize(&row).map_err(csv_error)?,
                Sink::Jsonl(out) => {
                    serde_json::to_writer(&mut **out, &row)
                        .map_err(|e| StatsError::Output(e.to_string()))?;
                    out.write_all(b"\n")?;
                }
            }
        }
    }
    match sink {
        Sink::Csv(mut writer) => writer.flush()?,
        Sink::Jsonl(out) => out.flush()?,
    }
    store.write(|tx| {
        tx.audit(
            &operator.name,
            "follow_up_export",
            None,
            json!({ "categories": wanted, "attendees": summary.attendees, "with_contact": summary.with_contact }),
        )
    })?;
    Ok(summary)
}
