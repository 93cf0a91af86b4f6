//! Writing to standard output and standard error without panicking: `println!` panics when the reader of a
//! pipe has gone (`td-oauth inspect … | head -c1`), so every line goes through here instead.

use std::fmt;
use std::io::{self, Write as _};

use crate::error::CliError;

/// Writes one line to standard output: `out!("…", args)?`. A closed pipe becomes [`CliError::Closed`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
pub(crate) use out;

/// The most characters of one server text shown as a line: a name or an email is far shorter.
const MAX_SHOWN_CHARS: usize = 1024;

/// Text from a server made safe to show on a terminal, by td-oauth-core's one rule (the one its error
/// messages follow): control characters (escapes, bells, carriage returns, C1) and bidirectional formatting
/// (U+202A–U+202E, U+2066–U+2069, …) removed, the length bounded. `--json` output needs none of this: JSON
/// escapes every control character, and a program reads it.
pub(crate) fn clean(text: &str) -> String {
    td_oauth_core::text::sanitize(text, MAX_SHOWN_CHARS)
}

/// Writes `args` and a newline to standard output.
pub(crate) fn line(args: fmt::Arguments<'_>) -> Result<(), CliError> {
    let mut stdout = io::stdout().lock();
    stdout.write_fmt(args).and_then(|()| stdout.write_all(b"\n")).map_err(stdout_error)
}

/// Flushes standard output, so that a failure to write the last lines is seen before the command exits.
pub(crate) fn flush() -> Result<(), CliError> {
    io::stdout().flush().map_err(stdout_error)
}

fn stdout_error(err: io::Error) -> CliError {
    match err.kind() {
        // The reader stopped reading: what other Unix tools do on SIGPIPE, without the signal.
        io::ErrorKind::BrokenPipe => CliError::Closed,
        _ => CliError::Failed(format!("cannot write to standard output: {err}")),
    }
}

/// Writes a line to standard error, prefixed `td-oauth: `. If standard error is gone there is nowhere left
/// to report to, so a failure is ignored.
pub(crate) fn report(args: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "td-oauth: {args}");
}

/// Standard error for the `tracing` diagnostics: a write that fails is dropped, so that the subscriber has
/// no error to report (it would report it with `eprintln!`, which panics on a closed pipe).
pub(crate) struct Diagnostics;

impl io::Write for Diagnostics {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        Ok(())
    }
}
