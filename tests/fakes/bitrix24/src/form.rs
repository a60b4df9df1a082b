//! PHP-style `application/x-www-form-urlencoded` decoding and encoding:
//! `USER_ID[0]=11&USER_ID[1]=24`, `FIELDS[A]=b`, `a[]=1&a[]=2`, as PHP's
//! `parse_str` and `http_build_query` read and write them.

use crate::params::Param;

/// Decodes a query string or form body into a parameter map.
pub fn decode(input: &str) -> Param {
    let mut root = Param::empty();
    for (key, value) in form_urlencoded::parse(input.as_bytes()) {
        insert(&mut root, &key, Param::Str(value.into_owned()));
    }
    root
}

/// Inserts one `name[a][b]=value` pair into `root`, the way PHP builds `$_POST`.
pub fn insert(root: &mut Param, key: &str, value: Param) {
    let (base, segments) = split_key(key);
    if base.is_empty() {
        return;
    }
    let mut path = vec![base];
    path.extend(segments);
    insert_path(root, &path, value);
}

/// Splits `a[b][c]` into `a` and `[b, c]`; a key whose brackets don't close keeps them literally.
fn split_key(key: &str) -> (String, Vec<String>) {
    let Some(open) = key.find('[') else {
        return (key.to_string(), Vec::new());
    };
    let base = key[..open].to_string();
    let mut segments = Vec::new();
    let mut rest = &key[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        match stripped.find(']') {
            Some(close) => {
                segments.push(stripped[..close].to_string());
                rest = &stripped[close + 1..];
            }
            None => break,
        }
    }
    if segments.is_empty() {
        return (key.to_string(), Vec::new());
    }
    (base, segments)
}

/// Walks (and creates) nested maps along `path`, `""` meaning "append".
fn insert_path(node: &mut Param, path: &[String], value: Param) {
    if !matches!(node, Param::Map(_)) {
        *node = Param::empty();
    }
    let Param::Map(entries) = node else {
        return;
    };
    let key = if path[0].is_empty() {
        let next = entries.iter().filter_map(|(k, _)| k.parse::<i64>().ok()).max().map_or(0, |m| m + 1);
        next.to_string()
    } else {
        path[0].clone()
    };
    if path.len() == 1 {
        if let Some(slot) = entries.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            entries.push((key, value));
        }
        return;
    }
    let pos = match entries.iter().position(|(k, _)| *k == key) {
        Some(p) => p,
        None => {
            entries.push((key, Param::empty()));
            entries.len() - 1
        }
    };
    insert_path(&mut entries[pos].1, &path[1..], value);
}

/// Flattens a parameter tree into `name[a][b]` pairs; nulls are skipped as `http_build_query` does.
pub fn flatten(prefix: &str, value: &Param, out: &mut Vec<(String, String)>) {
    match value {
        Param::Null => {}
        Param::Bool(b) => out.push((prefix.to_string(), if *b { "1" } else { "0" }.to_string())),
        Param::List(_) | Param::Map(_) => {
            for (k, v) in value.entries() {
                flatten(&format!("{prefix}[{k}]"), v, out);
            }
        }
        other => out.push((prefix.to_string(), other.php_string())),
    }
}

/// Encodes pairs as a form body (brackets percent-encoded, as PHP does).
pub fn encode(pairs: &[(String, String)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    ser.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn php_arrays_decode_like_parse_str() {
        let p = decode("USER_ID%5B0%5D=11&USER_ID[1]=24&FIELDS[A]=b&x[]=1&x[]=2&plain=a+b");
        assert_eq!(p.to_json(), json!({"USER_ID": ["11", "24"], "FIELDS": {"A": "b"}, "x": ["1", "2"], "plain": "a b"}));
    }

    #[test]
    fn flatten_round_trips() {
        let p = decode("data[CALL_ID]=c1&data[LIST][0][T]=LEAD&auth[domain]=d");
        let mut pairs = Vec::new();
        for (k, v) in p.entries() {
            flatten(&k, v, &mut pairs);
        }
        assert_eq!(decode(&encode(&pairs)).to_json(), p.to_json());
    }
}
