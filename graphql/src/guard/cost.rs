//! What a parsed request would cost, computed once per fragment.
//!
//! Every selection counts (fields, `__typename`, fragment spreads, inline fragments);
//! a field that takes `first` or `last` multiplies what it selects by that page size,
//! or by its default page when the argument is absent. Fragments are measured once
//! and reused wherever they are spread, so a document whose fragments spread each
//! other twice over costs its real, exponential size here without being expanded.

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{Name, Value, Variables};
use std::collections::HashMap;

/// The bounds a document is measured against.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    pub max_cost: u64,
    /// Nested fields, as GraphQL counts depth (`{ me { role } }` is 2).
    pub max_depth: usize,
    /// Nested selection sets, fragment spreads and inline fragments included.
    pub max_nesting: usize,
    pub max_aliases: usize,
    pub max_directives: usize,
    /// The largest page a `first`/`last` may ask for.
    pub max_page: usize,
}

/// Why a document is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Excess {
    #[error("the query costs more than {max} (every field, __typename and fragment spread counts, lists by their page size)")]
    Cost { max: u64 },
    #[error("the query is nested {depth} fields deep; at most {max} are allowed")]
    Depth { depth: usize, max: usize },
    #[error("the query nests selections and fragments more than {max} deep")]
    Nesting { max: usize },
    #[error("the query has more than {max} aliases")]
    Aliases { max: usize },
    #[error("the query has more than {max} directives")]
    Directives { max: usize },
    #[error("fragment {0:?} spreads itself")]
    FragmentCycle(String),
}

/// The measure of a selection set: cost, field depth and nesting below it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Measure {
    pub cost: u64,
    pub depth: usize,
    pub nesting: usize,
}

/// Default page sizes of the schema's paged fields, by field name. A field is paged
/// when its `first` (or `last`) has a default page size; a `first` without a default
/// (`consistencyProof(first:)`, a tree size) is not a page.
pub type PageDefaults = HashMap<String, usize>;

/// Measures every operation of `doc` (validation looks at all of them) and refuses
/// it at the first bound it passes.
pub fn measure(
    doc: &ExecutableDocument,
    variables: &Variables,
    pages: &PageDefaults,
    bounds: &Bounds,
) -> Result<Measure, Excess> {
    count_aliases_and_directives(doc, bounds)?;
    let mut walker = Walker { doc, variables, pages, bounds, fragments: HashMap::new() };
    let mut total = Measure::default();
    let operations: Vec<_> = match &doc.operations {
        DocumentOperations::Single(op) => vec![op],
        DocumentOperations::Multiple(ops) => ops.values().collect(),
    };
    for op in operations {
        let m = walker.selection_set(&op.node.selection_set.node)?;
        total.cost = total.cost.saturating_add(m.cost);
        total.depth = total.depth.max(m.depth);
        total.nesting = total.nesting.max(m.nesting);
        walker.check(&total)?;
    }
    Ok(total)
}

/// A fragment being measured, or measured.
#[derive(Clone, Copy)]
enum Visit {
    InProgress,
    Done(Measure),
}

struct Walker<'a> {
    doc: &'a ExecutableDocument,
    variables: &'a Variables,
    pages: &'a PageDefaults,
    bounds: &'a Bounds,
    fragments: HashMap<&'a str, Visit>,
}

impl<'a> Walker<'a> {
    fn check(&self, m: &Measure) -> Result<(), Excess> {
        let b = self.bounds;
        if m.cost > b.max_cost {
            return Err(Excess::Cost { max: b.max_cost });
        }
        if m.depth > b.max_depth {
            return Err(Excess::Depth { depth: m.depth, max: b.max_depth });
        }
        if m.nesting > b.max_nesting {
            return Err(Excess::Nesting { max: b.max_nesting });
        }
        Ok(())
    }

    fn selection_set(&mut self, set: &'a SelectionSet) -> Result<Measure, Excess> {
        let mut total = Measure::default();
        for selection in &set.items {
            let (cost, depth, nesting) = match &selection.node {
                Selection::Field(field) => {
                    let below = self.selection_set(&field.node.selection_set.node)?;
                    let weight = self.page_of(&field.node);
                    let cost = 1u64.saturating_add(weight.saturating_mul(below.cost));
                    let nested = if field.node.selection_set.node.items.is_empty() { 0 } else { 1 + below.nesting };
                    (cost, 1 + below.depth, nested)
                }
                Selection::FragmentSpread(spread) => {
                    let m = self.fragment(&spread.node.fragment_name.node)?;
                    (1u64.saturating_add(m.cost), m.depth, 1 + m.nesting)
                }
                Selection::InlineFragment(inline) => {
                    let m = self.selection_set(&inline.node.selection_set.node)?;
                    (1u64.saturating_add(m.cost), m.depth, 1 + m.nesting)
                }
            };
            total.cost = total.cost.saturating_add(cost);
            total.depth = total.depth.max(depth);
            total.nesting = total.nesting.max(nesting);
            // Refusing as soon as a part is too big keeps the walk itself bounded.
            self.check(&total)?;
        }
        Ok(total)
    }

    fn fragment(&mut self, name: &'a Name) -> Result<Measure, Excess> {
        match self.fragments.get(name.as_str()) {
            Some(Visit::Done(m)) => return Ok(*m),
            Some(Visit::InProgress) => return Err(Excess::FragmentCycle(short(name.as_str()))),
            None => {}
        }
        // An unknown fragment is validation's to report; here it costs its spread.
        let Some(fragment) = self.doc.fragments.get(name) else { return Ok(Measure::default()) };
        self.fragments.insert(name.as_str(), Visit::InProgress);
        let m = self.selection_set(&fragment.node.selection_set.node)?;
        self.fragments.insert(name.as_str(), Visit::Done(m));
        Ok(m)
    }

    /// How many times a field's selection is answered: its page size, else once.
    fn page_of(&self, field: &Field) -> u64 {
        let Some(default) = self.pages.get(field.name.node.as_str()) else { return 1 };
        let asked = field.arguments.iter().find(|(name, _)| matches!(name.node.as_str(), "first" | "last")).and_then(
            |(_, value)| {
                let value = value.node.clone().into_const_with(|v| self.variables.get(&v).cloned().ok_or(())).ok()?;
                match value {
                    Value::Number(n) => n.as_i64(),
                    _ => None,
                }
            },
        );
        let page = match asked {
            Some(n) => usize::try_from(n.max(1)).unwrap_or(usize::MAX),
            None => *default,
        };
        page.clamp(1, self.bounds.max_page.max(1)) as u64
    }
}

/// Aliases and directives as written (not as expanded): each costs validation work.
fn count_aliases_and_directives(doc: &ExecutableDocument, bounds: &Bounds) -> Result<(), Excess> {
    fn walk(set: &SelectionSet, aliases: &mut usize, directives: &mut usize) {
        for selection in &set.items {
            *directives += selection.node.directives().len();
            match &selection.node {
                Selection::Field(f) => {
                    *aliases += usize::from(f.node.alias.is_some());
                    walk(&f.node.selection_set.node, aliases, directives);
                }
                Selection::FragmentSpread(_) => {}
                Selection::InlineFragment(i) => walk(&i.node.selection_set.node, aliases, directives),
            }
        }
    }
    let (mut aliases, mut directives) = (0, 0);
    for (_, op) in doc.operations.iter() {
        directives += op.node.directives.len();
        directives += op.node.variable_definitions.iter().map(|v| v.node.directives.len()).sum::<usize>();
        walk(&op.node.selection_set.node, &mut aliases, &mut directives);
    }
    for fragment in doc.fragments.values() {
        directives += fragment.node.directives.len();
        walk(&fragment.node.selection_set.node, &mut aliases, &mut directives);
    }
    if aliases > bounds.max_aliases {
        return Err(Excess::Aliases { max: bounds.max_aliases });
    }
    if directives > bounds.max_directives {
        return Err(Excess::Directives { max: bounds.max_directives });
    }
    Ok(())
}

/// A name as it may appear in an answer: never long enough to echo a large input.
fn short(name: &str) -> String {
    name.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;
    use proptest::prelude::*;

    const BOUNDS: Bounds = Bounds {
        max_cost: 10_000,
        max_depth: 16,
        max_nesting: 32,
        max_aliases: 100,
        max_directives: 50,
        max_page: 200,
    };

    fn pages() -> PageDefaults {
        [("inbox".to_owned(), 20), ("search".to_owned(), 20)].into_iter().collect()
    }

    fn cost_of(query: &str, variables: serde_json::Value) -> Result<Measure, Excess> {
        let doc = parse_query(query).expect("query parses");
        measure(&doc, &Variables::from_json(variables), &pages(), &BOUNDS)
    }

    #[test]
    fn every_selection_counts_typename_and_spreads_included() {
        assert_eq!(cost_of("{ __typename }", serde_json::Value::Null).unwrap().cost, 1);
        assert_eq!(cost_of("{ me { role } }", serde_json::Value::Null).unwrap().cost, 2);
        let spread = "{ ...F } fragment F on QueryRoot { __typename __typename }";
        assert_eq!(cost_of(spread, serde_json::Value::Null).unwrap().cost, 3);
        let inline = "{ ... on QueryRoot { __typename } }";
        assert_eq!(cost_of(inline, serde_json::Value::Null).unwrap().cost, 2);
    }

    #[test]
    fn paged_fields_weigh_their_page_size_from_the_argument_a_variable_or_the_default() {
        let q = "{ inbox(first: 100) { edges { node { status } } } }";
        assert_eq!(cost_of(q, serde_json::Value::Null).unwrap().cost, 1 + 100 * 3);
        let v = "query($n: Int) { inbox(first: $n) { edges { node { status } } } }";
        assert_eq!(cost_of(v, serde_json::json!({ "n": 50 })).unwrap().cost, 1 + 50 * 3);
        let default = "{ inbox { edges { node { status } } } }";
        assert_eq!(cost_of(default, serde_json::Value::Null).unwrap().cost, 1 + 20 * 3);
        // A page past the maximum is answered as the maximum at most.
        let huge = "{ search(text: \"x\", first: 1000000) { text } }";
        assert_eq!(cost_of(huge, serde_json::Value::Null).unwrap().cost, 1 + 200);
        // `first` on a field that is not paged is not a page size (a Merkle tree size).
        let proof = "{ consistencyProof(first: 150, second: 160) { path } }";
        assert_eq!(cost_of(proof, serde_json::Value::Null).unwrap().cost, 2);
    }

    #[test]
    fn many_aliases_of_a_full_page_are_too_costly() {
        let one = "a0: inbox(first: 200) { edges { node { status lastMessage contactName } } }";
        let q = format!("{{ {} }}", (0..20).map(|i| one.replace("a0", &format!("a{i}"))).collect::<String>());
        assert_eq!(cost_of(&q, serde_json::Value::Null), Err(Excess::Cost { max: 10_000 }));
    }

    #[test]
    fn fragments_that_double_each_other_are_refused_without_expanding_them() {
        let q = doubling(22);
        let started = std::time::Instant::now();
        assert_eq!(cost_of(&q, serde_json::Value::Null), Err(Excess::Cost { max: 10_000 }));
        assert!(started.elapsed() < std::time::Duration::from_millis(50));
        // A few levels are fine: 2^5 leaves plus the spreads.
        // F5 costs 1, each level above 2 * (1 + the level below): 4, 10, 22, 46, 94; the root's spread adds 1.
        assert_eq!(cost_of(&doubling(5), serde_json::Value::Null).unwrap().cost, 95);
    }

    #[test]
    fn a_fragment_that_spreads_itself_is_refused() {
        let q = "{ ...A } fragment A on QueryRoot { ...B } fragment B on QueryRoot { ...A }";
        assert!(matches!(cost_of(q, serde_json::Value::Null), Err(Excess::FragmentCycle(_))));
    }

    #[test]
    fn depth_nesting_aliases_and_directives_are_bounded() {
        let deep = format!("{}{}", "{ a ".repeat(17), "}".repeat(17));
        assert!(matches!(cost_of(&deep, serde_json::Value::Null), Err(Excess::Depth { depth: 17, .. })));
        let chain: String = (0..40).map(|i| format!("fragment F{i} on QueryRoot {{ ...F{} }} ", i + 1)).collect();
        let q = format!("{{ ...F0 }} {chain} fragment F40 on QueryRoot {{ __typename }}");
        assert_eq!(cost_of(&q, serde_json::Value::Null), Err(Excess::Nesting { max: 32 }));
        let aliases = format!("{{ {} }}", (0..101).map(|i| format!("a{i}: __typename ")).collect::<String>());
        assert_eq!(cost_of(&aliases, serde_json::Value::Null), Err(Excess::Aliases { max: 100 }));
        let directives = format!("{{ __typename {} }}", "@skip(if: false) ".repeat(51));
        assert_eq!(cost_of(&directives, serde_json::Value::Null), Err(Excess::Directives { max: 50 }));
    }

    /// `{ ...F0 } fragment F0 { ...F1 ...F1 } … fragment Fn { __typename }`.
    fn doubling(n: usize) -> String {
        let mut q = String::from("{ ...F0 } ");
        for i in 0..n {
            q.push_str(&format!("fragment F{i} on QueryRoot {{ ...F{} ...F{} }} ", i + 1, i + 1));
        }
        q.push_str(&format!("fragment F{n} on QueryRoot {{ __typename }}"));
        q
    }

    proptest! {
        /// Measuring with memoised fragments equals counting the expanded document.
        #[test]
        fn the_memoised_cost_equals_the_expanded_count(levels in 0usize..10, width in 1usize..4) {
            let mut q = String::from("{ ...F0 } ");
            for i in 0..levels {
                let spreads = (0..width).map(|_| format!("...F{} ", i + 1)).collect::<String>();
                q.push_str(&format!("fragment F{i} on QueryRoot {{ __typename {spreads}}} "));
            }
            q.push_str(&format!("fragment F{levels} on QueryRoot {{ __typename }}"));
            // Level i costs c(i) = 1 + width * (1 + c(i+1)); the leaf costs 1; the root adds its spread.
            let mut expected = 1u64;
            for _ in 0..levels {
                expected = 1 + width as u64 * (1 + expected);
            }
            let bounds = Bounds { max_cost: u64::MAX, ..BOUNDS };
            let doc = parse_query(&q).expect("parses");
            let m = measure(&doc, &Variables::default(), &pages(), &bounds).expect("measured");
            prop_assert_eq!(m.cost, expected + 1);
        }
    }
}
