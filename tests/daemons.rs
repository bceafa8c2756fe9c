//! The audit and the card with real Debian daemons (sshd, nginx with workers, PostgreSQL,
//! redis, chrony, memcached, an rsync daemon, dnsmasq), started in the foreground on test
//! ports in a private network and mount namespace, where they bind wildcard addresses, and
//! stopped by PID (tests/fixtures/daemons.sh). A stock server stays quiet; what is really
//! exposed is said once. Postfix, Dovecot and Apache (root masters with unprivileged helpers)
//! are standard designs, and nginx without its master process, serving as root itself, is
//! not (tests/fixtures/designs.sh).

mod common;

use common::{bin, fixture, have, tempdir};
use serde_json::Value;

/// How long a script that starts daemons and runs whoport several times may take.
const SCRIPT_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// What the daemons' run left behind: the audit's JSON, the nginx card (JSON and text).
struct Run {
    audit: Value,
    card: Value,
    card_text: String,
    redis_card_text: String,
}

fn run_daemons() -> Option<Run> {
    if !common::root_or_skip("the daemons test (a private network namespace)") {
        return None;
    }
    let programs = [
        ("unshare", "util-linux"),
        ("setpriv", "util-linux"),
        ("ss", "iproute2"),
        ("ssh-keygen", "openssh-client"),
        ("sshd", "openssh-server"),
        ("nginx", "nginx"),
        ("redis-server", "redis-server"),
        ("chronyd", "chrony"),
        ("memcached", "memcached"),
        ("rsync", "rsync"),
        ("dnsmasq", "dnsmasq-base"),
        ("pg_ctlcluster", "postgresql"),
        ("python3", "python3"),
    ];
    for (program, package) in programs {
        if !have(program, &format!("apt-get install -y {package}")) {
            return None;
        }
    }
    let dir = tempdir();
    // The daemons drop to their own users: they must be able to reach their files.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    // Ten daemons to start and five runs of whoport: more than one run's time on a busy
    // machine.
    let (status, _, stderr) = common::sh_within(
        &format!(
            "exec unshare -n -m --propagation private sh {} {} {}",
            fixture("daemons.sh").display(),
            dir.path().display(),
            bin().display()
        ),
        SCRIPT_LIMIT,
    );
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    assert_eq!(
        status,
        0,
        "daemons.sh failed: {}\n{}\n{}",
        stderr,
        read("daemons.log"),
        read("whoport.log")
    );
    let json = |name: &str| -> Value {
        serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}: {}", read(name)))
    };
    Some(Run {
        audit: json("audit.json"),
        card: json("card.json"),
        card_text: read("card.txt"),
        redis_card_text: read("card-redis.txt"),
    })
}

fn on_port(doc: &Value, port: u16) -> Vec<&Value> {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["listener"]["port"] == port)
        .collect()
}

fn serious(fs: &[&Value]) -> usize {
    fs.iter()
        .filter(|f| f["severity"] == "high" || f["severity"] == "medium")
        .count()
}

#[test]
fn real_daemons_stock_server_is_quiet_and_exposures_are_said_once() {
    let Some(run) = run_daemons() else { return };
    let doc = &run.audit;
    // A stock server: sshd (root, privilege separation), nginx (root master, www-data
    // workers), loopback databases (PostgreSQL, redis), chrony: no medium or high finding.
    for port in [41422, 41480, 41479, 41432, 41323] {
        let fs = on_port(doc, port);
        assert_eq!(serious(&fs), 0, "port {port}: {fs:#?}");
        assert!(
            fs.iter().all(|f| f["id"] != "root-exposed"),
            "port {port}: {fs:#?}"
        );
    }
    // The standard designs are explained on the exposure finding.
    for (port, why) in [(41422, "privilege separation"), (41480, "www-data")] {
        let fs = on_port(doc, port);
        let exposed = fs
            .iter()
            .find(|f| f["id"] == "exposed-all-interfaces")
            .unwrap_or_else(|| panic!("{port}: {fs:#?}"));
        assert_eq!(exposed["severity"], "info");
        assert!(
            exposed["standard_design"]
                .as_str()
                .is_some_and(|d| d.contains(why)),
            "{exposed:#}"
        );
        // Both families in one finding.
        assert_eq!(exposed["listeners"].as_array().map(Vec::len), Some(2));
        let m = exposed["message"].as_str().expect("message");
        assert!(
            m.contains(&format!("0.0.0.0:{port} and [::]:{port}")),
            "{m}"
        );
    }
    let nginx = on_port(doc, 41480);
    let m = nginx
        .iter()
        .find(|f| f["id"] == "exposed-all-interfaces")
        .and_then(|f| f["message"].as_str())
        .expect("message");
    assert!(
        m.contains("parent as root;") && m.contains("children as www-data"),
        "{m}"
    );
    // redis and memcached on all interfaces: exactly one high finding each, naming both
    // addresses.
    for port in [41379, 41211] {
        let fs = on_port(doc, port);
        let high: Vec<&&Value> = fs.iter().filter(|f| f["severity"] == "high").collect();
        assert_eq!(high.len(), 1, "{port}: {fs:#?}");
        assert_eq!(serious(&fs), 1, "{port}: {fs:#?}");
        assert_eq!(high[0]["listeners"].as_array().map(Vec::len), Some(2));
    }
    // The rsync daemon: one medium finding, with the fix for module listing.
    let fs = on_port(doc, 41873);
    assert_eq!(serious(&fs), 1, "{fs:#?}");
    let rsync = fs
        .iter()
        .find(|f| f["severity"] == "medium")
        .expect("medium");
    assert!(
        rsync["hint"]
            .as_str()
            .is_some_and(|h| h.contains("hosts allow")),
        "{rsync:#}"
    );
    // python3 -m http.server as root: one finding, with its reasons (exposure, root).
    let fs = on_port(doc, 8000);
    assert_eq!(fs.len(), 1, "{fs:#?}");
    assert_eq!(fs[0]["id"], "shell-listener");
    assert_eq!(fs[0]["severity"], "high");
    let reasons: Vec<&str> = fs[0]["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("exposed-all-interfaces: "))
            && reasons.iter().any(|r| r.starts_with("root-exposed: ")),
        "{reasons:?}"
    );
    // dnsmasq on all interfaces: a likely open resolver, medium, per protocol.
    let fs = on_port(doc, 41453);
    let dns: Vec<&&Value> = fs.iter().filter(|f| f["severity"] == "medium").collect();
    assert_eq!(dns.len(), 2, "one per protocol: {fs:#?}");
    for f in dns {
        assert_eq!(f["id"], "exposed-all-interfaces");
        assert!(
            f["hint"]
                .as_str()
                .is_some_and(|h| h.contains("open resolver")),
            "{f:#}"
        );
    }
}

#[test]
fn real_daemons_card_opens_with_the_verdict() {
    let Some(run) = run_daemons() else { return };
    // The text card: the verdict line comes first after the headline, each process once.
    let lines: Vec<&str> = run.card_text.lines().collect();
    let verdict = lines.get(1..4).map(|l| l.join("\n")).unwrap_or_default();
    assert!(
        verdict.contains("nginx (pid ")
            && verdict.contains("parent as root;")
            && verdict.contains("children as www-data)"),
        "{}",
        run.card_text
    );
    assert!(
        verdict.contains("0.0.0.0:41480 and [::]:41480"),
        "{}",
        run.card_text
    );
    assert!(verdict.contains("fine"), "{}", run.card_text);
    // redis exposed: the verdict is the finding, with its fix.
    let redis: Vec<&str> = run.redis_card_text.lines().take(6).collect();
    let redis = redis.join("\n");
    assert!(
        redis.contains("high") && redis.contains("fix:"),
        "{}",
        run.redis_card_text
    );
    // The JSON card has one verdict per listener group.
    let verdicts = run.card["verdicts"].as_array().expect("verdicts");
    assert_eq!(verdicts.len(), 1, "{:#}", run.card);
    let v = &verdicts[0];
    assert_eq!(v["fine"], true, "{v:#}");
    assert_eq!(v["addresses"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["processes"].as_array().map(Vec::len), Some(3));
}

/// What the mail and web daemons' run left behind (tests/fixtures/designs.sh).
struct Designs {
    audit: Value,
    dir: tempfile::TempDir,
}

impl Designs {
    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    fn card(&self, port: u16) -> (String, Value) {
        let json = self.read(&format!("card-{port}.json"));
        let doc = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{port}: {e}: {json}"));
        (self.read(&format!("card-{port}.txt")), doc)
    }
}

/// Postfix, Dovecot and Apache (a root master with unprivileged helpers), and nginx without
/// its master process (one root process that serves itself).
fn run_designs() -> Option<Designs> {
    if !common::root_or_skip("the daemons test (a private network namespace)") {
        return None;
    }
    let programs = [
        ("unshare", "util-linux"),
        ("ss", "iproute2"),
        ("python3", "python3"),
        ("postfix", "postfix"),
        ("dovecot", "dovecot-imapd"),
        ("apache2", "apache2"),
        ("nginx", "nginx"),
    ];
    for (program, package) in programs {
        if !have(program, &format!("apt-get install -y {package}")) {
            return None;
        }
    }
    let dir = tempdir();
    // The daemons' unprivileged processes must reach their files.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    // Four daemons to start and nine runs of whoport.
    let (status, _, stderr) = common::sh_within(
        &format!(
            "exec unshare -n -m --propagation private sh {} {} {}",
            fixture("designs.sh").display(),
            dir.path().display(),
            bin().display()
        ),
        SCRIPT_LIMIT,
    );
    let run = Designs {
        audit: Value::Null,
        dir,
    };
    assert_eq!(
        status,
        0,
        "designs.sh failed: {}\n{}\n{}",
        stderr,
        run.read("daemons.log"),
        run.read("whoport.log")
    );
    let audit = run.read("audit.json");
    let audit = serde_json::from_str(&audit).unwrap_or_else(|e| panic!("audit: {e}: {audit}"));
    Some(Designs { audit, ..run })
}

#[test]
fn real_postfix_dovecot_and_apache_are_standard_designs_and_a_lone_root_server_is_not() {
    let Some(run) = run_designs() else { return };
    let doc = &run.audit;
    // (port, why it is a standard design, the unprivileged helper as the listing names it)
    let designs = [
        (41425, "Postfix's master", "smtpd (pid "),
        (41143, "Dovecot's master", "imap-login (pid "),
        (
            41481,
            "Apache's parent process runs as root only to bind ports",
            "children as www-data",
        ),
    ];
    for (port, why, helper) in designs {
        let fs = on_port(doc, port);
        assert_eq!(serious(&fs), 0, "port {port}: {fs:#?}");
        for f in &fs {
            assert_ne!(f["id"], "root-exposed", "port {port}: {f:#}");
            let reasons = f["reasons"].as_array().expect("reasons");
            assert!(
                reasons
                    .iter()
                    .all(|r| !r.as_str().unwrap_or_default().starts_with("root-exposed")),
                "port {port}: {f:#}"
            );
        }
        let exposed = fs
            .iter()
            .find(|f| f["id"] == "exposed-all-interfaces")
            .unwrap_or_else(|| panic!("{port}: {fs:#?}"));
        assert_eq!(exposed["severity"], "info", "{exposed:#}");
        assert!(
            exposed["standard_design"]
                .as_str()
                .is_some_and(|d| d.contains(why)),
            "{exposed:#}"
        );
        let m = exposed["message"].as_str().expect("message");
        assert!(m.contains(helper) && m.contains("as root"), "{m}");
        // The card: the verdict line says fine, and why root is the design.
        let (text, card) = run.card(port);
        let verdict = text.lines().nth(1).unwrap_or_default();
        assert!(
            verdict.contains("fine")
                && verdict.contains("root by design: ")
                && verdict.contains(why),
            "{text}"
        );
        assert!(verdict.contains(helper), "{text}");
        let verdicts = card["verdicts"].as_array().expect("verdicts");
        assert_eq!(verdicts.len(), 1, "{card:#}");
        assert_eq!(verdicts[0]["fine"], true, "{card:#}");
        assert!(
            verdicts[0]["processes"].as_array().map(Vec::len) >= Some(2),
            "the master and its helpers: {card:#}"
        );
    }
    // The helpers run as the users their packages made for them.
    let users = |port: u16| -> Vec<String> {
        let (_, card) = run.card(port);
        card["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .flat_map(|l| l["owners"].as_array().cloned().unwrap_or_default())
            .filter_map(|o| o["user"].as_str().map(str::to_string))
            .collect()
    };
    for (port, user) in [(41425, "postfix"), (41143, "dovenull"), (41481, "www-data")] {
        let us = users(port);
        assert!(
            us.iter().any(|u| u == "root") && us.iter().any(|u| u == user),
            "{port}: {us:?}"
        );
    }
    // nginx without its master process serves as root itself: that stays a finding.
    let fs = on_port(doc, 41482);
    assert_eq!(serious(&fs), 1, "{fs:#?}");
    let root = fs
        .iter()
        .find(|f| f["id"] == "root-exposed")
        .unwrap_or_else(|| panic!("{fs:#?}"));
    assert_eq!(root["severity"], "medium");
    assert_eq!(root["standard_design"], Value::Null);
    assert!(
        root["message"]
            .as_str()
            .is_some_and(|m| m.contains("no unprivileged worker")),
        "{root:#}"
    );
    let (text, card) = run.card(41482);
    assert_eq!(card["verdicts"][0]["fine"], false, "{card:#}");
    assert!(
        text.lines().nth(1).is_some_and(|l| l.contains("medium")),
        "{text}"
    );
}
