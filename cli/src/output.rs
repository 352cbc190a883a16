//! Standard output. A reader that went away (`heros list | head -1`) ends the tool quietly, as
//! Unix tools do, instead of a panic in `println!`.

use std::fmt::Display;
use std::io::Write;

/// Writes `text` and a newline to stdout.
pub(crate) fn line(text: impl Display) {
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        let _ = writeln!(std::io::stderr(), "heros: cannot write the output: {error}");
        std::process::exit(1);
    }
}

/// Writes a warning to stderr, so that a program reading stdout (`--json`) is not disturbed.
pub(crate) fn warn(text: impl Display) {
    let _ = writeln!(std::io::stderr(), "heros: {text}");
}
