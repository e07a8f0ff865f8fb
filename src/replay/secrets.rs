//! Credential detection for incident files. edgesim never needs a secret to replay an incident,
//! so anything that looks like one is refused (or, with `--redact`, replaced by `[redacted]`)
//! before a value is parsed, echoed in an error or written anywhere.
//!
//! What counts as a credential: a JWT (`eyJ...`, three dot-separated base64url parts, RFC 7519
//! compact serialization), an HTTP `Bearer` or `Basic` credential (RFC 6750, RFC 7617), a
//! `name=value` or `"name": value` pair whose name says token, secret, password, authorization,
//! api key, credential or cookie, and long high-entropy strings (at least 32 characters of a
//! base64 alphabet mixing upper case, lower case and digits, with at least 4 bits of entropy per
//! character: random keys, not identifiers or hex request ids).

/// Why a value was taken for a credential. The value itself is never kept.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    Jwt,
    Bearer,
    Basic,
    NamedPair,
    HighEntropy,
    NamedColumn,
}

impl Finding {
    pub fn describe(self) -> &'static str {
        match self {
            Finding::Jwt => "looks like a JWT (eyJ..., three dot-separated base64url parts)",
            Finding::Bearer => "holds a Bearer credential",
            Finding::Basic => "holds a Basic credential",
            Finding::NamedPair => "holds a token/secret/password/authorization value (name=value)",
            Finding::HighEntropy => "holds a long high-entropy string (a key or token?)",
            Finding::NamedColumn => "is named like a credential",
        }
    }
}

/// Substrings that make a column, key or `name=value` name sensitive.
const SENSITIVE_NAMES: &[&str] =
    &["token", "secret", "password", "passwd", "authorization", "api_key", "apikey", "api-key", "credential", "cookie", "private_key", "client_secret"];

/// Whether a column or key name says it holds a credential.
pub fn is_sensitive_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SENSITIVE_NAMES.iter().any(|s| n.contains(s))
}

/// Scans one value. `None`: nothing credential-like.
pub fn scan_value(v: &str) -> Option<Finding> {
    if v.len() < 8 {
        return None;
    }
    let lower = v.to_ascii_lowercase();
    for (scheme, finding) in [("bearer", Finding::Bearer), ("basic", Finding::Basic)] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(scheme) {
            let at = from + i;
            let before_ok = at == 0 || !lower.as_bytes()[at - 1].is_ascii_alphanumeric();
            let rest = &v[at + scheme.len()..];
            let after_space = rest.trim_start_matches([' ', '\t']);
            if before_ok && after_space.len() < rest.len() {
                let cred: String = after_space.chars().take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ';' | '"' | '\'')).collect();
                if cred.len() >= 8 && cred.chars().all(|c| c.is_ascii_alphanumeric() || "-._~+/=".contains(c)) {
                    return Some(finding);
                }
            }
            from = at + scheme.len();
        }
    }
    if has_named_pair(&lower) {
        return Some(Finding::NamedPair);
    }
    for word in
        v.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '"' | '\'' | '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>' | '&' | '?' | '=' | ':'))
    {
        if is_jwt(word) {
            return Some(Finding::Jwt);
        }
        if is_high_entropy(word) {
            return Some(Finding::HighEntropy);
        }
    }
    None
}

fn is_b64url(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `eyJ` (base64url of `{"`) followed by header.payload.signature (the signature may be empty:
/// an unsecured JWT is still a bearer credential).
fn is_jwt(word: &str) -> bool {
    let w = word.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    if !w.starts_with("eyJ") {
        return false;
    }
    let parts: Vec<&str> = w.split('.').collect();
    parts.len() == 3 && parts[0].len() >= 10 && parts[1].len() >= 2 && parts.iter().all(|p| is_b64url(p))
}

fn is_high_entropy(word: &str) -> bool {
    if word.len() < 32 || !word.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=-_.~".contains(&b)) {
        return false;
    }
    let (upper, lower, digit) =
        (word.bytes().any(|b| b.is_ascii_uppercase()), word.bytes().any(|b| b.is_ascii_lowercase()), word.bytes().any(|b| b.is_ascii_digit()));
    if !(upper && lower && digit) {
        return false;
    }
    let mut counts = [0u32; 256];
    for b in word.bytes() {
        counts[b as usize] += 1;
    }
    let n = word.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n;
            -p * p.log2()
        })
        .sum();
    entropy >= 4.0
}

/// `refresh_token=abc`, `"access_token": "abc"`, `Authorization: xyz`, `password = x`.
fn has_named_pair(lower: &str) -> bool {
    let b = lower.as_bytes();
    for name in SENSITIVE_NAMES {
        let mut from = 0;
        while let Some(i) = lower[from..].find(name) {
            let mut j = from + i + name.len();
            // The rest of the key (`token_value`, `tokens`), a closing quote, spaces.
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'-') {
                j += 1;
            }
            while j < b.len() && (b[j] == b'"' || b[j] == b'\'' || b[j] == b' ') {
                j += 1;
            }
            if j < b.len() && (b[j] == b'=' || b[j] == b':') {
                j += 1;
                while j < b.len() && (b[j] == b'"' || b[j] == b'\'' || b[j] == b' ') {
                    j += 1;
                }
                if j < b.len() && !matches!(b[j], b'&' | b',' | b';' | b'}') {
                    return true;
                }
            }
            from = from + i + name.len();
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_found() {
        assert_eq!(scan_value("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"), Some(Finding::Jwt));
        assert_eq!(scan_value("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."), Some(Finding::Jwt));
        assert!(scan_value("Authorization: Bearer abcdefgh12345").is_some());
        assert_eq!(scan_value("Bearer abcdefgh12345"), Some(Finding::Bearer));
        assert_eq!(scan_value("basic dXNlcjpwYXNzd29yZA=="), Some(Finding::Basic));
        assert_eq!(scan_value("grant_type=refresh_token&refresh_token=r1x9"), Some(Finding::NamedPair));
        assert_eq!(scan_value("{\"access_token\": \"abc\"}"), Some(Finding::NamedPair));
        assert_eq!(scan_value("k=Zx8Qp2Lm9Rt4Vw7Yb1Nc6Hd3Jf5Gs0Ka8Ue2"), Some(Finding::HighEntropy));
    }

    #[test]
    fn ordinary_values_pass() {
        for v in [
            "200",
            "webhook",
            "POST /oauth/token",
            "token refresh",
            "grant_type=refresh_token",
            "550e8400-e29b-41d4-a716-446655440000",
            "refresh-and-call",
            "12.345",
            "ThisIsJustAnOrdinaryCamelCaseName",
            "basically fine",
            "1f0e2d3c4b5a69788796a5b4c3d2e1f0",
        ] {
            assert_eq!(scan_value(v), None, "{v}");
        }
    }

    #[test]
    fn names() {
        assert!(is_sensitive_name("access_token"));
        assert!(is_sensitive_name("Authorization"));
        assert!(!is_sensitive_name("status"));
        assert!(!is_sensitive_name("latency_ms"));
    }
}
