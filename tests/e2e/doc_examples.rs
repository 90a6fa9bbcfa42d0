//! The documentation's runnable command blocks (the ```sh blocks marked
//! [`doc_blocks::RUNNABLE`]) in the operations guide and the README, run as written with
//! bash against the sandbox, with this build's `groupsync` first on `PATH` and a daemon
//! (`groupsync serve`) listening where the blocks' `127.0.0.1:8080` points. A command that
//! fails, or a sample output that no longer matches, fails the test.

use crate::doc_blocks::{self, Block, free_port, get};
use crate::harness::*;
use groupsync_sandbox::SandboxOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn doc(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The folder of this build's binary, put first on `PATH` so blocks say `groupsync`.
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_groupsync"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn with_path(mut cmd: Command) -> Command {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin_dir()];
    dirs.extend(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(dirs).unwrap());
    cmd
}

/// The daemon, stopped by its PID when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `block` with bash (`-e`, `-o pipefail`) in `dir`, its `127.0.0.1:8080` replaced by
/// `daemon`; what it printed. Panics, naming the document and line, when it fails.
fn run_block(
    doc_name: &str,
    block: &Block,
    dir: &Path,
    env: &[(&str, &Path)],
    daemon: &str,
) -> String {
    let script = block.body.replace("127.0.0.1:8080", daemon);
    let mut cmd = with_path(scrubbed(Command::new("bash")));
    cmd.args(["-e", "-o", "pipefail", "-c", &script])
        .current_dir(dir)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("bash starts");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{doc_name}, the block at line {}:\n{}\nexit {:?}\n{stdout}\n{}",
        block.line,
        block.body,
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The check names of `groupsync check` lines (`ok   smtp: …` gives `smtp`), in order.
fn check_names(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| {
            ["ok   ", "FAIL ", "warn ", "skip "]
                .iter()
                .any(|s| l.starts_with(s))
        })
        .map(|l| l[5..].split(':').next().unwrap().trim().to_owned())
        .collect()
}

/// The operations guide's sample output of `groupsync check` (the plain block after the
/// runnable one in section 6).
fn guide_check_sample(guide: &str) -> String {
    let (_, section) = guide
        .split_once("\n## 6. Checking a configuration\n")
        .expect("section 6");
    let (_, tries) = section
        .split_once("\nIt tries, one line each")
        .expect("what check tries");
    let (_, after) = tries.split_once("\n```\n").expect("a sample output block");
    let (sample, _) = after.split_once("\n```").unwrap();
    sample.to_owned()
}

#[tokio::test]
async fn the_runnable_blocks_of_the_guide_and_the_readme_run_against_the_sandbox() {
    let app = spawn_app(SandboxOptions::seeded(30, 3, 31)).await;
    // One configuration with the daemon's sections, as `sandbox --write-config` writes.
    let config = app.dir().join("sandbox.toml");
    std::fs::write(
        &config,
        format!("{}{}", app.config_toml(), app.daemon_toml()),
    )
    .unwrap();
    let daemon_addr = format!("127.0.0.1:{}", free_port());
    // The daemon keeps its own store, so its scheduled runs never hold the blocks' lease.
    let daemon_store = app.dir().join("daemon/groupsync.db");
    let mut serve = groupsync();
    serve
        .env("GROUPSYNC_CONFIG", &config)
        .env("GROUPSYNC_STORE__PATH", &daemon_store)
        .env("GROUPSYNC_SERVER__LISTEN", &daemon_addr)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let daemon = Daemon(serve.spawn().expect("the daemon starts"));
    let healthz = format!("http://{daemon_addr}/healthz");
    let started = Instant::now();
    let ready = tokio::task::spawn_blocking(move || {
        while get(&healthz).is_none() {
            if started.elapsed() > Duration::from_secs(60) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    })
    .await
    .unwrap();
    assert!(ready, "the daemon answers /healthz");

    let work = tempfile::tempdir().unwrap();
    let store = app.dir().join("data/groupsync.db");
    let mut ran = 0;
    let mut printed = Vec::new();
    for name in ["docs/operations.md", "README.md"] {
        let text = doc(name);
        for block in doc_blocks::runnable(&text) {
            let (dir, config, store) = (work.path().to_path_buf(), config.clone(), store.clone());
            let daemon_addr = daemon_addr.clone();
            let out = tokio::task::spawn_blocking(move || {
                let env = [
                    ("GROUPSYNC_CONFIG", config.as_path()),
                    ("GROUPSYNC_STORE__PATH", store.as_path()),
                ];
                run_block(name, &block, &dir, &env, &daemon_addr)
            })
            .await
            .unwrap();
            printed.push(out);
            ran += 1;
        }
    }
    assert!(ran >= 7, "{ran} runnable blocks");
    let all = printed.join("\n");
    // section 2: the source with its id and name
    assert!(all.contains("Active Directory"), "{all}");
    // section 6: the sample output names the checks `groupsync check` prints, in order
    let sample = check_names(&guide_check_sample(&doc("docs/operations.md")));
    let actual = printed
        .iter()
        .map(|p| check_names(p))
        .find(|names| !names.is_empty())
        .expect("a block printed the check's lines");
    assert_eq!(
        sample, actual,
        "the guide's sample output of groupsync check"
    );
    // section 9: the run the dry run made is listed, and the daemon said it is up
    assert!(all.contains("dry_run"), "{all}");
    assert!(all.contains("ok"), "{all}");
    drop(daemon);
    app.stop().await;
}
