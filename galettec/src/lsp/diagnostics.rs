//! The compiler's diagnostics as LSP diagnostics of the `.gal` document.

use galette_grammar::{Diagnostic, Label, Severity, Span};
use lsp_types::{DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Range, Url};

use super::analysis::Analysis;
use super::text::LineIndex;

/// What the editor shows for `analysis`, each diagnostic once, in the order
/// the compiler found them.
pub fn to_lsp(analysis: &Analysis) -> Vec<lsp_types::Diagnostic> {
    analysis.checked.diagnostics.iter().map(|diagnostic| convert(analysis, diagnostic)).collect()
}

fn convert(analysis: &Analysis, diagnostic: &Diagnostic) -> lsp_types::Diagnostic {
    let chain_file = analysis.checked.chain_file;
    let labels = || std::iter::once(&diagnostic.primary).chain(&diagnostic.secondary);
    // A problem inside an NF crate (its Rust does not parse, say) is shown
    // where the chain uses the crate, and points into the crate.
    let anchor = labels().find(|label| label.file == chain_file).map_or(Span::default(), |label| label.span);
    let mut message = diagnostic.message.clone();
    if diagnostic.primary.file == chain_file && !diagnostic.primary.message.is_empty() {
        message.push_str(&format!("\n{}", diagnostic.primary.message));
    }
    if let Some(help) = &diagnostic.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    let related: Vec<DiagnosticRelatedInformation> = labels()
        .filter(|label| !(label.file == chain_file && label.span == anchor))
        .filter_map(|label| related(analysis, label))
        .collect();
    lsp_types::Diagnostic {
        range: analysis.lines.range(&analysis.text, anchor),
        severity: Some(match diagnostic.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(diagnostic.code.to_owned())),
        source: Some("galettec".to_owned()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..lsp_types::Diagnostic::default()
    }
}

/// A label as a place in its file, when the file has a path.
fn related(analysis: &Analysis, label: &Label) -> Option<DiagnosticRelatedInformation> {
    let location = location(analysis, label.file, label.span)?;
    Some(DiagnosticRelatedInformation { location, message: label.message.clone() })
}

/// `span` of file `file` of the analysis's file table, as an LSP location.
pub fn location(analysis: &Analysis, file: galette_grammar::FileId, span: Span) -> Option<Location> {
    if file == analysis.checked.chain_file {
        let uri = Url::from_file_path(&analysis.path).ok()?;
        return Some(Location { uri, range: analysis.lines.range(&analysis.text, span) });
    }
    let source = analysis.checked.files.get(file)?;
    let uri = Url::from_file_path(source.path.as_ref()?).ok()?;
    let range: Range = LineIndex::new(&source.text).range(&source.text, span);
    Some(Location { uri, range })
}
