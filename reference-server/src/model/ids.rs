//! Identifiers in the formats real Cloud Map uses (spec §3.1).

use rand::Rng;

/// The RFC 4648 base32 alphabet in lower case: every real `ns-`/`srv-` id draws from it.
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn random_base32(rng: &mut impl Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(BASE32[rng.random_range(0..BASE32.len())]))
        .collect()
}

fn base36(mut value: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if value == 0 {
        return "0".to_owned();
    }
    let mut out = Vec::new();
    while value > 0 {
        out.push(DIGITS[(value % 36) as usize]);
        value /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

macro_rules! id_type {
    ($name:ident) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(NamespaceId);
id_type!(ServiceId);
id_type!(OperationId);

impl NamespaceId {
    /// `ns-` followed by 16 base32 characters.
    pub fn generate(rng: &mut impl Rng) -> Self {
        NamespaceId(format!("ns-{}", random_base32(rng, 16)))
    }
}

impl ServiceId {
    /// `srv-` followed by 16 base32 characters.
    pub fn generate(rng: &mut impl Rng) -> Self {
        ServiceId(format!("srv-{}", random_base32(rng, 16)))
    }
}

impl OperationId {
    /// 32 base32 characters, `-`, then the creation time in epoch milliseconds in base 36: the
    /// suffix of every real operation id decodes to its CreateDate (spec §3.1). The prefix is
    /// random; AWS probably hashes the target, which only matters for the format (U13).
    pub fn generate(rng: &mut impl Rng, created_millis: i64) -> Self {
        let millis = u64::try_from(created_millis).unwrap_or_default();
        OperationId(format!("{}-{}", random_base32(rng, 32), base36(millis)))
    }
}

/// A Route 53 style hosted zone id (`Z` + 20 upper-case alphanumerics) for DNS namespaces.
pub fn hosted_zone_id(rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let tail: String = (0..20)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("Z{tail}")
}

/// Eight lower-case alphanumerics, appended to an HttpName that is already taken (spec U8).
pub fn http_name_suffix(rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..8)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_observed_shape() {
        let mut rng = rand::rng();
        let ns = NamespaceId::generate(&mut rng);
        assert_eq!(ns.0.len(), 19);
        assert!(ns.0[3..].bytes().all(|b| BASE32.contains(&b)));
        let srv = ServiceId::generate(&mut rng);
        assert!(srv.0.starts_with("srv-") && srv.0.len() == 20);
    }

    #[test]
    fn operation_id_suffix_is_base36_of_the_creation_millis() {
        // The GetOperation example of the API model: CreateDate 1587055860.121, id ...-k9302yzd.
        let id = OperationId::generate(&mut rand::rng(), 1_587_055_860_121);
        let (prefix, suffix) = id.0.split_once('-').unwrap();
        assert_eq!(prefix.len(), 32);
        assert_eq!(suffix, "k9302yzd");
    }
}
