//! `galettec lsp`: the language server. It speaks LSP over standard input
//! and output (rust-analyzer's `lsp-server` does the framing), keeps every
//! open `.gal` document checked by the compiler's own front end, and answers
//! from that: diagnostics with the CLI's codes, hover, go to definition,
//! completion, formatting, document symbols and rename.
//!
//! One thread does everything, in the order messages arrive: re-checking a
//! chain takes milliseconds (see the `lsp` benchmark), so there is nothing
//! to cancel or run in the background.

mod analysis;
mod completion;
mod definition;
mod diagnostics;
mod hover;
mod rename;
mod symbols;
mod text;

use std::collections::HashMap;
use std::path::PathBuf;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, DidSaveTextDocument,
    Notification as LspNotification, PublishDiagnostics,
};
use lsp_types::request::{
    Completion, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest, PrepareRenameRequest, Rename,
    Request as LspRequest,
};
use lsp_types::{
    CompletionOptions, CompletionResponse, DocumentSymbolResponse, GotoDefinitionResponse, Hover, HoverContents,
    HoverProviderCapability, MarkupContent, MarkupKind, OneOf, Position, PrepareRenameResponse,
    PublishDiagnosticsParams, RenameOptions, SaveOptions, ServerCapabilities, ServerInfo, TextDocumentSyncCapability,
    TextDocumentSyncKind, TextDocumentSyncOptions, TextDocumentSyncSaveOptions, TextEdit, Url,
};

pub use self::analysis::Analysis;

/// What the server does when a document changes: check `text` as the file
/// at `path` and turn the findings into LSP diagnostics. Public for the
/// benchmark that times it.
pub fn check_document(path: &std::path::Path, text: String, options: &CompileOptions) -> Vec<lsp_types::Diagnostic> {
    diagnostics::to_lsp(&Analysis::new(path, text, options))
}
use crate::compile::CompileOptions;
use crate::source::{FileSystem, SourceReader};

/// Why the server stopped other than by the client's `shutdown` and `exit`.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("the LSP connection failed: {0}")]
    Protocol(#[from] lsp_server::ProtocolError),
    #[error("the editor closed the connection")]
    Disconnected,
    #[error("cannot encode a message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("standard input or output failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A request that could not be answered, as the client is told.
struct RequestError {
    code: i32,
    message: String,
}

impl RequestError {
    fn failed(message: impl Into<String>) -> RequestError {
        RequestError { code: ErrorCode::RequestFailed as i32, message: message.into() }
    }
}

/// What the server can do, as it tells the client in `initialize`.
pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
            open_close: Some(true),
            change: Some(TextDocumentSyncKind::FULL),
            save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions { include_text: Some(false) })),
            ..TextDocumentSyncOptions::default()
        })),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some([".", "@", "!", "{", ":"].map(str::to_owned).to_vec()),
            ..CompletionOptions::default()
        }),
        document_formatting_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        ..ServerCapabilities::default()
    }
}

/// Serves one editor over standard input and output until it says `exit`.
pub fn serve_stdio(options: CompileOptions) -> Result<(), ServerError> {
    let (connection, io_threads) = Connection::stdio();
    let initialize = serde_json::json!({
        "capabilities": capabilities(),
        "serverInfo": ServerInfo { name: "galettec".to_owned(), version: Some(env!("CARGO_PKG_VERSION").to_owned()) },
    });
    connection.initialize_finish(connection.initialize_start()?.0, initialize)?;
    let mut server = Server { connection, options, documents: HashMap::new() };
    server.run()?;
    drop(server);
    io_threads.join()?;
    Ok(())
}

struct Server {
    connection: Connection,
    options: CompileOptions,
    /// Every open document, checked.
    documents: HashMap<Url, Analysis>,
}

impl Server {
    fn run(&mut self) -> Result<(), ServerError> {
        while let Ok(message) = self.connection.receiver.recv() {
            match message {
                Message::Request(request) => {
                    if self.connection.handle_shutdown(&request)? {
                        return Ok(());
                    }
                    let response = self.answer(request);
                    self.send(Message::Response(response))?;
                }
                Message::Notification(notification) => self.notified(notification)?,
                Message::Response(_) => {}
            }
        }
        Err(ServerError::Disconnected)
    }

    fn send(&self, message: Message) -> Result<(), ServerError> {
        self.connection.sender.send(message).map_err(|_| ServerError::Disconnected)
    }

    fn answer(&self, request: Request) -> Response {
        let method = request.method.clone();
        let id = request.id.clone();
        None.or_else(|| {
            on::<HoverRequest>(&request, |params| {
                let position = params.text_document_position_params;
                let analysis = self.document(&position.text_document.uri)?;
                let offset = analysis.lines.offset(&analysis.text, position.position);
                Ok(hover::hover(analysis, offset).map(|(value, span)| Hover {
                    contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value }),
                    range: Some(analysis.lines.range(&analysis.text, span)),
                }))
            })
        })
        .or_else(|| {
            on::<GotoDefinition>(&request, |params| {
                let position = params.text_document_position_params;
                let analysis = self.document(&position.text_document.uri)?;
                let offset = analysis.lines.offset(&analysis.text, position.position);
                Ok(definition::definition(analysis, offset).map(GotoDefinitionResponse::Scalar))
            })
        })
        .or_else(|| {
            on::<Completion>(&request, |params| {
                let position = params.text_document_position;
                let analysis = self.document(&position.text_document.uri)?;
                let offset = analysis.lines.offset(&analysis.text, position.position);
                let std_nfs = FileSystem.subdirectories(&self.options.stdlib_dir).unwrap_or_default();
                Ok(Some(CompletionResponse::Array(completion::completions(analysis, offset, &self.options, &std_nfs))))
            })
        })
        .or_else(|| {
            on::<Formatting>(&request, |params| {
                let analysis = self.document(&params.text_document.uri)?;
                Ok(format_document(analysis))
            })
        })
        .or_else(|| {
            on::<DocumentSymbolRequest>(&request, |params| {
                let analysis = self.document(&params.text_document.uri)?;
                Ok(Some(DocumentSymbolResponse::Nested(symbols::document_symbols(analysis))))
            })
        })
        .or_else(|| {
            on::<PrepareRenameRequest>(&request, |params| {
                let analysis = self.document(&params.text_document.uri)?;
                let offset = analysis.lines.offset(&analysis.text, params.position);
                let span =
                    rename::prepare(analysis, offset).map_err(|error| RequestError::failed(error.to_string()))?;
                Ok(Some(PrepareRenameResponse::Range(analysis.lines.range(&analysis.text, span))))
            })
        })
        .or_else(|| {
            on::<Rename>(&request, |params| {
                let position = params.text_document_position;
                let analysis = self.document(&position.text_document.uri)?;
                let offset = analysis.lines.offset(&analysis.text, position.position);
                rename::rename(analysis, &position.text_document.uri, offset, &params.new_name)
                    .map(Some)
                    .map_err(|error| RequestError::failed(error.to_string()))
            })
        })
        .unwrap_or_else(|| {
            Response::new_err(id, ErrorCode::MethodNotFound as i32, format!("galettec lsp does not handle {method}"))
        })
    }

    fn document(&self, uri: &Url) -> Result<&Analysis, RequestError> {
        self.documents.get(uri).ok_or_else(|| RequestError {
            code: ErrorCode::InvalidParams as i32,
            message: format!("{uri} is not open"),
        })
    }

    fn notified(&mut self, notification: Notification) -> Result<(), ServerError> {
        match notification.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let params: lsp_types::DidOpenTextDocumentParams = serde_json::from_value(notification.params)?;
                let document = params.text_document;
                self.check(document.uri, document.text, Some(document.version))
            }
            DidChangeTextDocument::METHOD => {
                let params: lsp_types::DidChangeTextDocumentParams = serde_json::from_value(notification.params)?;
                // Full synchronisation: the last change holds the whole text.
                let Some(change) = params.content_changes.into_iter().last() else { return Ok(()) };
                self.check(params.text_document.uri, change.text, Some(params.text_document.version))
            }
            DidSaveTextDocument::METHOD => {
                // An NF crate may have changed beside it: check again.
                let params: lsp_types::DidSaveTextDocumentParams = serde_json::from_value(notification.params)?;
                let Some(text) = self.documents.get(&params.text_document.uri).map(|a| a.text.clone()) else {
                    return Ok(());
                };
                self.check(params.text_document.uri, text, None)
            }
            DidCloseTextDocument::METHOD => {
                let params: lsp_types::DidCloseTextDocumentParams = serde_json::from_value(notification.params)?;
                self.documents.remove(&params.text_document.uri);
                self.publish(params.text_document.uri, Vec::new(), None)
            }
            _ => Ok(()),
        }
    }

    /// Checks `text` as the document `uri` and publishes its diagnostics.
    fn check(&mut self, uri: Url, text: String, version: Option<i32>) -> Result<(), ServerError> {
        let mut analysis = Analysis::new(&document_path(&uri), text, &self.options);
        if let Some(earlier) = self.documents.remove(&uri) {
            analysis.remember(earlier);
        }
        let diagnostics = diagnostics::to_lsp(&analysis);
        self.documents.insert(uri.clone(), analysis);
        self.publish(uri, diagnostics, version)
    }

    fn publish(
        &self,
        uri: Url,
        diagnostics: Vec<lsp_types::Diagnostic>,
        version: Option<i32>,
    ) -> Result<(), ServerError> {
        let params = PublishDiagnosticsParams { uri, diagnostics, version };
        self.send(Message::Notification(Notification::new(PublishDiagnostics::METHOD.to_owned(), params)))
    }
}

/// Answers `request` with `handler` if it is an `R`.
fn on<R: LspRequest>(
    request: &Request,
    handler: impl FnOnce(R::Params) -> Result<R::Result, RequestError>,
) -> Option<Response> {
    if request.method != R::METHOD {
        return None;
    }
    let id = request.id.clone();
    Some(match serde_json::from_value::<R::Params>(request.params.clone()) {
        Err(error) => Response::new_err(id, ErrorCode::InvalidParams as i32, error.to_string()),
        Ok(params) => match handler(params) {
            Ok(result) => Response::new_ok(id, result),
            Err(error) => Response::new_err(id, error.code, error.message),
        },
    })
}

/// The document in `galettec fmt`'s layout, as one edit; nothing for a file
/// with syntax errors (which `fmt` leaves alone too).
fn format_document(analysis: &Analysis) -> Option<Vec<TextEdit>> {
    let formatted = galette_grammar::format(&analysis.text, 0).ok()?;
    if formatted == analysis.text {
        return Some(Vec::new());
    }
    let end = analysis.lines.position(&analysis.text, analysis.text.len());
    let range = lsp_types::Range { start: Position::default(), end };
    Some(vec![TextEdit { range, new_text: formatted }])
}

/// The file a document is, for the crate paths relative to it: its own path,
/// or for an unsaved document one in the current directory.
fn document_path(uri: &Url) -> PathBuf {
    uri.to_file_path().unwrap_or_else(|()| std::env::current_dir().unwrap_or_default().join("untitled.gal"))
}
