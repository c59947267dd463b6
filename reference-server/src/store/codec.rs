//! A small, explicit encoding for the maps stored inside one row (instance attributes, tags,
//! service attributes, DNS records, pending mutations): ordered pairs written as netstrings,
//! `<byte length>:<bytes>` for the key, then the value. Storing a map in its owner's row keeps a
//! registration to one row write; the format is ours, not the wire's.

use super::StoreError;

pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (key, value) in pairs {
        for part in [key, value] {
            out.push_str(&part.len().to_string());
            out.push(':');
            out.push_str(part);
        }
    }
    out
}

pub fn decode(text: &str) -> Result<Vec<(String, String)>, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("malformed encoded map: {text:.80}"));
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (len, tail) = rest.split_once(':').ok_or_else(corrupt)?;
        let len: usize = len.parse().map_err(|_| corrupt())?;
        let part = tail.get(..len).ok_or_else(corrupt)?;
        parts.push(part.to_owned());
        rest = tail.get(len..).ok_or_else(corrupt)?;
    }
    if parts.len() % 2 != 0 {
        return Err(corrupt());
    }
    let mut pairs = Vec::with_capacity(parts.len() / 2);
    let mut iter = parts.into_iter();
    while let (Some(key), Some(value)) = (iter.next(), iter.next()) {
        pairs.push((key, value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_whatever_they_contain() {
        let pairs = [
            ("a", "1"),
            ("", ""),
            ("k:3:x", "é 10:"),
            ("AWS_INSTANCE_IPV4", "10.0.0.1"),
        ];
        let text = encode(pairs);
        let back = decode(&text).unwrap();
        let back: Vec<(&str, &str)> = back.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(back, pairs);
        assert!(decode("").unwrap().is_empty());
    }

    #[test]
    fn malformed_text_is_an_error() {
        for bad in ["3:ab", "x:", "1:a", "2:é"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
