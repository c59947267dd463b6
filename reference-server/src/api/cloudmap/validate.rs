//! Input constraints of the Cloud Map model (spec §2.3), checked by hand and reported the way AWS
//! reports them: `InvalidInput` with a Coral-style message, e.g.
//! `1 validation error detected: Value null at 'id' failed to satisfy constraint: Member must not be null`.
//! Look-around patterns of the model (`(?!arn:)`, `(?=^.{1,127}$)`) are written out as code.

use std::collections::BTreeMap;

use super::wire;
use crate::api::error::ApiError;

/// Collects every constraint violation of one request, then fails with all of them.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<String>,
}

fn shown(value: &str) -> String {
    let mut shown: String = value.chars().take(128).collect();
    if shown.len() < value.len() {
        shown.push_str("...");
    }
    format!("'{shown}'")
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn fail(&mut self, path: &str, value: Option<&str>, constraint: &str) {
        let value = value.map_or_else(|| "null".to_owned(), shown);
        self.errors.push(format!(
            "Value {value} at '{path}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// A required member: records a violation when absent and hands the value back.
    pub fn required<'a, T>(&mut self, path: &str, value: &'a Option<T>) -> Option<&'a T> {
        if value.is_none() {
            self.fail(path, None, "Member must not be null");
        }
        value.as_ref()
    }

    pub fn length(&mut self, path: &str, value: &str, min: usize, max: usize) -> bool {
        let len = value.chars().count();
        if len < min {
            self.fail(
                path,
                Some(value),
                &format!("Member must have length greater than or equal to {min}"),
            );
            false
        } else if len > max {
            self.fail(
                path,
                Some(value),
                &format!("Member must have length less than or equal to {max}"),
            );
            false
        } else {
            true
        }
    }

    pub fn optional_length(&mut self, path: &str, value: Option<&String>, min: usize, max: usize) {
        if let Some(value) = value {
            self.length(path, value, min, max);
        }
    }

    pub fn pattern(&mut self, path: &str, value: &str, matches: bool, pattern: &str) -> bool {
        if !matches {
            self.fail(
                path,
                Some(value),
                &format!("Member must satisfy regular expression pattern: {pattern}"),
            );
        }
        matches
    }

    /// An enum member; returns the parsed value when valid.
    pub fn one_of<T>(
        &mut self,
        path: &str,
        value: &str,
        parse: impl Fn(&str) -> Option<T>,
        allowed: &[&str],
    ) -> Option<T> {
        let parsed = parse(value);
        if parsed.is_none() {
            self.fail(
                path,
                Some(value),
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                ),
            );
        }
        parsed
    }

    pub fn range(&mut self, path: &str, value: i64, min: i64, max: i64) -> bool {
        let text = value.to_string();
        if value < min {
            self.fail(
                path,
                Some(&text),
                &format!("Member must have value greater than or equal to {min}"),
            );
            false
        } else if value > max {
            self.fail(
                path,
                Some(&text),
                &format!("Member must have value less than or equal to {max}"),
            );
            false
        } else {
            true
        }
    }

    pub fn list_size<T>(&mut self, path: &str, list: &[T], min: usize, max: usize) {
        if list.len() < min {
            self.errors.push(format!(
                "Value at '{path}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
            ));
        } else if list.len() > max {
            self.errors.push(format!(
                "Value at '{path}' failed to satisfy constraint: Member must have length less than or equal to {max}"
            ));
        }
    }

    /// A rule that is not a single-member constraint (combinations, quotas).
    pub fn rule(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    pub fn finish(self) -> Result<(), ApiError> {
        match self.errors.len() {
            0 => Ok(()),
            1 => Err(ApiError::invalid_input(format!(
                "1 validation error detected: {}",
                self.errors[0]
            ))),
            n => Err(ApiError::invalid_input(format!(
                "{n} validation errors detected: {}",
                self.errors.join("; ")
            ))),
        }
    }
}

fn printable(c: char) -> bool {
    ('!'..='~').contains(&c)
}

/// `^(?!arn:)[!-~]{1,max}$` (HTTP and private DNS namespace names).
pub fn namespace_name(v: &mut Validator, path: &str, name: &str, max: usize) {
    if v.length(path, name, 1, max) {
        let ok = name.chars().all(printable) && !name.starts_with("arn:");
        v.pattern(path, name, ok, &format!("^(?!arn:)[!-~]{{1,{max}}}$"));
    }
}

fn hostname_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// `NamespaceNamePublic`: a host name of at least two labels.
pub fn public_namespace_name(v: &mut Validator, path: &str, name: &str) {
    if v.length(path, name, 1, 253) {
        let labels: Vec<&str> = name.split('.').collect();
        let ok = labels.len() >= 2 && labels.iter().all(|label| hostname_label(label));
        v.pattern(
            path,
            name,
            ok,
            "^([a-zA-Z0-9]([a-zA-Z0-9\\-]{0,61}[a-zA-Z0-9])?\\.)+[a-zA-Z0-9]([a-zA-Z0-9\\-]{0,61}[a-zA-Z0-9])?$",
        );
    }
}

fn service_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    let inner = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
    let edge = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    match bytes.len() {
        0 => false,
        1 => bytes[0].is_ascii_alphanumeric(),
        2..=63 => {
            bytes.first().is_some_and(edge)
                && bytes.last().is_some_and(edge)
                && bytes.iter().all(inner)
        }
        _ => false,
    }
}

/// `ServiceName`: dot-separated labels of `[A-Za-z0-9_-]` (no leading or trailing `-`),
/// 127 characters in all, or the single name `.`.
pub fn service_name(v: &mut Validator, path: &str, name: &str) {
    let ok = name == "." || (name.len() <= 127 && name.split('.').all(service_label));
    v.pattern(
        path,
        name,
        ok,
        "((?=^.{1,127}$)^([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9])(\\.([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9]))*$)|(^\\.$)",
    );
}

/// `InstanceId`: `^[0-9a-zA-Z_/:.@-]+$`, at most 64.
pub fn instance_id(v: &mut Validator, path: &str, id: &str) {
    if v.length(path, id, 1, 64) {
        let ok = id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_/:.@-".contains(c));
        v.pattern(path, id, ok, "^[0-9a-zA-Z_/:.@-]+$");
    }
}

/// `AttrKey` and `AttrValue`, for instance attributes and discovery parameters.
pub fn attribute_map(v: &mut Validator, path: &str, map: &BTreeMap<String, String>) {
    for (key, value) in map {
        let key_path = format!("{path}.{key}.key");
        if v.length(&key_path, key, 1, 255) {
            v.pattern(
                &key_path,
                key,
                key.chars().all(printable),
                "^[a-zA-Z0-9!-~]+$",
            );
        }
        let value_path = format!("{path}.{key}.value");
        if v.length(&value_path, value, 0, 1024) {
            let mut chars = value.chars();
            let ok = match chars.next() {
                None => true,
                Some(first) => {
                    printable(first) && chars.all(|c| printable(c) || c == ' ' || c == '\t')
                }
            };
            v.pattern(
                &value_path,
                value,
                ok,
                "^([a-zA-Z0-9!-~][ \\ta-zA-Z0-9!-~]*){0,1}[a-zA-Z0-9!-~]{0,1}$",
            );
        }
    }
}

/// `Arn` inputs (ids or ARNs of namespaces and services): present and at most 255.
pub fn arn_or_id<'a>(v: &mut Validator, path: &str, value: &'a Option<String>) -> Option<&'a str> {
    let value = v.required(path, value)?;
    v.length(path, value, 0, 255).then_some(value.as_str())
}

/// `MaxResults` of the list operations: 1..=max, default `max`.
pub fn max_results(v: &mut Validator, value: Option<i64>, max: i64) -> usize {
    match value {
        Some(n) if v.range("maxResults", n, 1, max) => usize::try_from(n).unwrap_or(1),
        Some(_) => 1,
        None => usize::try_from(max).unwrap_or(100),
    }
}

pub fn next_token(v: &mut Validator, value: Option<&String>) {
    v.optional_length("nextToken", value, 0, 4096);
}

/// A tag list (TagList: 0..200 entries; TagKey 1..128; TagValue 0..256). Keys starting with
/// `aws:` in any case are reserved. Returns the tags in order, later duplicates winning.
pub fn tags(v: &mut Validator, path: &str, tags: &[wire::Tag]) -> Vec<(String, String)> {
    v.list_size(path, tags, 0, 200);
    let mut out = Vec::with_capacity(tags.len());
    for (index, tag) in tags.iter().enumerate() {
        let key_path = format!("{path}.{}.member.key", index + 1);
        let value_path = format!("{path}.{}.member.value", index + 1);
        let key = v.required(&key_path, &tag.key);
        let value = v.required(&value_path, &tag.value);
        if let (Some(key), Some(value)) = (key, value) {
            let key_ok = v.length(&key_path, key, 1, 128);
            let value_ok = v.length(&value_path, value, 0, 256);
            if key.to_ascii_lowercase().starts_with("aws:") {
                v.rule(format!(
                    "Tag keys that start with 'aws:' are reserved for AWS use: '{key}'"
                ));
            } else if key_ok && value_ok {
                out.push((key.clone(), value.clone()));
            }
        }
    }
    out
}

pub fn description(v: &mut Validator, path: &str, value: Option<&String>) {
    v.optional_length(path, value, 0, 1024);
}

pub fn request_token(v: &mut Validator, path: &str, value: Option<&String>) {
    v.optional_length(path, value, 0, 64);
}

pub fn owner_account(v: &mut Validator, value: Option<&String>) {
    v.optional_length("ownerAccount", value, 12, 12);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn check(f: impl FnOnce(&mut Validator)) -> Result<(), ApiError> {
        let mut v = Validator::new();
        f(&mut v);
        v.finish()
    }

    #[rstest]
    #[case("backend-api", true)]
    #[case("_exampleservice._tcp", true)]
    #[case(".", true)]
    #[case("a", true)]
    #[case("-bad", false)]
    #[case("bad-", false)]
    #[case("has space", false)]
    #[case("", false)]
    #[case("a..b", false)]
    fn service_names(#[case] name: &str, #[case] valid: bool) {
        assert_eq!(
            check(|v| service_name(v, "name", name)).is_ok(),
            valid,
            "{name}"
        );
    }

    #[test]
    fn service_names_are_at_most_127_characters() {
        let long = ["a".repeat(63), "b".repeat(63)].join(".");
        assert!(check(|v| service_name(v, "name", &long)).is_ok());
        let too_long = format!("{long}.c");
        assert!(check(|v| service_name(v, "name", &too_long)).is_err());
    }

    #[rstest]
    #[case("app.local", true)]
    #[case("example.com", true)]
    #[case("local", false)]
    #[case("-x.com", false)]
    fn public_names(#[case] name: &str, #[case] valid: bool) {
        assert_eq!(
            check(|v| public_namespace_name(v, "name", name)).is_ok(),
            valid,
            "{name}"
        );
    }

    #[rstest]
    #[case("app.local", true)]
    #[case("arn:aws:x", false)]
    #[case("has space", false)]
    fn private_names(#[case] name: &str, #[case] valid: bool) {
        assert_eq!(
            check(|v| namespace_name(v, "name", name, 253)).is_ok(),
            valid,
            "{name}"
        );
    }

    #[rstest]
    #[case("i-123", true)]
    #[case("a/b:c.d@e_f", true)]
    #[case("a b", false)]
    #[case("", false)]
    fn instance_ids(#[case] id: &str, #[case] valid: bool) {
        assert_eq!(
            check(|v| instance_id(v, "instanceId", id)).is_ok(),
            valid,
            "{id}"
        );
    }

    #[rstest]
    #[case("k", "v", true)]
    #[case("k", "", true)]
    #[case("k", "a b\tc", true)]
    #[case("k", " leading", false)]
    #[case("k k", "v", false)]
    #[case("k", "é", false)]
    fn attributes(#[case] key: &str, #[case] value: &str, #[case] valid: bool) {
        let map = BTreeMap::from([(key.to_owned(), value.to_owned())]);
        assert_eq!(
            check(|v| attribute_map(v, "attributes", &map)).is_ok(),
            valid
        );
    }

    #[test]
    fn messages_follow_the_coral_format() {
        let err = check(|v| {
            v.required::<String>("id", &None);
        })
        .unwrap_err();
        assert_eq!(err.code, "InvalidInput");
        assert_eq!(
            err.message,
            "1 validation error detected: Value null at 'id' failed to satisfy constraint: Member must not be null"
        );
        let err = check(|v| {
            v.required::<String>("id", &None);
            v.range("maxResults", 5000, 1, 100);
        })
        .unwrap_err();
        assert!(
            err.message.starts_with("2 validation errors detected: "),
            "{}",
            err.message
        );
    }
}
