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

/// Most rows a table may have (IANA's registry has about 14,500).
pub const MAX_ROWS: u64 = 200_000;

/// Most port slots (for each row, the number of ports it covers) a table may cover in all.
/// IANA's registry covers about 56,000; this bounds what a query over every port can return.
pub const MAX_PORT_SLOTS: u64 = 16 * 65536;

/// Longest field, in bytes once unescaped, in IANA's CSV and in a compact table (the longest
/// real one is a few hundred bytes): the importer and the loader refuse longer ones, so no
/// later step (search, the card's table) pays for a megabyte name.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// The length of a compact table's field once its escapes (`\\`, `\t`, `\n`, `\r`) are read.
fn unescaped_len(field: &str) -> usize {
    let b = field.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < b.len() {
        i += if b[i] == b'\\' { 2 } else { 1 };
        n += 1;
    }
    n
}

/// Ports per bucket of the by-port index: a row is listed in every bucket its range touches,
/// so a range costs one entry per 64 ports, never one per port.
pub const BUCKET_PORTS: usize = 64;

/// Number of buckets of the by-port index.
pub const BUCKETS: usize = 65536 / BUCKET_PORTS;

/// Parses a compact table's header and every line. Errors carry the 1-based line number.
/// Nothing is allocated from what the header claims, and every count is checked, so a
/// hostile table is refused with a reason instead of exhausting memory.
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
        .ok_or((2, "missing '#snapshot DATE' line".to_string()))?;
    if snapshot != "unknown" && !is_iana_date(snapshot) {
        return Err((
            2,
            format!(
                "snapshot '{}' is not a date (YYYY, YYYY-MM or YYYY-MM-DD)",
                shown(snapshot)
            ),
        ));
    }
    let declared: u64 = next()
        .strip_prefix("#rows ")
        .and_then(|n| n.parse().ok())
        .ok_or((3, "missing '#rows N' line".to_string()))?;
    if declared > MAX_ROWS {
        return Err((
            3,
            format!("declares {declared} rows, more than the limit of {MAX_ROWS}"),
        ));
    }
    let mut rows = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
    let mut slots = 0u64;
    let mut start = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let line_start = start;
        start += line.len();
        if i < 3 {
            continue;
        }
        let body = line.strip_suffix('\n').unwrap_or(line);
        let line_no = i as u64 + 1;
        if rows.len() as u64 >= declared {
            return Err((
                line_no,
                format!("more rows than the {declared} the header declares"),
            ));
        }
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
        if let Some((i, f)) = fields
            .iter()
            .enumerate()
            .find(|(_, f)| unescaped_len(f) > MAX_FIELD_BYTES)
        {
            return Err((
                line_no,
                format!(
                    "field {} is longer than {MAX_FIELD_BYTES} bytes ({} bytes)",
                    i + 1,
                    unescaped_len(f)
                ),
            ));
        }
        let ports = parse_port_field(fields[1]).map_err(|r| (line_no, r))?;
        let protocol = protocol_code(fields[2]).map_err(|r| (line_no, r))?;
        let (first, last) = ports.unwrap_or((0, 0));
        if ports.is_some() {
            slots += u64::from(last - first) + 1;
            if slots > MAX_PORT_SLOTS {
                return Err((
                    line_no,
                    format!(
                        "the rows so far cover more than {MAX_PORT_SLOTS} port slots \
                         (IANA's registry covers about 56,000): not a registry"
                    ),
                ));
            }
        }
        let offset = |n: usize| {
            u32::try_from(n).map_err(|_| (line_no, "table larger than 4 GiB".to_string()))
        };
        rows.push(RowIndex {
            has_port: ports.is_some(),
            first,
            last,
            protocol,
            start: offset(line_start)?,
            end: offset(line_start + body.len())?,
        });
    }
    if rows.len() as u64 != declared {
        return Err((
            3,
            format!(
                "declares {declared} rows but has {} (truncated?)",
                rows.len()
            ),
        ));
    }
    Ok(Indexed {
        snapshot: snapshot.to_string(),
        rows,
    })
}

/// Rows per bucket of [`BUCKET_PORTS`] ports, in compressed form: the rows whose range
/// touches bucket `b` are `rows[offsets[b]..offsets[b + 1]]`, in table order (a lookup keeps
/// those that contain its port). Returns `(offsets, rows)`. A range is stored once per
/// bucket it touches, so the index has at most `rows + slots / 64 + rows` entries.
pub fn by_bucket(table: &[RowIndex]) -> (Vec<u32>, Vec<u32>) {
    let buckets =
        |r: &RowIndex| usize::from(r.first) / BUCKET_PORTS..=usize::from(r.last) / BUCKET_PORTS;
    let mut offsets = vec![0u32; BUCKETS + 1];
    for row in table.iter().filter(|r| r.has_port) {
        for b in buckets(row) {
            offsets[b + 1] += 1;
        }
    }
    for b in 1..offsets.len() {
        offsets[b] += offsets[b - 1];
    }
    let mut next: Vec<u32> = offsets[..BUCKETS].to_vec();
    let mut rows = vec![0u32; offsets[BUCKETS] as usize];
    for (i, row) in table.iter().enumerate().filter(|(_, r)| r.has_port) {
        for b in buckets(row) {
            let slot = &mut next[b];
            rows[*slot as usize] = i as u32;
            *slot += 1;
        }
    }
    (offsets, rows)
}

/// IANA dates: empty, `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
pub fn is_iana_date(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    match b.len() {
        0 => true,
        4 => digits(0..4),
        7 => digits(0..4) && b[4] == b'-' && digits(5..7),
        10 => digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10),
        _ => false,
    }
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
