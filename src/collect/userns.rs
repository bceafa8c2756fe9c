//! Uids as the machine numbers them. Inside a user namespace the kernel numbers every uid
//! (in `/proc/PID/status`, in sock_diag) as that namespace maps it: nobody's own process,
//! seen from nobody's `unshare -U -r`, is uid 0 there. [`UidMap::outside`] gives the uid in
//! the parent namespace (the machine's, unless namespaces are nested), from
//! `/proc/self/uid_map`.

/// `/proc/self/uid_map`: ranges `inside outside count`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidMap {
    ranges: Vec<(u64, u64, u64)>,
}

impl UidMap {
    /// This process's map, `Some(None)` when it is the identity (the machine's own namespace:
    /// `0 0 4294967295`); `None` when it cannot be read (never across a mount: a map mounted
    /// over whoport's own says what its maker chose), and whoport may then run in a user
    /// namespace whose uids are not the machine's.
    /// The machine's own user namespace maps every uid to itself: where whoport's own
    /// `ns/user` link (read never across a mount either) names it, the map is the identity.
    pub fn of_self() -> Option<Option<UidMap>> {
        /// include/linux/proc_ns.h: the initial user namespace's inode.
        const INITIAL: &[u8] = b"user:[4026531837]";
        let Some(text) = super::proc_dir::read_whole("/proc/self/uid_map") else {
            let own = super::proc_dir::read_link("/proc/self/ns/user").ok()?;
            return (own == INITIAL).then_some(None);
        };
        Some(UidMap::parse(&String::from_utf8(text).ok()?))
    }

    /// `None` for the identity map or text that is no map.
    pub fn parse(text: &str) -> Option<UidMap> {
        let mut ranges = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let f: Vec<u64> = line
                .split_ascii_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            match f[..] {
                [inside, outside, count] => ranges.push((inside, outside, count)),
                _ => return None,
            }
        }
        let identity = ranges.iter().all(|&(i, o, _)| i == o);
        (!ranges.is_empty() && !identity).then_some(UidMap { ranges })
    }

    /// The parent namespace's number for `uid` (as numbered here), if the map has one.
    pub fn outside(&self, uid: u32) -> Option<u32> {
        let uid = u64::from(uid);
        self.ranges
            .iter()
            .find(|&&(inside, _, count)| uid >= inside && uid - inside < count)
            .and_then(|&(inside, outside, _)| u32::try_from(outside + (uid - inside)).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_translated_to_the_parent_namespace() {
        assert_eq!(UidMap::parse("         0          0 4294967295\n"), None);
        assert_eq!(UidMap::parse("garbage"), None);
        let nobody = UidMap::parse("         0      65534          1\n").expect("a map");
        assert_eq!(nobody.outside(0), Some(65534));
        assert_eq!(nobody.outside(1), None);
        let two = UidMap::parse("0 1000 1\n1 100000 65536\n").expect("a map");
        assert_eq!(two.outside(0), Some(1000));
        assert_eq!(two.outside(5), Some(100004));
        assert_eq!(two.outside(70000), None);
    }
}
