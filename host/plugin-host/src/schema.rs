//! Validation of plugin configurations (scenario nodes, tenant settings) against the
//! plugin's JSON Schema: first the keywords plugins commonly use, with messages the cabinet
//! shows as they are (type, properties, required, additionalProperties, items, enum,
//! minimum/maximum, minLength/maxLength, minItems/maxItems, pattern), then the complete
//! JSON Schema implementation of the `jsonschema` crate (every keyword of drafts 4 to
//! 2020-12; remote `$ref`s are not fetched). The cabinet builds its forms from the same
//! schemas.

use serde_json::Value;

/// Validates `value` against `schema`; the error names the path of the first problem.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    check(schema, value, "config")?;
    let validator = jsonschema::validator_for(schema).map_err(|e| format!("the plugin's schema is not valid JSON Schema: {e}"))?;
    if let Some(e) = validator.iter_errors(value).next() {
        let path = e.instance_path().to_string().replace('/', ".");
        return Err(format!("config{path}: {e}"));
    }
    Ok(())
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.as_i64().is_some() || v.as_u64().is_some(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => true,
    }
}

fn check(s: &Value, v: &Value, path: &str) -> Result<(), String> {
    let Some(s) = s.as_object() else { return Ok(()) };
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(t) => type_ok(t, v),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(|t| type_ok(t, v)),
            _ => true,
        };
        if !ok {
            return Err(format!("{path}: expected {t}"));
        }
    }
    if let Some(Value::Array(options)) = s.get("enum")
        && !options.contains(v)
    {
        return Err(format!("{path}: must be one of {}", Value::Array(options.clone())));
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = s.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            return Err(format!("{path}: must be at least {min}"));
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            return Err(format!("{path}: must be at most {max}"));
        }
    }
    if let Some(text) = v.as_str() {
        let len = text.chars().count() as u64;
        if s.get("minLength").and_then(Value::as_u64).is_some_and(|m| len < m) {
            return Err(format!("{path}: too short"));
        }
        if s.get("maxLength").and_then(Value::as_u64).is_some_and(|m| len > m) {
            return Err(format!("{path}: too long"));
        }
        if let Some(p) = s.get("pattern").and_then(Value::as_str) {
            let re = regex_lite::Regex::new(p).map_err(|e| format!("{path}: bad pattern in the schema: {e}"))?;
            if !re.is_match(text) {
                return Err(format!("{path}: {text:?} does not match {p}"));
            }
        }
    }
    if let Some(items) = v.as_array() {
        let n = items.len() as u64;
        if s.get("minItems").and_then(Value::as_u64).is_some_and(|m| n < m) {
            return Err(format!("{path}: needs at least {} items", s["minItems"]));
        }
        if s.get("maxItems").and_then(Value::as_u64).is_some_and(|m| n > m) {
            return Err(format!("{path}: at most {} items", s["maxItems"]));
        }
        if let Some(item_schema) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                check(item_schema, item, &format!("{path}[{i}]"))?;
            }
        }
    }
    if let Some(obj) = v.as_object() {
        if let Some(Value::Array(req)) = s.get("required") {
            for r in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    return Err(format!("{path}: {r} is required"));
                }
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, val) in obj {
            let sub = format!("{path}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(ps, val, &sub)?,
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => return Err(format!("{sub}: unknown setting")),
                    Some(extra @ Value::Object(_)) => check(extra, val, &sub)?,
                    _ => {}
                },
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_subset_plugins_use() {
        let s = json!({"type":"object","required":["prompt"],"additionalProperties":false,"properties":{
            "prompt":{"type":"string","minLength":1},
            "retries":{"type":"integer","minimum":0,"maximum":5},
            "days":{"type":"array","minItems":1,"uniqueItems":true,"items":{"type":"string","enum":["mon","tue"]}},
            "at":{"type":"string","pattern":"^[0-9]{2}:[0-9]{2}$"},
            "map":{"type":"object","additionalProperties":{"type":"string"}}}});
        assert!(validate(&s, &json!({"prompt":"x","retries":2,"days":["mon"],"at":"09:00","map":{"a":"b"}})).is_ok());
        for (bad, why) in [
            (json!({}), "prompt is required"),
            (json!({"prompt":""}), "too short"),
            (json!({"prompt":"x","retries":9}), "at most 5"),
            (json!({"prompt":"x","days":["sun"]}), "one of"),
            (json!({"prompt":"x","days":[]}), "at least 1"),
            (json!({"prompt":"x","at":"9am"}), "does not match"),
            (json!({"prompt":"x","extra":1}), "unknown setting"),
            (json!({"prompt":"x","map":{"a":1}}), "config.map.a: expected"),
            (json!("x"), "expected"),
            // Keywords beyond the common ones are checked too.
            (json!({"prompt":"x","retries":2,"days":["mon","mon"]}), "config.days"),
        ] {
            let e = validate(&s, &bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
