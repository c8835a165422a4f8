//! A small LSP client for the tests: starts `galettec lsp`, frames JSON-RPC
//! messages over its standard input and output, and waits for answers.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long any answer may take: far above what the server needs, so only
/// a hung server fails on it.
const PATIENCE: Duration = Duration::from_secs(30);

pub struct Client {
    child: Child,
    stdin: ChildStdin,
    incoming: Receiver<Value>,
    /// Notifications that arrived while waiting for something else.
    pending: Vec<Value>,
    next_id: u64,
}

impl Client {
    /// Starts the server and initializes it; returns the server's
    /// `initialize` result beside the client.
    pub fn start() -> (Client, Value) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_galettec"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("galettec starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, incoming) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(message) = read_message(&mut reader) {
                if sender.send(message).is_err() {
                    return;
                }
            }
        });
        let mut client = Client { child, stdin, incoming, pending: Vec::new(), next_id: 1 };
        let initialized =
            client.request("initialize", json!({ "processId": null, "rootUri": null, "capabilities": {} }));
        client.notify("initialized", json!({}));
        (client, initialized)
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and returns its `result`; panics on an error answer.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let answer = self.call(method, params);
        assert!(answer.get("error").is_none(), "{method} failed: {answer}");
        answer["result"].clone()
    }

    /// Sends a request and returns the whole answer (`result` or `error`).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let message = self.receive(method);
            if message.get("id") == Some(&json!(id)) {
                return message;
            }
            self.pending.push(message);
        }
    }

    /// The next notification `method` (one that came earlier first).
    pub fn notification(&mut self, method: &str) -> Value {
        if let Some(at) = self.pending.iter().position(|m| m["method"] == method) {
            return self.pending.remove(at)["params"].clone();
        }
        loop {
            let message = self.receive(method);
            if message["method"] == method {
                return message["params"].clone();
            }
            self.pending.push(message);
        }
    }

    /// Opens `uri` with `text` and returns the diagnostics published for it.
    pub fn open(&mut self, uri: &str, text: &str) -> Vec<Value> {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "gal", "version": 1, "text": text } }),
        );
        self.diagnostics(uri)
    }

    /// Replaces the text of `uri` and returns the diagnostics published for it.
    pub fn change(&mut self, uri: &str, version: i64, text: &str) -> Vec<Value> {
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "text": text }] }),
        );
        self.diagnostics(uri)
    }

    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        let published = self.notification("textDocument/publishDiagnostics");
        assert_eq!(published["uri"], uri);
        published["diagnostics"].as_array().cloned().unwrap_or_default()
    }

    /// Ends the session as an editor does; returns whether the server
    /// exited with status 0.
    pub fn shut_down(mut self) -> bool {
        self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn send(&mut self, message: &Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn receive(&mut self, waiting_for: &str) -> Value {
        match self.incoming.recv_timeout(PATIENCE) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => panic!("no answer to {waiting_for} within {PATIENCE:?}"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the server closed its output while waiting for {waiting_for}")
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // A test that failed midway leaves no server behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `Content-Length`-framed message; `None` at the end of the stream.
fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("Content-Length:") {
            length = value.trim().parse().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}
