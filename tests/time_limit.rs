//! The test helpers' own promise: a run that hangs is killed, with everything it started, and
//! the test fails fast with the command line instead of stalling the suite.

mod common;

use std::time::Duration;

use common::Run;

#[test]
fn a_hanging_run_fails_with_its_command_line_and_its_children_are_killed() {
    let dir = common::tempdir();
    let pidfile = dir.path().join("grandchild");
    let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
    let outcome = std::panic::catch_unwind(|| {
        Run::new("sh")
            .args(["-c", &script])
            // Long enough for the shell to start its child and write its PID on a busy
            // machine.
            .limit(Duration::from_secs(5))
            .output()
    });
    let message = match outcome {
        Ok(out) => panic!("the run was not stopped: {out:?}"),
        Err(e) => e
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "?".into()),
    };
    assert!(message.contains("killed after 5 s"), "{message}");
    assert!(
        message.contains("sleep 300"),
        "names the command: {message}"
    );
    let pid = std::fs::read_to_string(&pidfile).expect("pid written");
    let stat = std::path::Path::new("/proc").join(pid.trim()).join("stat");
    // SIGKILL is delivered at once, but the grandchild's parent may need a moment to reap it
    // (a busy machine: up to 30 s).
    let mut gone = false;
    for _ in 0..3000 {
        match std::fs::read_to_string(&stat) {
            Err(_) => gone = true,
            Ok(s) => {
                gone = s
                    .rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            }
        }
        if gone {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(gone, "the process the run started is killed too");
}
