//! The kernel's first unprivileged port: binding below it needs root or
//! CAP_NET_BIND_SERVICE (a Linux sysctl; 1024 elsewhere).

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
