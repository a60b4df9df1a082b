//! The company's settings of the connector (and a scenario node's configuration: one schema
//! serves both), and the small formats the portal speaks (ISO-8601 dates, form bodies).

use serde::Deserialize;

/// What the company set (the cabinet's form for the plugin, validated by the PBX against
/// [`SCHEMA`]).
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// The local application's `client_id` (from the portal's developer resources).
    #[serde(default)]
    pub client_id: String,
    /// Its `client_secret` (a secret: sealed by the PBX, never shown again).
    #[serde(default)]
    pub client_secret: String,
    /// The OAuth server that renews tokens.
    #[serde(default = "default_oauth")]
    pub oauth_url: String,
    /// Pop the call card for the employees whose phones ring.
    #[serde(default = "yes")]
    pub show_card: bool,
    /// Let the portal create a lead for an unknown number.
    #[serde(default = "yes")]
    pub crm_create: bool,
    /// Scenario node: ring the client's responsible employee first.
    #[serde(default)]
    pub route_to_responsible: bool,
    /// Scenario node: how long the responsible employee's phone rings, seconds.
    #[serde(default = "ring")]
    pub ring_seconds: u32,
    /// The extension that answers for calls nobody's phone rang for (a caller who hung up in
    /// the menu) and that calls back from the website's callback form when the client has no
    /// responsible employee.
    #[serde(default)]
    pub default_ext: String,
}

fn default_oauth() -> String {
    "https://oauth.bitrix.info".into()
}

fn yes() -> bool {
    true
}

fn ring() -> u32 {
    20
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            client_id: String::new(),
            client_secret: String::new(),
            oauth_url: default_oauth(),
            show_card: true,
            crm_create: true,
            route_to_responsible: false,
            ring_seconds: ring(),
            default_ext: String::new(),
        }
    }
}

/// The JSON Schema of [`Settings`].
pub const SCHEMA: &str = r#"{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "client_id": {"type": "string", "title": "Application client_id", "maxLength": 200},
    "client_secret": {"type": "string", "title": "Application client_secret", "writeOnly": true, "maxLength": 200},
    "oauth_url": {"type": "string", "title": "OAuth server", "format": "uri", "pattern": "^https?://", "default": "https://oauth.bitrix.info"},
    "show_card": {"type": "boolean", "title": "Show the call card to the employees whose phones ring", "default": true},
    "crm_create": {"type": "boolean", "title": "Create a lead for unknown numbers", "default": true},
    "route_to_responsible": {"type": "boolean", "title": "Scenario node: ring the client's responsible employee first", "default": false},
    "ring_seconds": {"type": "integer", "title": "Scenario node: ring time, seconds", "minimum": 5, "maximum": 120, "default": 20},
    "default_ext": {"type": "string", "title": "Extension for calls nobody was rung for and for callback requests", "pattern": "^[0-9]{0,8}$"}
  }
}"#;

impl Settings {
    /// The settings the PBX gives this run (defaults where absent or unreadable).
    pub fn current() -> Settings {
        pbx_plugin_sdk::host::config_as().unwrap_or_default()
    }
}

/// `2026-12-01T05:13:39+00:00` for ms since the Unix epoch (the portal wants ISO-8601 with
/// a zone).
pub fn iso8601(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+00:00", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The fields of a form body (`a=1&auth[member_id]=x`), keys as written.
pub fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).take(200).collect()
}

/// One field of a form.
pub fn field<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or("")
}

/// A query parameter of a URL path.
pub fn query_param(url: &str, key: &str) -> String {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// A query string of pairs, escaped (for `batch` commands).
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Compares secrets without leaking where they differ through timing.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_iso8601_in_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso8601(1_795_000_000_000), "2026-11-18T11:06:40+00:00");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00+00:00");
    }

    #[test]
    fn forms_and_queries() {
        let f = form(b"event=ONEXTERNALCALLSTART&data%5BPHONE_NUMBER%5D=%2B74951234567&auth[application_token]=t");
        assert_eq!(field(&f, "data[PHONE_NUMBER]"), "+74951234567");
        assert_eq!(field(&f, "auth[application_token]"), "t");
        assert_eq!(field(&f, "missing"), "");
        assert_eq!(query(&[("NUMBER", "+7 495"), ("NAME", "a&b")]), "NUMBER=%2B7+495&NAME=a%26b");
        assert_eq!(query_param("/x/install?a=1&b=%2B7", "b"), "+7");
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("abc", "ab"));
    }

    #[test]
    fn settings_default_when_absent() {
        let s: Settings = serde_json::from_str("{}").unwrap();
        assert!(s.show_card && s.crm_create && !s.route_to_responsible);
        assert_eq!((s.oauth_url.as_str(), s.ring_seconds), ("https://oauth.bitrix.info", 20));
    }
}
