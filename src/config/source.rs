//! The configuration as written, read from the TOML file and the `GROUPSYNC_<SECTION>__<KEY>`
//! environment overrides into [`RawSettings`].
//!
//! The file and each variable are checked here first, so that problems in the file name the
//! file, line and column and problems in the environment name the variable; the `config`
//! crate then lays the environment over the file, and each `[[jobs]]` table is laid over
//! both, key by key. No message repeats a line of the file, and
//! none shows the value of a secret key: a syntax error on a line holding a password must not
//! put the password in the logs.

use super::keys::known_keys;
use super::raw::RawSettings;
use super::{ENV_PREFIX, LoadError, Place};
use serde::Deserialize;
use std::collections::HashMap;
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The sections a `[[jobs]]` table may override, key by key; the others (`server`,
/// `store`, `log`, `webhook`) are shared by every job.
pub const JOB_SECTIONS: &[&str] = &[
    "identitynow",
    "scim",
    "email",
    "sync",
    "safety",
    "trigger",
    "poll",
];

/// Keys of which a job sets one and so drops the other it would inherit: a job naming its
/// source by name does not keep the top level's `source_id`, a `token_file` replaces a
/// `token`.
const ALTERNATIVES: &[(&str, &str)] = &[("source_id", "source_name")];

/// One `[[jobs]]` table: its name as written, and the whole configuration it sees (the top
/// level, the environment over it, then the job's own keys).
pub(super) struct RawJob {
    pub name: String,
    pub settings: RawSettings,
}

/// Reads `text` (the file called `name`) and overlays the `GROUPSYNC_…__…` variables of `env`:
/// the top level only (what `[store]` readers need).
pub(super) fn read(
    name: &str,
    text: &str,
    env: &HashMap<String, String>,
) -> Result<RawSettings, LoadError> {
    read_jobs(name, text, env).map(|(top, _)| top)
}

/// As [`read`], with each `[[jobs]]` table laid over the top level (none without `[[jobs]]`).
pub(super) fn read_jobs(
    name: &str,
    text: &str,
    env: &HashMap<String, String>,
) -> Result<(RawSettings, Vec<RawJob>), LoadError> {
    let known = known_keys();
    let file = File { name, text };
    let mut doc = DeTable::parse(text).map_err(|e| file.syntax(&e))?;
    let jobs_written = doc.get_mut().remove("jobs");
    file.check_keys(doc.get_ref(), &known)?;
    RawSettings::deserialize(toml::de::Deserializer::from(doc.clone()))
        .map_err(|e| file.wrong_type(doc.get_ref(), &e))?;
    if let Some(jobs) = &jobs_written {
        file.check_jobs(jobs, &known)?;
    }

    let mut vars: Vec<(&String, &String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.contains("__"))
        .collect();
    vars.sort();
    // The `config` crate lays the checked variables over the file; jobs are laid over
    // the result below, key by key.
    let mut layers = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml));
    for (var, value) in vars {
        let (section, field, value) = env_override(var, value, &known)?;
        layers = layers
            .set_override(format!("{section}.{field}"), config_value(value))
            .map_err(|e| LoadError::Parse(e.to_string()))?;
    }
    let mut top: toml::Table = layers
        .build()
        .and_then(config::Config::try_deserialize)
        .map_err(|e| LoadError::Parse(e.to_string()))?;
    let jobs = top.remove("jobs");
    let settings = |table: toml::Table| {
        toml::Value::Table(table)
            .try_into::<RawSettings>()
            .map_err(|e| LoadError::Parse(e.message().to_owned()))
    };
    let mut raw_jobs = vec![];
    for job in jobs
        .as_ref()
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(job) = job.as_table() else { continue };
        let mut merged = top.clone();
        for (section, keys) in job {
            let Some(keys) = keys.as_table() else {
                continue;
            };
            let inherited = section_of(&mut merged, section);
            for (key, value) in keys {
                for other in alternatives_of(key) {
                    inherited.remove(&other);
                }
                inherited.insert(key.clone(), value.clone());
            }
        }
        raw_jobs.push(RawJob {
            name: job
                .get("name")
                .and_then(toml::Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            settings: settings(merged)?,
        });
    }
    Ok((settings(top)?, raw_jobs))
}

/// A checked environment value (text, an integer or a boolean: what [`env_override`]
/// gives) as the `config` crate holds it.
fn config_value(value: toml::Value) -> config::Value {
    match value {
        toml::Value::Integer(n) => n.into(),
        toml::Value::Boolean(b) => b.into(),
        toml::Value::String(text) => text.into(),
        other => other.to_string().into(),
    }
}

/// The table of `section` in `doc`, made if missing.
fn section_of<'t>(doc: &'t mut toml::Table, section: &str) -> &'t mut toml::Table {
    let entry = doc
        .entry(section.to_owned())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !entry.is_table() {
        *entry = toml::Value::Table(toml::Table::new());
    }
    entry.as_table_mut().expect("a table")
}

/// The keys a job's `key` replaces besides itself: `x_file` for `x` and the other way
/// round, and the other half of an [`ALTERNATIVES`] pair.
fn alternatives_of(key: &str) -> Vec<String> {
    let mut others = match key.strip_suffix("_file") {
        Some(inline) => vec![inline.to_owned()],
        None => vec![format!("{key}_file")],
    };
    for (a, b) in ALTERNATIVES {
        if key == *a {
            others.push((*b).to_owned());
        } else if key == *b {
            others.push((*a).to_owned());
        }
    }
    others
}

/// Whether the value of `key` (`section.key`) must never be shown.
fn is_secret(key: &str) -> bool {
    let field = key.rsplit('.').next().unwrap_or(key);
    ["token", "password", "secret"]
        .iter()
        .any(|word| field.contains(word))
}

/// The known key closest to `key` (`section.key`), if one is close enough to be a typo:
/// the same name in another section, or a name a few letters away.
fn closest<'k>(key: &str, known: &'k [String]) -> Option<&'k str> {
    let (section, field) = key.split_once('.').unwrap_or(("", key));
    nearest(
        field,
        known.iter().map(|candidate| {
            let (s, f) = candidate.split_once('.').unwrap_or(("", candidate));
            (f, usize::from(s != section), candidate.as_str())
        }),
    )
}

/// The closest section name to `section`, if one is close enough.
fn closest_section<'k>(section: &str, known: &'k [String]) -> Option<&'k str> {
    nearest(
        section,
        known
            .iter()
            .filter_map(|k| k.split_once('.').map(|(s, _)| (s, 0, s))),
    )
}

/// Of the candidates (name, extra distance, what to suggest), the one nearest to `word`
/// within a third of its length (at least 2 edits).
fn nearest<'k>(
    word: &str,
    candidates: impl Iterator<Item = (&'k str, usize, &'k str)>,
) -> Option<&'k str> {
    candidates
        .map(|(name, extra, suggestion)| {
            (strsim::damerau_levenshtein(word, name) + extra, suggestion)
        })
        .filter(|(distance, _)| *distance <= (word.len() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, suggestion)| suggestion)
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion
        .map(|k| format!("; did you mean `{k}`?"))
        .unwrap_or_default()
}

struct File<'a> {
    name: &'a str,
    text: &'a str,
}

impl File<'_> {
    /// The 1-based line and column (in characters) of a byte offset.
    fn place(&self, offset: usize) -> Place {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Place::File {
            file: self.name.to_owned(),
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }

    /// The line holding byte `offset`, without its line break.
    fn line_at(&self, offset: usize) -> &str {
        let offset = offset.min(self.text.len());
        let start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        self.text[start..end].trim_end_matches('\r')
    }

    /// A syntax error at its place, with the parser's message only when it repeats nothing
    /// of the offending line (which may hold a secret).
    fn syntax(&self, e: &toml::de::Error) -> LoadError {
        let at = e.span().map_or(0, |s| s.start);
        let message = e.message().trim();
        let line = self.line_at(at);
        let echoes = line
            .split(|c: char| c.is_whitespace() || c == '=')
            .map(|word| word.trim_matches(|c| c == '"' || c == '\''))
            .any(|word| word.chars().count() >= 3 && message.contains(word));
        const BACKSLASH: &str = "in a \"double-quoted\" string a backslash starts an escape: \
             write \\\\ for one backslash, or use a 'single-quoted' string";
        let problem = if message.is_empty() || echoes {
            format!("not valid TOML here ({BACKSLASH})")
        } else if message.contains("escape") {
            format!(
                "not valid TOML: {} ({BACKSLASH})",
                message.replace('\n', "; ")
            )
        } else {
            format!("not valid TOML: {}", message.replace('\n', "; "))
        };
        LoadError::Syntax {
            place: self.place(at),
            problem,
        }
    }

    /// Refuses sections and keys the code does not read, suggesting the closest known one.
    fn check_keys(&self, doc: &DeTable<'_>, known: &[String]) -> Result<(), LoadError> {
        for (section, value) in doc {
            let section_name = section.get_ref().as_ref();
            let fields: Vec<&str> = known
                .iter()
                .filter_map(|k| k.strip_prefix(section_name)?.strip_prefix('.'))
                .collect();
            if fields.is_empty() {
                let suggestion = match value.get_ref() {
                    DeValue::Table(_) => {
                        closest_section(section_name, known).map(|s| format!("[{s}]"))
                    }
                    _ => None,
                }
                .or_else(|| closest(section_name, known).map(str::to_owned));
                return Err(self.key_error(
                    section.span(),
                    section_name,
                    format!(
                        "unknown section or key{}",
                        did_you_mean(suggestion.as_deref())
                    ),
                ));
            }
            let Some(table) = value.get_ref().as_table() else {
                continue; // a type error, reported by the deserializer
            };
            for (field, _) in table {
                let field_name = field.get_ref().as_ref();
                if fields.contains(&field_name) {
                    continue;
                }
                let key = format!("{section_name}.{field_name}");
                return Err(self.key_error(
                    field.span(),
                    &key,
                    format!("unknown key{}", did_you_mean(closest(&key, known))),
                ));
            }
        }
        Ok(())
    }

    /// Refuses a `jobs` that is not a list of tables, a job key that is not `name` or an
    /// overridable section, and keys unknown in that section (suggesting the closest). A
    /// job's key is named `jobs.<name>.<section>.<key>`.
    fn check_jobs(&self, jobs: &Spanned<DeValue<'_>>, known: &[String]) -> Result<(), LoadError> {
        let not_tables = || {
            self.key_error(
                jobs.span(),
                "jobs",
                "expected a list of tables, written `[[jobs]]`".to_owned(),
            )
        };
        let DeValue::Array(list) = jobs.get_ref() else {
            return Err(not_tables());
        };
        for (i, job) in list.iter().enumerate() {
            let Some(table) = job.get_ref().as_table() else {
                return Err(not_tables());
            };
            let label = match table.get("name").map(|n| n.get_ref()) {
                Some(DeValue::String(n)) if !n.is_empty() => format!("jobs.{n}"),
                _ => format!("jobs[{i}]"),
            };
            for (section, value) in table {
                let section_name = section.get_ref().as_ref();
                let expected = |what: &str| {
                    let problem = format!("expected {what}, got {}", found(value.get_ref(), false));
                    self.key_error(value.span(), &format!("{label}.{section_name}"), problem)
                };
                if section_name == "name" {
                    if !matches!(value.get_ref(), DeValue::String(_)) {
                        return Err(expected("a string"));
                    }
                    continue;
                }
                if !JOB_SECTIONS.contains(&section_name) {
                    let suggestion = nearest(
                        section_name,
                        JOB_SECTIONS.iter().chain(&["name"]).map(|s| (*s, 0, *s)),
                    );
                    let shared = known
                        .iter()
                        .any(|k| k.split_once('.').is_some_and(|(s, _)| s == section_name));
                    let problem = if shared {
                        format!(
                            "[{section_name}] is shared by every job and cannot be set per job; \
                             a job may set `name` and {}",
                            JOB_SECTIONS
                                .iter()
                                .map(|s| format!("[{s}]"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    } else {
                        format!("unknown key in a job{}", did_you_mean(suggestion))
                    };
                    return Err(self.key_error(
                        section.span(),
                        &format!("{label}.{section_name}"),
                        problem,
                    ));
                }
                let Some(keys) = value.get_ref().as_table() else {
                    return Err(expected("a table"));
                };
                for (field, _) in keys {
                    let key = format!("{section_name}.{}", field.get_ref());
                    if known.contains(&key) {
                        continue;
                    }
                    let suggestion = closest(&key, known).map(|k| format!("{label}.{k}"));
                    return Err(self.key_error(
                        field.span(),
                        &format!("{label}.{key}"),
                        format!("unknown key{}", did_you_mean(suggestion.as_deref())),
                    ));
                }
                let mut probe = DeTable::new();
                probe.insert(section.clone(), value.clone());
                RawSettings::deserialize(toml::de::Deserializer::from(Spanned::new(
                    0..0,
                    probe.clone(),
                )))
                .map_err(|e| match self.wrong_type(&probe, &e) {
                    LoadError::Key {
                        place,
                        key,
                        problem,
                    } => LoadError::Key {
                        place,
                        key: format!("{label}.{key}"),
                        problem,
                    },
                    other => other,
                })?;
            }
        }
        Ok(())
    }

    fn key_error(&self, span: Range<usize>, key: &str, problem: String) -> LoadError {
        LoadError::Key {
            place: self.place(span.start),
            key: key.to_owned(),
            problem,
        }
    }

    /// A value of the wrong type, named by its key, with what was expected and what was found.
    fn wrong_type(&self, doc: &DeTable<'_>, e: &toml::de::Error) -> LoadError {
        let at = e.span().map_or(0, |s| s.start);
        let Some((key, value)) = key_at(doc, at) else {
            return LoadError::Syntax {
                place: self.place(at),
                problem: format!(
                    "a value of the wrong type: expected {}",
                    expected(e.message())
                ),
            };
        };
        let problem = format!(
            "expected {}, got {}",
            expected(e.message()),
            found(value.get_ref(), is_secret(&key))
        );
        self.key_error(value.span(), &key, problem)
    }
}

/// The `section.key` (or section) whose key or value covers byte `at`, with its value.
fn key_at<'d, 'i>(doc: &'d DeTable<'i>, at: usize) -> Option<(String, &'d Spanned<DeValue<'i>>)> {
    let covers = |k: &Spanned<_>, v: &Spanned<_>| {
        let (k, v): (Range<usize>, Range<usize>) = (Spanned::span(k), Spanned::span(v));
        k.contains(&at) || v.contains(&at) || v.start == at
    };
    for (section, value) in doc {
        if let Some(table) = value.get_ref().as_table() {
            for (field, v) in table {
                if covers(field, v) {
                    return Some((format!("{}.{}", section.get_ref(), field.get_ref()), v));
                }
            }
        }
    }
    doc.iter()
        .find(|(k, v)| covers(k, v))
        .map(|(k, v)| (k.get_ref().to_string(), v))
}

/// What serde says it expected, in the configuration's words.
fn expected(message: &str) -> &'static str {
    let wanted = message
        .rsplit("expected ")
        .next()
        .unwrap_or_default()
        .trim();
    let unsigned = ["u8", "u16", "u32", "u64", "usize"];
    if unsigned.iter().any(|t| wanted.starts_with(t)) {
        if message.starts_with("invalid value") {
            "a whole number of 0 or more"
        } else {
            "an integer"
        }
    } else if wanted.starts_with("i64") || wanted.starts_with("an integer") {
        "an integer"
    } else if wanted.starts_with("a boolean") {
        "a boolean (true or false)"
    } else if wanted.starts_with("a string") {
        "a string"
    } else if wanted.starts_with("a sequence") {
        "a list"
    } else if wanted.starts_with("struct") || wanted.contains("map") {
        "a table"
    } else if message.contains("untagged enum") {
        "a string or a list of strings"
    } else {
        "a value of another type"
    }
}

/// The type of a value found, with the value itself when it is short, plain and not secret.
fn found(value: &DeValue<'_>, secret: bool) -> String {
    let kind = match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    };
    let shown = match value {
        _ if secret => None,
        DeValue::String(s) => Some(format!("{s:?}")),
        DeValue::Integer(i) => Some(i.as_str().to_owned()),
        DeValue::Float(f) => Some(f.as_str().to_owned()),
        DeValue::Boolean(b) => Some(b.to_string()),
        _ => None,
    };
    match shown.filter(|s| s.chars().count() <= 40) {
        Some(s) => format!("{kind} {s}"),
        None => kind.to_owned(),
    }
}

/// Checks `GROUPSYNC_SCIM__PAGE_SIZE=100` against the key it sets and the type that key
/// takes (an environment variable is text, so a number or a boolean is read from it), and
/// gives the section, the key and the value in that type.
fn env_override(
    var: &str,
    text: &str,
    known: &[String],
) -> Result<(String, String, toml::Value), LoadError> {
    let rest = var.strip_prefix(ENV_PREFIX).unwrap_or(var).to_lowercase();
    let key = rest.replacen("__", ".", 1);
    let place = || Place::Env(var.to_owned());
    let Some((section, field)) = key.split_once('.').filter(|_| known.contains(&key)) else {
        return Err(LoadError::Key {
            place: place(),
            problem: format!("unknown key{}", did_you_mean(closest(&key, known))),
            key,
        });
    };
    let mut candidates = vec![toml::Value::String(text.to_owned())];
    candidates.extend(text.trim().parse().ok().map(toml::Value::Integer));
    candidates.extend(text.trim().parse().ok().map(toml::Value::Boolean));
    let mut refusal = String::new();
    for value in candidates {
        let mut probe = toml::Table::new();
        probe.insert(
            section.to_owned(),
            toml::Value::Table(toml::Table::from_iter([(field.to_owned(), value.clone())])),
        );
        match toml::Value::Table(probe).try_into::<RawSettings>() {
            Ok(_) => return Ok((section.to_owned(), field.to_owned(), value)),
            Err(e) => refusal = e.message().to_owned(),
        }
    }
    let got = if is_secret(&key) || text.chars().count() > 40 {
        "other text".to_owned()
    } else {
        format!("{text:?}")
    };
    Err(LoadError::Key {
        place: place(),
        problem: format!("expected {}, got {got}", expected(&refusal)),
        key,
    })
}
