//! The SMTP conversation of one connection (RFC 5321) as a pure state machine: a line
//! comes in, a reply (and maybe a finished message) comes out. Kept apart from the
//! socket so every rule can be tested without one.

use super::mail::ReceivedMail;

/// The name the sink gives itself in its greeting and EHLO reply.
pub const HOSTNAME: &str = "localhost";
/// Longest line accepted, CRLF included: RFC 5321 §4.5.3.1.6 for text lines, also
/// applied (generously) to command lines.
pub const MAX_LINE: usize = 1000;
/// Most recipients per message (RFC 5321 §4.5.3.1.8 asks for at least 100).
const MAX_RECIPIENTS: usize = 100;

/// What the connection should do after a line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// The reply to send (without the final CRLF; multi-line replies contain CRLFs).
    pub reply: Option<String>,
    /// A message completed by this line.
    pub delivered: Option<ReceivedMail>,
    /// Close the connection after the reply.
    pub close: bool,
}

impl Step {
    fn reply(text: impl Into<String>) -> Self {
        Step {
            reply: Some(text.into()),
            ..Step::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Command,
    AuthPlain,
    AuthLoginUser,
    AuthLoginPassword,
    Data,
}

#[derive(Debug)]
pub struct Session {
    state: State,
    greeted: bool,
    authenticated: bool,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
    data: Vec<u8>,
    data_line_too_long: bool,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            state: State::Command,
            greeted: false,
            authenticated: false,
            mail_from: None,
            rcpt_to: Vec::new(),
            data: Vec::new(),
            data_line_too_long: false,
        }
    }
}

impl Session {
    /// Handles one line, CRLF removed. `refusing` makes DATA answer 451.
    pub fn on_line(&mut self, line: &[u8], refusing: bool) -> Step {
        match self.state {
            State::Data => self.data_line(line),
            State::AuthPlain | State::AuthLoginUser | State::AuthLoginPassword => {
                self.auth_line(line)
            }
            State::Command => match std::str::from_utf8(line) {
                Ok(text) => self.command(text, refusing),
                Err(_) => Step::reply("500 5.5.2 Syntax error: the command is not UTF-8"),
            },
        }
    }

    /// Whether the lines coming in are a message's data.
    pub fn in_data(&self) -> bool {
        self.state == State::Data
    }

    /// Whether the next line is read as a command.
    pub fn at_command(&self) -> bool {
        self.state == State::Command
    }

    /// Handles a line longer than [`MAX_LINE`] (already discarded by the reader).
    pub fn on_overlong_line(&mut self) -> Step {
        if self.state == State::Data {
            self.data_line_too_long = true;
            return Step::default();
        }
        self.state = State::Command;
        Step::reply("500 5.5.2 Line too long")
    }

    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
        self.data.clear();
        self.data_line_too_long = false;
    }

    fn command(&mut self, line: &str, refusing: bool) -> Step {
        let (verb, arg) = match line.split_once(' ') {
            Some((verb, arg)) => (verb, arg.trim()),
            None => (line.trim(), ""),
        };
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" if arg.is_empty() => Step::reply("501 5.5.4 A domain is required"),
            "EHLO" => {
                self.greet();
                Step::reply(format!(
                    "250-{HOSTNAME} greets {arg}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-AUTH PLAIN LOGIN\r\n250 ENHANCEDSTATUSCODES"
                ))
            }
            "HELO" => {
                self.greet();
                Step::reply(format!("250 {HOSTNAME}"))
            }
            "AUTH" => self.auth(arg),
            "MAIL" => self.mail(arg),
            "RCPT" => self.rcpt(arg),
            "DATA" => self.data(arg, refusing),
            "RSET" => {
                self.reset_transaction();
                Step::reply("250 2.0.0 OK")
            }
            "NOOP" => Step::reply("250 2.0.0 OK"),
            "QUIT" => Step {
                reply: Some("221 2.0.0 Bye".into()),
                close: true,
                ..Step::default()
            },
            "VRFY" => Step::reply("252 2.1.5 Cannot verify the user, but will accept mail"),
            "STARTTLS" | "EXPN" | "HELP" | "TURN" | "BDAT" => {
                Step::reply("502 5.5.1 Command not implemented")
            }
            _ => Step::reply("500 5.5.2 Command not recognized"),
        }
    }

    /// EHLO and HELO start over (RFC 5321 §4.1.4).
    fn greet(&mut self) {
        self.greeted = true;
        self.reset_transaction();
    }

    /// Any credentials are accepted: the sink stands in for a relay, not a gatekeeper.
    fn auth(&mut self, arg: &str) -> Step {
        if !self.greeted {
            return Step::reply("503 5.5.1 Send EHLO first");
        }
        if self.authenticated || self.mail_from.is_some() {
            return Step::reply("503 5.5.1 AUTH is not allowed now");
        }
        let (mechanism, initial) = match arg.split_once(' ') {
            Some((m, initial)) => (m, Some(initial)),
            None => (arg, None),
        };
        match (mechanism.to_ascii_uppercase().as_str(), initial) {
            ("PLAIN", Some(_)) => self.authenticated(),
            ("PLAIN", None) => self.challenge(State::AuthPlain, "334 "),
            ("LOGIN", Some(_)) => self.challenge(State::AuthLoginPassword, "334 UGFzc3dvcmQ6"),
            ("LOGIN", None) => self.challenge(State::AuthLoginUser, "334 VXNlcm5hbWU6"),
            _ => Step::reply("504 5.5.4 Unrecognized authentication mechanism"),
        }
    }

    fn challenge(&mut self, state: State, reply: &str) -> Step {
        self.state = state;
        Step::reply(reply)
    }

    fn authenticated(&mut self) -> Step {
        self.state = State::Command;
        self.authenticated = true;
        Step::reply("235 2.7.0 Authentication successful")
    }

    fn auth_line(&mut self, line: &[u8]) -> Step {
        if line == b"*" {
            self.state = State::Command;
            return Step::reply("501 5.0.0 Authentication cancelled");
        }
        match self.state {
            State::AuthLoginUser => self.challenge(State::AuthLoginPassword, "334 UGFzc3dvcmQ6"),
            _ => self.authenticated(),
        }
    }

    fn mail(&mut self, arg: &str) -> Step {
        if !self.greeted {
            return Step::reply("503 5.5.1 Send HELO or EHLO first");
        }
        if self.mail_from.is_some() {
            return Step::reply("503 5.5.1 Nested MAIL command");
        }
        match parse_path(arg, "FROM:") {
            Some(from) => {
                self.mail_from = Some(from);
                Step::reply("250 2.1.0 OK")
            }
            None => Step::reply("501 5.5.4 Syntax: MAIL FROM:<address>"),
        }
    }

    fn rcpt(&mut self, arg: &str) -> Step {
        if self.mail_from.is_none() {
            return Step::reply("503 5.5.1 Need MAIL before RCPT");
        }
        if self.rcpt_to.len() >= MAX_RECIPIENTS {
            return Step::reply("452 4.5.3 Too many recipients");
        }
        match parse_path(arg, "TO:").filter(|to| !to.is_empty()) {
            Some(to) => {
                self.rcpt_to.push(to);
                Step::reply("250 2.1.5 OK")
            }
            None => Step::reply("501 5.5.4 Syntax: RCPT TO:<address>"),
        }
    }

    fn data(&mut self, arg: &str, refusing: bool) -> Step {
        if !arg.is_empty() {
            return Step::reply("501 5.5.4 DATA takes no argument");
        }
        if self.rcpt_to.is_empty() {
            return Step::reply("503 5.5.1 Need RCPT before DATA");
        }
        if refusing {
            self.reset_transaction();
            return Step::reply("451 4.3.0 Mail service temporarily unavailable");
        }
        self.state = State::Data;
        Step::reply("354 End data with <CR><LF>.<CR><LF>")
    }

    /// One line of message text: `.` alone ends it, a leading dot is unstuffed.
    fn data_line(&mut self, line: &[u8]) -> Step {
        if line == b"." {
            return self.finish_data();
        }
        let line = line.strip_prefix(b".").unwrap_or(line);
        self.data.extend_from_slice(line);
        self.data.extend_from_slice(b"\r\n");
        Step::default()
    }

    fn finish_data(&mut self) -> Step {
        self.state = State::Command;
        if self.data_line_too_long {
            self.reset_transaction();
            return Step::reply("500 5.5.2 Line too long: the message was not accepted");
        }
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with(b"\r\n") {
            data.truncate(data.len() - 2);
        }
        let mail = ReceivedMail {
            mail_from: self.mail_from.take().unwrap_or_default(),
            rcpt_to: std::mem::take(&mut self.rcpt_to),
            data: String::from_utf8_lossy(&data).into_owned(),
        };
        self.reset_transaction();
        Step {
            reply: Some("250 2.0.0 OK: message accepted".into()),
            delivered: Some(mail),
            close: false,
        }
    }
}

/// `FROM:<a@b> PARAMS` → `a@b` (`keyword` matched ignoring case, a space after the
/// colon tolerated, parameters such as `BODY=8BITMIME` or `SMTPUTF8` ignored).
fn parse_path(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start().strip_prefix('<')?;
    let (address, params) = rest.split_once('>')?;
    if !(params.is_empty() || params.starts_with(' ')) || address.contains(['<', ' ']) {
        return None;
    }
    Some(address.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds lines and returns the first three characters of each reply.
    fn codes(session: &mut Session, lines: &[&str]) -> Vec<String> {
        lines
            .iter()
            .map(|l| match session.on_line(l.as_bytes(), false).reply {
                Some(r) => r[..3].to_owned(),
                None => "---".to_owned(),
            })
            .collect()
    }

    #[test]
    fn sequence_errors_are_503_and_unknown_commands_500() {
        let mut s = Session::default();
        let got = codes(
            &mut s,
            &[
                "MAIL FROM:<a@x>",
                "AUTH PLAIN x",
                "EHLO c",
                "RCPT TO:<b@x>",
                "DATA",
                "MAIL FROM:<a@x>",
                "MAIL FROM:<a@x>",
                "DATA",
                "FOO",
                "",
                "HELO",
                "DATA x",
                "RSET",
                "RCPT TO:<b@x>",
                "NOOP",
                "QUIT",
            ],
        );
        assert_eq!(
            got,
            [
                "503", "503", "250", "503", "503", "250", "503", "503", "500", "500", "501", "501",
                "250", "503", "250", "221"
            ]
        );
    }

    #[test]
    fn a_message_is_unstuffed_and_the_session_goes_on() {
        let mut s = Session::default();
        let lines = [
            "ehlo client",
            "mail from: <a@x> BODY=8BITMIME SMTPUTF8",
            "RCPT TO:<b@x>",
            "RCPT TO:<c@x>",
            "DATA",
            "Subject: t",
            "",
            "..leading",
            "..",
            "body",
        ];
        let got = codes(&mut s, &lines);
        assert_eq!(&got[..5], ["250", "250", "250", "250", "354"]);
        assert!(got[5..].iter().all(|c| c == "---"), "{got:?}");
        let end = s.on_line(b".", false);
        assert_eq!(end.reply.as_deref().map(|r| &r[..3]), Some("250"));
        let mail = end.delivered.unwrap();
        assert_eq!(mail.mail_from, "a@x");
        assert_eq!(mail.rcpt_to, ["b@x", "c@x"]);
        assert_eq!(mail.data, "Subject: t\r\n\r\n.leading\r\n.\r\nbody");
        // The next transaction starts clean.
        assert_eq!(
            codes(&mut s, &["RCPT TO:<b@x>", "MAIL FROM:<>", "RCPT TO:<>"]),
            ["503", "250", "501"]
        );
    }

    #[test]
    fn auth_accepts_any_credentials() {
        let mut s = Session::default();
        assert_eq!(
            codes(&mut s, &["EHLO c", "AUTH PLAIN", "AGEAYg=="]),
            ["250", "334", "235"]
        );
        assert_eq!(codes(&mut s, &["AUTH PLAIN AGEAYg=="]), ["503"]);
        let mut s = Session::default();
        assert_eq!(
            codes(&mut s, &["EHLO c", "AUTH LOGIN", "dQ==", "cA=="]),
            ["250", "334", "334", "235"]
        );
        let mut s = Session::default();
        assert_eq!(
            codes(&mut s, &["EHLO c", "AUTH LOGIN", "*", "AUTH CRAM-MD5"]),
            ["250", "334", "501", "504"]
        );
    }

    #[test]
    fn refusing_answers_451_to_data_and_long_lines_are_refused() {
        let mut s = Session::default();
        codes(&mut s, &["EHLO c", "MAIL FROM:<a@x>", "RCPT TO:<b@x>"]);
        let refused = s.on_line(b"DATA", true);
        assert_eq!(refused.reply.as_deref().map(|r| &r[..3]), Some("451"));
        assert_eq!(
            codes(&mut s, &["DATA"]),
            ["503"],
            "the transaction was reset"
        );

        assert_eq!(
            s.on_overlong_line().reply.as_deref().map(|r| &r[..3]),
            Some("500")
        );
        codes(&mut s, &["MAIL FROM:<a@x>", "RCPT TO:<b@x>", "DATA"]);
        assert_eq!(s.on_overlong_line(), Step::default());
        let end = s.on_line(b".", false);
        assert!(end.delivered.is_none());
        assert_eq!(end.reply.as_deref().map(|r| &r[..3]), Some("500"));
    }

    #[test]
    fn paths_are_parsed_strictly_enough() {
        assert_eq!(parse_path("FROM:<a@x>", "FROM:").as_deref(), Some("a@x"));
        assert_eq!(
            parse_path("from: <é@x> SMTPUTF8", "FROM:").as_deref(),
            Some("é@x")
        );
        assert_eq!(parse_path("FROM:<>", "FROM:").as_deref(), Some(""));
        assert_eq!(parse_path("FROM:a@x", "FROM:"), None);
        assert_eq!(parse_path("FROM:<a@x", "FROM:"), None);
        assert_eq!(parse_path("FROM:<a@x>junk", "FROM:"), None);
        assert_eq!(parse_path("TO:<a@x>", "FROM:"), None);
        assert_eq!(parse_path("", "FROM:"), None);
    }
}
