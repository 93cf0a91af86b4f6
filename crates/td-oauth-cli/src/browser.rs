//! Opening a URL in the user's browser: `$BROWSER` if set (as `sensible-browser` reads it: commands
//! separated by `:`, each words separated by spaces, `%s` standing for the URL, else the URL appended), else
//! the desktop's opener (`open` on macOS, `xdg-open` elsewhere, `explorer` on Windows). The browser is
//! started and left running; `td-oauth` does not wait for it.

use std::process::{Command, Stdio};

/// The variable naming the browser command.
pub(crate) const BROWSER_VAR: &str = "BROWSER";

/// Starts a browser on `url`; whether one could be started.
pub(crate) fn open(url: &str) -> bool {
    match std::env::var(BROWSER_VAR) {
        Ok(commands) if !commands.trim().is_empty() => commands.split(':').any(|command| spawn(command, url)),
        _ => spawn(default_opener(), url),
    }
}

fn default_opener() -> &'static str {
    if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    }
}

/// Starts `command` (words separated by spaces) on `url`, its standard streams closed so that its chatter
/// does not mix with ours. The URL is an argument of its own, never passed through a shell.
fn spawn(command: &str, url: &str) -> bool {
    let mut words = command.split_whitespace();
    let Some(program) = words.next() else { return false };
    let mut arguments: Vec<&str> = words.collect();
    let substituted = arguments.iter().any(|word| word.contains("%s"));
    let arguments: Vec<String> = if substituted {
        arguments.iter_mut().map(|word| word.replace("%s", url)).collect()
    } else {
        arguments.iter().map(|word| (*word).to_owned()).chain([url.to_owned()]).collect()
    };
    Command::new(program)
        .args(arguments)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .is_ok()
}
