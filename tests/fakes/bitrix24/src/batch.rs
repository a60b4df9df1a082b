//! `batch`: up to 50 `cmd{key: "method?query"}` commands run in order with the
//! batch's auth, `halt` stopping at the first error, `$result[key][field]`
//! references to earlier results, and no nesting.

use crate::auth::AuthCtx;
use crate::envelope::{MethodOk, RestError, time_block};
use crate::form;
use crate::methods;
use crate::params::Param;
use crate::server::Shared;
use crate::state::{BodyKind, Recorded};
use serde_json::{Map, Value, json};

/// The most commands one batch may carry.
pub const MAX_COMMANDS: usize = 50;

/// Runs a batch call.
pub(crate) async fn run(shared: &Shared, auth: &AuthCtx, params: &Param) -> Result<MethodOk, RestError> {
    let p = params.upper_keys();
    let cmd = p.get("CMD").cloned().unwrap_or(Param::empty());
    let commands = cmd.entries();
    if commands.len() > MAX_COMMANDS {
        return Err(RestError::new(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded"));
    }
    let halt = p.get("HALT").is_some_and(Param::php_truthy);
    let mut results = Map::new();
    let mut errors = Map::new();
    let mut totals = Map::new();
    let mut nexts = Map::new();
    let mut times = Map::new();
    for (key, command) in commands {
        let text = command.php_string();
        let (method_part, query) = text.split_once('?').unwrap_or((text.as_str(), ""));
        let method = method_part.trim().trim_end_matches(".json").to_ascii_lowercase();
        let mut sub = form::decode(query);
        substitute(&mut sub, &results);
        sub.remove("auth");
        let start = shared.lock().now();
        let outcome = if method == "batch" || method == "upload" {
            Err(RestError::new(405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage"))
        } else {
            methods::call_single(shared, auth, &method, &sub, &[]).await
        };
        let mut st = shared.lock();
        let finish = st.now();
        let (status, error) = match &outcome {
            Ok(_) => (200, None),
            Err(e) => (e.status, Some(e.code.clone())),
        };
        st.requests.push(Recorded {
            method: method.clone(),
            params: sub.to_json(),
            auth: auth.kind.clone(),
            body: BodyKind::BatchCommand,
            status,
            error,
            in_batch: true,
            at: start,
        });
        match outcome {
            Ok(ok) => {
                results.insert(key.clone(), ok.result);
                if let Some(t) = ok.total {
                    totals.insert(key.clone(), json!(t));
                }
                if let Some(n) = ok.next {
                    nexts.insert(key.clone(), json!(n));
                }
                times.insert(key, time_block(start, finish, false));
            }
            Err(e) => {
                errors.insert(key, e.body(st.opts.empty_core_error_code));
                if halt {
                    break;
                }
            }
        }
    }
    let php = |m: Map<String, Value>| {
        if m.is_empty() { json!([]) } else { Value::Object(m) }
    };
    Ok(MethodOk::of(json!({
        "result": php(results),
        "result_error": php(errors),
        "result_total": php(totals),
        "result_next": php(nexts),
        "result_time": php(times),
    })))
}

/// Replaces `$result[key][field]...` in string values with earlier results.
fn substitute(p: &mut Param, results: &Map<String, Value>) {
    match p {
        Param::Str(s) if s.contains("$result[") => *s = expand(s, results),
        Param::List(items) => items.iter_mut().for_each(|i| substitute(i, results)),
        Param::Map(entries) => entries.iter_mut().for_each(|(_, v)| substitute(v, results)),
        _ => {}
    }
}

/// Expands every `$result[...]` reference in one string.
fn expand(s: &str, results: &Map<String, Value>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("$result[") {
        out.push_str(&rest[..at]);
        let mut tail = &rest[at + "$result".len()..];
        let mut path = Vec::new();
        while let Some(inner) = tail.strip_prefix('[') {
            let Some(close) = inner.find(']') else {
                break;
            };
            path.push(&inner[..close]);
            tail = &inner[close + 1..];
        }
        let mut node = path.first().and_then(|k| results.get(*k));
        for seg in path.iter().skip(1) {
            node = node.and_then(|n| match n {
                Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
                Value::Object(o) => o.get(*seg),
                _ => None,
            });
        }
        match node {
            Some(Value::String(v)) => out.push_str(v),
            Some(Value::Bool(true)) => out.push('1'),
            Some(Value::Number(n)) => out.push_str(&n.to_string()),
            _ => {}
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_result_references() {
        let mut results = Map::new();
        results.insert("reg".into(), json!({"CALL_ID": "externalCall.x.1", "L": [{"ID": 7}]}));
        assert_eq!(expand("$result[reg][CALL_ID]", &results), "externalCall.x.1");
        assert_eq!(expand("id-$result[reg][L][0][ID]-x", &results), "id-7-x");
        assert_eq!(expand("$result[none][X]", &results), "");
    }
}
