//! Indexing of the compact registry table (std only). Shared with `build.rs`, which indexes
//! the embedded table at compile time, so loading the embedded registry costs nothing at run
//! time; an installed or given table is indexed by the same code when it is loaded.

/// First line of every compact table.
pub const MAGIC: &str = "#whoport-iana 1";

/// Number of columns in IANA's CSV and in the compact table.
pub const COLUMNS: usize = 12;

/// Where one row's line is in the text, with its port range and protocol already parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowIndex {
    pub has_port: bool,
    pub first: u16,
    pub last: u16,
    /// 0 for none, then 1 tcp, 2 udp, 3 sctp, 4 dccp.
    pub protocol: u8,
    pub start: u32,
    pub end: u32,
}

/// A whole table, indexed.
#[derive(Debug)]
pub struct Indexed {
    pub snapshot: String,
    pub rows: Vec<RowIndex>,
}

/// The protocol names, in code order (code = position + 1).
pub const PROTOCOLS: [&str; 4] = ["tcp", "udp", "sctp", "dccp"];

/// Parses a compact table's header and every line. Errors carry the 1-based line number.
pub fn index(text: &str) -> Result<Indexed, (u64, String)> {
    let mut lines = text.split('\n');
    let mut next = || lines.next().unwrap_or("").trim_end_matches('\r');
    if next() != MAGIC {
        return Err((
            1,
            format!("not a whoport registry table (expected '{MAGIC}')"),
        ));
    }
    let snapshot = next()
        .strip_prefix("#snapshot ")
        .ok_or((2, "missing '#snapshot DATE' line".to_string()))?
        .to_string();
    let declared: usize = next()
        .strip_prefix("#rows ")
        .and_then(|n| n.parse().ok())
        .ok_or((3, "missing '#rows N' line".to_string()))?;
    let mut rows = Vec::with_capacity(declared);
    let mut start = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let line_start = start;
        start += line.len();
        if i < 3 {
            continue;
        }
        let body = line.strip_suffix('\n').unwrap_or(line);
        let line_no = i as u64 + 1;
        let fields: Vec<&str> = body.split('\t').collect();
        if fields.len() != COLUMNS {
            return Err((
                line_no,
                format!(
                    "expected {COLUMNS} tab-separated fields, found {}",
                    fields.len()
                ),
            ));
        }
        let ports = parse_port_field(fields[1]).map_err(|r| (line_no, r))?;
        let protocol = protocol_code(fields[2]).map_err(|r| (line_no, r))?;
        let (first, last) = ports.unwrap_or((0, 0));
        rows.push(RowIndex {
            has_port: ports.is_some(),
            first,
            last,
            protocol,
            start: line_start as u32,
            end: (line_start + body.len()) as u32,
        });
    }
    if rows.len() != declared {
        return Err((
            3,
            format!(
                "declares {declared} rows but has {} (truncated?)",
                rows.len()
            ),
        ));
    }
    Ok(Indexed { snapshot, rows })
}

/// Rows per port, in compressed form: the rows covering port `p` are
/// `rows[offsets[p]..offsets[p + 1]]`, in table order. Returns `(offsets, rows)`;
/// IANA's rows cover about 56,000 port slots in all.
pub fn by_port(table: &[RowIndex]) -> (Vec<u32>, Vec<u32>) {
    let mut offsets = vec![0u32; 65537];
    for row in table.iter().filter(|r| r.has_port) {
        for port in row.first..=row.last {
            offsets[usize::from(port) + 1] += 1;
        }
    }
    for p in 1..offsets.len() {
        offsets[p] += offsets[p - 1];
    }
    let mut next: Vec<u32> = offsets[..65536].to_vec();
    let mut rows = vec![0u32; offsets[65536] as usize];
    for (i, row) in table.iter().enumerate().filter(|(_, r)| r.has_port) {
        for port in row.first..=row.last {
            let slot = &mut next[usize::from(port)];
            rows[*slot as usize] = i as u32;
            *slot += 1;
        }
    }
    (offsets, rows)
}

/// A value for an error message: one line (control characters escaped), at most 40
/// characters.
pub fn shown(text: &str) -> String {
    let escaped: String = text.escape_debug().collect();
    match escaped.char_indices().nth(40) {
        Some((cut, _)) => format!("{}...", &escaped[..cut]),
        None => escaped,
    }
}

/// Parses IANA's port column: empty, `80`, or `6000-6063`.
pub fn parse_port_field(text: &str) -> Result<Option<(u16, u16)>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || format!("bad port '{}'", shown(text));
    let number = |s: &str| -> Result<u16, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<u16>().map_err(|_| bad())
    };
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (number(a)?, number(b)?),
        None => {
            let n = number(text)?;
            (n, n)
        }
    };
    if first > last {
        return Err(format!("reversed port range '{}'", shown(text)));
    }
    Ok(Some((first, last)))
}

/// Parses IANA's protocol column into its code: empty is 0.
pub fn protocol_code(text: &str) -> Result<u8, String> {
    if text.is_empty() {
        return Ok(0);
    }
    PROTOCOLS
        .iter()
        .position(|p| p.eq_ignore_ascii_case(text))
        .map(|i| i as u8 + 1)
        .ok_or_else(|| format!("unknown transport protocol '{}'", shown(text)))
}
