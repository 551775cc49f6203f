//! The crate's one rule (see the Layout in src/lib.rs): a module uses only the layers below its
//! own. Read from the sources, so a new upward import fails here, with the line that made it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layer of a top-level module of the crate.
fn layer(module: &str) -> Option<u8> {
    Some(match module {
        "domain" => 0,
        "error" => 1,
        "config" | "cursor" | "files" | "idempotency" | "input" | "outbound" | "store" | "tls"
        | "view" => 2,
        "service" => 3,
        "http" | "event" | "logging" | "memory" => 4,
        "lib" => 5,
        _ => return None,
    })
}

/// External crates a module may use only in the layers named.
const CONFINED: &[(&str, &[&str])] = &[
    ("lambda_http", &["http"]),
    ("lambda_runtime", &["event", "logging"]),
    ("aws_lambda_events", &["event", "http"]),
    ("aws_sdk_s3", &["files"]),
    ("aws_sdk_eventbridge", &["outbound"]),
    ("aws_sdk_sqs", &["outbound"]),
    ("hyper", &["outbound"]),
    ("rustls", &["outbound", "tls"]),
    ("jsonwebtoken", &["http"]),
    ("chrono_tz", &["input"]),
    ("libc", &["memory"]),
];

/// Words the domain must not use: it is pure.
const NOT_IN_DOMAIN: &[&str] = &[
    "aws_",
    "lambda_",
    "serde_json::Value",
    "serde_json::Map",
    "json!",
];

/// The source without comments (string contents kept; none of them look like paths).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::<module>` a file names, with its line.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in code(text).lines().enumerate() {
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let grouped = after.starts_with('{');
            if grouped {
                // `use crate::{a, b::c}`: every first segment in the braces.
                let inner = after[1..].split('}').next().unwrap_or("");
                for part in inner.split(',') {
                    let first: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !first.is_empty() {
                        out.push((n + 1, first));
                    }
                }
            } else if !name.is_empty() {
                out.push((n + 1, name));
            }
            rest = after;
        }
    }
    out
}

/// The top-level module a source file belongs to (`store/lists.rs` -> `store`).
fn module_of(relative: &Path) -> String {
    let first = relative.components().next().unwrap();
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_owned()
}

/// Every violation of the rule in these sources (path relative to `src/` -> text).
fn violations(sources: &BTreeMap<PathBuf, String>) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in sources {
        let module = module_of(path);
        let Some(own) = layer(&module) else {
            found.push(format!("{}: module {module} has no layer", path.display()));
            continue;
        };
        for (line, target) in crate_paths(text) {
            match layer(&target) {
                Some(l) if l <= own || target == module => {}
                Some(l) => found.push(format!(
                    "{}:{line}: {module} (layer {own}) uses crate::{target} (layer {l})",
                    path.display()
                )),
                None => found.push(format!(
                    "{}:{line}: crate::{target} is not a module with a layer",
                    path.display()
                )),
            }
        }
        let code = code(text);
        for (krate, allowed) in CONFINED {
            if allowed.contains(&module.as_str()) || module == "lib" {
                continue;
            }
            if code.contains(&format!("{krate}::")) || code.contains(&format!("use {krate}")) {
                found.push(format!("{}: {module} uses {krate}", path.display()));
            }
        }
        if module == "domain" {
            for word in NOT_IN_DOMAIN {
                if code.contains(word) {
                    found.push(format!("{}: the domain uses {word}", path.display()));
                }
            }
        }
    }
    found
}

fn read_tree(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_tree(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.insert(path.strip_prefix(root).unwrap().to_owned(), text);
        }
    }
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = BTreeMap::new();
    read_tree(&root, &root, &mut sources);
    assert!(sources.len() > 20, "the sources were read");
    let found = violations(&sources);
    assert!(
        found.is_empty(),
        "layering violations:\n{}",
        found.join("\n")
    );
}

/// The domain's modules (`domain/<name>.rs`) and which of them each one names.
fn domain_graph(sources: &BTreeMap<PathBuf, String>) -> BTreeMap<String, Vec<String>> {
    let mut graph = BTreeMap::new();
    for (path, text) in sources {
        let Ok(rest) = path.strip_prefix("domain") else {
            continue;
        };
        let name = rest.to_string_lossy().trim_end_matches(".rs").to_owned();
        // `mod.rs` declares them all; `fixtures` is built for the tests only.
        if name == "mod" || name == "fixtures" {
            continue;
        }
        let code = code(text);
        let mut uses = Vec::new();
        for prefix in ["super::", "crate::domain::"] {
            for piece in code.split(prefix).skip(1) {
                let target: String = piece
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let skip = target.is_empty() || target == name || target == "fixtures";
                if !skip && !uses.contains(&target) {
                    uses.push(target);
                }
            }
        }
        graph.insert(name, uses);
    }
    graph
}

/// A cycle among the domain's modules, if there is one.
fn domain_cycle(graph: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, Vec<String>>,
        path: &mut Vec<String>,
        done: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.iter().any(|n| n == node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if graph.contains_key(next) {
                if let Some(c) = visit(next, graph, path, done) {
                    return Some(c);
                }
            }
        }
        path.pop();
        done.push(node.to_owned());
        None
    }
    let mut done = Vec::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_domain_modules_form_no_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = BTreeMap::new();
    read_tree(&root, &root, &mut sources);
    let graph = domain_graph(&sources);
    assert!(graph.len() >= 8, "{graph:?}");
    assert_eq!(domain_cycle(&graph), None);
    let planted = BTreeMap::from([
        ("a".to_owned(), vec!["b".to_owned()]),
        ("b".to_owned(), vec!["c".to_owned()]),
        ("c".to_owned(), vec!["a".to_owned()]),
    ]);
    assert_eq!(
        domain_cycle(&planted),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

/// The check bites: planted upward imports, in each of the forms Rust allows, are found.
#[test]
fn a_planted_upward_import_is_found() {
    let plant = |path: &str, text: &str| {
        let sources = BTreeMap::from([(PathBuf::from(path), text.to_owned())]);
        violations(&sources)
    };
    assert_eq!(
        plant("domain/rules.rs", "use crate::domain::Ticket;\n"),
        Vec::<String>::new()
    );
    for (path, text) in [
        ("domain/rules.rs", "use crate::service::App;\n"),
        (
            "domain/rules.rs",
            "use crate::{domain::Ticket, error::ApiError};\n",
        ),
        ("error.rs", "fn f() -> crate::view::X { todo() }\n"),
        ("store/lists.rs", "use crate::service::App;\n"),
        ("input/fields.rs", "use crate::http::Reply;\n"),
        ("service/list.rs", "use crate::http::Api;\n"),
        (
            "view.rs",
            "use crate::store::Store;\n"
                .replace("store", "service")
                .as_str(),
        ),
        ("store/mod.rs", "use lambda_http::Request;\n"),
        (
            "domain/ticket.rs",
            "fn f() -> serde_json::Value { serde_json::Value::Null }\n",
        ),
        ("newlayer.rs", "\n"),
    ] {
        assert!(!plant(path, text).is_empty(), "{path}: {text}");
    }
    assert!(
        plant(
            "store/mod.rs",
            "// uses crate::service::App only in prose\n"
        )
        .is_empty(),
        "comments are not imports"
    );
}
