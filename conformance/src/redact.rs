//! Redaction for snapshots: ids become numbered references (`<namespace:1>`), so identity
//! survives — the same id twice is the same reference — while values that differ between runs
//! and implementations do not. A value is only replaced when it has the expected format, so a
//! malformed id shows up in the snapshot diff.

use std::collections::HashMap;

use serde_json::Value;

#[derive(Debug, Default)]
pub struct Refs {
    seen: HashMap<String, String>,
    counts: HashMap<&'static str, usize>,
}

fn base32(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

impl Refs {
    fn reference(&mut self, kind: &'static str, value: &str) -> String {
        if let Some(existing) = self.seen.get(value) {
            return existing.clone();
        }
        let count = self.counts.entry(kind).or_default();
        *count += 1;
        let reference = format!("<{kind}:{count}>");
        self.seen.insert(value.to_owned(), reference.clone());
        reference
    }

    fn string(&mut self, text: &str) -> String {
        // Operation ids: 32 base32 characters, '-', base36 milliseconds.
        if let Some((head, tail)) = text.split_once('-')
            && head.len() == 32
            && base32(head)
            && !tail.is_empty()
            && tail.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return self.reference("operation", text);
        }
        if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
            return "<account>".to_owned();
        }
        if text.starts_with('Z')
            && text.len() >= 13
            && text
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return "<hosted-zone>".to_owned();
        }
        // ns-/srv- ids anywhere in the string (bare or inside ARNs), and the account in ARNs.
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while !rest.is_empty() {
            let candidates = [("ns-", 16, "namespace"), ("srv-", 16, "service")];
            let found = candidates.iter().find_map(|(prefix, len, kind)| {
                let id = rest.get(..prefix.len() + len)?;
                (id.starts_with(prefix) && base32(&id[prefix.len()..])).then_some((id, *kind))
            });
            match found {
                Some((id, kind)) => {
                    out.push_str(&self.reference(kind, id));
                    rest = &rest[id.len()..];
                }
                None => {
                    let mut chars = rest.chars();
                    if let Some(c) = chars.next() {
                        out.push(c);
                    }
                    rest = chars.as_str();
                }
            }
        }
        if out.starts_with("arn:aws:servicediscovery:") {
            let parts: Vec<&str> = out.splitn(6, ':').collect();
            if parts.len() == 6 && parts[4].len() == 12 {
                return format!(
                    "{}:{}:{}:{}:<account>:{}",
                    parts[0], parts[1], parts[2], parts[3], parts[5]
                );
            }
        }
        out
    }

    pub fn redact(&mut self, value: &Value) -> Value {
        match value {
            Value::String(text) => Value::String(self.string(text)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.redact(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, v)| {
                        let redacted = match (key.as_str(), v) {
                            ("CreateDate" | "UpdateDate", Value::Number(_)) => {
                                Value::String("<timestamp>".into())
                            }
                            ("CreatorRequestId" | "UpdaterRequestId", Value::String(_)) => {
                                Value::String("<token>".into())
                            }
                            _ => self.redact(v),
                        };
                        (key.clone(), redacted)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_become_stable_numbered_references() {
        let mut refs = Refs::default();
        let value = json!({
            "Id": "ns-abcdefghijklmnop",
            "Arn": "arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-abcdefghijklmnop",
            "Other": "ns-qrstuvwxyz234567",
            "OperationId": "gv4g5meo7ndmeh4fqskygvk23d2fijwa-k9302yzd",
            "CreateDate": 1587055860.121,
            "Bad": "ns-TOOSHORT",
        });
        let out = refs.redact(&value);
        assert_eq!(out["Id"], "<namespace:1>");
        assert_eq!(
            out["Arn"],
            "arn:aws:servicediscovery:us-east-1:<account>:namespace/<namespace:1>"
        );
        assert_eq!(out["Other"], "<namespace:2>");
        assert_eq!(out["OperationId"], "<operation:1>");
        assert_eq!(out["CreateDate"], "<timestamp>");
        assert_eq!(out["Bad"], "ns-TOOSHORT", "a malformed id stays visible");
    }
}
