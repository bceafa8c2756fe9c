use super::*;

#[test]
fn empty_kernel_and_unreadable_processes_get_placeholders_never_empty_cells() {
    use crate::model::{Listener, Process, Snapshot, Socket};
    let bare = Process {
        pid: 7,
        name: crate::model::full_name("", None, None),
        ..Process::default()
    };
    assert_eq!(bare.name, "[unknown]");
    assert_eq!(exe_text(&bare), "-");
    assert_eq!(command_text(&bare), "-");
    assert_eq!(unit_text(&bare), "-");
    let listener = |port, owners: Vec<u32>| Listener {
        socket: Socket {
            protocol: Protocol::Tcp,
            address: "127.0.0.1".parse().expect("ip"),
            port,
            state: Some("listen"),
            remote: None,
            inode: 1,
            uid: None,
            ifindex: 0,
            device_reported: true,
            v6only: None,
        },
        scope: Scope::Loopback,
        device: None,
        user: None,
        hidden_reason: owners
            .is_empty()
            .then(|| Box::new(Hidden::NotVisibleToRoot(Default::default()))),
        held_through: None,
        blocked_calls: Vec::new(),
        blocked_calls_cut: false,
        blocked_calls_unread: None,
        owners,
        v6only: None,
        known_use: None,
    };
    let snap = Snapshot {
        listeners: vec![listener(8011, vec![7]), listener(8012, vec![])],
        processes: [(7, bare)].into_iter().collect(),
        ..Snapshot::default()
    };
    let mut warnings = Vec::new();
    let mut k = Knowledge::load(None, &mut warnings).expect("loads");
    k.iana = crate::registry::iana::IanaTable::embedded();
    let out = Output {
        json: false,
        pretty_json: false,
        color: false,
        width: None,
    };
    let mut columns = Column::DEFAULT.to_vec();
    columns.extend(Column::WIDE);
    let mut buf = Vec::new();
    listing(&mut buf, &out, &snap, &k, &columns).expect("renders");
    let text = String::from_utf8(buf).expect("utf8");
    let rows: Vec<&str> = text.lines().filter(|l| l.contains("801")).collect();
    assert_eq!(rows.len(), 2, "{text}");
    for row in rows {
        let cells: Vec<&str> = row.trim_matches('│').split('┆').map(str::trim).collect();
        assert_eq!(cells.len(), columns.len(), "{row}");
        assert!(
            cells.iter().all(|c| !c.is_empty()),
            "an empty cell in {row}"
        );
    }
}

/// The listing as comfy-table drew it when it held every row: the reference the
/// streamed table must match byte for byte.
fn reference(out: &Output, snap: &Snapshot, k: &Knowledge, columns: &[Column]) -> String {
    use crate::render::table::{new_table, styled};
    use comfy_table::{Attribute, Cell, Color as C};
    let to_cell = |t: Text| {
        let fg = t.fg.map(|c| match c {
            Color::Red => C::Red,
            Color::Yellow => C::Yellow,
            Color::Green => C::Green,
            _ => C::DarkGrey,
        });
        styled(out, &t.text, t.bold.then_some(Attribute::Bold), fg)
    };
    let headers: Vec<&str> = columns.iter().map(|c| c.header()).collect();
    let mut t = new_table(out, &headers);
    let now = now_secs();
    let mut rows: Vec<Vec<Cell>> = snap
        .listeners
        .iter()
        .map(|l| {
            columns
                .iter()
                .map(|&c| to_cell(bounded(cell(l, snap, k, c, now), c)))
                .collect()
        })
        .collect();
    if let Some(total) = out.width.map(usize::from) {
        let natural: Vec<usize> = (0..columns.len())
            .map(|i| {
                rows.iter()
                    .map(|r| fit::widest(&r[i].content()))
                    .chain([fit::widest(headers[i])])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let shrinkable: Vec<bool> = columns.iter().map(|c| c.shrinkable()).collect();
        let n = columns.len();
        let boxed_floor: Vec<usize> = headers.iter().map(|h| fit::widest(h).max(8)).collect();
        let mut budgets = fit::budgets(&natural, &shrinkable, &boxed_floor, 3 * n + 1, total);
        if fit::used(&natural, &budgets, 3 * n + 1) > total {
            t.load_preset(comfy_table::presets::NOTHING);
            for c in t.column_iter_mut() {
                c.set_padding((0, 1));
            }
            if let Some(last) = t.column_mut(n.saturating_sub(1)) {
                last.set_padding((0, 0));
            }
            budgets = fit::budgets(&natural, &shrinkable, &vec![4; n], n - 1, total);
        }
        t.set_header(headers.iter().zip(&budgets).map(|(h, max)| {
            let h = max.map_or_else(|| h.to_string(), |m| fit::lines(h, m));
            styled(out, &h, Some(Attribute::Bold), None)
        }));
        for row in &mut rows {
            for (i, max) in budgets.iter().enumerate() {
                if let Some(max) = *max {
                    row[i] = Cell::new(fit::lines(&row[i].content(), max));
                }
            }
        }
        t.set_content_arrangement(comfy_table::ContentArrangement::Disabled);
    }
    for row in rows {
        t.add_row(row);
    }
    let mut text = format!("{t}\n");
    if columns.contains(&Column::Service) && snap.listeners.iter().any(|l| l.known_use.is_some()) {
        text.push_str(&paint(out, KNOWN_USE_LEGEND, "2"));
        text.push('\n');
    }
    text
}

/// Listeners and processes of every shape a cell can take: wide characters, several
/// owners, hidden owners, command lines longer than CELL_MAX, empty values.
fn varied_snapshot(rng: &mut fastrand::Rng) -> Snapshot {
    use crate::model::{Container, ExeState, Process, Socket};
    let words = [
        "nginx",
        "服务器进程",
        "a-very-long-process-name-that-goes-on",
        "",
        "x",
        "café",
        "py\u{1b}[31mthon",
    ];
    let pick = |rng: &mut fastrand::Rng| words[rng.usize(..words.len())].to_string();
    let mut processes = crate::hash::HashMap::default();
    for pid in 1..=6u32 {
        let mut cmdline: Vec<String> = (0..rng.usize(0..4)).map(|_| pick(rng)).collect();
        if rng.u8(..8) == 0 {
            cmdline.push("z".repeat(1500));
        }
        let p = Process {
            pid: pid * 1111,
            name: pick(rng),
            exe: rng.bool().then(|| format!("/usr/sbin/{}", pick(rng))),
            cmdline,
            uid: rng.bool().then_some(1000),
            user: rng.bool().then(|| pick(rng)),
            start_time: rng
                .bool()
                .then(|| now_secs().saturating_sub(rng.u64(..400_000))),
            unit: rng.bool().then(|| format!("{}.service", pick(rng))),
            container: (rng.u8(..5) == 0).then(|| Container {
                runtime: "docker".to_string(),
                id: "0123456789abcdef0123".to_string(),
                pod: None,
            }),
            exe_state: ExeState {
                deleted: rng.u8(..6) == 0,
                ..ExeState::default()
            },
            ..Process::default()
        };
        processes.insert(p.pid, p);
    }
    let addresses = ["127.0.0.1", "0.0.0.0", "::", "192.0.2.7", "::1"];
    let listeners = (0..rng.usize(1..9))
        .map(|_| {
            let address: std::net::IpAddr =
                addresses[rng.usize(..addresses.len())].parse().expect("ip");
            let owners: Vec<u32> = match rng.u8(..4) {
                0 => vec![],
                1 => vec![1111, 2222, 3333],
                // A PID whose details are missing: an empty cell.
                2 if rng.bool() => vec![9],
                _ => vec![1111 * rng.u32(1..=6)],
            };
            Listener {
                socket: Socket {
                    protocol: if rng.bool() {
                        Protocol::Tcp
                    } else {
                        Protocol::Udp
                    },
                    address,
                    port: [22, 80, 8080, 41600, 65000][rng.usize(..5)],
                    state: Some("listen"),
                    remote: None,
                    inode: 1,
                    uid: rng.bool().then_some(0),
                    ifindex: 0,
                    device_reported: true,
                    v6only: None,
                },
                scope: Scope::of(address),
                device: None,
                user: rng.bool().then(|| pick(rng)),
                hidden_reason: owners
                    .is_empty()
                    .then(|| Box::new(Hidden::NotRoot { hidepid: None })),
                held_through: None,
                blocked_calls: Vec::new(),
                blocked_calls_cut: false,
                blocked_calls_unread: None,
                owners,
                v6only: None,
                known_use: (rng.u8(..4) == 0).then(|| &crate::registry::unofficial::all()[0]),
            }
        })
        .collect();
    Snapshot {
        listeners,
        processes,
        ..Snapshot::default()
    }
}

#[test]
fn the_streamed_table_draws_what_comfy_table_drew() {
    let mut warnings = Vec::new();
    let k = Knowledge::load(None, &mut warnings).expect("loads");
    let mut all = Column::DEFAULT.to_vec();
    all.extend(Column::WIDE);
    let column_sets = [
        Column::DEFAULT.to_vec(),
        all,
        vec![Column::Port, Column::Command],
        vec![Column::Process],
    ];
    let mut rng = fastrand::Rng::with_seed(13);
    for round in 0..60 {
        let snap = varied_snapshot(&mut rng);
        for width in [None, Some(20), Some(44), Some(80), Some(132), Some(250)] {
            for color in [false, true] {
                let out = Output {
                    json: false,
                    pretty_json: false,
                    color,
                    width,
                };
                let columns = &column_sets[round % column_sets.len()];
                let mut buf = Vec::new();
                listing(&mut buf, &out, &snap, &k, columns).expect("renders");
                let got = String::from_utf8(buf).expect("utf8");
                let want = reference(&out, &snap, &k, columns);
                assert_eq!(got, want, "round {round}, width {width:?}, colour {color}");
            }
        }
    }
}

#[test]
fn uptimes() {
    assert_eq!(uptime_text(0), "0s");
    assert_eq!(uptime_text(42), "42s");
    assert_eq!(uptime_text(312), "5m12s");
    assert_eq!(uptime_text(7500), "2h05m");
    assert_eq!(uptime_text(3 * 86400 + 4 * 3600 + 59), "3d04h");
}

#[test]
fn compact_json_repeats_each_owner_written_once_with_the_same_bytes() {
    let mut warnings = Vec::new();
    let k = Knowledge::load(None, &mut warnings).expect("loads");
    let mut rng = fastrand::Rng::with_seed(29);
    let mut owners_written = 0;
    for _ in 0..40 {
        let snap = varied_snapshot(&mut rng);
        let docs = || crate::render::json::ListenerDocs::new(&snap, &k);
        let compact = serde_json::to_string(&docs().for_output(false)).expect("compact");
        owners_written += compact.matches("\"pid\":").count();
        assert_eq!(
            compact,
            serde_json::to_string(&docs()).expect("compact, each owner in place")
        );
        assert_eq!(
            serde_json::to_string_pretty(&docs().for_output(true)).expect("pretty"),
            serde_json::to_string_pretty(&docs()).expect("pretty, each owner in place")
        );
    }
    assert!(owners_written > 40, "{owners_written} owners written");
}
