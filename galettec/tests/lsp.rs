//! `galettec lsp` over real stdio, as an editor drives it: each request kind
//! the server offers, on the repository's example chains and the standard
//! NFs they use.

#[path = "lsp/client.rs"]
mod client;

use std::path::{Path, PathBuf};

use client::Client;
use serde_json::{Value, json};

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn security_path() -> PathBuf {
    project_root().join("examples/security.gal")
}

fn security_text() -> String {
    std::fs::read_to_string(security_path()).unwrap()
}

fn uri_of(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The position of the `nth` (from 0) occurrence of `needle` in `text`,
/// moved `into` bytes into it (the examples are ASCII: bytes are columns).
fn at(text: &str, needle: &str, nth: usize, into: usize) -> Value {
    let offset = text.match_indices(needle).nth(nth).unwrap_or_else(|| panic!("no {needle:?} #{nth}")).0 + into;
    let line = text[..offset].matches('\n').count();
    let column = offset - text[..offset].rfind('\n').map_or(0, |newline| newline + 1);
    json!({ "line": line, "character": column })
}

/// The 0-based line of the first line of `path` that contains `needle`.
fn line_of(path: &Path, needle: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().position(|line| line.contains(needle)).unwrap_or_else(|| panic!("{needle:?} in {path:?}")) as u64
}

fn document_position(uri: &str, position: Value) -> Value {
    json!({ "textDocument": { "uri": uri }, "position": position })
}

/// The security chain, opened, with no diagnostics.
fn open_security() -> (Client, String, String) {
    let (mut client, _) = Client::start();
    let uri = uri_of(&security_path());
    let text = security_text();
    let diagnostics = client.open(&uri, &text);
    assert_eq!(diagnostics, Vec::<Value>::new(), "the example chain checks cleanly");
    (client, uri, text)
}

fn codes(diagnostics: &[Value]) -> Vec<&str> {
    diagnostics.iter().map(|d| d["code"].as_str().unwrap()).collect()
}

#[test]
fn the_server_says_what_it_offers_and_shuts_down_cleanly() {
    let (mut client, initialized) = Client::start();
    let capabilities = &initialized["capabilities"];
    for provider in [
        "hoverProvider",
        "definitionProvider",
        "completionProvider",
        "documentFormattingProvider",
        "documentSymbolProvider",
        "renameProvider",
    ] {
        assert!(!capabilities[provider].is_null(), "{provider} in {capabilities}");
    }
    assert_eq!(capabilities["textDocumentSync"]["change"], 1, "full synchronisation");
    assert_eq!(initialized["serverInfo"]["name"], "galettec");
    let unknown = client.call("textDocument/inlayHint", json!({}));
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    let not_open = client.call("textDocument/hover", document_position("file:///nowhere.gal", at("a", "a", 0, 0)));
    assert!(not_open["error"]["message"].as_str().unwrap().contains("not open"), "{not_open}");
    assert!(client.shut_down(), "the server exits with status 0 after shutdown and exit");
}

#[test]
fn diagnostics_arrive_on_open_and_change_with_the_compilers_codes() {
    let (mut client, _) = Client::start();
    let uri = uri_of(&security_path());
    let text = security_text();
    let typo = text.replacen("suspicious: !dpi", "suspicous: !dpi", 1);
    let diagnostics = client.open(&uri, &typo);
    assert_eq!(codes(&diagnostics), ["E0301"]);
    let diagnostic = &diagnostics[0];
    assert_eq!(diagnostic["severity"], 1);
    assert_eq!(diagnostic["source"], "galettec");
    let start = at(&typo, "suspicous", 0, 0);
    assert_eq!(diagnostic["range"]["start"], start);
    let message = diagnostic["message"].as_str().unwrap();
    assert!(message.contains("`classifier` has no port `suspicous`"), "{message}");
    assert!(message.contains("did you mean `suspicious`?"), "{message}");
    // The label in the NF crate is related information, pointing into it.
    let related = &diagnostic["relatedInformation"][0];
    let crate_source = project_root().join("stdlib-nfs/classifier/src/lib.rs");
    assert_eq!(related["location"]["uri"], uri_of(&crate_source));
    assert_eq!(related["location"]["range"]["start"]["line"], line_of(&crate_source, "pub enum Action"));
    assert_eq!(related["message"], "ports declared here");

    // Fixed: the diagnostics go away.
    assert_eq!(client.change(&uri, 2, &text), Vec::<Value>::new());

    // A syntax error hides nothing else, and does not cascade.
    let broken = text.replacen("{ v4: acl_v4, v6: acl_v6 }", "{ v4: acl_v4 v6: acl_v6 }", 1).replacen(
        "attack: drop",
        "atack: drop",
        1,
    );
    let diagnostics = client.change(&uri, 3, &broken);
    assert_eq!(codes(&diagnostics), ["E0002", "E0301"], "{diagnostics:#?}");
    assert!(diagnostics[1]["message"].as_str().unwrap().contains("`dpi` has no port `atack`"));

    // A warning is one too.
    let unused = text.replacen("map acl_v6:", "map spare: hash<u32, u32>[1]\nmap acl_v6:", 1);
    let diagnostics = client.change(&uri, 4, &unused);
    assert_eq!(codes(&diagnostics), ["W0102"]);
    assert_eq!(diagnostics[0]["severity"], 2);
    assert!(client.shut_down());
}

#[test]
fn hover_shows_an_instances_crate_ports_maps_and_placement() {
    let (mut client, uri, text) = open_security();
    let hover = client.request("textDocument/hover", document_position(&uri, at(&text, "nf acl", 0, 4)));
    let shown = hover["contents"]["value"].as_str().unwrap();
    assert_eq!(hover["contents"]["kind"], "markdown");
    for expected in [
        "nf `acl` = crate `acl`",
        // The doc comments of the Action variants, from stdlib-nfs/acl.
        "`allowed` (`Action::Allowed`): A rule allows the packet, and none denies it.",
        "`other` (`Action::Other`): Not IPv4 or IPv6.",
        "`v4: LpmTrie<Ipv4Prefix, u8>`, bound to `acl_v4`",
        "**Placement**: XDP: nothing requires userland, so it runs in the XDP fast path",
    ] {
        assert!(shown.contains(expected), "{expected:?} not in:\n{shown}");
    }
    let dpi = client.request("textDocument/hover", document_position(&uri, at(&text, "!dpi", 1, 2)));
    let shown = dpi["contents"]["value"].as_str().unwrap();
    assert!(shown.contains("**Placement**: userland: its crate needs std"), "{shown}");

    let port = client.request("textDocument/hover", document_position(&uri, at(&text, "malicious: drop", 0, 2)));
    let shown = port["contents"]["value"].as_str().unwrap();
    assert!(shown.starts_with("port `classifier.malicious`: `classifier::Action::Malicious`"), "{shown}");
    assert!(shown.contains("A source past a \"malicious\" threshold in this window."), "{shown}");

    let map = client.request("textDocument/hover", document_position(&uri, at(&text, "map flows", 0, 5)));
    let shown = map["contents"]["value"].as_str().unwrap();
    assert!(shown.starts_with("map `flows`: `lru_hash<SourceKey, SourceStats>[65536]`"), "{shown}");
    assert!(shown.contains("BPF_MAP_TYPE_LRU_HASH"), "{shown}");
    assert!(shown.contains("Bound by `classifier.flows` (`LruHash<SourceKey, SourceStats>`)."), "{shown}");

    let drop = client.request("textDocument/hover", document_position(&uri, at(&text, "denied: drop", 0, 9)));
    assert!(drop["contents"]["value"].as_str().unwrap().contains("XDP_DROP"));
    // A comment has nothing to show.
    assert_eq!(
        client.request("textDocument/hover", document_position(&uri, at(&text, "security chain", 0, 2))),
        Value::Null
    );
    assert!(client.shut_down());
}

#[test]
fn definition_leads_from_the_chain_into_the_nf_crates() {
    let (mut client, uri, text) = open_security();
    let acl_source = project_root().join("stdlib-nfs/acl/src/lib.rs");
    let mut definition = |position: Value| client.request("textDocument/definition", document_position(&uri, position));

    // An instance in a link: its `nf` line.
    let found = definition(at(&text, "rx.lan -> acl", 0, 11));
    assert_eq!(found["uri"], uri);
    assert_eq!(found["range"]["start"], at(&text, "acl        = std.acl", 0, 0));
    // Its NF source, and its name where it is declared: the crate's `Action`.
    for position in [at(&text, "std.acl ", 0, 5), at(&text, "nf acl", 0, 4)] {
        let found = definition(position);
        assert_eq!(found["uri"], uri_of(&acl_source));
        assert_eq!(found["range"]["start"]["line"], line_of(&acl_source, "pub enum Action"));
    }
    // A port: its variant.
    let found = definition(at(&text, "unmatched: drop", 0, 3));
    assert_eq!(found["uri"], uri_of(&acl_source));
    assert_eq!(found["range"]["start"]["line"], line_of(&acl_source, "    Unmatched,"));
    // A map field: its field in the `#[maps]` struct; a map: its declaration.
    let found = definition(at(&text, "v6: acl_v6", 0, 0));
    assert_eq!(found["range"]["start"]["line"], line_of(&acl_source, "    v6: LpmTrie"));
    let found = definition(at(&text, "v6: acl_v6", 0, 5));
    assert_eq!(found["uri"], uri);
    assert_eq!(found["range"]["start"], at(&text, "acl_v6: lpm_trie", 0, 0));
    // A role: its `iface` line.
    let found = definition(at(&text, "other: wan", 0, 8));
    assert_eq!(found["range"]["start"], at(&text, "\niface wan", 0, 7));
    assert_eq!(definition(at(&text, "denied: drop", 0, 9)), Value::Null, "`drop` is defined nowhere");
    assert!(client.shut_down());
}

/// The labels of the completions at the end of `prefix`, appended to a
/// valid chain (so the chain's declarations are known).
fn completions_after(client: &mut Client, uri: &str, text: &str, version: i64, prefix: &str) -> Vec<String> {
    let edited = format!("{text}{prefix}");
    client.change(uri, version, &edited);
    let end = edited.len();
    let line = edited.matches('\n').count();
    let column = end - edited.rfind('\n').map_or(0, |newline| newline + 1);
    let result =
        client.request("textDocument/completion", document_position(uri, json!({ "line": line, "character": column })));
    let mut labels: Vec<String> =
        result.as_array().unwrap().iter().map(|item| item["label"].as_str().unwrap().to_owned()).collect();
    labels.sort();
    labels
}

#[test]
fn completion_offers_what_fits_where_the_cursor_is() {
    let (mut client, uri, text) = open_security();
    let mut complete = |version, prefix: &str| completions_after(&mut client, &uri, &text, version, prefix);
    assert_eq!(complete(2, "acl."), ["allowed", "denied", "other", "unmatched"]);
    assert_eq!(complete(3, "classifier -> { benign: wan, "), ["malicious", "suspicious"], "ports not yet linked");
    assert_eq!(complete(4, "rx."), ["lan", "wan"]);
    let destinations = complete(5, "dpi.clean -> ");
    for expected in ["abort", "acl", "classifier", "dpi", "drop", "lan", "pass", "tx", "wan"] {
        assert!(destinations.contains(&expected.to_owned()), "{expected} not in {destinations:?}");
    }
    assert_eq!(
        complete(6, "classifier -> { benign: !"),
        ["acl", "classifier", "dpi", "replies", "track"],
        "only NFs after `!`"
    );
    let std_nfs = complete(7, "nf more = std.");
    for expected in ["acl", "classifier", "dpi", "macswap", "rate_limit"] {
        assert!(std_nfs.contains(&expected.to_owned()), "{expected} not in {std_nfs:?}");
    }
    assert!(complete(8, "nf more = ").contains(&"std.macswap".to_owned()));
    assert_eq!(complete(9, "map more: "), ["array", "hash", "lpm_trie", "lru_hash", "percpu_array", "percpu_hash"]);
    let types = complete(10, "map more: hash<");
    for expected in ["u32", "Ipv4Prefix", "SourceKey", "SourceStats", "ConnKey", "ConnEntry"] {
        assert!(types.contains(&expected.to_owned()), "{expected} not in {types:?}");
    }
    assert_eq!(complete(11, "nf more = std.classifier { flows: flows, "), ["config"], "fields not yet bound");
    assert_eq!(
        complete(12, "nf more = std.classifier { flows: "),
        ["acl_v4", "acl_v6", "classifier_config", "connections", "conntrack_timeouts", "flows"]
    );
    assert_eq!(complete(13, "nf more = std.dpi @"), ["userland", "xdp"]);
    let start = complete(14, "\n");
    for expected in ["nf", "map", "iface", "rx", "acl"] {
        assert!(start.contains(&expected.to_owned()), "{expected} not in {start:?}");
    }
    // A word being typed does not change what is offered: the editor filters.
    assert_eq!(complete(15, "acl.al"), ["allowed", "denied", "other", "unmatched"]);
    assert!(client.shut_down());
}

#[test]
fn completion_items_carry_the_ports_doc_comments() {
    let (mut client, uri, text) = open_security();
    let edited = format!("{text}dpi.");
    client.change(&uri, 2, &edited);
    let line = edited.matches('\n').count();
    let items =
        client.request("textDocument/completion", document_position(&uri, json!({ "line": line, "character": 4 })));
    let attack = items.as_array().unwrap().iter().find(|item| item["label"] == "attack").unwrap();
    assert_eq!(attack["detail"], "Action::Attack");
    assert!(!attack["documentation"]["value"].as_str().unwrap().is_empty(), "{attack}");
    assert!(client.shut_down());
}

#[test]
fn formatting_gives_the_fmt_layout_and_nothing_for_a_broken_file() {
    let (mut client, _) = Client::start();
    let path = project_root().join("examples/macswap.gal");
    let uri = uri_of(&path);
    let messy = "chain   macswap\nnf swap=std.macswap\nrx->swap\nswap  ->   tx\n";
    client.open(&uri, messy);
    let options = json!({ "tabSize": 4, "insertSpaces": true });
    let edits =
        client.request("textDocument/formatting", json!({ "textDocument": { "uri": uri }, "options": options }));
    let edits = edits.as_array().unwrap();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0]["newText"], galette_grammar::format(messy, 0).unwrap());
    assert_eq!(edits[0]["range"]["start"], json!({ "line": 0, "character": 0 }));
    assert_eq!(edits[0]["range"]["end"], json!({ "line": 4, "character": 0 }));
    client.change(&uri, 2, "chain macswap\nnf swap = std.macswap\nrx -> -> swap\n");
    let none = client.request("textDocument/formatting", json!({ "textDocument": { "uri": uri }, "options": options }));
    assert_eq!(none, Value::Null);
    assert!(client.shut_down());
}

#[test]
fn document_symbols_outline_the_chain() {
    let (mut client, uri, _) = open_security();
    let symbols = client.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": uri } }));
    let chain = &symbols[0];
    assert_eq!(chain["name"], "security");
    let names: Vec<&str> = chain["children"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "lan",
            "wan",
            "acl_v4",
            "acl_v6",
            "flows",
            "classifier_config",
            "connections",
            "conntrack_timeouts",
            "acl",
            "classifier",
            "dpi",
            "track",
            "replies"
        ]
    );
    let dpi = &chain["children"][10];
    assert_eq!(dpi["detail"], "nf = std.dpi");
    assert_eq!(dpi["kind"], 12, "a function");
    assert!(client.shut_down());
}

/// `text` with the edits of a WorkspaceEdit for `uri` applied.
fn apply(text: &str, edit: &Value, uri: &str) -> String {
    let mut edits: Vec<&Value> = edit["changes"][uri].as_array().unwrap().iter().collect();
    let offset = |position: &Value| {
        let line = position["line"].as_u64().unwrap() as usize;
        let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
        start + position["character"].as_u64().unwrap() as usize
    };
    edits.sort_by_key(|edit| std::cmp::Reverse(offset(&edit["range"]["start"])));
    let mut result = text.to_owned();
    for edit in edits {
        let (start, end) = (offset(&edit["range"]["start"]), offset(&edit["range"]["end"]));
        result.replace_range(start..end, edit["newText"].as_str().unwrap());
    }
    result
}

#[test]
fn rename_changes_every_use_of_an_instance_or_a_map() {
    let (mut client, uri, text) = open_security();
    let prepared =
        client.request("textDocument/prepareRename", document_position(&uri, at(&text, "classifier ->", 1, 3)));
    assert_eq!(prepared["start"], at(&text, "classifier ->", 1, 0));

    let edit = client.request(
        "textDocument/rename",
        json!({ "textDocument": { "uri": uri }, "position": at(&text, "tracked: classifier", 0, 12), "newName": "sorter" }),
    );
    let renamed = apply(&text, &edit, &uri);
    // The declaration and the three links, not `std.classifier` nor the comments.
    assert_eq!(edit["changes"][&uri].as_array().unwrap().len(), 4);
    assert!(renamed.contains("nf sorter = std.classifier"), "{renamed}");
    assert!(renamed.contains("{ tracked: sorter, other: sorter }"));
    assert!(renamed.contains("\nsorter -> { benign: wan"));
    assert!(renamed.contains("track -> classifier -> benign"), "comments are left alone");
    assert_eq!(client.change(&uri, 2, &renamed), Vec::<Value>::new(), "the renamed chain still checks");

    let edit = client.request(
        "textDocument/rename",
        json!({ "textDocument": { "uri": uri }, "position": at(&renamed, "flows: flows", 0, 8), "newName": "sources" }),
    );
    let renamed_map = apply(&renamed, &edit, &uri);
    assert!(renamed_map.contains("map sources:") && renamed_map.contains("flows: sources"), "{renamed_map}");
    assert_eq!(client.change(&uri, 3, &renamed_map), Vec::<Value>::new());

    let refused = |client: &mut Client, text: &str, needle: &str, new_name: &str| {
        let answer = client.call(
            "textDocument/rename",
            json!({ "textDocument": { "uri": uri }, "position": at(text, needle, 0, needle.len() - 1), "newName": new_name }),
        );
        answer["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("renaming to {new_name} worked: {answer}"))
            .to_owned()
    };
    assert!(refused(&mut client, &renamed_map, "nf dpi", "drop").contains("reserved"));
    assert!(refused(&mut client, &renamed_map, "nf dpi", "acl").contains("already declared"));
    assert!(refused(&mut client, &renamed_map, "nf dpi", "wan").contains("already declared"), "roles share the names");
    assert!(refused(&mut client, &renamed_map, "nf dpi", "two words").contains("not a name"));
    assert!(refused(&mut client, &renamed_map, "iface lan", "inside").contains("only NFs and maps"));
    let broken = format!("{renamed_map}rx -> ->\n");
    client.change(&uri, 4, &broken);
    assert!(refused(&mut client, &broken, "nf dpi", "inspect").contains("syntax errors"));
    assert!(client.shut_down());
}
