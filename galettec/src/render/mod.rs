//! Rendering diagnostics for people, with codespan-reporting.

use codespan_reporting::diagnostic::{Diagnostic as Report, Label as ReportLabel, Severity as ReportSeverity};
mod excerpt;

use codespan_reporting::term::{self, Config};
use galette_grammar::{Diagnostic, Severity};

use crate::source::SourceFiles;
use excerpt::Excerpts;

/// Renders `diagnostics` as text, without colour, in the order given. A very
/// long line is shown as a window around the labels on it.
pub fn render_diagnostics(files: &SourceFiles, diagnostics: &[Diagnostic]) -> String {
    let config = Config::default();
    diagnostics
        .iter()
        .map(|diagnostic| {
            let (excerpts, moved) = Excerpts::new(files, diagnostic);
            term::emit_into_string(&config, &excerpts, &to_report(&moved)).unwrap_or_else(|_| {
                format!("{}[{}]: {}\n", severity_word(diagnostic.severity), diagnostic.code, diagnostic.message)
            })
        })
        .collect()
}

fn to_report(diagnostic: &Diagnostic) -> Report<usize> {
    let severity = match diagnostic.severity {
        Severity::Error => ReportSeverity::Error,
        Severity::Warning => ReportSeverity::Warning,
    };
    let primary = &diagnostic.primary;
    let mut labels = vec![ReportLabel::primary(primary.file, primary.span).with_message(&primary.message)];
    labels.extend(
        diagnostic
            .secondary
            .iter()
            .map(|label| ReportLabel::secondary(label.file, label.span).with_message(&label.message)),
    );
    let notes = diagnostic.help.iter().map(|help| format!("help: {help}")).collect();
    Report::new(severity)
        .with_code(diagnostic.code)
        .with_message(&diagnostic.message)
        .with_labels(labels)
        .with_notes(notes)
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Renders `diagnostics` as JSON, one object per line, for editors and
/// scripts: code, severity, message, help, and every label with its file,
/// byte range and 1-based line and column (start and end).
pub fn render_json(files: &SourceFiles, diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|diagnostic| {
            let labels: Vec<serde_json::Value> = std::iter::once((&diagnostic.primary, true))
                .chain(diagnostic.secondary.iter().map(|label| (label, false)))
                .map(|(label, primary)| json_label(files, label, primary))
                .collect();
            let object = serde_json::json!({
                "code": diagnostic.code,
                "severity": severity_word(diagnostic.severity),
                "message": diagnostic.message,
                "file": files.get(diagnostic.primary.file).map(|f| f.name.as_str()),
                "help": diagnostic.help,
                "labels": labels,
            });
            object.to_string() + "\n"
        })
        .collect()
}

fn json_label(files: &SourceFiles, label: &galette_grammar::Label, primary: bool) -> serde_json::Value {
    let file = files.get(label.file);
    let position = |offset: usize| file.map(|f| line_column(&f.text, offset)).unwrap_or((0, 0));
    let (line, column) = position(label.span.start);
    let (end_line, end_column) = position(label.span.end);
    serde_json::json!({
        "file": file.map(|f| f.name.as_str()),
        "primary": primary,
        "message": label.message,
        "byte_start": label.span.start,
        "byte_end": label.span.end,
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
    })
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use galette_grammar::Span;

    #[test]
    fn lines_and_columns_are_one_based_and_count_characters() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é\nx", 3), (2, 1));
        assert_eq!(line_column("éa", 2), (1, 2));
    }

    #[test]
    fn json_has_one_object_per_diagnostic_with_positions() {
        let mut files = SourceFiles::default();
        let file = files.add("c.gal", "chain c\nrx -> swp\n");
        let diagnostic = Diagnostic::error("E0102", "nothing named `swp`", file, Span::new(14, 17), "not declared")
            .with_help("did you mean `swap`?");
        let json = render_json(&files, &[diagnostic.clone(), diagnostic]);
        let lines: Vec<&str> = json.lines().collect();
        assert_eq!(lines.len(), 2);
        let value: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(value["code"], "E0102");
        assert_eq!(value["severity"], "error");
        assert_eq!(value["file"], "c.gal");
        assert_eq!(value["help"], "did you mean `swap`?");
        assert_eq!(value["labels"][0]["line"], 2);
        assert_eq!(value["labels"][0]["column"], 7);
        assert_eq!(value["labels"][0]["end_column"], 10);
        assert_eq!(value["labels"][0]["primary"], true);
    }
}
