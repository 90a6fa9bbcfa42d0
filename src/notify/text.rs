//! The cleaning of names put into notices.

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
    fn names_are_flattened() {
        assert_eq!(one_line("a\r\nBcc: x\u{2028}y\0"), "a  Bcc: x y ");
    }
}
