//! The outline of a chain: its roles, maps and instances, under the chain.

use galette_grammar::Span;
use galette_grammar::ast::{BrokenShape, Item};
use lsp_types::{DocumentSymbol, SymbolKind};

use super::analysis::Analysis;

pub fn document_symbols(analysis: &Analysis) -> Vec<DocumentSymbol> {
    let ast = &analysis.checked.ast;
    let symbol = |name: &str, detail: Option<String>, kind, span: Span, selection: Span| {
        #[allow(deprecated)] // `deprecated` is a field every client still expects.
        DocumentSymbol {
            name: name.to_owned(),
            detail,
            kind,
            tags: None,
            deprecated: None,
            range: analysis.lines.range(&analysis.text, span),
            selection_range: analysis.lines.range(&analysis.text, selection),
            children: None,
        }
    };
    let mut children = Vec::new();
    for item in &ast.items {
        match item {
            Item::Iface(iface) => children.push(symbol(
                &iface.name.name,
                Some("iface".into()),
                SymbolKind::INTERFACE,
                iface.span,
                iface.name.span,
            )),
            Item::Map(map) => {
                let detail = Some(format!("map: {}", map.kind.name));
                children.push(symbol(&map.name.name, detail, SymbolKind::VARIABLE, map.span, map.name.span))
            }
            Item::Nf(nf) => {
                let detail = Some(format!("nf = {}", nf.source));
                children.push(symbol(&nf.name.name, detail, SymbolKind::FUNCTION, nf.span, nf.name.span))
            }
            // A broken declaration is still in the outline, so the outline
            // does not jump while a line is being typed.
            Item::Broken(broken) => match &broken.shape {
                BrokenShape::Iface(Some(name)) => children.push(symbol(
                    &name.name,
                    Some("iface".into()),
                    SymbolKind::INTERFACE,
                    broken.span,
                    name.span,
                )),
                BrokenShape::Map(Some(name)) => {
                    children.push(symbol(&name.name, Some("map".into()), SymbolKind::VARIABLE, broken.span, name.span))
                }
                BrokenShape::Nf(Some(name)) => {
                    children.push(symbol(&name.name, Some("nf".into()), SymbolKind::FUNCTION, broken.span, name.span))
                }
                _ => {}
            },
            Item::Link(_) => {}
        }
    }
    let Some(name) = &ast.name else { return children };
    let whole = Span::new(0, analysis.text.len());
    let mut chain = symbol(&name.name, Some("chain".into()), SymbolKind::MODULE, whole, name.span);
    chain.children = Some(children);
    vec![chain]
}
