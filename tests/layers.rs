//! The import direction check: every `crate::…` path in shipped code (test modules excluded) points
//! to the module's own layer's listed neighbours or to a lower layer, never up. The layers are the
//! ones README's architecture section draws; this test is what keeps that picture true.
//!
//! Each source file is parsed with `syn` (no text matching: doc comments, strings and test-only
//! items cannot confuse it). `mod x;` declarations are followed from `src/lib.rs` and `src/main.rs`,
//! skipping those marked `#[cfg(test)]`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// Lowest first. A module may import any module of a lower layer.
const LAYERS: &[(&str, &[&str])] = &[
    ("base", &["fd_limit", "footprint", "files", "format", "sanitize", "redact", "panics", "signals"]),
    ("wire", &["provider", "event", "tokens"]),
    ("ground", &["metrics", "pricing", "config", "evaluator_spec"]),
    ("engine", &["engine", "http1", "embedder"]),
    ("judging", &["eval"]),
    ("records", &["session", "cases", "report", "history"]),
    ("fixtures", &["mock", "demo"]),
    ("modes", &["batch", "headless", "load", "tui"]),
    ("face", &["main", "cli", "report_cmd"]),
];

/// Imports inside one layer that are allowed, each with its reason. Everything here must stay
/// acyclic (checked below).
const SAME_LAYER: &[(&str, &str, &str)] = &[
    ("event", "provider", "stream events carry the providers' deltas, usage and errors"),
    ("tokens", "provider", "a prompt estimate counts messages"),
    ("metrics", "pricing", "cost is folded with the other figures"),
    ("config", "pricing", "a model's price override"),
    ("config", "evaluator_spec", "evaluators are configured"),
    ("report", "session", "a report is built from a session"),
    ("history", "session", "a run is recorded from its journal entries and rebuilt into a session"),
    ("history", "report", "trends are a report's figures run after run"),
    ("engine", "http1", "load workers' own HTTP/1.1 client"),
    ("demo", "mock", "the demo is the embedded mock server"),
    ("tui", "load", "the TUI draws a load run's live screen (load takes it as a LiveScreen)"),
    ("headless", "batch", "`bakeoff run` prints the batch runner's progress"),
    ("main", "cli", "the binary parses its command line"),
    ("main", "report_cmd", "the binary runs `bakeoff report`"),
    ("cli", "report_cmd", "the parsed arguments become a report command"),
];

/// Crates that draw on or read from the terminal: only `tui` imports them (a load run's live
/// screen is the TUI's too).
const TERMINAL_CRATES: &[&str] = &["ratatui", "crossterm"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>().is_ok_and(|m| matches!(&m, syn::Meta::Path(p) if p.is_ident("test")))
    })
}

/// Collects the first segment after `crate::` of every path and `use` tree, and the `mod x;`
/// declarations to follow. Items under `#[cfg(test)]` are skipped whole.
#[derive(Default)]
struct Imports {
    targets: BTreeSet<String>,
    /// First segments of every path (in the binary's root, `cli::…` names a module of its own).
    firsts: BTreeSet<String>,
    submodules: Vec<String>,
}

impl<'ast> Visit<'ast> for Imports {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs: &[syn::Attribute] = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Const(c) => &c.attrs,
            syn::Item::Static(s) => &s.attrs,
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Enum(e) => &e.attrs,
            _ => &[],
        };
        if is_cfg_test(attrs) {
            return;
        }
        if let syn::Item::Mod(m) = item
            && m.content.is_none()
        {
            self.submodules.push(m.ident.to_string());
        }
        syn::visit::visit_item(self, item);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_cfg_test(&f.attrs) {
            syn::visit::visit_impl_item_fn(self, f);
        }
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let mut segs = p.segments.iter();
        if let Some(first) = p.segments.first() {
            self.firsts.insert(first.ident.to_string());
        }
        if segs.next().is_some_and(|s| s.ident == "crate")
            && let Some(next) = segs.next()
        {
            self.targets.insert(next.ident.to_string());
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if let syn::UseTree::Path(p) = &u.tree {
            self.firsts.insert(p.ident.to_string());
        }
        if let syn::UseTree::Path(p) = &u.tree
            && p.ident == "crate"
        {
            let mut firsts = Vec::new();
            use_firsts(&p.tree, &mut firsts);
            self.targets.extend(firsts);
        }
    }
}

fn use_firsts(tree: &syn::UseTree, out: &mut Vec<String>) {
    match tree {
        syn::UseTree::Path(p) => out.push(p.ident.to_string()),
        syn::UseTree::Name(n) => out.push(n.ident.to_string()),
        syn::UseTree::Rename(r) => out.push(r.ident.to_string()),
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| use_firsts(t, out)),
        syn::UseTree::Glob(_) => {}
    }
}

/// Walks one module file and the files of its non-test submodules; records `top → target` edges.
fn walk(file: &Path, dir_for_children: &Path, top: &str, edges: &mut BTreeMap<(String, String), BTreeSet<PathBuf>>) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut imports = Imports::default();
    imports.visit_file(&ast);
    // lib.rs only declares modules; main.rs is the face's own module and its children are others.
    let root = top == "lib" || top == "main";
    // The terminal crates count as modules of their own: only the TUI may name them.
    for term_crate in TERMINAL_CRATES {
        if imports.firsts.contains(*term_crate) {
            imports.targets.insert(term_crate.to_string());
        }
    }
    if top == "main" {
        let own: Vec<String> = imports.submodules.iter().filter(|m| imports.firsts.contains(*m)).cloned().collect();
        imports.targets.extend(own);
    }
    for target in imports.targets {
        if top != "lib" && target != top {
            edges.entry((top.to_string(), target)).or_default().insert(file.to_path_buf());
        }
    }
    for sub in imports.submodules {
        let child_top = if root { sub.clone() } else { top.to_string() };
        let flat = dir_for_children.join(format!("{sub}.rs"));
        let nested = dir_for_children.join(&sub).join("mod.rs");
        let path = if flat.exists() { flat } else { nested };
        walk(&path, &dir_for_children.join(&sub), &child_top, edges);
    }
}

#[test]
fn imports_point_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges = BTreeMap::new();
    walk(&src.join("lib.rs"), &src, "lib", &mut edges);
    // The binary: main.rs's own imports of the library are `bakeoff::…`, so only its modules count.
    let mut bin_edges = BTreeMap::new();
    walk(&src.join("main.rs"), &src, "main", &mut bin_edges);
    for ((from, to), files) in bin_edges {
        edges.entry((from, to)).or_default().extend(files);
    }

    let mut problems = Vec::new();
    let mut seen_modules = BTreeSet::new();
    for ((from, to), files) in &edges {
        seen_modules.insert(from.clone());
        let files: Vec<String> =
            files.iter().map(|f| f.strip_prefix(&src).unwrap_or(f).display().to_string()).collect();
        if TERMINAL_CRATES.contains(&to.as_str()) {
            if from != "tui" {
                problems.push(format!("{from} → {to}: only tui draws on the terminal ({})", files.join(", ")));
            }
            continue;
        }
        let (Some(lf), Some(lt)) = (layer_of(from), layer_of(to)) else {
            problems.push(format!("{from} → {to}: a module missing from LAYERS ({})", files.join(", ")));
            continue;
        };
        let allowed = lt < lf || (lt == lf && SAME_LAYER.iter().any(|(a, b, _)| a == from && b == to));
        if !allowed {
            problems.push(format!(
                "{from} ({}) → {to} ({}): {} ({})",
                LAYERS[lf].0,
                LAYERS[lt].0,
                if lt > lf { "imports a higher layer" } else { "same layer, not listed in SAME_LAYER" },
                files.join(", ")
            ));
        }
    }
    assert!(problems.is_empty(), "imports that break the layers:\n  {}", problems.join("\n  "));

    let unused: Vec<String> = SAME_LAYER
        .iter()
        .filter(|(a, b, _)| !edges.contains_key(&(a.to_string(), b.to_string())))
        .map(|(a, b, why)| format!("{a} → {b} ({why})"))
        .collect();
    assert!(unused.is_empty(), "SAME_LAYER allows imports nothing makes any more; remove:\n  {}", unused.join("\n  "));

    // Every shipped module is placed; the graph has no cycle.
    for m in &seen_modules {
        assert!(layer_of(m).is_some(), "module {m} is not in LAYERS");
    }
    let graph: BTreeMap<&str, Vec<&str>> = edges.keys().fold(BTreeMap::new(), |mut g, (a, b)| {
        g.entry(a.as_str()).or_default().push(b.as_str());
        g
    });
    fn visit<'a>(
        n: &'a str,
        g: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(n) {
            return;
        }
        if let Some(i) = path.iter().position(|p| *p == n) {
            panic!("import cycle: {} → {n}", path[i..].join(" → "));
        }
        path.push(n);
        for next in g.get(n).into_iter().flatten() {
            visit(next, g, path, done);
        }
        path.pop();
        done.insert(n);
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        visit(n, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_check_sees_through_use_groups_and_skips_test_code() {
    let code = r#"
        use crate::{a::X, b};
        fn f() { crate::c::g(); }
        /// crate::doc is not an import
        #[cfg(test)]
        mod tests { use crate::t; }
        #[cfg(test)]
        fn helper() { crate::u::v(); }
    "#;
    let mut imports = Imports::default();
    imports.visit_file(&syn::parse_file(code).unwrap());
    assert_eq!(imports.targets.into_iter().collect::<Vec<_>>(), ["a", "b", "c"]);
}
