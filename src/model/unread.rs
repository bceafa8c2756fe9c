//! Processes whose descriptors were not read, grouped by the cause established for each: a
//! reason names each group's PIDs beside its own cause, never one cause over every PID.

use super::unreadable_pid_list;

/// Some processes whose descriptors were not read, all for the same established cause.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnreadCause {
    /// Some of their PIDs (at most as many as whoport names).
    pub pids: Vec<u32>,
    /// How many.
    pub count: usize,
    /// Why they were not read.
    pub why: String,
}

impl UnreadCause {
    pub fn new(pids: Vec<u32>, count: usize, why: impl Into<String>) -> UnreadCause {
        UnreadCause {
            pids,
            count,
            why: why.into(),
        }
    }

    /// "PIDs 1, 2 and 81 more".
    pub fn named(&self) -> String {
        unreadable_pid_list(&self.pids, self.count)
    }
}

/// How many processes the groups hold together.
pub fn total(causes: &[UnreadCause]) -> usize {
    causes.iter().map(|c| c.count).sum()
}

/// The PIDs the groups name, sorted.
pub fn all_pids(causes: &[UnreadCause]) -> Vec<u32> {
    let mut pids: Vec<u32> = causes.iter().flat_map(|c| c.pids.iter().copied()).collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Whether the cause of some group answers `test`.
pub fn any_why(causes: &[UnreadCause], test: impl Fn(&str) -> bool) -> bool {
    causes.iter().any(|c| test(&c.why))
}

/// Each group's PIDs with its cause: "PID 1: refused …; PIDs 7, 9: …".
pub fn grouped(causes: &[UnreadCause]) -> String {
    causes
        .iter()
        .map(|c| format!("{}: {}", c.named(), c.why))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Who could not be read and why: with one cause " (why): PIDs 1, 2", as before; with more,
/// each group's PIDs beside its own cause: ": PID 1: refused …; PID 7: …".
pub fn why_and_who(causes: &[UnreadCause]) -> String {
    match causes {
        [one] => format!(" ({}): {}", one.why, one.named()),
        _ => format!(": {}", grouped(causes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_group_is_named_beside_its_own_cause() {
        let causes = [
            UnreadCause::new(vec![1, 2], 83, "refused"),
            UnreadCause::new(vec![4242], 1, "36 of its threads' tables were not read"),
        ];
        assert_eq!(total(&causes), 84);
        assert_eq!(all_pids(&causes), [1, 2, 4242]);
        assert_eq!(
            why_and_who(&causes),
            ": PIDs 1, 2 and 81 more: refused; PID 4242: 36 of its threads' tables were not read"
        );
        assert_eq!(
            why_and_who(&causes[..1]),
            " (refused): PIDs 1, 2 and 81 more"
        );
    }
}
