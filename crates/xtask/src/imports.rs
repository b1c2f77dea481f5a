//! `cargo xtask imports`: the import graph of the `trt` crate's files (`src/`), and a check that
//! it has no circle. A file imports another when it names a path `crate::a::b` that resolves to
//! that file's module (the longest module prefix with a file wins; re-exports do not hide an
//! edge, they are one).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`build::session`) → file, for every `.rs` file under `src`.
fn modules(src: &Path) -> Result<BTreeMap<String, PathBuf>, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for e in entries {
            let path = e.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("under src");
            let mut parts: Vec<String> = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
                parts.pop();
            }
            out.insert(parts.join("::"), path);
        }
    }
    Ok(out)
}

/// The `crate::...` paths a file names, with `use crate::{a, b::c}` groups expanded one level.
fn crate_paths(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut paths = Vec::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let head = rest[..end].trim_end_matches(':').to_string();
        if rest[end..].starts_with('{') {
            // The group up to its matching brace; items split at top-level commas.
            let (mut depth, mut close, mut items, mut start) = (0, rest.len(), Vec::new(), end + 1);
            for (j, ch) in rest.char_indices().skip(end) {
                match ch {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            close = j;
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        items.push(&rest[start..j]);
                        start = j + 1;
                    }
                    _ => {}
                }
            }
            items.push(&rest[start..close.max(start)]);
            for item in items {
                let item = item.trim().split(" as ").next().unwrap_or("").trim();
                let item = item.split("::{").next().unwrap_or(item);
                if item.is_empty() || item == "self" {
                    paths.push(head.clone());
                } else if head.is_empty() {
                    paths.push(item.to_string());
                } else {
                    paths.push(format!("{head}::{item}"));
                }
            }
        } else {
            paths.push(head);
        }
    }
    paths
}

/// The paths after `super::` (one level up only; the house style never goes further).
fn super_paths(text: &str) -> Vec<String> {
    crate_paths(&text.replace("super::", "crate::"))
        .into_iter()
        .filter(|p| !crate_paths(text).contains(p))
        .collect()
}

/// The first path of each `use` item that does not start at the crate root, a keyword or
/// another crate (those are relative: a child module's items).
fn relative_uses(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_start)
        .filter_map(|l| {
            let l = l
                .strip_prefix("pub(crate) use ")
                .or_else(|| l.strip_prefix("pub use "))
                .or_else(|| l.strip_prefix("use "))?;
            let first = l.split("::").next()?;
            let external = ["crate", "self", "super", "std", "core", "alloc"].contains(&first)
                || !l.contains("::");
            (!external).then(|| {
                l.trim_end_matches(';')
                    .split("::{")
                    .next()
                    .unwrap_or(l)
                    .to_string()
            })
        })
        .collect()
}

/// The module a path lives in: its longest prefix that is a module with a file.
fn resolve<'a>(path: &str, modules: &'a BTreeMap<String, PathBuf>) -> Option<&'a str> {
    let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find_map(|m| modules.get_key_value(&m).map(|(k, _)| k.as_str()))
}

/// The edges `file → files it imports` (self-edges dropped).
pub fn graph(src: &Path) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let modules = modules(src)?;
    let mut graph = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        // Unit tests (from `#[cfg(test)]` to the end of the file, the house layout) may reach
        // anything; only the code itself counts.
        let text = match text.find("\n#[cfg(test)]") {
            Some(i) => &text[..i],
            None => &text[..],
        };
        let mut paths = crate_paths(text);
        // `super::x` names a sibling (or the parent's own item).
        let parent = module.rsplit_once("::").map(|(p, _)| p).unwrap_or("");
        paths.extend(super_paths(text).into_iter().map(|p| {
            if parent.is_empty() {
                p
            } else {
                format!("{parent}::{p}")
            }
        }));
        // `use child::...` (a re-export of a child module) is an import of that child too.
        for p in relative_uses(text) {
            let full = if module.is_empty() {
                p
            } else {
                format!("{module}::{p}")
            };
            if resolve(&full, &modules).is_some_and(|m| m != module) {
                paths.push(full);
            }
        }
        let deps: BTreeSet<String> = paths
            .iter()
            .filter_map(|p| resolve(p, &modules))
            .filter(|d| d != module && !d.is_empty())
            .map(str::to_string)
            .collect();
        graph.insert(module.clone(), deps);
    }
    graph.remove("");
    Ok(graph)
}

/// Circles in the graph (strongly connected components of more than one file).
pub fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Kosaraju: finish order on the graph, then components on the reversed graph.
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) {
        if !seen.insert(n.to_string()) {
            return;
        }
        for d in g.get(n).into_iter().flatten() {
            visit(d, g, seen, order);
        }
        order.push(n.to_string());
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for n in graph.keys() {
        visit(n, graph, &mut seen, &mut order);
    }
    let mut reversed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (n, ds) in graph {
        for d in ds {
            reversed.entry(d.clone()).or_default().insert(n.clone());
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for n in order.iter().rev() {
        let mut component = Vec::new();
        visit(n, &reversed, &mut seen, &mut component);
        if component.len() > 1 {
            component.sort();
            out.push(component);
        }
    }
    out
}

/// Prints the graph and fails on a circle.
pub fn check(root: &Path) -> Result<(), String> {
    let g = graph(&root.join("src"))?;
    for (n, ds) in &g {
        let ds: Vec<&str> = ds.iter().map(String::as_str).collect();
        eprintln!("  {n} -> {}", ds.join(", "));
    }
    let c = circles(&g);
    if c.is_empty() {
        eprintln!("xtask: src/ has {} files and no import circle", g.len());
        return Ok(());
    }
    Err(format!(
        "import circles in src/: {}",
        c.iter()
            .map(|c| c.join(" <-> "))
            .collect::<Vec<_>>()
            .join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_groups_and_circles() {
        let p = crate_paths("use crate::build::{session::{Pass, Constraints}, BuildOutput};\nlet x = crate::ffi::check(y); // crate::no\n");
        assert_eq!(p, ["build::session", "build::BuildOutput", "ffi::check"]);
        let g: BTreeMap<String, BTreeSet<String>> = [
            ("a", vec!["b"]),
            ("b", vec!["c"]),
            ("c", vec!["a"]),
            ("d", vec!["a"]),
        ]
        .into_iter()
        .map(|(n, d)| (n.to_string(), d.into_iter().map(String::from).collect()))
        .collect();
        assert_eq!(
            circles(&g),
            vec![vec!["a".to_string(), "b".into(), "c".into()]]
        );
    }
}
