//! The floor plan, checked: the gateway's folders form layers and each may use only the layers
//! below it (the picture is in `docs/ARCHITECTURE.md`); no two modules import each other in a
//! circle; every module says what it holds in a `//!` line; and no function outside tests in any
//! crate of the workspace grows past [`MAX_FN_LINES`]. Reads the source as text, so a new import
//! that breaks the layering fails here with the file and the line, not in a reviewer's head.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which top-level modules of `crates/gateway/src` each one may use. A folder is listed with
/// every layer it may reach, so the table reads without following chains.
const LAYERS: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("config", &["model"]),
    ("store", &["model", "config"]),
    ("access", &["model", "config", "store"]),
    ("brokers", &["model", "config", "store"]),
    ("replay", &["model", "config", "store", "brokers"]),
    ("upstream", &["model", "config", "store", "brokers"]),
    ("auth", &["model", "config", "store", "brokers", "upstream"]),
    (
        "rest",
        &["model", "config", "store", "brokers", "upstream", "auth"],
    ),
    (
        "status",
        &[
            "model",
            "config",
            "store",
            "json",
            "kite_compat",
            "hub",
            "cluster",
            "brokers",
            "upstream",
            "auth",
        ],
    ),
    ("json", &["model", "config"]),
    ("kite_compat", &["model", "config"]),
    ("hub", &["model", "config", "store", "json", "kite_compat"]),
    (
        "cluster",
        &[
            "model",
            "config",
            "store",
            "access",
            "json",
            "kite_compat",
            "hub",
        ],
    ),
    (
        "clients",
        &[
            "model",
            "config",
            "store",
            "access",
            "json",
            "kite_compat",
            "hub",
            "status",
        ],
    ),
    (
        "http",
        &[
            "model",
            "config",
            "cluster",
            "store",
            "access",
            "brokers",
            "upstream",
            "auth",
            "rest",
            "status",
            "json",
            "kite_compat",
            "hub",
            "clients",
        ],
    ),
];

/// The wiring and the crate root may use everything.
const TOP: &[&str] = &["runtime", "lib"];

/// Longest non-test function allowed in `crates/*/src`, in lines (signature to closing brace).
const MAX_FN_LINES: usize = 80;

/// One source file of a crate, with its test code cut off.
struct Source {
    path: PathBuf,
    /// Module path inside the crate (`upstream::conn`, `lib`).
    module: String,
    /// The file's lines with test-only items blanked, comments included.
    lines: Vec<String>,
    /// The whole file (for the `//!` check).
    text: String,
}

fn is_test_file(rel: &Path) -> bool {
    rel.components().any(|c| c.as_os_str() == "tests")
        || rel.file_stem().is_some_and(|s| {
            let s = s.to_string_lossy();
            s == "tests" || s.ends_with("_tests") || s.ends_with("_test") || s.ends_with("_props")
        })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The non-test sources of the crate whose `src` is `src`.
fn sources(src: &Path) -> Vec<Source> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let rel = path.strip_prefix(src).ok()?.to_path_buf();
            if is_test_file(&rel) {
                return None;
            }
            let text = std::fs::read_to_string(&path).ok()?;
            let lines = without_test_items(&text);
            let mut parts: Vec<String> = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") && parts.len() > 1 {
                parts.pop();
            }
            Some(Source {
                path,
                module: parts.join("::"),
                lines,
                text,
            })
        })
        .collect()
}

/// The file's lines with every `#[cfg(test)]` item blanked out (a test module, or a test-only
/// function anywhere in the file), so line numbers stay true and the code after a test-only item
/// is still read.
fn without_test_items(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].trim_start().starts_with("#[cfg(test)]") {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < lines.len() && lines[j].trim_start().starts_with("#[") {
            j += 1;
        }
        let Some(item) = lines.get(j) else { break };
        let end = if item.trim_end().ends_with(';') {
            j
        } else {
            let indent = item.len() - item.trim_start().len();
            let close = format!("{}}}", " ".repeat(indent));
            (j + 1..lines.len())
                .find(|&k| lines[k].trim_end() == close)
                .unwrap_or(lines.len() - 1)
        };
        for line in &mut lines[i..=end] {
            line.clear();
        }
        i = end + 1;
    }
    lines
}

/// `crate::a::b::c` paths used in code (not in comments), as their segments, with line numbers.
/// A group (`use crate::{a::X, b::{Y, Z}};`, over several lines too) counts as a path per
/// member, each with the group's prefix.
fn crate_paths(s: &Source) -> Vec<(usize, Vec<String>)> {
    // Comments out, lines kept, so a byte offset still maps to its line.
    let code: String = s
        .lines
        .iter()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = code[from..].find("crate::") {
        let at = from + i;
        from = at + "crate::".len();
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `feedgate_crate::…` and the like
        }
        for path in expand(&code[from..]) {
            let segments: Vec<String> = path
                .split("::")
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect();
            if !segments.is_empty() {
                out.push((line_of(at), segments));
            }
        }
    }
    out
}

/// The paths written at the start of `text` (just after a `crate::`): one plain path, or every
/// member of a `{…}` group, nested groups included.
fn expand(text: &str) -> Vec<String> {
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    let head: String = text.chars().take_while(|c| ident(*c)).collect();
    let rest = text[head.len()..].trim_start();
    let Some(group) = rest.strip_prefix('{') else {
        return vec![head];
    };
    // The group's members, split at top-level commas.
    let (mut depth, mut members, mut current) = (0usize, Vec::new(), String::new());
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                members.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    members.push(current);
    members
        .iter()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
        .flat_map(|m| match m {
            // `self` in a group names the group's own module.
            "self" => vec![head.clone()],
            m => expand(m)
                .into_iter()
                .map(|p| format!("{head}{p}"))
                .collect(),
        })
        .collect()
}

fn gateway_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let allowed: BTreeMap<&str, BTreeSet<&str>> = LAYERS
        .iter()
        .map(|(m, deps)| (*m, deps.iter().copied().collect()))
        .collect();
    let mut wrong = Vec::new();
    for s in sources(&gateway_src()) {
        let from = top(&s.module);
        if TOP.contains(&from) {
            continue;
        }
        let Some(ok) = allowed.get(from) else {
            wrong.push(format!(
                "{}: top-level module `{from}` is not in the layer table of tests/layers.rs \
                 (add it, with the layers it may use, and to docs/ARCHITECTURE.md)",
                s.path.display()
            ));
            continue;
        };
        for (line, path) in crate_paths(&s) {
            let to = path[0].as_str();
            if to != from && !ok.contains(to) {
                wrong.push(format!(
                    "{}:{line}: `{from}` uses `crate::{}`, a layer it may not use",
                    s.path.display(),
                    path.join("::")
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn no_modules_import_each_other_in_a_circle() {
    let srcs = sources(&gateway_src());
    let modules: BTreeSet<String> = srcs.iter().map(|s| s.module.clone()).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in &srcs {
        let deps = edges.entry(s.module.clone()).or_default();
        for (_, path) in crate_paths(s) {
            // The longest prefix of the path that names a module is the module it uses.
            let target = (1..=path.len())
                .rev()
                .map(|k| path[..k].join("::"))
                .find(|m| modules.contains(m));
            if let Some(t) = target
                && t != s.module
                && !s.module.starts_with(&format!("{t}::"))
            {
                deps.insert(t);
            }
        }
    }
    let cycle = find_cycle(&edges);
    assert!(
        cycle.is_none(),
        "modules import each other in a circle: {}",
        cycle.unwrap_or_default().join(" → ")
    );
}

/// A cycle in `edges`, as the modules along it, if there is one (depth-first search).
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|m| m == node) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, edges, done, stack) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|m| visit(m, edges, &mut done, &mut Vec::new()))
}

#[test]
fn every_module_says_what_it_holds() {
    let missing: Vec<String> = sources(&gateway_src())
        .iter()
        .filter(|s| !s.text.trim_start().starts_with("//!"))
        .map(|s| s.path.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a `//!` line saying their job:\n{}",
        missing.join("\n")
    );
}

/// Functions longer than [`MAX_FN_LINES`] in `crates/*/src`, outside test code: a function is
/// measured from its `fn` line to the closing brace at the same indentation.
fn long_functions(crates: &Path) -> Vec<String> {
    let mut long = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(crates)
        .map(|rd| rd.flatten().map(|e| e.path().join("src")).collect())
        .unwrap_or_default();
    dirs.sort();
    for src in dirs.iter().filter(|d| d.is_dir()) {
        for s in sources(src) {
            let mut i = 0;
            while i < s.lines.len() {
                let line = &s.lines[i];
                let indent = line.len() - line.trim_start().len();
                let is_fn = fn_name(line.trim_start()).is_some() && !line.trim_end().ends_with(';');
                if !is_fn {
                    i += 1;
                    continue;
                }
                let close = format!("{}}}", " ".repeat(indent));
                let end = (i + 1..s.lines.len())
                    .find(|&j| s.lines[j].trim_end() == close)
                    .unwrap_or(s.lines.len() - 1);
                let n = end - i + 1;
                if n > MAX_FN_LINES {
                    long.push(format!(
                        "{}:{} `{}` is {n} lines",
                        s.path.display(),
                        i + 1,
                        fn_name(line.trim_start()).unwrap_or_default()
                    ));
                }
                i = end + 1;
            }
        }
    }
    long
}

/// The name of the function a trimmed line declares, if it declares one.
fn fn_name(line: &str) -> Option<String> {
    let mut rest = line;
    for prefix in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "async ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

#[test]
fn no_function_outside_tests_is_longer_than_the_limit() {
    let gateway = Path::new(env!("CARGO_MANIFEST_DIR"));
    let long = long_functions(gateway.parent().unwrap_or(gateway));
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines (split them into named steps):\n{}",
        long.join("\n")
    );
}
