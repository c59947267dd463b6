//! Checks: every assertion of a scenario is one check with a stable id, judged on its own.
//!
//! An id is `<scenario>#<step>.<part>[.<JSON path>]`: the step is `s<N>` (its 1-based place in
//! the file), the part what the step asserts (`error`, `expect`, `capture.<name>`,
//! `snapshot.<name>`, `rcode`, `answers`, `ttl`, `exit`, `stdout_json`, `status`, …) and the
//! path, for JSON, the member the check looks at (`Namespace.Properties.DnsProperties.SOA.TTL`,
//! `Instances[0].Id`, `Instances[len]` for an array's length). Ids depend only on the scenario
//! (and, for a snapshot, on the recorded file), never on what a target answers, so the same ids
//! are judged on every target and expectations can name them.

use std::collections::BTreeMap;

use serde_json::Value;

/// How one check came out on one target, before expectations are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail(String),
    /// Not judged: an earlier check it depends on (a capture, the call itself) failed. Holds
    /// that check's id.
    Blocked(String),
    /// Not judged: the target lacks what the scenario needs. Holds the reason.
    Skipped(String),
}

/// One judged assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub id: String,
    /// The kind of step it belongs to (`api`, `cli`, `dns`, `http`, `container`) or `scenario`
    /// for the scenario's own checks (`load`, `setup`, `cleanup`).
    pub kind: &'static str,
    pub status: Status,
}

impl Check {
    pub fn passed(&self) -> bool {
        self.status == Status::Pass
    }
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
    /// The number of items of the array at this point.
    Len,
}

/// `A.B[0].C`, `Items[len]`.
pub fn path_text(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Index(index) => out.push_str(&format!("[{index}]")),
            Segment::Len => out.push_str("[len]"),
        }
    }
    out
}

/// `part` followed by the path, as it appears in a check id.
pub fn part_with_path(part: &str, path: &[Segment]) -> String {
    join(part, &path_text(path))
}

/// `part` and a path already written out (`snapshot.x` + `body.Id` → `snapshot.x.body.Id`,
/// `answers` + `[len]` → `answers[len]`).
pub fn join(part: &str, path: &str) -> String {
    if path.is_empty() {
        part.to_owned()
    } else if path.starts_with('[') {
        format!("{part}{path}")
    } else {
        format!("{part}.{path}")
    }
}

/// The assertions an expected value makes, each with its path: every member of an object
/// (recursively; an empty object asserts "an object"), an array's length and each of its items,
/// and every scalar, `"<any>"` and `"<absent>"`.
pub fn expected_leaves(expected: &Value) -> Vec<(Vec<Segment>, Value)> {
    leaves(expected, true)
}

/// The leaves of a document with their paths. With `lengths`, every array also gives its length
/// (`[len]`) as a leaf, and an empty array only that; without, an empty array is a leaf itself.
/// An empty object is always a leaf.
fn leaves(value: &Value, lengths: bool) -> Vec<(Vec<Segment>, Value)> {
    fn walk(
        value: &Value,
        lengths: bool,
        path: &mut Vec<Segment>,
        out: &mut Vec<(Vec<Segment>, Value)>,
    ) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, item) in map {
                    path.push(Segment::Key(key.clone()));
                    walk(item, lengths, path, out);
                    path.pop();
                }
            }
            Value::Array(items) if lengths || !items.is_empty() => {
                if lengths {
                    path.push(Segment::Len);
                    out.push((path.clone(), Value::from(items.len())));
                    path.pop();
                }
                for (index, item) in items.iter().enumerate() {
                    path.push(Segment::Index(index));
                    walk(item, lengths, path, out);
                    path.pop();
                }
            }
            other => out.push((path.clone(), other.clone())),
        }
    }
    let mut out = Vec::new();
    walk(value, lengths, &mut Vec::new(), &mut out);
    out
}

/// The value at `path` in `actual`, if there is one (`Len` gives the array's length).
pub fn at(actual: &Value, path: &[Segment]) -> Option<Value> {
    let mut current = actual;
    for (position, segment) in path.iter().enumerate() {
        match segment {
            Segment::Key(key) => current = current.as_object()?.get(key)?,
            Segment::Index(index) => current = current.as_array()?.get(*index)?,
            Segment::Len => {
                // Only ever last.
                return (position + 1 == path.len())
                    .then(|| current.as_array().map(|items| Value::from(items.len())))
                    .flatten();
            }
        }
    }
    Some(current.clone())
}

/// One leaf of an expectation against the actual document: `"<any>"` is any non-null value,
/// `"<absent>"` no member at all, an empty object any object, a number matches by value,
/// anything else by equality (so a string never matches a number: see
/// [`judge_templated_leaf`]).
pub fn judge_leaf(expected: &Value, path: &[Segment], actual: &Value) -> Result<(), String> {
    judge(expected, path, actual, false)
}

/// As [`judge_leaf`], for a leaf that was one `${variable}`: its value is a string even when it
/// was captured from a number, so it matches that number. A literal `"80"` does not match `80`.
pub fn judge_templated_leaf(
    expected: &Value,
    path: &[Segment],
    actual: &Value,
) -> Result<(), String> {
    judge(expected, path, actual, true)
}

fn judge(
    expected: &Value,
    path: &[Segment],
    actual: &Value,
    templated: bool,
) -> Result<(), String> {
    let found = at(actual, path);
    match (expected, found) {
        (Value::String(s), None) if s == "<absent>" => Ok(()),
        (Value::String(s), Some(found)) if s == "<absent>" => {
            Err(format!("expected absent, found {found}"))
        }
        (_, None) if path.last() == Some(&Segment::Len) => Err("not an array".to_owned()),
        (_, None) => Err("missing".to_owned()),
        (Value::String(s), Some(found)) if s == "<any>" => {
            if found.is_null() {
                Err("expected a value, found null".to_owned())
            } else {
                Ok(())
            }
        }
        (Value::Object(_), Some(found)) => {
            if found.is_object() {
                Ok(())
            } else {
                Err(format!("{found}, expected an object"))
            }
        }
        (Value::String(e), Some(Value::Number(a))) if templated && *e == a.to_string() => Ok(()),
        (Value::Number(e), Some(Value::Number(a))) if e.as_f64() == a.as_f64() => Ok(()),
        (e, Some(a)) if *e == a => Ok(()),
        (e, Some(a)) => {
            if path.last() == Some(&Segment::Len) {
                let items = at(actual, &path[..path.len() - 1]).unwrap_or_default();
                Err(format!("{a} items, expected {e}: {items}"))
            } else {
                Err(format!("{a}, expected {e}"))
            }
        }
    }
}

/// Every leaf of a document by path: scalars, and empty objects and arrays (so that a member that
/// is `{}` on one side and absent on the other still differs).
pub fn flatten(value: &Value) -> BTreeMap<String, Value> {
    leaves(value, false)
        .into_iter()
        .map(|(path, leaf)| (path_text(&path), leaf))
        .collect()
}

/// A recorded snapshot against an observation, path by path: each recorded leaf is a check
/// (equal, different or missing), and each observed leaf the recording lacks is one more
/// (failing) check.
pub fn compare_snapshot(recorded: &Value, observed: &Value) -> Vec<(String, Result<(), String>)> {
    let recorded = flatten(recorded);
    let mut observed = flatten(observed);
    let mut out = Vec::new();
    for (path, expected) in recorded {
        let verdict = match observed.remove(&path) {
            Some(found) if found == expected => Ok(()),
            Some(found) => Err(format!("{found}, recorded {expected}")),
            None => Err(format!("missing (recorded {expected})")),
        };
        out.push((path, verdict));
    }
    for (path, found) in observed {
        out.push((path, Err(format!("{found}, not in the recorded snapshot"))));
    }
    out
}

/// The JSON document of an insta snapshot file (after its `---` header).
pub fn read_snapshot(path: &std::path::Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    let body = text.strip_prefix("---\n")?;
    let (_, document) = body.split_once("\n---\n")?;
    serde_json::from_str(document).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn judged(expected: &Value, actual: &Value) -> Vec<(String, Result<(), String>)> {
        expected_leaves(expected)
            .into_iter()
            .map(|(path, leaf)| (path_text(&path), judge_leaf(&leaf, &path, actual)))
            .collect()
    }

    #[test]
    fn every_leaf_of_an_expectation_is_judged_on_its_own() {
        let actual = json!({"A": 1, "B": {"C": "x", "D": [1, 2]}, "E": null});
        let expected =
            json!({"A": 1.0, "B": {"C": "y", "D": [1, 3]}, "E": "<any>", "Z": "<absent>"});
        let verdicts = judged(&expected, &actual);
        let ids: Vec<&str> = verdicts.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            ids,
            ["A", "B.C", "B.D[len]", "B.D[0]", "B.D[1]", "E", "Z"],
            "one check per leaf, and the array's length"
        );
        let failed: Vec<&str> = verdicts
            .iter()
            .filter(|(_, v)| v.is_err())
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(
            failed,
            ["B.C", "B.D[1]", "E"],
            "a divergence does not hide the next"
        );
        let shorter = judged(&json!({"D": [1, 2]}), &json!({"D": [1]}));
        assert!(
            shorter[0]
                .1
                .as_ref()
                .unwrap_err()
                .contains("1 items, expected 2")
        );
        assert_eq!(shorter[2].1, Err("missing".to_owned()));
        assert!(
            judged(&json!({"A": "<absent>"}), &json!({"A": 1}))[0]
                .1
                .is_err()
        );
        assert!(
            judged(&json!({"A": "3"}), &json!({"A": 3}))[0].1.is_err(),
            "a literal string is not a number"
        );
        assert!(
            judge_templated_leaf(&json!("3"), &[Segment::Key("A".into())], &json!({"A": 3}))
                .is_ok()
        );
        assert!(judged(&json!({"A": {}}), &json!({"A": 3}))[0].1.is_err());
        assert!(
            judged(&json!({"A": {}}), &json!({"A": {"B": 1}}))[0]
                .1
                .is_ok()
        );
        assert_eq!(
            judged(&json!({"A": [1]}), &json!({"A": 1}))[0].1,
            Err("not an array".to_owned())
        );
    }

    #[test]
    fn snapshots_differ_path_by_path_both_ways() {
        let recorded = json!({"body": {"Id": "<namespace:1>", "DnsConfig": {}, "Tags": [1, 2]}});
        let observed = json!({"body": {"Id": "ns-x", "Tags": [1], "Extra": true}});
        let verdicts = compare_snapshot(&recorded, &observed);
        let render: Vec<(String, bool)> = verdicts
            .iter()
            .map(|(path, v)| (path.clone(), v.is_ok()))
            .collect();
        assert_eq!(
            render,
            [
                ("body.DnsConfig".to_owned(), false),
                ("body.Id".to_owned(), false),
                ("body.Tags[0]".to_owned(), true),
                ("body.Tags[1]".to_owned(), false),
                ("body.Extra".to_owned(), false),
            ]
        );
        assert!(
            compare_snapshot(&recorded, &recorded)
                .iter()
                .all(|(_, v)| v.is_ok())
        );
    }

    #[test]
    fn paths_read_as_written() {
        let path = [
            Segment::Key("Instances".into()),
            Segment::Index(0),
            Segment::Key("Id".into()),
        ];
        assert_eq!(part_with_path("expect", &path), "expect.Instances[0].Id");
        assert_eq!(part_with_path("answers", &[Segment::Len]), "answers[len]");
        assert_eq!(part_with_path("error", &[]), "error");
    }
}
