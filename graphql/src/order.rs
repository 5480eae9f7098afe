//! Response maps in the order the query lists its fields (the GraphQL specification's CollectFields: a
//! response key takes the place of its first occurrence, fragments expanded where they are spread).
//! async-graphql resolves an object's fields concurrently and inserts each as it completes, so without this
//! the order of a response's keys varies from one identical request to the next.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, Value};
use std::collections::HashMap;

type Fragments = HashMap<Name, Positioned<FragmentDefinition>>;

/// Fragments spread within fragments deeper than this are not followed (validation refuses cycles; this
/// only bounds the work).
const MAX_FRAGMENT_DEPTH: usize = 32;

/// Reorders `data`, the result of operation `operation` (or the document's only one) of `document`.
pub(crate) fn order(data: &mut Value, document: &ExecutableDocument, operation: Option<&str>) {
    let op = match (&document.operations, operation) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => match ops.get(name) {
            Some(op) => op,
            None => return,
        },
        (DocumentOperations::Multiple(ops), None) => match ops.values().next() {
            Some(op) if ops.len() == 1 => op,
            _ => return,
        },
    };
    reorder(data, &[&op.node.selection_set.node], &document.fragments);
}

/// The response keys of `sets` in order, each with the selection sets of its fields.
fn collect<'a>(
    set: &'a SelectionSet,
    fragments: &'a Fragments,
    depth: usize,
    out: &mut Vec<(&'a Name, Vec<&'a SelectionSet>)>,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                let key = &field.node.response_key().node;
                let sub = &field.node.selection_set.node;
                match out.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, subs)) => subs.push(sub),
                    None => out.push((key, vec![sub])),
                }
            }
            Selection::FragmentSpread(spread) if depth < MAX_FRAGMENT_DEPTH => {
                if let Some(fragment) = fragments.get(&spread.node.fragment_name.node) {
                    collect(&fragment.node.selection_set.node, fragments, depth + 1, out);
                }
            }
            Selection::InlineFragment(inline) => {
                collect(&inline.node.selection_set.node, fragments, depth, out);
            }
            Selection::FragmentSpread(_) => {}
        }
    }
}

fn reorder(value: &mut Value, sets: &[&SelectionSet], fragments: &Fragments) {
    match value {
        Value::List(items) => items.iter_mut().for_each(|v| reorder(v, sets, fragments)),
        Value::Object(map) => {
            let mut keys = Vec::new();
            for set in sets {
                collect(set, fragments, 0, &mut keys);
            }
            let mut old = std::mem::take(map);
            for (key, subs) in keys {
                if let Some(mut v) = old.shift_remove(key) {
                    reorder(&mut v, &subs, fragments);
                    map.insert(key.clone(), v);
                }
            }
            // Keys no selection names (none expected) keep their place after the rest.
            map.extend(old);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_query() {
        let doc = async_graphql::parser::parse_query(
            "query Q { b a: x { ...F d } ... on Query { c } } fragment F on T { e c d }",
        )
        .unwrap();
        let json = serde_json::json!({"c": 3, "a": {"d": 1, "c": 2, "e": 0}, "b": [{"z": 1}]});
        let mut value = Value::from_json(json).unwrap();
        order(&mut value, &doc, Some("Q"));
        assert_eq!(
            serde_json::to_string(&value).unwrap(),
            r#"{"b":[{"z":1}],"a":{"e":0,"c":2,"d":1},"c":3}"#
        );
    }
}
