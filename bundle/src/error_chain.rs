//! One way to show an error with its causes, shared by the compiler and the
//! runtime: both report errors of aya and the kernel, which keep the reason
//! in their sources, and a message without them says little.

/// `error` and each of its causes, joined by `: ` on one line. A cause whose
/// text the line already ends with is not repeated: many errors write their
/// cause into their own message and also return it as their source.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
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

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read x: {source}")]
    struct SaysItsCause {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let error = Outer(std::io::Error::other(SaysItsCause { source: std::io::Error::other("denied") }));
        assert_eq!(error_chain(&error), "cannot load `acl`: cannot read x: denied");
    }
}
