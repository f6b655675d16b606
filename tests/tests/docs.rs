//! The docs cannot drift from the code: the state diagrams in
//! `docs/pipeline.md` must draw exactly the transition tables of mops-core.

use std::collections::BTreeSet;
use std::path::PathBuf;

use mops_core::table::{call_mermaid, idea_mermaid};

fn workspace_file(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// The Mermaid blocks of a Markdown file, in order.
fn mermaid_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim()) {
            (None, "```mermaid") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap_or_default()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// The edges of a state diagram, as (from, to, label), whitespace-normalised.
fn edges(diagram: &str) -> BTreeSet<(String, String, String)> {
    diagram
        .lines()
        .filter_map(|line| {
            let (from, rest) = line.split_once("-->")?;
            let (to, label) = rest.split_once(':').unwrap_or((rest, ""));
            Some((from.trim().to_owned(), to.trim().to_owned(), label.trim().to_owned()))
        })
        .collect()
}

fn assert_same(name: &str, documented: &str, code: &str) {
    let (doc, code_edges) = (edges(documented), edges(code));
    let missing: Vec<_> = code_edges.difference(&doc).collect();
    let extra: Vec<_> = doc.difference(&code_edges).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/pipeline.md's {name} diagram disagrees with mops_core::table.\n\
         In the code but not drawn: {missing:?}\nDrawn but not in the code: {extra:?}\n\
         The diagram the code describes:\n```mermaid\n{code}```"
    );
}

#[test]
fn the_idea_diagram_matches_the_transition_table() {
    let blocks = mermaid_blocks(&workspace_file("docs/pipeline.md"));
    let idea = blocks.iter().find(|b| b.contains("Submitted")).expect("an idea diagram in docs/pipeline.md");
    assert_same("idea", idea, &idea_mermaid());
}

#[test]
fn the_call_diagram_matches_the_transition_table() {
    let blocks = mermaid_blocks(&workspace_file("docs/pipeline.md"));
    let call = blocks.iter().find(|b| b.contains("Preparation")).expect("a call diagram in docs/pipeline.md");
    assert_same("call", call, &call_mermaid());
}

#[test]
fn a_changed_diagram_is_caught() {
    // The check itself must be able to fail: drop one edge and it must differ.
    let code = idea_mermaid();
    let tampered: String = code.lines().filter(|l| !l.contains(": grant")).map(|l| format!("{l}\n")).collect();
    assert_ne!(edges(&code), edges(&tampered));
}
