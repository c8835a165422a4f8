//! Renaming an instance or a map everywhere the chain names it.

use std::collections::HashMap;

use galette_grammar::Span;
use lsp_types::{TextEdit, Url, WorkspaceEdit};

use super::analysis::{Analysis, Symbol};
use crate::check::RESERVED;

/// Why a rename cannot be done, said to the user.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenameError {
    #[error("only NFs and maps can be renamed")]
    NotRenamable,
    #[error("the file has syntax errors: fix them first, so that every use of the name is known")]
    SyntaxErrors,
    #[error("`{0}` is not a name (a letter or `_`, then letters, digits or `_`; not a keyword)")]
    NotAName(String),
    #[error("`{0}` is a reserved name")]
    Reserved(String),
    #[error("`{0}` is already declared")]
    Taken(String),
}

/// The name at `offset` if it can be renamed: its span.
pub fn prepare(analysis: &Analysis, offset: usize) -> Result<Span, RenameError> {
    let occurrence = analysis.occurrence_at(offset).ok_or(RenameError::NotRenamable)?;
    match &occurrence.symbol {
        Symbol::Instance(name) if analysis.declarations.instances.contains_key(name) => Ok(occurrence.span),
        Symbol::Map(name) if analysis.declarations.maps.contains_key(name) => Ok(occurrence.span),
        _ => Err(RenameError::NotRenamable),
    }
}

/// Every edit that renames the instance or map at `offset` to `new_name`.
pub fn rename(analysis: &Analysis, uri: &Url, offset: usize, new_name: &str) -> Result<WorkspaceEdit, RenameError> {
    prepare(analysis, offset)?;
    if !analysis.parsed_cleanly() {
        return Err(RenameError::SyntaxErrors);
    }
    let symbol = analysis.occurrence_at(offset).expect("prepare found it").symbol.clone();
    if !galette_grammar::is_name(new_name) {
        return Err(RenameError::NotAName(new_name.to_owned()));
    }
    let declarations = &analysis.declarations;
    let taken = match &symbol {
        Symbol::Instance(_) => {
            if RESERVED.contains(&new_name) {
                return Err(RenameError::Reserved(new_name.to_owned()));
            }
            // NFs and roles share one set of names.
            declarations.instances.contains_key(new_name) || declarations.roles.contains_key(new_name)
        }
        _ => declarations.maps.contains_key(new_name),
    };
    if taken {
        return Err(RenameError::Taken(new_name.to_owned()));
    }
    let edits: Vec<TextEdit> = analysis
        .occurrences
        .iter()
        .filter(|occurrence| occurrence.symbol == symbol)
        .map(|occurrence| TextEdit {
            range: analysis.lines.range(&analysis.text, occurrence.span),
            new_text: new_name.to_owned(),
        })
        .collect();
    Ok(WorkspaceEdit { changes: Some(HashMap::from([(uri.clone(), edits)])), ..WorkspaceEdit::default() })
}
