//! How the simulated servers compare names: without regard to case, the way a Java
//! server does with `String.equalsIgnoreCase` (SailPoint IdentityNow and the common SCIM
//! server libraries are written in Java).
//!
//! That comparison maps one character at a time with the *simple* Unicode case mappings
//! (one character to one character): each character is upper-cased and then lower-cased.
//! So `ſ` (long s) and `s`, or `K` (Kelvin sign) and `k`, compare equal, while `ß` and
//! `SS` do not (upper-casing `ß` to `SS` is a full mapping, which a per-character
//! comparison cannot make). This is deliberately the servers' own rule, written apart from
//! groupsync's, so that a test against the sandbox can show where the two disagree.

/// The key under which the sandbox treats two names as the same.
pub fn fold_case(name: &str) -> String {
    name.chars().map(fold_char).collect()
}

fn fold_char(c: char) -> char {
    let upper = simple(c, c.to_uppercase());
    simple(upper, upper.to_lowercase())
}

/// The mapped character when the mapping gives exactly one, otherwise `c` unchanged (the
/// simple mapping of a character whose full mapping has several).
fn simple(c: char, mut mapped: impl Iterator<Item = char>) -> char {
    match (mapped.next(), mapped.next()) {
        (Some(one), None) => one,
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::fold_case;

    #[test]
    fn ignores_case_one_character_at_a_time() {
        assert_eq!(fold_case("Finance-EMEA"), fold_case("finance-emea"));
        assert_eq!(fold_case("ÉQUIPE Zürich"), "équipe zürich");
        assert_eq!(fold_case("ſtaff"), fold_case("STAFF"));
        assert_eq!(fold_case("\u{212A}iosk"), fold_case("kiosk"));
        assert_eq!(fold_case("ΣΟΦΙΑ"), fold_case("σοφια"));
        // full mappings (one character to several) are not applied
        assert_ne!(fold_case("Straße"), fold_case("STRASSE"));
        assert_eq!(fold_case("İ").chars().count(), 1);
    }
}
