//! Template expansion and the cleaning of names put into notices.

/// Replaces each `{name}` of `template` with its value, in one pass over the template:
/// values are inserted literally and never scanned again, so a group named `{group}` or
/// `{created}` stays as it is. Unknown placeholders are left untouched.
pub(super) fn expand(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let known = after.find('}').and_then(|close| {
            let name = &after[..close];
            let value = values.iter().find(|(k, _)| *k == name)?.1;
            Some((value, close))
        });
        match known {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `text` on one line: control characters (CR, LF, tab, NUL…) and the Unicode line and
/// paragraph separators become spaces.
pub(super) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_once() {
        let values = [("group", "{created} & {group}"), ("created", "3")];
        assert_eq!(
            expand("{group} / {created} / {unknown} / {", &values),
            "{created} & {group} / 3 / {unknown} / {"
        );
        assert_eq!(expand("{{group}}", &values), "{{created} & {group}}");
    }

    #[test]
    fn names_are_flattened() {
        assert_eq!(one_line("a\r\nBcc: x\u{2028}y\0"), "a  Bcc: x y ");
    }
}
