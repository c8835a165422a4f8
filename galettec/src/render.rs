//! Rendering diagnostics for people, with codespan-reporting.

use codespan_reporting::diagnostic::{Diagnostic as Report, Label as ReportLabel, Severity as ReportSeverity};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, Config};
use galette_grammar::{Diagnostic, Severity};

use crate::source::SourceFiles;

/// Renders `diagnostics` as text, without colour, in the order given.
pub fn render_diagnostics(files: &SourceFiles, diagnostics: &[Diagnostic]) -> String {
    let mut table = SimpleFiles::new();
    for file in files.iter() {
        table.add(file.name.clone(), file.text.clone());
    }
    let config = Config::default();
    diagnostics
        .iter()
        .map(|diagnostic| {
            term::emit_into_string(&config, &table, &to_report(diagnostic))
                .unwrap_or_else(|_| format!("{}[{}]: {}\n", severity_word(diagnostic.severity), diagnostic.code, diagnostic.message))
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
        diagnostic.secondary.iter().map(|label| ReportLabel::secondary(label.file, label.span).with_message(&label.message)),
    );
    let notes = diagnostic.help.iter().map(|help| format!("help: {help}")).collect();
    Report::new(severity).with_code(diagnostic.code).with_message(&diagnostic.message).with_labels(labels).with_notes(notes)
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}
