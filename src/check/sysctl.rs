//! The kernel's first unprivileged port: binding below it needs root or
//! CAP_NET_BIND_SERVICE (a Linux sysctl; 1024 elsewhere).

use crate::port::Unread;

/// `net.ipv4.ip_unprivileged_port_start`: ports below it need root or CAP_NET_BIND_SERVICE;
/// why it is not known where it could not be read (a `/proc` without `/proc/sys`): no default
/// stands in for this machine's setting.
pub fn unprivileged_port_start() -> Result<u16, Unread> {
    #[cfg(target_os = "linux")]
    {
        crate::port::read_setting("/proc/sys/net/ipv4/ip_unprivileged_port_start", |t| {
            t.trim().parse().ok()
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        Ok(1024)
    }
}
