//! Output of `free`: one port per line (so `PORT=$(whoport free)` works), or JSON with the
//! reasons each port qualifies and what the other ports of the range failed.

use std::io::{self, Write};

use serde::Serialize;

use crate::free::{Excluded, Found, LOWEST};
use crate::port::{PortRange, Protocol};
use crate::registry::Knowledge;
use crate::render::json::{self, EphemeralDoc, SCHEMA_VERSION};

/// The plain form.
pub fn text(w: &mut dyn Write, found: &Found) -> io::Result<()> {
    for port in &found.ports {
        writeln!(w, "{port}")?;
    }
    Ok(())
}

#[derive(Debug, Serialize)]
struct PortDoc {
    port: u16,
    reasons: Vec<String>,
}

#[derive(Debug, Serialize)]
struct FreeDoc {
    schema_version: u32,
    ports: Vec<PortDoc>,
    protocols: Vec<Protocol>,
    range: PortRange,
    candidates: usize,
    excluded: Excluded,
    ephemeral_range: EphemeralDoc,
    reserved_ports: String,
    registry_snapshot: String,
}

/// Why every printed port qualifies: the same sentences for each, naming the facts used.
fn reasons(found: &Found, k: &Knowledge) -> Vec<String> {
    let protocols: Vec<&str> = found.protocols.iter().map(|p| p.as_str()).collect();
    let e = k.ephemeral;
    vec![
        format!("above {}: not a system port", LOWEST - 1),
        format!(
            "outside the ephemeral range {}-{} ({})",
            e.start, e.end, e.source
        ),
        if found.reserved.is_empty() {
            "net.ipv4.ip_local_reserved_ports is empty".to_string()
        } else {
            format!(
                "not in net.ipv4.ip_local_reserved_ports ({})",
                found.reserved
            )
        },
        format!(
            "neither assigned nor reserved in the IANA registry (snapshot {}) for any protocol",
            k.iana.snapshot()
        ),
        "no known unofficial use".to_string(),
        "no entry in the local services database".to_string(),
        format!(
            "test binds on 0.0.0.0, [::] dual-stack and [::] v6-only succeeded for {}, with \
             and without SO_REUSEADDR",
            protocols.join(" and ")
        ),
    ]
}

/// The JSON form (docs/json.md).
pub fn json(w: &mut dyn Write, pretty: bool, found: &Found, k: &Knowledge) -> io::Result<()> {
    let why = reasons(found, k);
    let doc = FreeDoc {
        schema_version: SCHEMA_VERSION,
        ports: found
            .ports
            .iter()
            .map(|&port| PortDoc {
                port,
                reasons: why.clone(),
            })
            .collect(),
        protocols: found.protocols.clone(),
        range: found.range,
        candidates: found.candidates,
        excluded: found.excluded,
        ephemeral_range: k.ephemeral.into(),
        reserved_ports: found.reserved.clone(),
        registry_snapshot: k.iana.snapshot().to_string(),
    };
    json::write(w, pretty, &doc)
}
