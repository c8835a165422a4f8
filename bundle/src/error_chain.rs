//! One way to show an error with its causes, shared by the compiler and the
//! runtime: both report errors of aya and the kernel, which keep the reason
//! in their sources, and a message without them says little.

/// `error` and each of its causes, joined by `: ` on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot load `acl`")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn every_cause_follows_the_error_on_one_line() {
        let error = Outer(std::io::Error::other("the verifier said no"));
        assert_eq!(error_chain(&error), "cannot load `acl`: the verifier said no");
        assert_eq!(error_chain(&std::io::Error::other("alone")), "alone");
    }
}
