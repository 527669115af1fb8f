//! Importing the lawyer registry's export file into the store (`confer registry import`).
//!
//! Owns: reading an export file in CSV or JSON lines, validating every row into a
//! [`RegistryRecord`], and handing the whole set to the store in one transaction
//! ([`import_file`]). Also the record's field format, shared with the remote registry's JSON
//! API ([`super::remote`]): one JSON line of an export is exactly one API answer.
//!
//! File format (UTF-8; a leading byte-order mark is ignored). Fields, by name:
//!
//! | field | format |
//! |---|---|
//! | `licence_number` | 17 digits |
//! | `holder_name` | text, 1..=200 characters |
//! | `holder_id_hash` | SHA-256 of the holder's identity-document number, 64 hex digits (see [`super::HolderIdHash::of_id_number`]) |
//! | `law_firm` | text, 1..=300 characters |
//! | `status` | `practising`, `suspended`, `revoked` or `cancelled` |
//! | `valid_until` | date `YYYY-MM-DD`, the last valid day |
//! | `data_as_of` | RFC 3339 time at which the registry's data was current |
//!
//! - CSV: a header line naming the fields (any order; extra columns are ignored), then one
//!   record per line; standard quoting.
//! - JSON lines: one JSON object per line with these fields as strings (extra fields are
//!   ignored); blank lines are skipped.
//!
//! The format is taken from the extension (`.csv`; `.jsonl`, `.ndjson`, `.json`), otherwise
//! from the content (a first `{` means JSON lines).
//!
//! Rules: every bad row is reported with its line number and reason, and then **nothing** is
//! imported; an empty file is an error; a licence number twice in one file is an error.
//! Re-importing updates what changed (statuses above all); a row whose `data_as_of` is older
//! than what the store already holds for that licence is skipped, so an old export can never
//! undo a newer suspension. Licences absent from the file are kept (an export may be partial).
//!
//! Does not: print anything, log personal data (errors name lines and fields, never values),
//! or delete records.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::{RegistryRecord, LICENCE_NUMBER_DIGITS};
use crate::store::licence::RegistryImportCounts;
use crate::store::{Store, StoreError};

/// Longest accepted holder name, in characters.
const MAX_NAME_CHARS: usize = 200;
/// Longest accepted law firm name, in characters.
const MAX_FIRM_CHARS: usize = 300;
/// How many bad rows an [`ImportError::BadRows`] message lists before "and N more".
const LISTED_ROW_ERRORS: usize = 50;

/// The fields of a record, in the order of the documented CSV header.
pub const FIELDS: [&str; 7] = [
    "licence_number",
    "holder_name",
    "holder_id_hash",
    "law_firm",
    "status",
    "valid_until",
    "data_as_of",
];

/// The two accepted export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    Csv,
    JsonLines,
}

impl fmt::Display for ImportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImportFormat::Csv => "CSV",
            ImportFormat::JsonLines => "JSON lines",
        })
    }
}

/// One bad row: its 1-based line number in the file and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub format: ImportFormat,
    /// Records in the file.
    pub records: usize,
    pub counts: RegistryImportCounts,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        write!(
            f,
            "imported {} records ({}): {} new, {} updated ({} status changes), {} unchanged, {} skipped as older than the stored data",
            self.records, self.format, c.inserted, c.updated, c.status_changed, c.unchanged, c.skipped_older
        )
    }
}

/// Why an import did not happen. In every case nothing was imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read the registry export {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the registry export {path} holds no records; nothing was imported")]
    Empty { path: PathBuf },
    #[error("{}", bad_rows_message(path, rows))]
    BadRows { path: PathBuf, rows: Vec<RowError> },
    #[error("the store refused the import; nothing was imported: {0}")]
    Store(#[from] StoreError),
}

fn bad_rows_message(path: &Path, rows: &[RowError]) -> String {
    let mut out = format!(
        "the registry export {} has {} bad row{}; nothing was imported:",
        path.display(),
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    for row in rows.iter().take(LISTED_ROW_ERRORS) {
        out.push_str(&format!("\n  {row}"));
    }
    if rows.len() > LISTED_ROW_ERRORS {
        out.push_str(&format!(
            "\n  ... and {} more",
            rows.len() - LISTED_ROW_ERRORS
        ));
    }
    out
}

/// Import the registry export at `path` into `store`: all rows or none (one transaction).
/// `imported_at` in the store is the time of the call.
pub async fn import_file(store: &Store, path: &Path) -> Result<ImportReport, ImportError> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|source| ImportError::Read {
            path: path.to_owned(),
            source,
        })?;
    let format = detect_format(path, &bytes);
    let records = parse(&bytes, format).map_err(|rows| ImportError::BadRows {
        path: path.to_owned(),
        rows,
    })?;
    if records.is_empty() {
        return Err(ImportError::Empty {
            path: path.to_owned(),
        });
    }
    let counts = store.import_registry_records(&records, Utc::now()).await?;
    Ok(ImportReport {
        format,
        records: records.len(),
        counts,
    })
}

/// The format of an export file: by extension, else by its first non-blank character.
pub fn detect_format(path: &Path, bytes: &[u8]) -> ImportFormat {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") => ImportFormat::Csv,
        Some("jsonl" | "ndjson" | "json") => ImportFormat::JsonLines,
        _ => match strip_bom(bytes).iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => ImportFormat::JsonLines,
            _ => ImportFormat::Csv,
        },
    }
}

/// Parse a whole export. Either every record, or every bad row (in line order).
pub fn parse(bytes: &[u8], format: ImportFormat) -> Result<Vec<RegistryRecord>, Vec<RowError>> {
    let bytes = strip_bom(bytes);
    let rows = match format {
        ImportFormat::Csv => parse_csv(bytes)?,
        ImportFormat::JsonLines => parse_json_lines(bytes),
    };
    let mut records = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    let mut first_line: HashMap<super::LicenceNumber, u64> = HashMap::new();
    for (line, row) in rows {
        match row {
            Ok(record) => {
                if let Some(first) = first_line.get(&record.licence) {
                    errors.push(RowError {
                        line,
                        reason: format!("the same licence number is already on line {first}"),
                    });
                } else {
                    first_line.insert(record.licence.clone(), line);
                    records.push(record);
                }
            }
            Err(reason) => errors.push(RowError { line, reason }),
        }
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

type Row = (u64, Result<RegistryRecord, String>);

/// A record as it appears in a JSON line or a JSON API answer: all fields strings, all
/// optional here so that a missing one is reported by name.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawRecord {
    licence_number: Option<String>,
    holder_name: Option<String>,
    holder_id_hash: Option<String>,
    law_firm: Option<String>,
    status: Option<String>,
    valid_until: Option<String>,
    data_as_of: Option<String>,
}

impl RawRecord {
    /// Validate every field; the error lists every problem, naming fields, never values.
    pub(super) fn validate(self) -> Result<RegistryRecord, String> {
        let mut problems: Vec<String> = Vec::new();
        let mut field = |name: &str, value: Option<String>| -> Option<String> {
            match value.map(|v| v.trim().to_owned()) {
                Some(v) if !v.is_empty() => Some(v),
                Some(_) => {
                    problems.push(format!("{name} is empty"));
                    None
                }
                None => {
                    problems.push(format!("{name} is missing"));
                    None
                }
            }
        };
        let licence = field("licence_number", self.licence_number);
        let name = field("holder_name", self.holder_name);
        let id_hash = field("holder_id_hash", self.holder_id_hash);
        let firm = field("law_firm", self.law_firm);
        let status = field("status", self.status);
        let valid_until = field("valid_until", self.valid_until);
        let data_as_of = field("data_as_of", self.data_as_of);

        let licence = licence.and_then(|v| {
            v.parse()
                .map_err(|_| {
                    problems.push(format!(
                        "licence_number is not {LICENCE_NUMBER_DIGITS} digits"
                    ))
                })
                .ok()
        });
        let name = name.filter(|v| {
            let ok = v.chars().count() <= MAX_NAME_CHARS;
            if !ok {
                problems.push(format!(
                    "holder_name is longer than {MAX_NAME_CHARS} characters"
                ));
            }
            ok
        });
        let firm = firm.filter(|v| {
            let ok = v.chars().count() <= MAX_FIRM_CHARS;
            if !ok {
                problems.push(format!(
                    "law_firm is longer than {MAX_FIRM_CHARS} characters"
                ));
            }
            ok
        });
        let id_hash = id_hash.and_then(|v| {
            v.parse()
                .map_err(|_| {
                    problems
                        .push("holder_id_hash is not 64 hexadecimal digits (SHA-256)".to_owned())
                })
                .ok()
        });
        let status = status.and_then(|v| {
            v.parse()
                .map_err(|_| {
                    problems.push(
                        "status is not one of practising, suspended, revoked, cancelled".to_owned(),
                    )
                })
                .ok()
        });
        let valid_until = valid_until.and_then(|v| {
            NaiveDate::parse_from_str(&v, "%Y-%m-%d")
                .map_err(|_| problems.push("valid_until is not a date like 2027-12-31".to_owned()))
                .ok()
        });
        let data_as_of = data_as_of.and_then(|v| {
            DateTime::parse_from_rfc3339(&v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    problems.push(
                        "data_as_of is not an RFC 3339 time like 2026-11-27T04:00:00Z".to_owned(),
                    )
                })
                .ok()
        });
        match (
            licence,
            name,
            id_hash,
            firm,
            status,
            valid_until,
            data_as_of,
        ) {
            (
                Some(licence),
                Some(holder_name),
                Some(holder_id_hash),
                Some(law_firm),
                Some(status),
                Some(valid_until),
                Some(data_as_of),
            ) if problems.is_empty() => Ok(RegistryRecord {
                licence,
                holder_name,
                holder_id_hash,
                law_firm,
                status,
                valid_until,
                data_as_of,
            }),
            _ => Err(problems.join("; ")),
        }
    }
}

/// Why a JSON text is not a record, without echoing any of its values.
pub(super) fn json_problem(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Syntax => format!("not valid JSON (column {})", e.column()),
        serde_json::error::Category::Eof => "incomplete JSON".to_owned(),
        serde_json::error::Category::Data => {
            "not a JSON object whose fields are strings".to_owned()
        }
        serde_json::error::Category::Io => "unreadable".to_owned(),
    }
}

fn parse_json_lines(bytes: &[u8]) -> Vec<Row> {
    bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(|b| b.is_ascii_whitespace()))
        .map(|(i, line)| {
            let line_no = i as u64 + 1;
            let row = match std::str::from_utf8(line) {
                Err(_) => Err("not valid UTF-8 (save the export as UTF-8)".to_owned()),
                Ok(text) => match serde_json::from_str::<RawRecord>(text) {
                    Ok(raw) => raw.validate(),
                    Err(e) => Err(json_problem(&e)),
                },
            };
            (line_no, row)
        })
        .collect()
}

fn parse_csv(bytes: &[u8]) -> Result<Vec<Row>, Vec<RowError>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let headers = match reader.byte_headers() {
        Ok(h) => h.clone(),
        Err(_) => {
            return Err(vec![RowError {
                line: 1,
                reason: "the header line is unreadable".to_owned(),
            }])
        }
    };
    let mut columns = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        if let Ok(name) = std::str::from_utf8(h) {
            columns.entry(name.trim().to_ascii_lowercase()).or_insert(i);
        }
    }
    let missing: Vec<&str> = FIELDS
        .iter()
        .copied()
        .filter(|f| !columns.contains_key(*f))
        .collect();
    if !missing.is_empty() {
        return Err(vec![RowError {
            line: 1,
            reason: format!(
                "the header line lacks the column(s) {}; expected {}",
                missing.join(", "),
                FIELDS.join(",")
            ),
        }]);
    }
    let mut rows = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(line, |p| p.line());
                if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                    continue;
                }
                rows.push((line, csv_row(&record, &columns)));
            }
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line());
                rows.push((line, Err("not a well-formed CSV row".to_owned())));
                if !matches!(
                    e.kind(),
                    csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                ) {
                    // The reader cannot go on past an I/O-level error; report what we have.
                    break;
                }
            }
        }
    }
    Ok(rows)
}

fn csv_row(
    record: &csv::ByteRecord,
    columns: &HashMap<String, usize>,
) -> Result<RegistryRecord, String> {
    let mut not_utf8 = false;
    let mut get = |name: &str| -> Option<String> {
        let bytes = columns.get(name).and_then(|i| record.get(*i))?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Some(s.to_owned()),
            Err(_) => {
                not_utf8 = true;
                Some(String::new())
            }
        }
    };
    let raw = RawRecord {
        licence_number: get("licence_number"),
        holder_name: get("holder_name"),
        holder_id_hash: get("holder_id_hash"),
        law_firm: get("law_firm"),
        status: get("status"),
        valid_until: get("valid_until"),
        data_as_of: get("data_as_of"),
    };
    if not_utf8 {
        return Err("not valid UTF-8 (save the export as UTF-8)".to_owned());
    }
    raw.validate()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licence::PractisingStatus;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn csv_text(rows: &[&str]) -> String {
        let mut s = String::from(
            "licence_number,holder_name,holder_id_hash,law_firm,status,valid_until,data_as_of\n",
        );
        for r in rows {
            s.push_str(r);
            s.push('\n');
        }
        s
    }

    #[test]
    fn parses_a_good_csv_with_quotes_and_a_bom() {
        let text = format!(
            "\u{feff}{}",
            csv_text(&[
                &format!("13101201010123456,张三,{HASH},\"北京市某某律师事务所, 分所\",practising,2027-05-31,2026-11-27T04:00:00Z"),
                &format!("13101201010123457,李四,{HASH},某律所,Suspended,2027-05-31,2026-11-27T12:00:00+08:00"),
            ])
        );
        let records = parse(text.as_bytes(), ImportFormat::Csv).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].law_firm, "北京市某某律师事务所, 分所");
        assert_eq!(records[1].status, PractisingStatus::Suspended);
        assert_eq!(records[1].data_as_of, records[0].data_as_of);
    }

    #[test]
    fn csv_columns_may_come_in_any_order_with_extras() {
        let text = format!(
            "status,extra,data_as_of,valid_until,law_firm,holder_id_hash,holder_name,licence_number\n\
             practising,x,2026-11-27T04:00:00Z,2027-05-31,律所,{HASH},张三,13101201010123456\n"
        );
        assert_eq!(parse(text.as_bytes(), ImportFormat::Csv).unwrap().len(), 1);
    }

    #[test]
    fn every_bad_csv_row_is_reported_with_its_line() {
        let text = csv_text(&[
            &format!(
                "13101201010123456,张三,{HASH},律所,practising,2027-05-31,2026-11-27T04:00:00Z"
            ),
            &format!(
                "1310120101012345,张三,{HASH},律所,practising,2027-05-31,2026-11-27T04:00:00Z"
            ),
            &format!("13101201010123458,,{HASH},律所,active,2027-13-31,yesterday"),
            "13101201010123459,only,three",
            &format!(
                "13101201010123456,张三,{HASH},律所,practising,2027-05-31,2026-11-27T04:00:00Z"
            ),
        ]);
        let errors = parse(text.as_bytes(), ImportFormat::Csv).unwrap_err();
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 5, 6], "{errors:?}");
        assert!(errors[0].reason.contains("licence_number"));
        for part in [
            "holder_name is empty",
            "status",
            "valid_until",
            "data_as_of",
        ] {
            assert!(errors[1].reason.contains(part), "{}", errors[1].reason);
        }
        assert!(errors[2].reason.contains("missing"), "{}", errors[2].reason);
        assert!(errors[3].reason.contains("line 2"), "{}", errors[3].reason);
        assert!(
            errors.iter().all(|e| !e.reason.contains("张三")),
            "values are never echoed"
        );
    }

    #[test]
    fn a_csv_without_the_header_is_refused_at_line_one() {
        let text = format!(
            "13101201010123456,张三,{HASH},律所,practising,2027-05-31,2026-11-27T04:00:00Z\n"
        );
        let errors = parse(text.as_bytes(), ImportFormat::Csv).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 1);
        assert!(errors[0].reason.contains("header"));
    }

    #[test]
    fn json_lines_report_bad_lines_and_skip_blank_ones() {
        let good = format!(
            r#"{{"licence_number":"13101201010123456","holder_name":"张三","holder_id_hash":"{HASH}","law_firm":"律所","status":"practising","valid_until":"2027-05-31","data_as_of":"2026-11-27T04:00:00Z","extra":1}}"#
        );
        let text = format!("{good}\n\n{{not json\n{{\"licence_number\":13101201010123457}}\n[]\n");
        let errors = parse(text.as_bytes(), ImportFormat::JsonLines).unwrap_err();
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 5]);
        assert!(errors
            .iter()
            .all(|e| !e.reason.contains("13101201010123457")));
        assert_eq!(
            parse(format!("{good}\n\n").as_bytes(), ImportFormat::JsonLines)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn format_is_detected_by_extension_then_content() {
        assert_eq!(detect_format(Path::new("a.CSV"), b"{"), ImportFormat::Csv);
        assert_eq!(
            detect_format(Path::new("a.jsonl"), b"x"),
            ImportFormat::JsonLines
        );
        assert_eq!(
            detect_format(Path::new("export"), b"\xEF\xBB\xBF  {\"a\":1}"),
            ImportFormat::JsonLines
        );
        assert_eq!(
            detect_format(Path::new("export.txt"), b"licence_number,"),
            ImportFormat::Csv
        );
    }

    #[test]
    fn garbage_never_panics() {
        for bytes in [
            &b"\xff\xfe\x00garbage"[..],
            b"\"unterminated",
            b",,,,\n,,,",
            b"{",
            b"\n\n\n",
            b"",
        ] {
            let _ = parse(bytes, ImportFormat::Csv);
            let _ = parse(bytes, ImportFormat::JsonLines);
        }
    }
}
