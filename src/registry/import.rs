//! The importer: IANA's CSV in, whoport's compact table out, every row checked on the way.

use std::fmt::Write as _;

use crate::error::RegistryError;
use crate::registry::iana::{
    escape, parse_port_field, parse_protocol_field, COLUMNS, HEADER, MAGIC,
};
use crate::registry::index::{is_iana_date, shown};

/// Largest CSV accepted (the real registry is about 1 MB).
pub const MAX_FILE_BYTES: usize = crate::input_file::CSV_LIMIT as usize;
/// Largest single field accepted (the real registry's longest is under 2 KB).
pub const MAX_FIELD_BYTES: usize = super::index::MAX_FIELD_BYTES;

/// What an import produced.
#[derive(Debug)]
pub struct Imported {
    /// The compact table, ready to write or to load.
    pub table: String,
    pub rows: usize,
    /// Newest registration or modification date in the CSV.
    pub snapshot: String,
}

/// Converts IANA's CSV (bytes as read from disk) into the compact table.
///
/// `origin` names the input in error messages ("FILE, line N: reason").
pub fn import_csv(bytes: &[u8], origin: &str) -> Result<Imported, RegistryError> {
    let malformed = |line: u64, reason: String| RegistryError::Malformed {
        origin: origin.to_string(),
        line,
        reason,
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(RegistryError::Empty {
            origin: origin.to_string(),
        });
    }
    if bytes.len() > MAX_FILE_BYTES {
        return Err(malformed(
            1,
            format!("file larger than {MAX_FILE_BYTES} bytes: not an IANA registry"),
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut table = String::with_capacity(bytes.len());
    let mut rows = 0usize;
    let mut snapshot = String::new();
    let mut first = true;
    loop {
        let more = reader.read_byte_record(&mut record).map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            malformed(line, format!("unreadable CSV: {e}"))
        })?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, csv::Position::line);
        let fields = check_fields(&record).map_err(|reason| malformed(line, reason))?;
        if first {
            first = false;
            check_header(&fields).map_err(|reason| malformed(line, reason))?;
            continue;
        }
        check_row(&fields).map_err(|reason| malformed(line, reason))?;
        for date in [fields[6], fields[7]] {
            if date > snapshot.as_str() {
                snapshot = date.to_string();
            }
        }
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                table.push('\t');
            }
            table.push_str(&escape(field));
        }
        table.push('\n');
        rows += 1;
    }
    if rows == 0 {
        return Err(malformed(1, "a header but no rows".to_string()));
    }
    if snapshot.is_empty() {
        snapshot = "unknown".to_string();
    }
    let mut out = String::with_capacity(table.len() + 64);
    let _ = write!(out, "{MAGIC}\n#snapshot {snapshot}\n#rows {rows}\n");
    out.push_str(&table);
    Ok(Imported {
        table: out,
        rows,
        snapshot,
    })
}

/// Field count, size and encoding of one record.
fn check_fields(record: &csv::ByteRecord) -> Result<Vec<&str>, String> {
    if record.len() != COLUMNS {
        let hint = if record.iter().any(|f| f.contains(&b'\n')) {
            " (an unterminated quoted field?)"
        } else {
            ""
        };
        return Err(format!(
            "expected {COLUMNS} columns, found {}{hint}",
            record.len()
        ));
    }
    record
        .iter()
        .enumerate()
        .map(|(i, field)| {
            if field.len() > MAX_FIELD_BYTES {
                return Err(format!(
                    "column '{}' is longer than {MAX_FIELD_BYTES} bytes ({} bytes)",
                    HEADER[i],
                    field.len()
                ));
            }
            std::str::from_utf8(field).map_err(|e| {
                format!(
                    "column '{}' is not valid UTF-8 (byte {})",
                    HEADER[i],
                    e.valid_up_to()
                )
            })
        })
        .collect()
}

fn check_header(fields: &[&str]) -> Result<(), String> {
    for (i, (got, want)) in fields.iter().zip(HEADER).enumerate() {
        if got.trim() != want {
            return Err(format!(
                "column {} of the header is '{}', expected '{want}': not IANA's CSV",
                i + 1,
                shown(got.trim())
            ));
        }
    }
    Ok(())
}

fn check_row(fields: &[&str]) -> Result<(), String> {
    let name = fields[0];
    if name.contains(['\t', '\n', '\r']) {
        return Err(format!(
            "service name '{}' contains white space",
            name.trim()
        ));
    }
    let ports = parse_port_field(fields[1].trim())?;
    parse_protocol_field(fields[2].trim())?;
    if fields[1] != fields[1].trim() || fields[2] != fields[2].trim() {
        return Err("white space around the port or protocol".to_string());
    }
    if name.is_empty() && ports.is_none() {
        return Err("row has neither a service name nor a port".to_string());
    }
    for (i, date) in [(6, fields[6]), (7, fields[7])] {
        if !is_iana_date(date) {
            return Err(format!(
                "column '{}' is '{}', expected YYYY, YYYY-MM or YYYY-MM-DD",
                HEADER[i],
                shown(date)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_errors_are_one_short_line() {
        assert_eq!(shown("80x"), "80x");
        assert_eq!(shown("a\nb\u{1b}"), "a\\nb\\u{1b}");
        let long = "x".repeat(100);
        assert_eq!(shown(&long), format!("{}...", "x".repeat(40)));
        let header = "Service Name,Port Number\nssh,22,tcp\n";
        let err = import_csv(format!("\"{header}\",b\n").as_bytes(), "f").expect_err("refused");
        assert!(!err.to_string().contains('\n'), "{err}");
    }

    #[test]
    fn dates() {
        for good in ["", "1992", "1992-07", "2026-02-13"] {
            assert!(is_iana_date(good), "{good}");
        }
        for bad in [
            "92",
            "2026/02/13",
            "2026-2-13",
            "yesterday",
            "2026-02-13T00",
        ] {
            assert!(!is_iana_date(bad), "{bad}");
        }
    }
}
