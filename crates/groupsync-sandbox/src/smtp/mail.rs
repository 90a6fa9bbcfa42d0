//! A received message and just enough MIME to read it back in tests: unfolded headers
//! with RFC 2047 encoded-words decoded, and the text body decoded from
//! quoted-printable or base64, taking the `text/plain` part of a multipart message.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;
/// One message as the sink received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The `MAIL FROM` address (empty for the null reverse path `<>`).
    pub mail_from: String,
    /// The `RCPT TO` addresses, in order.
    pub rcpt_to: Vec<String>,
    /// The raw RFC 5322 message, dot-unstuffed, lines ending in CRLF; the CRLF that
    /// precedes the terminating `.` is not part of it.
    pub data: String,
}

impl ReceivedMail {
    /// The first header with this name (ignoring case), unfolded, encoded-words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = split_entity(&self.data);
        find_header(&headers(head), name).map(|raw| decode_words(&raw))
    }

    pub fn subject(&self) -> Option<String> {
        self.header("Subject")
    }

    /// The text body with its transfer encoding undone and line ends as `\n`; for a
    /// multipart message, the first `text/plain` part (else the first part).
    pub fn body_text(&self) -> String {
        entity_text(&self.data)
    }

    /// What `GET /sandbox/mail` shows of the message: `subject`, `from` (the `From`
    /// header, else the envelope sender), `recipients` (the envelope's), `date` (the
    /// `Date` header, as sent) and `body` (the text).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "subject": self.subject(),
            "from": self.header("From").unwrap_or_else(|| self.mail_from.clone()),
            "recipients": self.rcpt_to,
            "date": self.header("Date"),
            "body": self.body_text(),
        })
    }
}

/// Splits an entity at the first empty line into header section and body.
fn split_entity(entity: &str) -> (&str, &str) {
    if entity.starts_with("\r\n") || entity.starts_with('\n') {
        return ("", entity.trim_start_matches('\r').trim_start_matches('\n'));
    }
    for sep in ["\r\n\r\n", "\n\n"] {
        if let Some(at) = entity.find(sep) {
            return (&entity[..at], &entity[at + sep.len()..]);
        }
    }
    (entity, "")
}

/// Header fields as (name, unfolded raw value): a line starting with a space or a tab
/// continues the previous field (RFC 5322 §2.2.3).
fn headers(head: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = out.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_owned(), value.trim_start().to_owned()));
        }
    }
    out
}

fn find_header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim_end().to_owned())
}

/// Decodes RFC 2047 encoded-words (`=?UTF-8?B?...?=`, `=?UTF-8?Q?...?=`). Whitespace
/// between two adjacent encoded-words is dropped, and their bytes are joined before
/// decoding, so a character split across two words comes back whole.
pub fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_charset = String::new();
    let mut rest = value;
    while let Some(word) = next_encoded_word(rest) {
        let before = &rest[..word.start];
        let joins = !pending.is_empty() && before.trim().is_empty();
        if !joins || !word.charset.eq_ignore_ascii_case(&pending_charset) {
            out.push_str(&decode_charset(
                &std::mem::take(&mut pending),
                &pending_charset,
            ));
        }
        if !joins {
            out.push_str(before);
        }
        pending.extend(word.bytes);
        pending_charset = word.charset;
        rest = &rest[word.end..];
    }
    out.push_str(&decode_charset(&pending, &pending_charset));
    out.push_str(rest);
    out
}

struct EncodedWord {
    start: usize,
    end: usize,
    charset: String,
    bytes: Vec<u8>,
}

/// The first well-formed encoded-word in `s`; malformed ones are left as text.
fn next_encoded_word(s: &str) -> Option<EncodedWord> {
    let mut from = 0;
    while let Some(offset) = s[from..].find("=?") {
        let start = from + offset;
        if let Some(word) = parse_encoded_word(s, start) {
            return Some(word);
        }
        from = start + 2;
    }
    None
}

/// Base64 as mail carries it: broken into lines, padded or not; `None` when it is not
/// base64 at all.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD_PAD_INDIFFERENT.decode(compact).ok()
}

fn parse_encoded_word(s: &str, start: usize) -> Option<EncodedWord> {
    let inner = &s[start + 2..];
    let (charset, rest) = inner.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end_text = rest.find("?=")?;
    let text = &rest[..end_text];
    if charset.is_empty() || text.contains([' ', '\t', '?']) {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => base64_decode(text)?,
        "Q" | "q" => q_decode(text),
        _ => return None,
    };
    let consumed = 2 + charset.len() + 1 + encoding.len() + 1 + end_text + 2;
    Some(EncodedWord {
        start,
        end: start + consumed,
        // RFC 2231 allows a language after `*`: `UTF-8*fr`.
        charset: charset.split('*').next().unwrap_or(charset).to_owned(),
        bytes,
    })
}

/// The "Q" encoding of headers: `_` is a space, `=XX` a byte.
fn q_decode(text: &str) -> Vec<u8> {
    let text = text.replace('_', " ");
    qp_line(&text)
}

/// UTF-8 and ASCII as such, Latin-1 byte for byte; anything else is read as UTF-8.
fn decode_charset(bytes: &[u8], charset: &str) -> String {
    let latin1 = ["iso-8859-1", "latin1", "iso_8859-1", "windows-1252"];
    if latin1.iter().any(|c| charset.eq_ignore_ascii_case(c)) {
        bytes.iter().map(|&b| char::from(b)).collect()
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// The readable text of an entity (a whole message or one MIME part).
fn entity_text(entity: &str) -> String {
    let (head, body) = split_entity(entity);
    let headers = headers(head);
    let content_type = find_header(&headers, "Content-Type").unwrap_or_default();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media.starts_with("multipart/")
        && let Some(boundary) = parameter(&content_type, "boundary")
    {
        let parts = multipart_parts(body, &boundary);
        let plain = parts.iter().find(|p| is_plain_text(p)).or(parts.first());
        return plain.map(|p| entity_text(p)).unwrap_or_default();
    }
    let encoding = find_header(&headers, "Content-Transfer-Encoding").unwrap_or_default();
    let bytes = match encoding.trim().to_ascii_lowercase().as_str() {
        "base64" => base64_decode(body).unwrap_or_else(|| body.as_bytes().to_vec()),
        "quoted-printable" => qp_decode(body),
        _ => body.as_bytes().to_vec(),
    };
    let charset = parameter(&content_type, "charset").unwrap_or_else(|| "utf-8".into());
    decode_charset(&bytes, &charset).replace("\r\n", "\n")
}

fn is_plain_text(part: &str) -> bool {
    let (head, _) = split_entity(part);
    let content_type = find_header(&headers(head), "Content-Type");
    content_type.is_none_or(|ct| ct.to_ascii_lowercase().starts_with("text/plain"))
}

/// A `name=value` parameter of a header value, quotes removed.
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|param| {
        let (key, val) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| val.trim().trim_matches('"').to_owned())
    })
}

/// The parts between `--boundary` lines, up to `--boundary--` (RFC 2046 §5.1.1).
fn multipart_parts(body: &str, boundary: &str) -> Vec<String> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in body.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
        let trimmed = line.trim_end();
        if trimmed == delimiter || trimmed == format!("{delimiter}--") {
            if let Some(lines) = current.take() {
                parts.push(lines.join("\r\n"));
            }
            if trimmed != delimiter {
                break;
            }
            current = Some(Vec::new());
        } else if let Some(lines) = current.as_mut() {
            lines.push(line);
        }
    }
    parts
}

/// Quoted-printable (RFC 2045 §6.7): `=XX` bytes, `=` at a line end is a soft break,
/// trailing whitespace of a line is padding.
fn qp_decode(body: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut lines = body.split('\n').peekable();
    while let Some(line) = lines.next() {
        let line = line
            .strip_suffix('\r')
            .unwrap_or(line)
            .trim_end_matches([' ', '\t']);
        match line.strip_suffix('=') {
            Some(soft) => out.extend(qp_line(soft)),
            None => {
                out.extend(qp_line(line));
                if lines.peek().is_some() {
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
    }
    out
}

/// One line of quoted-printable: `=XX` becomes a byte; a stray `=` stays as it is.
fn qp_line(line: &str) -> Vec<u8> {
    let bytes = line.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| {
            let h = std::str::from_utf8(h).ok()?;
            u8::from_str_radix(h, 16).ok()
        });
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(data: &str) -> ReceivedMail {
        ReceivedMail {
            mail_from: "a@example.com".into(),
            rcpt_to: vec!["b@example.com".into()],
            data: data.into(),
        }
    }

    #[test]
    fn headers_are_unfolded_and_encoded_words_decoded() {
        let m = mail(
            "From: x@example.com\r\nSUBJECT: =?utf-8?b?R3JvdXBlIGNyw6nDqQ==?=\r\n =?UTF-8?Q?_=C2=AB_=C3=89quipe_=C2=BB?= done\r\nX-Long: one\r\n\ttwo\r\n\r\nbody",
        );
        assert_eq!(m.subject().as_deref(), Some("Groupe créé « Équipe » done"));
        assert_eq!(m.header("x-long").as_deref(), Some("one\ttwo"));
        assert_eq!(m.header("Missing"), None);
        assert_eq!(m.header("from").as_deref(), Some("x@example.com"));
    }

    #[test]
    fn a_character_split_across_encoded_words_comes_back_whole() {
        // "é" is C3 A9; each word carries one byte of it.
        assert_eq!(
            decode_words("=?UTF-8?Q?=C3?= =?UTF-8?Q?=A9t=C3=A9?="),
            "été"
        );
        assert_eq!(decode_words("plain =?bogus text"), "plain =?bogus text");
        assert_eq!(decode_words("=?ISO-8859-1?Q?caf=E9?= ok"), "café ok");
        assert_eq!(decode_words("a =?utf-8?q?b?= c"), "a b c");
    }

    #[test]
    fn quoted_printable_and_base64_bodies_are_decoded() {
        let qp = mail(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nLigne tr=C3=A8s longue qui con=\r\ntinue\r\n.point =3D ok  \r\n",
        );
        assert_eq!(
            qp.body_text(),
            "Ligne très longue qui continue\n.point = ok\n"
        );
        let b64 = mail("Content-Transfer-Encoding: base64\r\n\r\nw6l0w6kKZW5jb3Jl\r\n");
        assert_eq!(b64.body_text(), "été\nencore");
        assert_eq!(
            mail("Subject: x\r\n\r\nline 1\r\nline 2").body_text(),
            "line 1\nline 2"
        );
    }

    #[test]
    fn multipart_gives_the_plain_text_part() {
        let m = mail(concat!(
            "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n",
            "preamble\r\n--b1\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n",
            "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nw6l0w6k=\r\n",
            "--b1--\r\nepilogue"
        ));
        assert_eq!(m.body_text(), "été");
    }

    #[test]
    fn the_json_view_has_subject_sender_recipients_date_and_text() {
        let m = mail(
            "From: groupsync <g@example.com>\r\nDate: Tue, 1 Jul 2025 09:00:00 +0000\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\nhello\r\n",
        );
        assert_eq!(
            m.to_json(),
            serde_json::json!({
                "subject": "café",
                "from": "groupsync <g@example.com>",
                "recipients": ["b@example.com"],
                "date": "Tue, 1 Jul 2025 09:00:00 +0000",
                "body": "hello\n",
            })
        );
        let bare = mail("\r\nno headers");
        assert_eq!(bare.to_json()["from"], "a@example.com");
        assert_eq!(bare.to_json()["subject"], serde_json::Value::Null);
    }
}
