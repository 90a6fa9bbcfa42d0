//! The README's "Try the daemon" block, run as written: each command in turn, in an empty
//! folder, with free ports in place of 8070 (the tenant) and 8080 (the daemon) and this
//! build's binary for `groupsync`. A `sleep` becomes a bounded wait for what the command
//! before it started; `kill %N` stops the Nth background command by its PID. If the block
//! stops working as the README says, this fails.

use crate::doc_blocks::{block_after, free_port, get};
use crate::harness::groupsync;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const HEADING: &str = "### Try the daemon";
/// The longest any one step may take.
const PATIENCE: Duration = Duration::from_secs(60);

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    std::fs::read_to_string(path).expect("README.md is readable")
}

/// Waits, up to [`PATIENCE`], until `ready` says yes.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Background commands by their PIDs; whatever is still running at the end is stopped.
struct Jobs(Vec<Child>);

impl Jobs {
    /// SIGTERM to job `n` (1-based, as `%n`), then a bounded wait for it to end.
    fn stop(&mut self, n: usize) -> std::process::ExitStatus {
        let child = &mut self.0[n - 1];
        let pid = child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "job %{n} (pid {pid}) did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Jobs {
    fn drop(&mut self) {
        for child in &mut self.0 {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// The program of a command: this build's binary for `groupsync`, a clean environment
/// otherwise; the daemon listens on `daemon` (the written configuration says 8080).
fn program(word: &str, daemon: &str) -> Command {
    if word == "groupsync" {
        let mut cmd = groupsync();
        cmd.env("GROUPSYNC_SERVER__LISTEN", daemon);
        cmd
    } else {
        Command::new(word)
    }
}

fn run_to_end(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            panic!("a command of the block did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn the_readme_block_runs_the_daemon_and_its_notice_is_readable() {
    let commands = block_after(&readme(), HEADING);
    assert!(commands.len() >= 6, "{commands:?}");
    let (idn_port, daemon_port) = (free_port(), free_port());
    let idn = format!("127.0.0.1:{idn_port}");
    let daemon = format!("127.0.0.1:{daemon_port}");
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path();
    let mut jobs = Jobs(Vec::new());
    // What each finished command printed, by the command as written in the README.
    let mut printed: Vec<(String, String)> = Vec::new();
    let mut previous = String::new();
    for command in &commands {
        let text = command
            .replace("8070", &idn_port.to_string())
            .replace("127.0.0.1:8080", &daemon);
        let mut words: Vec<&str> = text.split_whitespace().collect();
        let background = words.last() == Some(&"&");
        if background {
            words.pop();
        }
        match words[0] {
            "sleep" => {
                // A wait for what the previous command started or caused.
                if previous.contains(" sandbox ") {
                    wait_until("the sandbox", || {
                        dir.join("sandbox.toml").exists()
                            && get(&format!("http://{idn}/sandbox/stats")).is_some()
                    });
                } else if previous.ends_with(" serve") {
                    wait_until("the daemon", || {
                        get(&format!("http://{daemon}/healthz")).is_some()
                    });
                } else if previous.contains("/sandbox/fire") {
                    wait_until("the notice", || {
                        get(&format!("http://{idn}/sandbox/mail")).is_some_and(|b| b != "[]")
                    });
                } else {
                    panic!("no wait known after {previous:?}");
                }
            }
            "kill" => {
                for job in &words[1..] {
                    let n: usize = job.trim_start_matches('%').parse().unwrap();
                    let status = jobs.stop(n);
                    assert!(status.success(), "job %{n} ended with {status}");
                }
            }
            word => {
                let mut cmd = program(word, &daemon);
                cmd.args(&words[1..]).current_dir(dir);
                if background {
                    let child = cmd
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .expect("the command starts");
                    jobs.0.push(child);
                } else {
                    let out = run_to_end(cmd);
                    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                    assert!(
                        out.status.success(),
                        "{command}\n{stdout}\n{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    printed.push((command.clone(), stdout));
                }
            }
        }
        previous = command.trim_end_matches(" &").to_owned();
    }
    assert!(
        jobs.0.iter_mut().all(|c| c.try_wait().unwrap().is_some()),
        "the block stops what it starts"
    );

    let output_of = |needle: &str| -> &str {
        let found = printed.iter().find(|(c, _)| c.contains(needle));
        &found
            .unwrap_or_else(|| panic!("a command with {needle:?}"))
            .1
    };
    // What the README says the written configuration holds.
    let config = std::fs::read_to_string(dir.join("sandbox.toml")).unwrap();
    for held in [
        "listen = \"127.0.0.1:8080\"",
        "admin_token = ",
        "schedule = ",
        "token = \"sandbox-webhook-token\"",
    ] {
        assert!(config.contains(held), "{held} in\n{config}");
    }
    // The event was answered as accepted, and the run happened because of it.
    let fired: serde_json::Value = serde_json::from_str(output_of("/sandbox/fire")).unwrap();
    assert_eq!(fired["status"], 202, "{fired}");
    let runs = output_of("executions list");
    let run = runs
        .lines()
        .find(|l| l.contains("webhook"))
        .unwrap_or_else(|| panic!("a webhook run in\n{runs}"));
    assert!(run.contains("succeeded"), "{run}");
    // The notice is readable over HTTP and in the Maildir.
    let mail: serde_json::Value = serde_json::from_str(output_of("/sandbox/mail")).unwrap();
    let notice = &mail.as_array().unwrap()[0];
    assert!(
        notice["body"]
            .as_str()
            .unwrap()
            .contains("Created in Alation"),
        "{notice}"
    );
    assert!(notice["subject"].is_string() && notice["date"].is_string());
    assert_eq!(notice["recipients"][0], "iam-team@sandbox.test");
    let listed = output_of("ls sandbox-mail/new");
    let first = listed.lines().next().expect("a file in the Maildir");
    let file = std::fs::read_to_string(dir.join("sandbox-mail/new").join(first)).unwrap();
    assert!(file.contains("Created in Alation"), "{file}");
}

#[test]
fn the_readme_lists_the_playground_options_and_no_flagless_webhook() {
    let text = readme();
    let (_, options) = text
        .split_once("\nOptions: `--bind`")
        .expect("the sandbox's options list");
    let (options, _) = options.split_once("\n\n").unwrap();
    for flag in ["--write-config", "--maildir", "--fire-webhook"] {
        assert!(options.contains(flag), "{flag} in the options list");
    }
    assert!(!text.contains("fired at a webhook URL"));
    let block = block_after(&text, HEADING).join("\n");
    for part in ["--write-config", "--maildir", "--fire-webhook", " serve"] {
        assert!(block.contains(part), "{part} in the block");
    }
}
