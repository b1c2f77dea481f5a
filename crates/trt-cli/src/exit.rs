//! Exit codes and error reporting, shared by every command.

use std::process::ExitCode;

/// What a command found, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done, or the answer is "yes" (compatible, identical): exit 0.
    Success,
    /// The answer is "no" (incompatible, different): exit 1.
    Negative,
}

/// Exit code of a failed command (unreadable or corrupt input, bad arguments).
pub const ERROR: u8 = 2;

/// Turns a command's result into the exit code; an error is printed as one `error:` line plus
/// one `caused by:` line per cause.
pub fn finish(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Negative) => ExitCode::from(1),
        // `trt cache show x | head`: the reader left, nothing is wrong.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("caused by: {cause}");
            }
            ExitCode::from(ERROR)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
