//! The kernel's port settings that decide whether a server may bind: the first unprivileged
//! port and the reserved ports (Linux sysctls; fixed defaults elsewhere).

use crate::port::PortRange;

/// `net.ipv4.ip_unprivileged_port_start`: ports below it need root or CAP_NET_BIND_SERVICE.
pub fn unprivileged_port_start() -> u16 {
    #[cfg(target_os = "linux")]
    {
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(1024)
    }
    #[cfg(not(target_os = "linux"))]
    {
        1024
    }
}

/// The text of `net.ipv4.ip_local_reserved_ports` (ports outgoing connections never take).
pub fn reserved_ports_text() -> String {
    #[cfg(target_os = "linux")]
    {
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_reserved_ports")
            .map(|t| t.trim().to_string())
            .unwrap_or_default()
    }
    #[cfg(not(target_os = "linux"))]
    {
        String::new()
    }
}

/// Parses `8080,9000-9100`; anything not understood is left out.
pub fn parse_reserved(text: &str) -> Vec<PortRange> {
    text.split(',')
        .filter_map(|part| {
            let part = part.trim();
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (start, end) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            (start <= end).then_some(PortRange { start, end })
        })
        .collect()
}

/// The reserved list with `port` added, as `sysctl` takes it (the setting replaces the
/// whole list, so the ports already there must be kept).
pub fn reserved_with(current: &str, port: u16) -> String {
    let current = current.trim();
    if current.is_empty() {
        port.to_string()
    } else {
        format!("{current},{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ports_parse() {
        let r = |start, end| PortRange { start, end };
        assert_eq!(
            parse_reserved("8080,9000-9100, 22 ,bad,5-1"),
            vec![r(8080, 8080), r(9000, 9100), r(22, 22)]
        );
        assert!(parse_reserved("").is_empty());
        assert_eq!(reserved_with("", 7000), "7000");
        assert_eq!(
            reserved_with("8080,9000-9100\n", 7000),
            "8080,9000-9100,7000"
        );
    }
}
