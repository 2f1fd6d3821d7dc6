//! Tree heads an auditor kept from earlier (GraphQL `treeHead`, or an earlier bundle's
//! `tree-heads.json`), read so that `laras audit verify --known-head` can check that the
//! bundle's history extends each of them (docs/audit-format.md §7.5, step 10). A server
//! that shows one auditor a different tree than another (a split view) cannot hand out
//! a bundle that extends both.

use super::format::SignedTreeHead;
use super::BundleError;
use serde_json::Value;
use std::path::Path;

/// One head from an auditor's file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownHead {
    /// The file as the auditor named it: a failure is reported against it.
    pub source: String,
    /// 1-based entry number in that file.
    pub entry: u64,
    pub head: SignedTreeHead,
}

/// Reads the heads in `path`: one head or a list of heads, each either a bundle entry
/// (`tree_size`, `root_hash`, `timestamp_ms`, `key_id`, `signature`) or a GraphQL
/// `TreeHead` (`treeSize`, `rootHash`, `timestampMs`, `keyId`, `signature`), optionally
/// inside the GraphQL answer `{"data": {"treeHead": …}}` or `{"data": {"treeHeads": […]}}`.
pub fn read_known_heads(path: &Path) -> Result<Vec<KnownHead>, BundleError> {
    let source = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| BundleError::Io(source.clone(), e))?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| BundleError::Json(source.clone(), e.to_string()))?;
    let value = match value.get("data") {
        Some(data) => data.get("treeHead").or_else(|| data.get("treeHeads")).cloned().unwrap_or(Value::Null),
        None => value,
    };
    let items = match value {
        Value::Array(items) => items,
        one @ Value::Object(_) => vec![one],
        _ => return Err(BundleError::Json(source, "neither a tree head nor a list of tree heads".into())),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let head = head_of(item).map_err(|e| BundleError::Json(format!("{source}, entry {}", i + 1), e))?;
            Ok(KnownHead { source: source.clone(), entry: i as u64 + 1, head })
        })
        .collect()
}

fn head_of(item: Value) -> Result<SignedTreeHead, String> {
    if item.get("treeSize").is_none() {
        return serde_json::from_value(item).map_err(|e| e.to_string());
    }
    let field = |name: &str| item.get(name).ok_or_else(|| format!("no field {name}"));
    let text = |name: &str| field(name)?.as_str().map(str::to_owned).ok_or_else(|| format!("{name} is not text"));
    let number = |name: &str| field(name)?.as_i64().ok_or_else(|| format!("{name} is not an integer"));
    Ok(SignedTreeHead {
        tree_size: u64::try_from(number("treeSize")?).map_err(|_| "treeSize is negative".to_owned())?,
        root_hash: text("rootHash")?,
        timestamp_ms: number("timestampMs")?,
        key_id: text("keyId")?,
        signature: text("signature")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<KnownHead>, BundleError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("head.json");
        std::fs::write(&path, text).unwrap();
        read_known_heads(&path)
    }

    #[test]
    fn a_graphql_answer_a_bundle_entry_and_a_list_all_read_as_heads() {
        let graphql = r#"{"data":{"treeHead":{"treeSize":3,"rootHash":"ab","timestamp":"x","timestampMs":5,"keyId":"k","signature":"cd","signedBytes":"00"}}}"#;
        let entry = r#"{"tree_size":3,"root_hash":"ab","timestamp_ms":5,"key_id":"k","signature":"cd"}"#;
        let expected = SignedTreeHead {
            tree_size: 3,
            root_hash: "ab".into(),
            timestamp_ms: 5,
            key_id: "k".into(),
            signature: "cd".into(),
        };
        assert_eq!(read(graphql).unwrap()[0].head, expected);
        assert_eq!(read(entry).unwrap()[0].head, expected);
        let list = read(&format!("[{entry},{entry}]")).unwrap();
        assert_eq!(list.iter().map(|k| k.entry).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn anything_else_is_a_typed_error() {
        assert!(matches!(read("7"), Err(BundleError::Json(..))));
        assert!(matches!(read(r#"{"treeSize":-1}"#), Err(BundleError::Json(..))));
        assert!(matches!(read(r#"{"tree_size":1}"#), Err(BundleError::Json(..))));
        assert!(matches!(read("not json"), Err(BundleError::Json(..))));
    }
}
