//! Request parameters as PHP sees them: an ordered tree of strings, numbers and
//! arrays, with PHP's loose casts. JSON bodies and PHP-style forms both decode
//! into [`Param`], so every method reads its input one way.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// One parameter value, keeping key order (batch `cmd` order matters).
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// JSON `null` (PHP `null`: `isset` is false).
    Null,
    /// JSON boolean.
    Bool(bool),
    /// JSON number.
    Num(serde_json::Number),
    /// A string (every form value is one).
    Str(String),
    /// A JSON array.
    List(Vec<Param>),
    /// A JSON object or a PHP array with keys, in arrival order.
    Map(Vec<(String, Param)>),
}

impl Param {
    /// An empty map, the shape of "no parameters".
    pub fn empty() -> Self {
        Param::Map(Vec::new())
    }

    /// The value under `key` when it is set (PHP `isset`: present and not null).
    pub fn get(&self, key: &str) -> Option<&Param> {
        match self {
            Param::Map(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v).filter(|v| !matches!(v, Param::Null)),
            Param::List(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)).filter(|v| !matches!(v, Param::Null)),
            _ => None,
        }
    }

    /// Sets `key`, replacing an earlier value (later wins, as in PHP).
    pub fn set(&mut self, key: &str, value: Param) {
        if let Param::Map(entries) = self {
            if let Some(slot) = entries.iter_mut().find(|(k, _)| k == key) {
                slot.1 = value;
            } else {
                entries.push((key.to_string(), value));
            }
        }
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Param> {
        if let Param::Map(entries) = self {
            let pos = entries.iter().position(|(k, _)| k == key)?;
            return Some(entries.remove(pos).1);
        }
        None
    }

    /// Top-level keys upper-cased, as the portal's REST server does before a method runs.
    pub fn upper_keys(&self) -> Param {
        match self {
            Param::Map(entries) => {
                let mut out = Param::empty();
                for (k, v) in entries {
                    out.set(&k.to_uppercase(), v.clone());
                }
                out
            }
            other => other.clone(),
        }
    }

    /// The entries of an array, whether it came as a JSON list or a keyed PHP array.
    pub fn entries(&self) -> Vec<(String, &Param)> {
        match self {
            Param::List(items) => items.iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect(),
            Param::Map(entries) => entries.iter().map(|(k, v)| (k.clone(), v)).collect(),
            _ => Vec::new(),
        }
    }

    /// True for JSON lists and PHP arrays.
    pub fn is_array(&self) -> bool {
        matches!(self, Param::List(_) | Param::Map(_))
    }

    /// PHP `(string)` cast.
    pub fn php_string(&self) -> String {
        match self {
            Param::Null => String::new(),
            Param::Bool(true) => "1".to_string(),
            Param::Bool(false) => String::new(),
            Param::Num(n) => number_string(n),
            Param::Str(s) => s.clone(),
            Param::List(_) | Param::Map(_) => "Array".to_string(),
        }
    }

    /// PHP `(int)` cast (leading-numeric strings, truncated floats).
    pub fn php_int(&self) -> i64 {
        match self {
            Param::Null => 0,
            Param::Bool(b) => i64::from(*b),
            Param::Num(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)).unwrap_or(0),
            Param::Str(s) => leading_number(s).map(|f| f.trunc() as i64).unwrap_or(0),
            Param::List(v) => i64::from(!v.is_empty()),
            Param::Map(v) => i64::from(!v.is_empty()),
        }
    }

    /// PHP `(double)` cast.
    pub fn php_float(&self) -> f64 {
        match self {
            Param::Num(n) => n.as_f64().unwrap_or(0.0),
            Param::Str(s) => leading_number(s).unwrap_or(0.0),
            other => other.php_int() as f64,
        }
    }

    /// PHP truthiness (`""`, `"0"`, `0`, `null`, `[]` are false).
    pub fn php_truthy(&self) -> bool {
        match self {
            Param::Null => false,
            Param::Bool(b) => *b,
            Param::Num(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Param::Str(s) => !(s.is_empty() || s == "0"),
            Param::List(v) => !v.is_empty(),
            Param::Map(v) => !v.is_empty(),
        }
    }

    /// The value as JSON, turning PHP arrays keyed `0..n` into JSON lists like `json_encode`.
    pub fn to_json(&self) -> Value {
        match self {
            Param::Null => Value::Null,
            Param::Bool(b) => Value::Bool(*b),
            Param::Num(n) => Value::Number(n.clone()),
            Param::Str(s) => Value::String(s.clone()),
            Param::List(items) => Value::Array(items.iter().map(Param::to_json).collect()),
            Param::Map(entries) => {
                let sequential = entries.iter().enumerate().all(|(i, (k, _))| *k == i.to_string());
                if sequential && !entries.is_empty() {
                    Value::Array(entries.iter().map(|(_, v)| v.to_json()).collect())
                } else {
                    Value::Object(entries.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
                }
            }
        }
    }

    /// Builds a parameter tree from JSON (object key order is whatever serde_json kept).
    pub fn from_json(value: &Value) -> Param {
        match value {
            Value::Null => Param::Null,
            Value::Bool(b) => Param::Bool(*b),
            Value::Number(n) => Param::Num(n.clone()),
            Value::String(s) => Param::Str(s.clone()),
            Value::Array(items) => Param::List(items.iter().map(Param::from_json).collect()),
            Value::Object(map) => Param::Map(map.iter().map(|(k, v)| (k.clone(), Param::from_json(v))).collect()),
        }
    }

    /// Merges `other` over `self` at the top level (PHP `$_REQUEST`: POST over GET).
    pub fn merge_over(&mut self, other: Param) {
        if let Param::Map(entries) = other {
            for (k, v) in entries {
                self.set(&k, v);
            }
        }
    }
}

/// PHP's string form of a JSON number (integers plain, floats shortest).
fn number_string(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e15 { format!("{}", f as i64) } else { f.to_string() }
}

/// The leading number of a string, as PHP 8 reads `"12abc"` (None when there is none).
pub fn leading_number(s: &str) -> Option<f64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let bytes = t.as_bytes();
    let mut end = 0;
    if end < bytes.len() && (bytes[end] == b'+' || bytes[end] == b'-') {
        end += 1;
    }
    let digits_start = end;
    while end < bytes.len() && bytes[end].is_ascii_digit() {
        end += 1;
    }
    if end < bytes.len() && bytes[end] == b'.' {
        end += 1;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
    }
    if end == digits_start {
        return None;
    }
    t[..end].parse::<f64>().ok()
}

/// A string that is wholly numeric for PHP 8 (surrounding whitespace allowed).
pub fn numeric_string(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

impl<'de> Deserialize<'de> for Param {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ParamVisitor)
    }
}

/// Reads JSON into [`Param`] keeping object key order.
struct ParamVisitor;

impl<'de> Visitor<'de> for ParamVisitor {
    type Value = Param;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Param, E> {
        Ok(Param::Null)
    }
    fn visit_none<E>(self) -> Result<Param, E> {
        Ok(Param::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Param, D::Error> {
        Param::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Param, E> {
        Ok(Param::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Param, E> {
        Ok(Param::Num(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Param, E> {
        Ok(Param::Num(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Param, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Param::Null, Param::Num))
    }
    fn visit_str<E>(self, v: &str) -> Result<Param, E> {
        Ok(Param::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Param, E> {
        Ok(Param::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Param, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Param>()? {
            items.push(item);
        }
        Ok(Param::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Param, A::Error> {
        let mut out = Param::empty();
        while let Some((k, v)) = map.next_entry::<String, Param>()? {
            out.set(&k, v);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_key_order_and_php_casts() {
        let p: Param = serde_json::from_str(r#"{"b":1,"a":"12abc","c":"0","d":null}"#).unwrap_or(Param::Null);
        let keys: Vec<String> = p.entries().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["b", "a", "c", "d"]);
        assert_eq!(p.get("a").map(Param::php_int), Some(12));
        assert_eq!(p.get("c").map(Param::php_truthy), Some(false));
        assert!(p.get("d").is_none(), "null is not isset");
    }
}
