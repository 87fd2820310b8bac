//! Finding attendees as a desk operator types: name prefix, pinyin (full or initials)
//! for Chinese names, company words, phone tail, registration code, ID-number tail.
//!
//! Each attendee has a handful of normalised *terms* in `search_terms(term, attendee_key)`
//! (the attendee's station-local key), a WITHOUT ROWID B-tree, so every query is a few
//! index range scans: fast at a million attendees. Tails (phone, ID) are stored reversed
//! behind a marker byte so a tail query is a prefix query too. A company's terms are
//! stored once, in `company_terms(term, company)`, and lead to its attendees by the
//! index on `attendees(company)`.

use std::collections::HashSet;

use expo_sync::protocol::AttendeeRecord;
use pinyin::ToPinyin;
use rusqlite::{params, Connection};
use serde::Serialize;

use super::{row_to_record, LocalKey, Result, ATTENDEE_COLUMNS};
use crate::domain::AttendeeId;
use crate::store::StoreError;

const PHONE_TAIL: char = '\u{1}';
const ID_TAIL: char = '\u{2}';
/// Candidates fetched per term range before ranking: enough to fill a result list with
/// exact matches first.
const CANDIDATES_PER_TERM: usize = 200;
/// How many company suffixes of a CJK company name are indexed (so 展览 finds
/// 上海国际展览有限公司): the city or region prefix rarely matters beyond that.
const MAX_COMPANY_SUFFIXES: usize = 8;
/// Shortest digit query treated as a phone or ID tail.
const MIN_TAIL: usize = 4;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchHit {
    pub id: AttendeeId,
    pub name: String,
    /// The Chinese name beside `name`, when there is one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub chinese_name: String,
    pub registration_code: Option<String>,
    pub category: String,
    pub company: String,
    pub phone_tail: String,
    pub id_masked: Option<String>,
    pub source: String,
}

/// Lower-case, no white space or punctuation: how both terms and queries are compared.
pub fn normalize(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{2FA1F}')
}

/// Full pinyin and initials of a name with Chinese characters (`张三` → `zhangsan`, `zs`);
/// letters and digits pass through.
pub fn pinyin_forms(name: &str) -> Option<(String, String)> {
    if !name.chars().any(is_cjk) {
        return None;
    }
    let mut full = String::new();
    let mut initials = String::new();
    for (c, reading) in name.chars().zip(name.to_pinyin()) {
        match reading {
            Some(p) => {
                full.push_str(p.plain());
                initials.push_str(p.first_letter());
            }
            None if c.is_alphanumeric() => {
                full.extend(c.to_lowercase());
                initials.extend(c.to_lowercase());
            }
            None => {}
        }
    }
    Some((full, initials))
}

/// The attendee's rows in `search_terms`: the terms of their own fields (name, pinyin,
/// registration code, phone and ID tails), each once. Their company's are
/// [`company_terms`], stored once for everyone at that company.
pub(crate) fn terms_for(record: &AttendeeRecord) -> Vec<String> {
    let mut terms = Vec::with_capacity(8);
    if record.merged_into.is_some() {
        // Searched for, a merged-away attendee is found as the one they were merged into.
        return terms;
    }
    // A desk finds the holder of a foreign permanent residence card by either name.
    for name in [&record.name, &record.chinese_name] {
        name_terms(name, &mut terms);
    }
    if let Some(code) = &record.registration_code {
        terms.push(normalize(code));
    }
    let digits: String = record.phone.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= MIN_TAIL {
        terms.push(std::iter::once(PHONE_TAIL).chain(digits.chars().rev()).collect());
    }
    if let Some(masked) = &record.id_masked {
        // Only the tail that the masked form shows anyway.
        let tail: String = masked.chars().rev().take_while(|c| *c != '*').collect();
        if tail.len() >= MIN_TAIL {
            terms.push(std::iter::once(ID_TAIL).chain(normalize(&tail).chars()).collect());
        }
    }
    terms.retain(|t| !t.is_empty());
    terms.sort_unstable();
    terms.dedup();
    terms
}

/// The terms of one name: the whole, its words, and for a Chinese name its pinyin in full
/// and as initials.
fn name_terms(name: &str, terms: &mut Vec<String>) {
    terms.push(normalize(name));
    let words: Vec<String> =
        name.split_whitespace().map(normalize).filter(|w| !w.is_empty()).collect();
    if words.len() > 1 {
        terms.extend(words);
    }
    if let Some((full, initials)) = pinyin_forms(name) {
        terms.push(full);
        terms.push(initials);
    }
}

/// The terms of a company name, its rows in `company_terms`: the whole name, its later
/// words, and for a Chinese name its suffixes (so 展览 finds 上海国际展览有限公司).
pub(crate) fn company_terms(company: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let normalized = normalize(company);
    if normalized.is_empty() {
        return terms;
    }
    terms.extend(company.split_whitespace().map(normalize).skip(1).filter(|w| !w.is_empty()));
    if company.chars().any(is_cjk) {
        let chars: Vec<char> = normalized.chars().collect();
        for start in 1..chars.len().saturating_sub(1).min(MAX_COMPANY_SUFFIXES + 1) {
            terms.push(chars[start..].iter().collect());
        }
    }
    terms.push(normalized);
    terms.sort_unstable();
    terms.dedup();
    terms
}

/// Stores the terms of `company` unless they are stored already.
pub(crate) fn note_company(conn: &Connection, company: &str) -> Result<(), StoreError> {
    // The whole name is always among a company's terms: if it is stored, so are the rest.
    let whole = normalize(company);
    if whole.is_empty()
        || conn
            .prepare_cached("SELECT 1 FROM company_terms WHERE term = ?1 AND company = ?2")?
            .exists(params![whole, company])?
    {
        return Ok(());
    }
    let mut insert =
        conn.prepare_cached("INSERT OR IGNORE INTO company_terms (term, company) VALUES (?1, ?2)")?;
    for term in company_terms(company) {
        insert.execute(params![term, company])?;
    }
    Ok(())
}

/// Attendees matching `query`, best first, at most `limit`. `categories`, when not
/// empty, restricts results to those categories (an operator's data permission).
pub fn search(
    conn: &Connection,
    query: &str,
    limit: usize,
    categories: &[String],
) -> Result<Vec<SearchHit>> {
    let tokens: Vec<String> =
        query.split_whitespace().map(normalize).filter(|t| !t.is_empty()).collect();
    if tokens.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let whole = tokens.concat();
    let mut ranked = candidates(conn, &whole)?;
    if tokens.len() > 1 {
        // "zhang san", "上海 展览": every word must match some term of the attendee.
        let mut sets = tokens
            .iter()
            .map(|t| candidates(conn, t).map(|c| c.into_iter().collect::<HashSet<_>>()));
        if let Some(first) = sets.next() {
            let mut common = first?;
            for set in sets {
                let set = set?;
                common.retain(|id| set.contains(id));
            }
            let mut extra: Vec<LocalKey> =
                common.into_iter().filter(|key| !ranked.contains(key)).collect();
            extra.sort_unstable();
            ranked.extend(extra);
        }
    }
    let mut hits = Vec::with_capacity(limit.min(ranked.len()));
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {ATTENDEE_COLUMNS} FROM attendees WHERE local_key = ?1"))
        .map_err(StoreError::from)?;
    for key in ranked {
        if hits.len() == limit {
            break;
        }
        let record = stmt.query_row([key], row_to_record).map_err(StoreError::from)?;
        // Found through their company's terms: the attendee they were merged into is the
        // one to show (a merge keeps both at one company as a rule, so it is found too).
        if record.merged_into.is_some() {
            continue;
        }
        if !categories.is_empty() && !categories.contains(&record.category) {
            continue;
        }
        hits.push(hit(record));
    }
    Ok(hits)
}

/// Attendees (by local key) for one normalised query word: exact term matches first
/// (the attendee's own, then their company's), then prefix matches, then phone and ID
/// tails for digit queries.
fn candidates(conn: &Connection, word: &str) -> Result<Vec<LocalKey>> {
    const PERSON_EXACT: &str = "SELECT attendee_key FROM search_terms WHERE term = ?1 LIMIT ?2";
    const COMPANY_EXACT: &str =
        "SELECT a.local_key FROM company_terms c CROSS JOIN attendees a ON a.company = c.company \
         WHERE c.term = ?1 LIMIT ?2";
    const PERSON_PREFIX: &str =
        "SELECT attendee_key FROM search_terms WHERE term >= ?1 AND term < ?2 LIMIT ?3";
    const COMPANY_PREFIX: &str =
        "SELECT a.local_key FROM company_terms c CROSS JOIN attendees a ON a.company = c.company \
         WHERE c.term >= ?1 AND c.term < ?2 LIMIT ?3";
    let mut keys = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |found: rusqlite::Result<LocalKey>| -> Result<()> {
        let key = found.map_err(StoreError::from)?;
        if seen.insert(key) {
            keys.push(key);
        }
        Ok(())
    };
    for sql in [PERSON_EXACT, COMPANY_EXACT] {
        let mut exact = conn.prepare_cached(sql).map_err(StoreError::from)?;
        for found in exact
            .query_map(params![word, CANDIDATES_PER_TERM], |r| r.get(0))
            .map_err(StoreError::from)?
        {
            push(found)?;
        }
    }
    let mut ranges = vec![(PERSON_PREFIX, word.to_owned()), (COMPANY_PREFIX, word.to_owned())];
    if word.len() >= MIN_TAIL && word.chars().all(|c| c.is_ascii_digit() || c == 'x') {
        let reversed: String = word.chars().rev().collect();
        ranges.push((PERSON_PREFIX, format!("{PHONE_TAIL}{reversed}")));
        ranges.push((PERSON_PREFIX, format!("{ID_TAIL}{reversed}")));
    }
    for (sql, start) in ranges {
        let mut prefix = conn.prepare_cached(sql).map_err(StoreError::from)?;
        let end = format!("{start}\u{10FFFF}");
        for found in prefix
            .query_map(params![start, end, CANDIDATES_PER_TERM], |r| r.get(0))
            .map_err(StoreError::from)?
        {
            push(found)?;
        }
    }
    Ok(keys)
}

fn hit(record: AttendeeRecord) -> SearchHit {
    let digits: Vec<char> = record.phone.chars().filter(char::is_ascii_digit).collect();
    SearchHit {
        id: AttendeeId(record.id),
        phone_tail: digits[digits.len().saturating_sub(4)..].iter().collect(),
        name: record.name,
        chinese_name: record.chinese_name,
        registration_code: record.registration_code,
        category: record.category,
        company: record.company,
        id_masked: record.id_masked,
        source: record.source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinyin_of_chinese_names() {
        assert_eq!(pinyin_forms("张三"), Some(("zhangsan".into(), "zs".into())));
        assert_eq!(pinyin_forms("John Smith"), None);
    }

    #[test]
    fn normalisation_folds_case_and_punctuation() {
        assert_eq!(normalize(" O'Brien-Smith "), "obriensmith");
        assert_eq!(normalize("上海 国际"), "上海国际");
    }
}
