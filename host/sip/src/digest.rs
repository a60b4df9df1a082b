//! HTTP digest authentication for SIP (RFC 2617, RFC 7616, RFC 8760): MD5 and SHA-256,
//! qop=auth, stateless expiring nonces, and the client side for trunk registration.

use md5::{Digest as _, Md5};
use sha2::Sha256;
use std::fmt::Write as _;

/// The digest algorithms the PBX speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// MD5 (RFC 2617), what most phones use.
    Md5,
    /// SHA-256 (RFC 7616, RFC 8760).
    Sha256,
}

impl Algorithm {
    /// Parses the `algorithm` parameter (absent means MD5).
    pub fn parse(s: Option<&str>) -> Option<Algorithm> {
        match s {
            None => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("MD5") => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Lowercase hex digest of `data`.
    pub fn hash_hex(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(data)),
            Algorithm::Sha256 => hex(&Sha256::digest(data)),
        }
    }

    /// HA1 = H(username:realm:password).
    pub fn ha1(self, username: &str, realm: &str, password: &str) -> String {
        self.hash_hex(format!("{username}:{realm}:{password}").as_bytes())
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The parameters of a `Digest` challenge or credentials, parsed from a header value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestParams {
    /// (name lowercase, value unquoted) pairs.
    pub params: Vec<(String, String)>,
}

impl DigestParams {
    /// Parses `Digest a="b", c=d`; `None` if the scheme is not Digest or the syntax is bad.
    pub fn parse(value: &str) -> Option<DigestParams> {
        let v = value.trim();
        let (scheme, rest) = v.split_at(v.find([' ', '\t']).unwrap_or(v.len()));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let mut params = Vec::new();
        let bytes = rest.as_bytes();
        let mut i = 0;
        loop {
            while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t' || bytes[i] == b',') {
                i += 1;
            }
            if i >= bytes.len() {
                break;
            }
            let name_start = i;
            while i < bytes.len() && bytes[i] != b'=' && bytes[i] != b',' {
                i += 1;
            }
            let name = rest[name_start..i].trim().to_ascii_lowercase();
            if i >= bytes.len() || bytes[i] != b'=' || name.is_empty() {
                return None;
            }
            i += 1;
            while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
                i += 1;
            }
            let value = if i < bytes.len() && bytes[i] == b'"' {
                let (val, after) = crate::text::parse_quoted(&rest[i..])?;
                i = rest.len() - after.len();
                val
            } else {
                let s = i;
                while i < bytes.len() && bytes[i] != b',' {
                    i += 1;
                }
                rest[s..i].trim().to_string()
            };
            params.push((name, value));
        }
        Some(DigestParams { params })
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Issues and checks nonces without server state:
/// `hex(timestamp) . hex(salt) . hex(H(secret, timestamp, salt, realm))`. The random salt makes
/// every challenge's nonce unique, so that nonce-counts can be tracked per nonce.
#[derive(Clone)]
pub struct NonceIssuer {
    secret: [u8; 32],
    /// How long a nonce is valid, in seconds.
    pub lifetime_secs: u64,
}

/// What a nonce check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceState {
    /// Issued by us and fresh.
    Fresh,
    /// Issued by us but expired: answer with `stale=true`.
    Stale,
    /// Not ours.
    Invalid,
}

impl NonceIssuer {
    /// A new issuer with a random secret.
    pub fn new(lifetime_secs: u64) -> NonceIssuer {
        let mut secret = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut secret[..]);
        NonceIssuer { secret, lifetime_secs }
    }

    fn mac(&self, ts: u64, salt: u64, realm: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(ts.to_be_bytes());
        h.update(salt.to_be_bytes());
        h.update(realm.as_bytes());
        hex(&h.finalize()[..16])
    }

    /// A fresh nonce for `realm` at unix time `now_secs`.
    pub fn issue(&self, realm: &str, now_secs: u64) -> String {
        let salt: u64 = rand::random();
        format!("{now_secs:x}.{salt:016x}.{}", self.mac(now_secs, salt, realm))
    }

    /// Checks a nonce for `realm` at `now_secs`.
    pub fn check(&self, nonce: &str, realm: &str, now_secs: u64) -> NonceState {
        let mut parts = nonce.splitn(3, '.');
        let (Some(ts), Some(salt), Some(mac)) = (parts.next(), parts.next(), parts.next()) else { return NonceState::Invalid };
        let (Ok(ts), Ok(salt)) = (u64::from_str_radix(ts, 16), u64::from_str_radix(salt, 16)) else { return NonceState::Invalid };
        if !constant_time_eq(mac.as_bytes(), self.mac(ts, salt, realm).as_bytes()) {
            return NonceState::Invalid;
        }
        if now_secs > ts.saturating_add(self.lifetime_secs) || ts > now_secs.saturating_add(60) {
            NonceState::Stale
        } else {
            NonceState::Fresh
        }
    }
}

/// Compares secrets without an early exit.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of a WWW-Authenticate/Proxy-Authenticate header.
pub fn challenge(realm: &str, nonce: &str, algorithm: Algorithm, stale: bool) -> String {
    let mut s = format!("Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"", realm.replace('"', ""), algorithm.as_str());
    if stale {
        s.push_str(", stale=true");
    }
    s
}

/// The response hash of RFC 7616 §3.4.1 for `qop=auth` (or RFC 2069 when `qop` is absent).
pub fn response_hash(
    algorithm: Algorithm,
    ha1: &str,
    nonce: &str,
    method: &str,
    uri: &str,
    qop: Option<(&str, &str)>, // (nc, cnonce)
) -> String {
    let ha2 = algorithm.hash_hex(format!("{method}:{uri}").as_bytes());
    match qop {
        Some((nc, cnonce)) => algorithm.hash_hex(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}").as_bytes()),
        None => algorithm.hash_hex(format!("{ha1}:{nonce}:{ha2}").as_bytes()),
    }
}

/// Credentials a UA sent, ready to verify.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// username.
    pub username: String,
    /// realm.
    pub realm: String,
    /// nonce.
    pub nonce: String,
    /// digest-uri.
    pub uri: String,
    /// response.
    pub response: String,
    /// algorithm.
    pub algorithm: Algorithm,
    /// (nc, cnonce) when qop=auth.
    pub qop: Option<(String, String)>,
}

impl Credentials {
    /// Reads credentials from an Authorization header value; `None` when unusable.
    pub fn parse(value: &str) -> Option<Credentials> {
        let p = DigestParams::parse(value)?;
        let algorithm = Algorithm::parse(p.get("algorithm"))?;
        let qop = match p.get("qop") {
            Some(q) if q.eq_ignore_ascii_case("auth") => Some((p.get("nc")?.to_string(), p.get("cnonce")?.to_string())),
            Some(_) => return None,
            None => None,
        };
        Some(Credentials {
            username: p.get("username")?.to_string(),
            realm: p.get("realm")?.to_string(),
            nonce: p.get("nonce")?.to_string(),
            uri: p.get("uri")?.to_string(),
            response: p.get("response")?.to_ascii_lowercase(),
            algorithm,
            qop,
        })
    }

    /// True when the response matches `ha1` for `method`.
    pub fn verify(&self, ha1: &str, method: &str) -> bool {
        let expected =
            response_hash(self.algorithm, ha1, &self.nonce, method, &self.uri, self.qop.as_ref().map(|(a, b)| (a.as_str(), b.as_str())));
        constant_time_eq(expected.as_bytes(), self.response.as_bytes())
    }
}

/// Client side: the Authorization value answering `challenge_value` (trunk registration,
/// outbound INVITE to a carrier). `nc` counts uses of the same nonce.
pub fn authorize(challenge_value: &str, username: &str, password: &str, method: &str, uri: &str, nc: u32) -> Option<String> {
    let p = DigestParams::parse(challenge_value)?;
    let algorithm = Algorithm::parse(p.get("algorithm"))?;
    let realm = p.get("realm")?;
    let nonce = p.get("nonce")?;
    let ha1 = algorithm.ha1(username, realm, password);
    let use_qop = p.get("qop").is_some_and(|q| q.split(',').any(|x| x.trim().eq_ignore_ascii_case("auth")));
    let mut out = format!("Digest username=\"{username}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\"");
    if use_qop {
        let mut c = [0u8; 8];
        rand::Rng::fill(&mut rand::rng(), &mut c[..]);
        let cnonce = hex(&c);
        let ncs = format!("{nc:08x}");
        let resp = response_hash(algorithm, &ha1, nonce, method, uri, Some((&ncs, &cnonce)));
        let _ = write!(out, ", response=\"{resp}\", algorithm={}, qop=auth, nc={ncs}, cnonce=\"{cnonce}\"", algorithm.as_str());
    } else {
        let resp = response_hash(algorithm, &ha1, nonce, method, uri, None);
        let _ = write!(out, ", response=\"{resp}\", algorithm={}", algorithm.as_str());
    }
    if let Some(opaque) = p.get("opaque") {
        let _ = write!(out, ", opaque=\"{opaque}\"");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example() {
        // RFC 2617 §3.5 (HTTP, qop=auth).
        let ha1 = Algorithm::Md5.ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        let r = response_hash(
            Algorithm::Md5,
            &ha1,
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "GET",
            "/dir/index.html",
            Some(("00000001", "0a4f113b")),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc7616_sha256_example() {
        // RFC 7616 §3.9.1.
        let ha1 = Algorithm::Sha256.ha1("Mufasa", "http-auth@example.org", "Circle of Life");
        let r = response_hash(
            Algorithm::Sha256,
            &ha1,
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            "GET",
            "/dir/index.html",
            Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
        );
        assert_eq!(r, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
    }

    #[test]
    fn round_trip_both_algorithms() {
        let issuer = NonceIssuer::new(300);
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let nonce = issuer.issue("a.example", 1000);
            let ch = challenge("a.example", &nonce, alg, false);
            let auth = authorize(&ch, "101", "secret", "REGISTER", "sip:a.example", 1).unwrap();
            let creds = Credentials::parse(&auth).unwrap();
            assert_eq!(creds.algorithm, alg);
            assert!(creds.verify(&alg.ha1("101", "a.example", "secret"), "REGISTER"));
            assert!(!creds.verify(&alg.ha1("101", "a.example", "wrong"), "REGISTER"));
            assert!(!creds.verify(&alg.ha1("101", "a.example", "secret"), "INVITE"));
        }
    }

    #[test]
    fn nonce_expiry_and_forgery() {
        let issuer = NonceIssuer::new(300);
        let n = issuer.issue("r", 1000);
        assert_eq!(issuer.check(&n, "r", 1200), NonceState::Fresh);
        assert_eq!(issuer.check(&n, "r", 1301), NonceState::Stale);
        assert_eq!(issuer.check(&n, "other", 1200), NonceState::Invalid);
        assert_eq!(issuer.check("3e8.00", "r", 1200), NonceState::Invalid);
        assert_eq!(issuer.check("3e8.00.00", "r", 1200), NonceState::Invalid);
        assert_ne!(issuer.issue("r", 1000), issuer.issue("r", 1000), "every challenge has its own nonce");
        assert_eq!(issuer.check("garbage", "r", 1200), NonceState::Invalid);
    }

    #[test]
    fn unknown_scheme_is_unusable() {
        assert!(Credentials::parse("NoOneKnowsThisScheme opaque-data=here").is_none());
        assert!(Credentials::parse("Digest username=\"a\"").is_none());
    }
}
