//! Indexes the embedded IANA table (src/registry/iana.tsv) at compile time, with the same
//! code the library uses at run time, so that loading it costs nothing. Reads only that file.

use std::fmt::Write as _;
use std::path::PathBuf;

#[allow(dead_code)]
#[path = "src/registry/index.rs"]
mod index;

fn main() {
    const TABLE: &str = "src/registry/iana.tsv";
    println!("cargo:rerun-if-changed={TABLE}");
    println!("cargo:rerun-if-changed=src/registry/index.rs");
    let text = std::fs::read_to_string(TABLE).unwrap_or_else(|e| panic!("{TABLE}: {e}"));
    let indexed = index::index(&text)
        .unwrap_or_else(|(line, reason)| panic!("{TABLE}, line {line}: {reason}"));
    let mut out = String::with_capacity(indexed.rows.len() * 80);
    let _ = writeln!(
        out,
        "pub const EMBEDDED_SNAPSHOT: &str = {:?};",
        indexed.snapshot
    );
    let _ = writeln!(
        out,
        "pub static EMBEDDED_ROWS: [RowIndex; {}] = [",
        indexed.rows.len()
    );
    for r in &indexed.rows {
        let _ = writeln!(
            out,
            "RowIndex{{has_port:{},first:{},last:{},protocol:{},start:{},end:{}}},",
            r.has_port, r.first, r.last, r.protocol, r.start, r.end
        );
    }
    out.push_str("];\n");
    let (offsets, rows) = index::by_bucket(&indexed.rows);
    for (name, values) in [
        ("EMBEDDED_BUCKET_OFFSETS", &offsets),
        ("EMBEDDED_BUCKET_ROWS", &rows),
    ] {
        let _ = write!(out, "pub static {name}: [u32; {}] = [", values.len());
        for v in values {
            let _ = write!(out, "{v},");
        }
        out.push_str("];\n");
    }
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("iana_index.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("{}: {e}", dest.display()));
}
