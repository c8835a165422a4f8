//! Running the external tools (`ip`, `ethtool`) that set up test networks.

use std::io;
use std::process::Command;

/// Runs `program` with `args` and returns its standard output.
///
/// A command that cannot be started or exits unsuccessfully becomes an error
/// naming the full command line and carrying its standard error, so a failed
/// network setup says exactly which step went wrong.
pub(crate) fn run(program: &str, args: &[&str]) -> io::Result<String> {
    let command_line = format!("{program} {}", args.join(" "));
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|error| io::Error::new(error.kind(), format!("`{command_line}`: {error}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(io::Error::other(format!("`{command_line}` failed ({}): {}", output.status, stderr.trim())));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_command_reports_command_line_and_stderr() {
        let error = run("sh", &["-c", "echo broken >&2; exit 3"]).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("sh -c"), "{message}");
        assert!(message.contains("broken"), "{message}");
    }

    #[test]
    fn successful_command_returns_stdout() {
        assert_eq!(run("echo", &["hello"]).unwrap(), "hello\n");
    }

    #[test]
    fn missing_program_is_an_error() {
        let error = run("galette-no-such-program", &[]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }
}
