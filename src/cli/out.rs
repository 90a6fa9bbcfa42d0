//! The commands' stdout. `println!` panics when the reader has gone away
//! (`groupsync executions show ID | head -2` closes the pipe after two lines); here a
//! closed pipe ends the output quietly and the command exits with its usual status.

use std::fmt::Display;
use std::io::{self, Write};
use std::process::ExitCode;

/// Writes `text` to stdout and flushes it. A closed pipe is not an error: nobody reads
/// the rest. Any other write error is printed on stderr and becomes exit status 1.
pub fn print(text: impl Display) -> Result<(), ExitCode> {
    let mut stdout = io::stdout().lock();
    match write!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            Err(ExitCode::from(1))
        }
    }
}

/// As [`print`], with a newline after `text`.
pub fn line(text: impl Display) -> Result<(), ExitCode> {
    print(format_args!("{text}\n"))
}
