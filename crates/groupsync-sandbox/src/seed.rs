//! Reproducible AD-like group names for the demo, the tests and the benchmarks.
//!
//! Most names follow the conventions real directories use (`GG-Finance-Readers`,
//! `SG_AWS_Prod_Admins`, `Sales EMEA`, `DL-All Staff`); about one in 25 is deliberately
//! awkward (quotes, backslashes, accents, CJK, emoji, `& # % + =`, a case twin of another
//! name, padding spaces, a 300+ character name, a tab), because those are the names that
//! break filters, escaping and duplicate detection downstream.

use crate::names::fold_case;
use std::collections::HashSet;
use std::path::Path;

/// splitmix64: tiny, fast, and good enough to make varied but reproducible names.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// The splitmix64 finaliser: spreads the bits of `z` over the whole word.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const DEPTS: &[&str] = &[
    "Finance",
    "HR",
    "Sales",
    "Marketing",
    "Engineering",
    "Legal",
    "Procurement",
    "IT",
    "Operations",
    "Support",
    "Security",
    "Compliance",
    "Facilities",
    "Research",
    "Data",
    "Payroll",
    "Treasury",
    "Audit",
    "Logistics",
    "Product",
];
const ROLES: &[&str] = &[
    "Readers",
    "Writers",
    "Admins",
    "Owners",
    "Approvers",
    "Analysts",
    "Managers",
    "Contributors",
    "Viewers",
    "Editors",
    "Auditors",
    "Operators",
];
const REGIONS: &[&str] = &[
    "EMEA", "APAC", "AMER", "LATAM", "NA", "DACH", "Nordics", "UK", "France", "Japan",
];
const SYSTEMS: &[&str] = &[
    "AWS",
    "Azure",
    "GCP",
    "SAP",
    "Salesforce",
    "Workday",
    "ServiceNow",
    "Jira",
    "Confluence",
    "Tableau",
    "Snowflake",
    "Alation",
    "Okta",
    "GitHub",
    "Oracle",
];
const ENVS: &[&str] = &["Prod", "Dev", "Test", "UAT", "QA", "Stage"];
const SITES: &[&str] = &[
    "London",
    "Paris",
    "Berlin",
    "Tokyo",
    "Singapore",
    "Sydney",
    "NewYork",
    "Chicago",
    "Austin",
    "Toronto",
    "Dublin",
    "Madrid",
];
const AUDIENCES: &[&str] = &[
    "All Staff",
    "Managers",
    "Contractors",
    "Interns",
    "Leadership",
    "New Hires",
    "Remote Workers",
    "Field Engineers",
];
const PROJECTS: &[&str] = &["Phoenix", "Atlas", "Orion", "Zephyr", "Nimbus", "Falcon"];
const ACCENTED: &[&str] = &[
    "Équipe Comptabilité",
    "Ventes Région Île-de-France",
    "Gestión de Nóminas",
    "Lohnbuchhaltung Zürich",
    "Förvaltning Malmö",
    "Recursos Humanos São Paulo",
];
const CJK: &[&str] = &[
    "営業部 東京",
    "财务组 上海",
    "開発チーム 大阪",
    "市场部 北京",
    "인사팀 서울",
];
const EMOJI: &[&str] = &[
    "🚀 Launch Team",
    "🔥 Incident Response",
    "☕ Coffee Club",
    "🎉 Events",
];

/// A conventional name, as most of a real directory looks.
fn plain_name(rng: &mut SplitMix64) -> String {
    match rng.below(8) {
        0 => format!("GG-{}-{}", rng.pick(DEPTS), rng.pick(ROLES)),
        1 => format!(
            "SG_{}_{}_{}",
            rng.pick(SYSTEMS),
            rng.pick(ENVS),
            rng.pick(ROLES)
        ),
        2 => format!("{} {}", rng.pick(DEPTS), rng.pick(REGIONS)),
        3 if rng.below(2) == 0 => format!("DL-{}", rng.pick(AUDIENCES)),
        3 => format!("DL-{} {}", rng.pick(DEPTS), rng.pick(REGIONS)),
        4 => format!("APP-{}-{}", rng.pick(SYSTEMS), rng.pick(ROLES)),
        5 => format!("LOC-{}-{}", rng.pick(SITES), rng.pick(DEPTS)),
        6 => format!(
            "GG-{}-{}-{}",
            rng.pick(DEPTS),
            rng.pick(REGIONS),
            rng.pick(ROLES)
        ),
        _ => format!(
            "SG_{}_{}_{}",
            rng.pick(SYSTEMS),
            rng.pick(DEPTS),
            rng.pick(ENVS)
        ),
    }
}

/// The kinds of awkward names, each present at least once when there are 40+ names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awkward {
    Quote,
    Backslash,
    Accents,
    Cjk,
    Emoji,
    Symbols,
    CaseTwin,
    Padded,
    Long,
    Tab,
}

const AWKWARD: [Awkward; 10] = [
    Awkward::Quote,
    Awkward::Backslash,
    Awkward::Accents,
    Awkward::Cjk,
    Awkward::Emoji,
    Awkward::Symbols,
    Awkward::CaseTwin,
    Awkward::Padded,
    Awkward::Long,
    Awkward::Tab,
];

/// Keeps names unique ignoring case: a clash gets a numeric suffix.
struct Names {
    taken: HashSet<String>,
    suffix: usize,
}

impl Names {
    fn claim(&mut self, name: String) -> String {
        if self.taken.insert(fold_case(&name)) {
            return name;
        }
        loop {
            self.suffix += 1;
            let candidate = format!("{name} {}", self.suffix);
            if self.taken.insert(fold_case(&candidate)) {
                return candidate;
            }
        }
    }

    /// A conventional name not used yet (a few fresh draws, then a suffix).
    fn fresh(&mut self, rng: &mut SplitMix64) -> String {
        for _ in 0..8 {
            let name = plain_name(rng);
            if !self.taken.contains(&fold_case(&name)) {
                return self.claim(name);
            }
        }
        let name = plain_name(rng);
        self.claim(name)
    }
}

fn long_name(rng: &mut SplitMix64) -> String {
    let words = [DEPTS, REGIONS, SYSTEMS, PROJECTS].concat();
    let mut name = format!("SG_{}_Shared_Drive", rng.pick(DEPTS));
    while name.len() < 300 {
        name.push('_');
        name.push_str(rng.pick(&words));
    }
    name
}

/// The awkward name of `kind`; `None` for a case twin, which needs a partner (see below).
fn awkward_name(kind: Awkward, rng: &mut SplitMix64, names: &mut Names) -> Option<String> {
    let (dept, region) = (rng.pick(DEPTS), rng.pick(REGIONS));
    let name = match kind {
        Awkward::Quote => format!("{dept} \"{}\" Project", rng.pick(PROJECTS)),
        Awkward::Backslash => format!("CORP\\{dept}-Share"),
        Awkward::Accents => format!("{} {region}", rng.pick(ACCENTED)),
        Awkward::Cjk => rng.pick(CJK).to_owned(),
        Awkward::Emoji => format!("{} {dept}", rng.pick(EMOJI)),
        Awkward::Symbols => format!("R&D {dept} #{} 100% A+B=C", rng.below(90) + 10),
        Awkward::Padded => return Some(format!("  {} ", names.fresh(rng))),
        Awkward::Long => long_name(rng),
        Awkward::Tab => format!("{dept}\t{region}"),
        Awkward::CaseTwin => return None,
    };
    Some(names.claim(name))
}

/// The same name in other letter case: all capitals, or all small if it already is.
fn case_twin(name: &str) -> String {
    let upper = name.to_uppercase();
    if upper != name {
        upper
    } else {
        name.to_lowercase()
    }
}

/// Reproducible AD-like group names: realistic (e.g. "GG-Finance-Readers", "SG_AWS_Prod_Admins",
/// "Sales EMEA", "DL-All Staff", department/region/role combos), unique ignoring case EXCEPT the
/// deliberate case twins, with a sprinkling (about 1 in 25, at least one of each kind when
/// n >= 40) of awkward names: embedded double quotes, backslashes, unicode (accents, CJK),
/// emoji, `& # % + =`, a case twin of another generated name, leading/trailing spaces, a very
/// long name (300+ chars), a tab.
pub fn generate_groups(n: usize, seed: u64) -> Vec<String> {
    let mut rng = SplitMix64(seed);
    let mut names = Names {
        taken: HashSet::new(),
        suffix: 0,
    };
    let mut out: Vec<String> = (0..n).map(|_| names.fresh(&mut rng)).collect();
    let awkward_count = if n >= 40 {
        (n.div_ceil(25)).max(AWKWARD.len())
    } else {
        (n + 12) / 25
    };
    let slots = shuffled(n, &mut rng);
    let (awkward_slots, plain_slots) = slots.split_at(awkward_count.min(n));
    let kinds = shuffled(AWKWARD.len(), &mut rng);
    let mut twin_sources = plain_slots.to_vec();
    for (i, &slot) in awkward_slots.iter().enumerate() {
        let kind = AWKWARD[kinds[i % kinds.len()]];
        out[slot] = match awkward_name(kind, &mut rng, &mut names) {
            Some(name) => name,
            // A twin needs a plain partner that stays in the list and is twinned once only.
            None if !twin_sources.is_empty() => {
                let partner = twin_sources.swap_remove(rng.below(twin_sources.len()));
                case_twin(&out[partner])
            }
            None => awkward_name(Awkward::Quote, &mut rng, &mut names).unwrap_or_default(),
        };
    }
    out
}

/// `0..n` in a seed-determined order (Fisher–Yates).
fn shuffled(n: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        v.swap(i, rng.below(i + 1));
    }
    v
}

/// `m` names from `groups` (deterministic from `seed`) to pre-exist in the target; never two
/// names that are the same ignoring case. Returns fewer than `m` when `groups` holds fewer
/// distinct names; the result keeps the order of `groups`.
pub fn pick_existing(groups: &[String], m: usize, seed: u64) -> Vec<String> {
    let mut rng = SplitMix64(seed ^ 0x5EED_0FE8_1571_9600);
    let mut seen = HashSet::new();
    let mut chosen: Vec<usize> = shuffled(groups.len(), &mut rng)
        .into_iter()
        .filter(|&i| seen.insert(fold_case(&groups[i])))
        .take(m)
        .collect();
    chosen.sort_unstable();
    chosen.into_iter().map(|i| groups[i].clone()).collect()
}

/// Reads one name per line (UTF-8; strips a trailing `\r`; keeps other whitespace and empty
/// lines; a final newline does not start another name). An error names the file, and the
/// line on invalid UTF-8.
pub fn read_names(path: &Path) -> Result<Vec<String>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    body.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            String::from_utf8(line.to_vec())
                .map_err(|e| format!("{}: line {}: invalid UTF-8 ({e})", path.display(), i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// True for names outside the plain conventions (the case twin is checked apart).
    fn is_odd(name: &str) -> bool {
        name.len() >= 300
            || name.trim() != name
            || name
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || " -_".contains(c)))
    }

    #[test]
    fn same_seed_same_names_other_seed_other_names() {
        assert_eq!(generate_groups(300, 42), generate_groups(300, 42));
        assert_ne!(generate_groups(300, 42), generate_groups(300, 43));
        for n in [0, 1, 12, 13, 39, 40, 41, 1000] {
            assert_eq!(generate_groups(n, 7).len(), n);
        }
    }

    #[test]
    fn forty_names_hold_every_awkward_kind() {
        for seed in 0..20 {
            let names = generate_groups(40, seed);
            let any = |f: &dyn Fn(&str) -> bool| names.iter().any(|n| f(n));
            assert!(any(&|n| n.contains('"')), "quote, seed {seed}");
            assert!(any(&|n| n.contains('\\')), "backslash, seed {seed}");
            assert!(any(&|n| n
                .chars()
                .any(|c| ('\u{c0}'..='\u{17f}').contains(&c))));
            assert!(any(&|n| n
                .chars()
                .any(|c| ('\u{3040}'..='\u{d7af}').contains(&c))));
            assert!(any(&|n| n.chars().any(
                |c| c >= '\u{2600}' && !('\u{3040}'..='\u{d7af}').contains(&c)
            )));
            for sym in ['&', '#', '%', '+', '='] {
                assert!(any(&|n| n.contains(sym)), "{sym}, seed {seed}");
            }
            assert!(any(&|n| n.starts_with(' ') && n.ends_with(' ')));
            assert!(any(&|n| n.chars().count() >= 300));
            assert!(any(&|n| n.contains('\t')));
            let mut folds = HashMap::<String, usize>::new();
            for n in &names {
                *folds.entry(fold_case(n)).or_default() += 1;
            }
            assert_eq!(
                folds.values().filter(|&&c| c == 2).count(),
                1,
                "one twin pair"
            );
        }
    }

    #[test]
    fn unique_except_case_twins_and_about_one_in_25_awkward() {
        let names = generate_groups(2500, 99);
        let exact: HashSet<&String> = names.iter().collect();
        assert_eq!(exact.len(), names.len(), "no exact duplicates");
        let mut by_fold = HashMap::<String, Vec<&String>>::new();
        for n in &names {
            by_fold.entry(fold_case(n)).or_default().push(n);
        }
        let twins: Vec<_> = by_fold.values().filter(|v| v.len() > 1).collect();
        assert!(twins.iter().all(|v| v.len() == 2));
        assert_eq!(twins.len(), 10, "100 awkward names, one in ten a case twin");
        let odd = names.iter().filter(|n| is_odd(n)).count();
        assert_eq!(odd + twins.len(), 100);
        let plain = names.iter().filter(|n| !is_odd(n)).take(5);
        for n in plain {
            assert!(
                n.len() >= 5 && n.chars().any(|c| c.is_ascii_uppercase()),
                "{n}"
            );
        }
    }

    #[test]
    fn picks_are_reproducible_members_without_case_twins() {
        let groups = generate_groups(400, 3);
        let picked = pick_existing(&groups, 50, 11);
        assert_eq!(picked, pick_existing(&groups, 50, 11));
        assert_ne!(picked, pick_existing(&groups, 50, 12));
        assert_eq!(picked.len(), 50);
        let folds: HashSet<String> = picked.iter().map(|n| fold_case(n)).collect();
        assert_eq!(folds.len(), 50);
        assert!(picked.iter().all(|p| groups.contains(p)));
        let twins: Vec<String> = ["Sales", "SALES", "HR", "hr"].map(String::from).to_vec();
        let two = pick_existing(&twins, 4, 1);
        assert_eq!(two.len(), 2);
        assert_ne!(fold_case(&two[0]), fold_case(&two[1]));
        assert!(pick_existing(&groups, 0, 1).is_empty());
    }

    #[test]
    fn reads_lines_keeping_whitespace_and_naming_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("groups.txt");
        std::fs::write(&path, "a\r\n b \n\tc\n\nÉquipe\n").unwrap();
        assert_eq!(
            read_names(&path).unwrap(),
            vec!["a", " b ", "\tc", "", "Équipe"]
        );
        std::fs::write(&path, "no newline").unwrap();
        assert_eq!(read_names(&path).unwrap(), vec!["no newline"]);
        std::fs::write(&path, "").unwrap();
        assert!(read_names(&path).unwrap().is_empty());
        std::fs::write(&path, b"ok\nbad \xff\n").unwrap();
        let err = read_names(&path).unwrap_err();
        assert!(
            err.contains("groups.txt") && err.contains("line 2"),
            "{err}"
        );
        let missing = read_names(&dir.path().join("nope.txt")).unwrap_err();
        assert!(missing.contains("nope.txt"), "{missing}");
    }
}
