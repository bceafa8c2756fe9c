//! Programs that may hand this network namespace's connections to any of its sockets: the
//! `sk_lookup` BPF programs attached to it (collect/bpf/sk_lookup.rs). Where one is, the
//! scope of a socket's bind address is not who reaches it, and a port no socket is bound to
//! may still be served: what whoport says of both rests on the bind addresses alone, and
//! says so.
//!
//! Only what the kernel said is told: where it refuses the question (whoport without
//! CAP_NET_ADMIN, a kernel older than Linux 5.9), nothing is said, as for a namespace with
//! none (such a program is attached only with CAP_BPF and CAP_NET_ADMIN, and an unprivileged
//! run would otherwise carry a note on every run). The question is asked whatever
//! `WHOPORT_NO_BPF` says: it loads and attaches nothing, and without its answer the scopes
//! would be stated as facts.

/// One program attached: its id, and its name where the kernel gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub id: u32,
    pub name: Result<String, String>,
}

/// The programs the kernel said are attached to whoport's network namespace, and how many
/// there are (more than those listed when the kernel has more than whoport asks for).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Steering {
    pub count: u32,
    pub programs: Vec<Program>,
}

impl Steering {
    /// "an sk_lookup BPF program (id 42, w9c_steer)" or "2 sk_lookup BPF programs (…)".
    pub fn words(&self) -> String {
        let named: Vec<String> = self
            .programs
            .iter()
            .map(|p| match &p.name {
                Ok(n) if !n.is_empty() => {
                    format!(
                        "id {}, named {}",
                        p.id,
                        crate::render::sanitize::sanitize(n)
                    )
                }
                Ok(_) => format!("id {}, no name", p.id),
                Err(why) => format!("id {}, name not read: {why}", p.id),
            })
            .collect();
        let more = match (self.count as usize).saturating_sub(named.len()) {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        let which = format!("{}{more}", named.join("; "));
        if self.count == 1 {
            format!("an sk_lookup BPF program ({which})")
        } else {
            format!("{} sk_lookup BPF programs ({which})", self.count)
        }
    }
}

/// What [`steering`] read for this listing, until [`read_again`].
static STEERING: std::sync::Mutex<Option<Option<Steering>>> = std::sync::Mutex::new(None);

/// The sk_lookup programs attached to whoport's network namespace, as read for this listing
/// (on first use): `None` where there is none, or the kernel did not say.
pub fn steering() -> Option<Steering> {
    let mut kept = STEERING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    kept.get_or_insert_with(read).clone()
}

/// Forgets what [`steering`] read: a new listing asks again.
pub fn read_again() {
    *STEERING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
}

#[cfg(target_os = "linux")]
fn read() -> Option<Steering> {
    use super::bpf::sk_lookup;
    let attached = sk_lookup::attached().ok()?;
    (attached.count > 0).then(|| Steering {
        count: attached.count,
        programs: attached
            .ids
            .iter()
            .map(|&id| Program {
                id,
                name: sk_lookup::name(id).map_err(|e| super::bpf::errno_text(&e)),
            })
            .collect(),
    })
}

#[cfg(not(target_os = "linux"))]
fn read() -> Option<Steering> {
    None
}

/// The note of a listing where programs are attached.
pub fn note() -> Option<String> {
    steering().map(|s| {
        format!(
            "{} {} attached to this network namespace: connections and datagrams to any of its \
             addresses and ports may be handed to any of its sockets, whatever that socket's \
             bind address; the scopes shown are those of the bind addresses (--exposed and \
             the audit's exposure findings take them so), and a port no socket is bound to \
             may still be served",
            s.words(),
            if s.count == 1 { "is" } else { "are" }
        )
    })
}

/// Instead of "Nothing is listening on WHAT in this network namespace.": the same where no
/// program may hand its connections to a socket bound elsewhere.
pub fn nothing_listening(what: &str) -> String {
    match steering() {
        None => format!("Nothing is listening on {what} in this network namespace."),
        Some(s) => format!(
            "No socket is bound to {what} in this network namespace, but {} attached to it \
             may hand what arrives there to a socket bound elsewhere.",
            s.words()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::{Program, Steering};

    #[test]
    fn programs_are_named_by_id_and_name_escaped_and_the_kernels_count_kept() {
        let one = Steering {
            count: 1,
            programs: vec![Program {
                id: 7,
                name: Ok("st\u{1b}[31m".to_string()),
            }],
        };
        assert_eq!(
            one.words(),
            "an sk_lookup BPF program (id 7, named st\\e[31m)"
        );
        let more = Steering {
            count: 20,
            programs: vec![
                Program {
                    id: 1,
                    name: Ok(String::new()),
                },
                Program {
                    id: 2,
                    name: Err("EPERM: Operation not permitted".to_string()),
                },
            ],
        };
        assert_eq!(
            more.words(),
            "20 sk_lookup BPF programs (id 1, no name; id 2, name not read: EPERM: Operation \
             not permitted and 18 more)"
        );
    }
}
