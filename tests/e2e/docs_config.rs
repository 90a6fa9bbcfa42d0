//! The documentation and the deployment files against the code: every key the code reads
//! is in `docs/configuration.md` and every key documented there exists; the TOML shown in
//! the docs, and the keys set by the container, Kubernetes and systemd files, are real keys;
//! the Kubernetes ConfigMap's configuration loads as it is.

use groupsync::config::Settings;
use groupsync::config::keys::known_keys;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path))
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// `section.key` of every row of the reference's tables, in order (repeats kept).
fn documented_keys(reference: &str) -> Vec<String> {
    let mut section = None;
    let mut keys = vec![];
    for line in reference.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            section = heading
                .strip_prefix("`[")
                .and_then(|h| h.strip_suffix("]`"))
                .map(str::to_owned);
        } else if let (Some(section), Some(row)) = (&section, line.strip_prefix("| `")) {
            let cells: Vec<&str> = line.split(" | ").collect();
            assert_eq!(
                cells.len(),
                4,
                "a row must have key, type, default, meaning: {line}"
            );
            assert!(
                cells.iter().all(|c| !c.trim_matches(['|', ' ']).is_empty()),
                "an empty cell: {line}"
            );
            let key = row.split('`').next().unwrap_or_default();
            keys.push(format!("{section}.{key}"));
        }
    }
    keys
}

#[test]
fn the_reference_documents_every_key_and_only_real_keys() {
    let code: BTreeSet<String> = known_keys().into_iter().collect();
    assert!(code.len() > 50, "too few keys read from the code: {code:?}");
    let listed = documented_keys(&read("docs/configuration.md"));
    let docs: BTreeSet<String> = listed.iter().cloned().collect();
    assert_eq!(listed.len(), docs.len(), "a key is documented twice");
    let undocumented: Vec<_> = code.difference(&docs).collect();
    assert!(
        undocumented.is_empty(),
        "keys the code reads but docs/configuration.md does not describe: {undocumented:?}"
    );
    let unknown: Vec<_> = docs.difference(&code).collect();
    assert!(
        unknown.is_empty(),
        "keys docs/configuration.md describes but the code does not read: {unknown:?}"
    );
}

/// The `section.key` pairs set in a TOML text (every table and key, nested or not); in a
/// `[[jobs]]` table, the keys it overrides (its `name` aside).
fn toml_keys(text: &str) -> Vec<String> {
    let value: toml::Table = toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let keys_of = |table: &toml::Table| -> Vec<String> {
        table
            .iter()
            .flat_map(|(section, keys)| match keys.as_table() {
                Some(t) => t.keys().map(|k| format!("{section}.{k}")).collect(),
                None => vec![section.clone()],
            })
            .collect()
    };
    let mut keys = vec![];
    for (section, value) in &value {
        match (section.as_str(), value.as_array()) {
            ("jobs", Some(jobs)) => {
                for job in jobs.iter().filter_map(toml::Value::as_table) {
                    let mut job = job.clone();
                    job.remove("name");
                    keys.extend(keys_of(&job));
                }
            }
            _ => keys.extend(keys_of(&toml::Table::from_iter([(
                section.clone(),
                value.clone(),
            )]))),
        }
    }
    keys
}

/// The ```toml blocks of a Markdown file.
fn toml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = vec![];
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```toml") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line.trim_start());
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn configuration_shown_in_the_docs_uses_real_keys() {
    let known: BTreeSet<String> = known_keys().into_iter().collect();
    let mut seen = 0;
    for doc in ["docs/operations.md", "docs/configuration.md", "README.md"] {
        for block in toml_blocks(&read(doc)) {
            for key in toml_keys(&block) {
                assert!(
                    known.contains(&key),
                    "{doc} shows `{key}`, which is not a key"
                );
                seen += 1;
            }
        }
    }
    assert!(
        seen >= 4,
        "expected configuration examples in the docs, found {seen} keys"
    );
}

/// `GROUPSYNC_<SECTION>__<KEY>` names in a text, as `section.key`.
fn env_keys(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter_map(|word| word.strip_prefix("GROUPSYNC_"))
        .filter_map(|rest| rest.split_once("__"))
        .map(|(s, k)| format!("{}.{}", s.to_lowercase(), k.to_lowercase()))
        .collect()
}

#[test]
fn environment_overrides_in_the_deployment_files_are_real_keys() {
    let known: BTreeSet<String> = known_keys().into_iter().collect();
    let files = [
        "deploy/docker-compose.yml",
        "deploy/systemd/groupsync.service",
        "deploy/Dockerfile",
        "docs/operations.md",
        "docs/configuration.md",
    ];
    let mut seen = 0;
    for file in files {
        for key in env_keys(&read(file)) {
            assert!(
                known.contains(&key),
                "{file} sets `{key}`, which is not a key"
            );
            seen += 1;
        }
    }
    assert!(
        seen >= 10,
        "expected overrides in the deployment files, found {seen}"
    );
}

/// The ConfigMap's `groupsync.toml: |` block, unindented.
fn configmap_toml(yaml: &str) -> String {
    let mut lines = yaml
        .lines()
        .skip_while(|l| l.trim() != "groupsync.toml: |")
        .skip(1);
    let first = lines.next().unwrap_or_default();
    let indent = first.len() - first.trim_start().len();
    assert!(indent > 0, "the ConfigMap's groupsync.toml block is empty");
    std::iter::once(first)
        .chain(lines.take_while(|l| l.trim().is_empty() || l.starts_with(&" ".repeat(indent))))
        .map(|l| l.get(indent..).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_kubernetes_configuration_loads_with_its_secrets_mounted() {
    let text = configmap_toml(&read("deploy/kubernetes/configmap.yaml"));
    let secret = read("deploy/kubernetes/secret.example.yaml");
    let dir = tempfile::tempdir().unwrap();
    // Every file the configuration names under the Secret's mount must be a key of the
    // example Secret; here each becomes a file, as Kubernetes mounts them.
    const MOUNT: &str = "/run/secrets/groupsync/";
    let mut named = 0;
    for part in text.split(MOUNT).skip(1) {
        let name = part.split('"').next().unwrap_or_default();
        assert!(
            secret.contains(&format!("\n  {name}: ")),
            "the ConfigMap reads {MOUNT}{name}, which secret.example.yaml does not define"
        );
        std::fs::write(dir.path().join(name), "placeholder\n").unwrap();
        named += 1;
    }
    assert!(
        named >= 3,
        "expected the secrets as *_file keys, found {named}"
    );
    let mounted = text.replace(MOUNT, &format!("{}/", dir.path().display()));
    let settings = Settings::from_toml_and_env(&mounted, &HashMap::new())
        .unwrap_or_else(|e| panic!("the ConfigMap's configuration does not load: {e}"));
    assert_eq!(settings.store.path, Path::new("/data/groupsync.db"));
    assert_eq!(settings.server.listen.port(), 8080);
    assert!(settings.webhook.auth.is_some() && settings.trigger.schedule.is_some());
}

#[test]
fn the_parsers_of_this_test_see_what_they_should() {
    assert_eq!(
        documented_keys(
            "## `[a]`\n| key | type | default | meaning |\n| `x` | int | `1` | m |\n## Other\n| `y` | a | b | c |"
        ),
        vec!["a.x".to_owned()]
    );
    assert_eq!(
        env_keys("Environment=GROUPSYNC_SCIM__TOKEN_FILE=%d/x GROUPSYNC_CONFIG=y"),
        vec!["scim.token_file".to_owned()]
    );
    assert_eq!(
        toml_blocks("a\n```toml\n[s]\nk = 1\n```\n```sh\nx\n```"),
        vec!["[s]\nk = 1\n".to_owned()]
    );
    assert_eq!(
        configmap_toml("data:\n  groupsync.toml: |\n    [s]\n\n    k = 1\nnext: 2"),
        "[s]\n\nk = 1"
    );
}

#[test]
fn the_migration_guide_names_only_real_keys_and_is_linked() {
    let known: BTreeSet<String> = known_keys().into_iter().collect();
    let sections: BTreeSet<&str> = known.iter().filter_map(|k| k.split('.').next()).collect();
    let guide = read("docs/migrating-from-the-workflow.md");
    let mut named = 0;
    // every `section.key` between backticks, also inside `key = value`
    for quoted in guide.split('`').skip(1).step_by(2) {
        let Some(word) = quoted.split([' ', '=']).next() else {
            continue;
        };
        let Some((section, key)) = word.split_once('.') else {
            continue;
        };
        if sections.contains(section) && !key.is_empty() && !key.contains('/') {
            assert!(
                known.contains(word),
                "the migration guide names `{word}`, which is not a key"
            );
            named += 1;
        }
    }
    assert!(
        named >= 40,
        "expected the guide to name the keys, found {named}"
    );
    for doc in ["README.md", "docs/operations.md"] {
        assert!(
            read(doc).contains("migrating-from-the-workflow.md"),
            "{doc} does not link the migration guide"
        );
    }
}
