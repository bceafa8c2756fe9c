//! Output that reads well anywhere: the peer column of `--all`, terminals of unknown or
//! narrow width (a real pseudo-terminal), cells shortened with an ellipsis.

mod common;

use common::listener::{hex, python, Listener};
use common::{bin, fixture, run};

/// Runs whoport with `args` on a real pseudo-terminal `cols` wide (0: size unknown), with a
/// clean environment; returns its output with `\n` line endings.
fn on_terminal(cols: u16, args: &[&str]) -> String {
    let py = python().expect("python3 (checked by the caller)");
    let home = common::tempdir();
    let out = common::Run::new(py)
        .arg(fixture("on_terminal.py"))
        .arg(cols.to_string())
        .arg(bin())
        .args(args)
        .env_remove("COLUMNS")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .env("XDG_DATA_HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .output()
        .expect("on_terminal.py runs");
    String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
}

fn columns_of(line: &str) -> usize {
    line.chars().count()
}

#[test]
fn a_terminal_of_unknown_width_is_treated_like_a_pipe() {
    let Some(_) = python() else { return };
    let l = Listener::start(&[
        "--comm-hex",
        &hex(b"wpo-zero"),
        "tcp4",
        "--",
        &"x".repeat(300),
    ]);
    // Its own process only (another run of this test may hold a "wpo-zero" of its own).
    let pid = l.pid.to_string();
    let args = [
        "--pid",
        &pid,
        "--columns",
        "proto,address,port,pid,process,command",
        "--color",
        "never",
    ];
    // The table itself (notes under it depend on what else ran meanwhile).
    let table = |text: &str| -> String {
        text.lines()
            .filter(|l| l.starts_with(['╭', '│', '╞', '╰']))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let tty = on_terminal(0, &args);
    let (_, piped, _) = run(&args);
    assert_eq!(table(&tty), table(&piped), "no wrapping at size 0");
    assert_eq!(table(&tty).lines().count(), 5, "{tty}");
    assert!(tty.contains(&"x".repeat(300)), "{tty}");
    assert!(tty.contains(&l.pid.to_string()));
}

#[test]
fn a_narrow_terminal_shortens_cells_and_never_splits_identifiers() {
    let Some(_) = python() else { return };
    let long = format!("--an-option={}", "y".repeat(200));
    let l = Listener::start(&[
        "--comm-hex",
        &hex(b"wpo-narrow-listener-with-a-long-name"),
        "tcp4",
        "--",
        &long,
    ]);
    let port = l.port(0).to_string();
    let pid = l.pid.to_string();
    // As root, a process in a network namespace of its own brings a long note: it wraps too.
    let other = common::is_root().then(|| {
        let child = std::process::Command::new("unshare")
            .args(["-n", "sleep", "60"])
            .spawn()
            .expect("unshare runs");
        // Until it has left this network namespace.
        let me = std::fs::read_link("/proc/self/ns/net").expect("netns");
        let ns = format!("/proc/{}/ns/net", child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !std::fs::read_link(&ns).is_ok_and(|n| n != me) {
            assert!(
                std::time::Instant::now() < deadline,
                "unshare never left this network namespace"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child
    });
    // Its own process only (another run of this test may hold a "wpo-narrow" of its own).
    let listing = on_terminal(80, &["--pid", &pid, "--wide", "--color", "never"]);
    if let Some(mut child) = other {
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            listing.contains("in other network namespaces"),
            "the note is there: {listing}"
        );
    }
    for line in listing.lines() {
        assert!(columns_of(line) <= 80, "wider than 80: {line:?}\n{listing}");
    }
    let row = listing
        .lines()
        .find(|r| r.contains(&format!(" {port} ")))
        .unwrap_or_else(|| panic!("the port whole on one line: {listing}"));
    let cells: Vec<&str> = row
        .split(|c: char| c.is_whitespace() || c == '│' || c == '┆')
        .collect();
    assert!(
        cells.contains(&pid.as_str()) && cells.contains(&"127.0.0.1") && cells.contains(&"tcp"),
        "PID, address and protocol whole on the port's line: {row}"
    );
    assert!(row.contains('…'), "the command is shortened: {row}");
    assert!(!listing.contains(&"y".repeat(200)), "{listing}");
    // --json keeps every value whole, on a terminal too.
    let json = on_terminal(80, &["--pid", &pid, "--json"]);
    assert!(json.contains(&"y".repeat(200)), "{json}");
    // The card: shortened to the terminal unless --wide.
    let card = on_terminal(80, &[&port, "--color", "never"]);
    let command = card
        .lines()
        .find(|x| x.trim_start().starts_with("command "))
        .unwrap_or_else(|| panic!("{card}"));
    assert!(
        columns_of(command) <= 80 && command.ends_with('…'),
        "{command}"
    );
    let wide = on_terminal(80, &[&port, "--color", "never", "--wide"]);
    assert!(wide.contains(&long), "{wide}");
}

#[test]
fn findings_and_reasons_wrap_at_a_narrow_terminal_and_stay_whole_in_a_pipe() {
    let Some(_) = python() else { return };
    // A kernel-chosen port: unassigned and in the ephemeral range, two findings with fixes
    // longer than the terminal; held by a parent and six children, whose description makes
    // the verdict's head longer than the terminal too.
    let l = Listener::start(&["--comm-hex", &hex(b"wpo-wrap"), "--forks", "6", "tcp4"]);
    let (pid, port) = (l.pid.to_string(), l.port(0).to_string());
    let card = on_terminal(60, &[&port, "--pid", &pid, "--color", "never"]);
    let audit = on_terminal(60, &["audit", "--pid", &pid, "--color", "never"]);
    let check = on_terminal(60, &["check", &port, "--color", "never"]);
    // The card's headline, its verdict (up to its live section) and the whole audit.
    let at = format!("127.0.0.1:{port}:");
    let headline: Vec<&str> = card.lines().take_while(|l| !l.contains(&at)).collect();
    assert!(
        headline
            .first()
            .is_some_and(|l| l.starts_with(&format!("Port {port} ·"))),
        "{card}"
    );
    let verdict: Vec<&str> = card
        .lines()
        .skip_while(|l| !l.contains(&at))
        .take_while(|l| !l.starts_with("Listening on"))
        .collect();
    assert!(
        verdict.iter().any(|l| l.contains("ephemeral-range")) && verdict.len() > 4,
        "{card}"
    );
    // (Standard error shares the terminal: its messages, "whoport: hint: …", are lines of
    // their own, as an error's.)
    let audit_lines: Vec<&str> = audit
        .lines()
        .chain(check.lines())
        .filter(|l| !l.starts_with("whoport: "))
        .collect();
    assert!(
        check.contains(&format!("- a tcp listener on 127.0.0.1:{port}")),
        "{check}"
    );
    for line in headline
        .iter()
        .chain(verdict.iter())
        .chain(audit_lines.iter())
    {
        assert!(columns_of(line) <= 60, "{line:?} in\n{card}\n{audit}");
    }
    assert!(audit.contains("ephemeral-range"), "{audit}");
    // The verdict's head (who, then where; longer than 60 columns whatever the PIDs) wrapped
    // under its first line, which starts with the description of the owners.
    let head = headline.len().checked_sub(1).map(|i| &headline[i..]);
    let first = card.lines().find(|l| l.starts_with("wpo-wrap (pid"));
    assert!(
        card.contains("children as ") && first.is_some_and(|l| !l.contains(&at)),
        "{head:?} in\n{card}"
    );
    // At every width (COLUMNS), no line of the card's verdict and findings, nor of the audit,
    // is wider but a word longer than a line: a label's columns are counted as shown (a finding's first line was one
    // column too wide).
    let home = common::tempdir();
    for cols in 40..=80 {
        for args in [&[&port, "--pid", &pid][..], &["audit", "--pid", &pid][..]] {
            let (_, text, _) = common::outcome(
                common::whoport(home.path())
                    .env("COLUMNS", cols.to_string())
                    .args(args),
            );
            let verdict = text.lines().take_while(|l| !l.starts_with("Listening on"));
            // (A word longer than a line, the command to paste, has a line of its own.)
            let wrapped = verdict.filter(|l| !l.starts_with("whoport: ") && l.trim().contains(' '));
            for line in wrapped {
                assert!(columns_of(line) <= cols, "{cols}: {line:?} in\n{text}");
            }
        }
    }
    // In a pipe, one line each: the verdict's head, the finding with its whole message, the
    // fix with its command.
    let (_, piped_card, _) = run(&[&port, "--pid", &pid]);
    assert!(
        piped_card.lines().any(|l| l.starts_with("wpo-wrap (pid")
            && l.contains("children as ")
            && l.contains(") on tcp")
            && l.contains(&at)),
        "{piped_card}"
    );
    let (_, piped, _) = run(&["audit", "--pid", &pid]);
    let message = piped
        .lines()
        .find(|l| l.contains("ephemeral-range"))
        .unwrap_or_else(|| panic!("{piped}"));
    assert!(
        message.ends_with("the listener can collide with them"),
        "{piped}"
    );
    assert!(
        piped
            .lines()
            .any(|l| l.starts_with("      fix: move it out of")
                && l.ends_with(&format!("ip_local_reserved_ports={port}"))),
        "{piped}"
    );
}

#[test]
fn all_shows_the_peer_of_a_connection() {
    let Some(_) = python() else { return };
    let l = Listener::start(&["--comm-hex", &hex(b"wpo-peer"), "tcp4"]);
    let client = std::net::TcpStream::connect(("127.0.0.1", l.port(0))).expect("connect");
    let local = client.local_addr().expect("local").port();
    let peer = format!("127.0.0.1:{}", l.port(0));
    let (status, out, err) = run(&["--all", "--columns", "proto,state,port,peer"]);
    assert_eq!(status, 0, "{err}");
    assert!(out.contains("PEER"), "{out}");
    let row = out
        .lines()
        .find(|r| {
            // Other connections may use the same local port number, to other peers.
            r.contains(&format!(" {local} ")) && r.contains("established") && r.contains(&peer)
        })
        .unwrap_or_else(|| panic!("our connection: {out}"));
    assert!(row.contains(&peer), "{row}");
    // The default --all columns have it too; a listener's peer is '-'.
    let (_, out, _) = run(&["--all", "--process", "wpo-peer"]);
    assert!(out.contains("PEER"), "{out}");
    let listener_row = out
        .lines()
        .find(|r| r.contains(&format!(" {} ", l.port(0))) && r.contains("listen"))
        .unwrap_or_else(|| panic!("the listener: {out}"));
    assert!(listener_row.contains(" - "), "{listener_row}");
    drop(client);
}

#[test]
fn color_never_holds_for_help_and_usage_errors_on_a_terminal() {
    let Some(_) = python() else { return };
    // On a terminal clap colours its help and errors by default...
    assert!(on_terminal(80, &["--help"]).contains("\u{1b}["));
    assert!(on_terminal(80, &["--bogus"]).contains("\u{1b}["));
    // ...but not when --color never says so, wherever it stands.
    for args in [
        &["--color", "never", "--help"][..],
        &["--color=never", "--bogus"][..],
        &["audit", "--color", "never", "--help"][..],
        &["--color", "never", "audit", "--bogus"][..],
    ] {
        let text = on_terminal(80, args);
        assert!(!text.contains("\u{1b}["), "{args:?}: {text:?}");
        assert!(text.contains("Usage"), "{args:?}: {text}");
    }
}

/// A usage error quotes the value it refused: one with an escape sequence (a window title, a
/// colour), a bell and a carriage return is written escaped, on a terminal (in clap's colours)
/// and in a pipe alike, as whoport escapes any text it did not write. Before, clap wrote the
/// value raw: on a terminal the title was set and the rest of the line coloured.
#[test]
fn a_usage_errors_quoted_value_is_escaped() {
    let Some(_) = python() else { return };
    let value = "\u{1b}]0;pwned\u{7}\u{1b}[31mRED\r";
    let escaped = "\\e]0;pwned\\x07\\e[31mRED\\r";
    for args in [
        vec![format!("--pid={value}")],
        vec!["audit".to_string(), format!("--format={value}")],
        vec![
            "wait".to_string(),
            "--listening".to_string(),
            format!("--timeout={value}"),
            "80".to_string(),
        ],
        vec![format!("--{value}")],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (status, out, err) = run(&args);
        assert_eq!(status, 2, "{args:?}: {out}");
        assert!(err.contains(escaped), "{args:?}: {err:?}");
        assert!(
            !err.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?}: {err:?}"
        );
        let text = on_terminal(80, &args);
        assert!(text.contains(escaped), "{args:?}: {text:?}");
        // clap's own colours stay; nothing of the value is acted on.
        assert!(text.contains("\u{1b}["), "{args:?}: {text:?}");
        assert!(
            !text.contains('\u{7}') && !text.contains("\u{1b}]") && !text.contains("\u{1b}[31mRED"),
            "{args:?}: {text:?}"
        );
    }
}

/// Standard output that takes no writes (closed, or open for reading only) discards the
/// output, as for any program writing through Rust's standard output: no error, the usual
/// exit status; a full device is still an error (exit 2).
#[test]
fn output_nobody_can_read_is_discarded_and_a_full_device_is_an_error() {
    let (status, out, err) = common::sh(
        r#"e=$(mktemp)
for redirect in '>&-' '1</dev/null'; do
  for args in '--json' '' 'registry info'; do
    eval "\"\$WHOPORT\" $args $redirect" 2>"$e"
    echo "case [$args $redirect] status $? stderr [$(cat "$e")]" >&2
  done
done
"$WHOPORT" --json > /dev/full 2>"$e"
echo "full status $? stderr [$(cat "$e")]" >&2
rm -f "$e""#,
    );
    assert_eq!(status, 0, "{err}");
    let _ = out;
    let cases: Vec<&str> = err.lines().filter(|l| l.starts_with("case ")).collect();
    assert_eq!(cases.len(), 6, "{err}");
    for case in cases {
        let usual = case.contains("status 0 ")
            || (case.contains("status 1 ") && !case.contains("registry"));
        // (A hint on what this user cannot see may come, as on any run.)
        assert!(usual && !case.contains("os error"), "{case}");
    }
    // (Its standard error, to the end: a hint may come before the error.)
    let full = &err[err.find("full status").expect("the full device")..];
    assert!(
        full.contains("status 2 ") && full.contains("No space left on device"),
        "{full}"
    );
}
