//! The API's OpenAPI 3.1 document, written from the route table: each route names the Rust
//! types of its JSON request and success bodies, and their schemas are generated from those
//! types (utoipa), so the description is what the handlers read and send.

use super::auth::{self, Access};
use super::routes::Route;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

/// Named schemas as utoipa lists them.
type SchemaList = Vec<(String, RefOr<Schema>)>;

/// A component schema a route refers to: its name and how to list it with the schemas it
/// refers to in turn.
#[derive(Debug, Clone)]
pub struct Component {
    /// The name under `#/components/schemas/`.
    pub name: String,
    add: fn(&mut SchemaList),
}

impl Component {
    /// The component of a Rust type.
    pub fn of<T: ToSchema>() -> Component {
        fn add<T: ToSchema>(list: &mut SchemaList) {
            T::schemas(list);
            list.push((T::name().into_owned(), T::schema()));
        }
        Component { name: T::name().into_owned(), add: add::<T> }
    }

    fn reference(&self) -> Value {
        json!({"$ref": format!("#/components/schemas/{}", self.name)})
    }
}

/// This API's description (OpenAPI 3.1), as `GET /api/v1/openapi.json` sends it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiDocument {
    /// The OpenAPI version: `3.1.0`.
    pub openapi: String,
    /// Title, version and how to authenticate.
    #[schema(value_type = Object)]
    pub info: Value,
    /// Where the API is served (relative to this document).
    #[schema(value_type = Vec<Object>)]
    pub servers: Value,
    /// Every route by path and method.
    #[schema(value_type = Object)]
    pub paths: Value,
    /// Schemas of the bodies and the security schemes.
    #[schema(value_type = Object)]
    pub components: Value,
    /// The ways to authenticate that every route takes unless it says otherwise.
    #[schema(value_type = Vec<Object>)]
    pub security: Value,
    /// What the PBX posts to registered webhooks.
    #[schema(value_type = Object)]
    pub webhooks: Value,
}

/// The schema of a query parameter: the paging size is a number, the rest are text.
fn query_schema(name: &str) -> Value {
    if name == "limit" { json!({"type": "integer"}) } else { json!({"type": "string"}) }
}

/// What a success status says.
fn success_text(status: u16) -> &'static str {
    match status {
        201 => "created",
        204 => "done (no body)",
        101 => "switching to the WebSocket protocol",
        _ => "success",
    }
}

fn operation(rt: &Route) -> Value {
    let mut params: Vec<Value> = rt
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        // `{*rest}` (the rest of the path) is a plain parameter to OpenAPI.
        .map(|name| json!({"name": name.trim_start_matches('*'), "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    params.extend(
        rt.query
            .iter()
            .map(|(name, d)| json!({"name": name, "in": "query", "required": false, "description": d, "schema": query_schema(name)})),
    );
    let mut responses = Map::new();
    let body = match (&rt.returns, rt.produces) {
        (Some(c), ct) => Some(json!({ct: {"schema": c.reference()}})),
        (None, "*/*") => Some(json!({"*/*": {"schema": {}}})),
        (None, "application/json") => None,
        (None, ct) => Some(json!({ct: {"schema": {"type": "string", "format": "binary"}}})),
    };
    for status in std::iter::once(rt.status).chain(rt.also.iter().copied()) {
        let mut ok = json!({"description": success_text(status)});
        if let (Some(content), false) = (&body, matches!(status, 101 | 204)) {
            ok["content"] = content.clone();
        }
        responses.insert(status.to_string(), ok);
    }
    let err = |c: &Component| json!({"description": "failure", "content": {"application/json": {"schema": c.reference()}}});
    let plain = Component::of::<super::error::ErrorBody>();
    for code in [400, 401, 403, 404] {
        responses.insert(code.to_string(), err(&plain));
    }
    for (code, c) in &rt.errors {
        responses.insert(code.to_string(), err(c));
    }
    responses.insert("default".into(), err(&plain));
    let mut op = json!({
        "operationId": format!("{}{}", rt.method, rt.path.replace(['/', '{', '}', '.', '-', '*'], "_")),
        "summary": rt.summary,
        "tags": [rt.tag],
        "parameters": params,
        "responses": responses,
        "x-access": rt.access,
    });
    if rt.access == Access::Public {
        op["security"] = json!([]);
    }
    if !rt.body.is_empty() {
        let mut content = Map::new();
        for ct in rt.body {
            let schema = match &rt.takes {
                Some(c) => c.reference(),
                None if *ct == "*/*" => json!({}),
                None => json!({"type": "string", "format": "binary"}),
            };
            content.insert(ct.to_string(), json!({ "schema": schema }));
        }
        op["requestBody"] = json!({"required": !rt.body_optional, "content": content});
    }
    op
}

/// Every component the routes refer to, with the error body and the webhook event.
fn components(routes: &[Route]) -> SchemaList {
    let mut list = SchemaList::new();
    let extra = [Component::of::<super::error::ErrorBody>(), Component::of::<pbx_store::IntegrationEvent>()];
    let used = routes.iter().flat_map(|r| r.takes.iter().chain(r.returns.iter()).chain(r.errors.iter().map(|(_, c)| c)));
    for c in used.chain(extra.iter()) {
        (c.add)(&mut list);
    }
    list
}

/// The OpenAPI 3.1 document of the route table.
pub fn document(routes: &[Route]) -> ApiDocument {
    let mut paths = Map::new();
    for rt in routes {
        let entry = paths.entry(rt.path.replace("{*", "{")).or_insert_with(|| json!({}));
        entry[rt.method] = operation(rt);
    }
    let mut schemas = Map::new();
    for (name, schema) in components(routes) {
        schemas.entry(name).or_insert_with(|| serde_json::to_value(schema).unwrap_or(Value::Null));
    }
    ApiDocument {
        openapi: "3.1.0".into(),
        info: json!({"title": "PBX cabinet API", "version": "1.0.0",
                 "description": "Cookie sessions send X-CSRF-Token on state changes; integrations use Authorization: Bearer TOKEN. Listings page by keyset: pass the `next` of a page as `after`."}),
        servers: json!([{"url": "/"}]),
        paths: Value::Object(paths),
        components: json!({
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": auth::COOKIE}
            },
            "schemas": schemas,
        }),
        security: json!([{"bearer": []}, {"session": []}]),
        webhooks: json!({
            "callEvent": {"post": {
                "summary": "A call event, posted to each registered webhook that takes its kind",
                "description": "Events of a tenant arrive in order, at least once; X-PBX-Delivery is the idempotency key. \
                    X-PBX-Signature is t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" keyed with the webhook's secret>. \
                    Answer 2xx within 5 s to take the event; 408, 429, 5xx or no answer are retried with backoff (up to 200 attempts), another 4xx ends the tries from the fifth attempt.",
                "parameters": [
                    {"name": "X-PBX-Event", "in": "header", "required": true, "schema": {"type": "string", "enum": pbx_store::events::EVENT_KINDS}},
                    {"name": "X-PBX-Delivery", "in": "header", "required": true, "schema": {"type": "string"}},
                    {"name": "X-PBX-Signature", "in": "header", "required": true, "schema": {"type": "string"}}
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IntegrationEvent"}}}},
                "responses": {"200": {"description": "taken"}}
            }}
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn every_json_body_has_a_schema_and_every_reference_resolves() {
        let routes = super::super::routes::table();
        for rt in &routes {
            let no_body = matches!(rt.status, 101 | 204);
            assert!(
                no_body || rt.produces != "application/json" || rt.returns.is_some(),
                "{} {} answers JSON without a schema",
                rt.method,
                rt.path
            );
            assert!(!rt.body.contains(&"application/json") || rt.takes.is_some(), "{} {} takes JSON without a schema", rt.method, rt.path);
        }
        let doc = serde_json::to_value(document(&routes)).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.len() > 100, "{} references", all.len());
        for r in all {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{r} is not a component"));
            assert!(schemas.contains_key(name), "{r} is referred to but not described");
        }
        // No schema is an empty "anything" except the integration's own pages.
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                for (_, ok) in op["responses"].as_object().unwrap().iter().filter(|(k, _)| k.starts_with('2')) {
                    let empty = ok["content"].as_object().is_some_and(|c| c.values().any(|m| m["schema"] == json!({})));
                    assert!(!empty || path.contains("/integration/admin/"), "{method} {path} answers an undescribed body");
                }
            }
        }
    }

    #[test]
    fn two_types_never_share_a_schema_name() {
        let routes = super::super::routes::table();
        let mut seen: std::collections::HashMap<String, Value> = Default::default();
        for (name, schema) in components(&routes) {
            let v = serde_json::to_value(schema).unwrap();
            if let Some(old) = seen.insert(name.clone(), v.clone()) {
                assert_eq!(old, v, "two types are named {name}");
            }
        }
    }

    #[test]
    fn a_listing_page_names_its_rows() {
        let doc = serde_json::to_value(document(&super::super::routes::table())).unwrap();
        let page = &doc["components"]["schemas"]["UserPage"];
        assert_eq!(page["properties"]["items"]["items"]["$ref"], "#/components/schemas/User", "{page}");
        assert_eq!(page["required"], json!(["items", "next"]), "{page}");
        let user = &doc["components"]["schemas"]["User"];
        assert!(user["properties"].get("sip_ha1_md5").is_none(), "secrets are not described: {user}");
    }
}
