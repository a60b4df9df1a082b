//! The API's route table: every route is registered from this one list, which also writes
//! the OpenAPI document, so the description cannot drift from what is served. Each entry
//! names who may call it; the access check is applied here, not left to each handler.

use super::auth::{self, Access, guard};
use super::{
    WebState, calls_api, contacts_api, live, operator_api, originate_api, plugin_settings_api, recording_links, tenant_api,
    tenant_setup_api, webhooks_api,
};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use serde_json::{Value, json};
use std::sync::Arc;

/// One API route: its documentation and its handler.
pub struct Route {
    /// HTTP method (lowercase, as OpenAPI writes it).
    pub method: &'static str,
    /// Path with `{param}` segments (the same syntax in axum and OpenAPI).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Group in the description.
    pub tag: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Query parameters: name and meaning.
    pub query: &'static [(&'static str, &'static str)],
    /// Request body content type, when it takes one.
    pub body: Option<&'static str>,
    /// Response content type of a success.
    pub produces: &'static str,
    /// Largest accepted body, bytes (uploads).
    pub body_limit: Option<usize>,
    /// The component schema of the JSON request body, when it is described.
    pub body_schema: Option<&'static str>,
    /// The component schema of a success's JSON body, when it is described.
    pub returns: Option<&'static str>,
    handler: MethodRouter<Arc<WebState>>,
}

fn r(
    method: &'static str,
    path: &'static str,
    access: Access,
    tag: &'static str,
    summary: &'static str,
    handler: MethodRouter<Arc<WebState>>,
) -> Route {
    Route {
        method,
        path,
        access,
        tag,
        summary,
        query: &[],
        body: None,
        produces: "application/json",
        body_limit: None,
        body_schema: None,
        returns: None,
        handler,
    }
}

impl Route {
    fn query(mut self, q: &'static [(&'static str, &'static str)]) -> Route {
        self.query = q;
        self
    }
    fn json(mut self) -> Route {
        self.body = Some("application/json");
        self
    }
    fn upload(mut self, content: &'static str, limit: usize) -> Route {
        self.body = Some(content);
        self.body_limit = Some(limit);
        self
    }
    fn produces(mut self, p: &'static str) -> Route {
        self.produces = p;
        self
    }
    /// A JSON body described by the component schema `name`.
    fn takes(mut self, name: &'static str) -> Route {
        self.body = Some("application/json");
        self.body_schema = Some(name);
        self
    }
    /// A success described by the component schema `name`.
    fn returns(mut self, name: &'static str) -> Route {
        self.returns = Some(name);
        self
    }
}

const PAGE: &[(&str, &str)] = &[("limit", "rows per page (1-500, default 50)"), ("after", "the `next` cursor of the previous page")];
const CALL_FILTERS: &[(&str, &str)] = &[
    ("limit", "rows per page (1-500, default 50)"),
    ("after", "the `next` cursor of the previous page"),
    ("from", "started at or after (RFC 3339 or YYYY-MM-DD in the tenant's time zone)"),
    ("to", "started before (RFC 3339 or YYYY-MM-DD, that whole day included)"),
    ("ext", "calls of this user"),
    ("number", "digits of the calling or called number"),
    ("direction", "inbound, outbound or internal"),
    ("disposition", "answered, missed, busy, failed or interrupted"),
];
const PERIOD: &[(&str, &str)] = &[
    ("from", "period start (RFC 3339 or YYYY-MM-DD in the tenant's time zone; default: 30 days ago)"),
    ("to", "period end (default: now)"),
    ("ext", "one user"),
];

/// Megabytes.
const MB: usize = 1 << 20;

/// Every API route.
pub fn table() -> Vec<Route> {
    use Access::*;
    vec![
        r("get", "/api/v1/openapi.json", Public, "meta", "This description of the API", get(|| async { "" })),
        r("post", "/api/v1/login", Public, "account", "Sign in with login and password; sets the session cookie", post(auth::login)).json(),
        r("post", "/api/v1/logout", Public, "account", "Sign out (ends the session)", post(auth::logout)),
        r("get", "/api/v1/me", Signed, "account", "The signed-in account and its CSRF token", get(auth::me)),
        r("post", "/api/v1/me/password", Signed, "account", "Change the own password", post(auth::change_password)).json(),
        r("get", "/api/v1/me/forwarding", User, "account", "The own call forwarding", get(tenant_api::my_forwarding)),
        r("put", "/api/v1/me/forwarding", User, "account", "Set the own call forwarding", put(tenant_api::set_my_forwarding)).json(),
        r("get", "/api/v1/users", Supervisor, "users", "The tenant's users", get(tenant_api::list_users)).query(PAGE),
        r(
            "post",
            "/api/v1/users",
            Supervisor,
            "users",
            "Create a user; the answer shows the SIP password once",
            post(tenant_api::create_user),
        )
        .json(),
        r("get", "/api/v1/users/{ext}", Supervisor, "users", "One user, with the SIP user name and domain", get(tenant_api::get_user)),
        r(
            "post",
            "/api/v1/users/{ext}/sip-password",
            Supervisor,
            "users",
            "Generate a new SIP password (shown once; phones must use it to register again)",
            post(tenant_api::reset_sip_password),
        ),
        r("delete", "/api/v1/users/{ext}", Supervisor, "users", "Delete a user", delete(tenant_api::delete_user)),
        r("put", "/api/v1/users/{ext}/forwarding", Supervisor, "users", "Set a user's call forwarding", put(tenant_api::set_forwarding))
            .json(),
        r(
            "put",
            "/api/v1/users/{ext}/web-password",
            Supervisor,
            "users",
            "Set a user's cabinet password",
            put(tenant_api::set_web_password),
        )
        .json(),
        r("get", "/api/v1/groups", Supervisor, "users", "Ring groups and queues", get(tenant_api::list_groups)).query(PAGE),
        r(
            "get",
            "/api/v1/queues/{ext}/status",
            Supervisor,
            "queues",
            "A queue's waiting callers and agents",
            get(tenant_api::queue_status),
        ),
        r(
            "patch",
            "/api/v1/queues/{ext}/agents/{agent}",
            Supervisor,
            "queues",
            "Pause, unpause, log in or out an agent",
            patch(tenant_api::set_agent),
        )
        .json(),
        r(
            "get",
            "/api/v1/numbers",
            Supervisor,
            "numbers",
            "The tenant's city numbers and whether each has a scenario",
            get(tenant_setup_api::list_numbers),
        )
        .query(PAGE),
        r(
            "get",
            "/api/v1/numbers/{number}/scenario",
            Supervisor,
            "numbers",
            "A city number's scenario",
            get(tenant_setup_api::get_scenario),
        ),
        r(
            "put",
            "/api/v1/numbers/{number}/scenario",
            Supervisor,
            "numbers",
            "Save a city number's scenario (validated)",
            put(tenant_setup_api::put_scenario),
        )
        .json(),
        r(
            "delete",
            "/api/v1/numbers/{number}/scenario",
            Supervisor,
            "numbers",
            "Back to the default setup",
            delete(tenant_setup_api::clear_scenario),
        ),
        r(
            "post",
            "/api/v1/numbers/{number}/simulate",
            Supervisor,
            "numbers",
            "The path a call would take through a scenario (the saved one or one in the body)",
            post(tenant_setup_api::simulate),
        )
        .json(),
        r(
            "get",
            "/api/v1/plugins",
            Supervisor,
            "plugins",
            "Plugins available to the tenant with their schema and grants",
            get(tenant_setup_api::list_plugins),
        )
        .query(PAGE),
        r(
            "post",
            "/api/v1/plugins",
            Supervisor,
            "plugins",
            "Upload a third-party plugin (a WebAssembly component)",
            post(tenant_setup_api::upload_plugin),
        )
        .upload("application/wasm", 16 * MB),
        r("get", "/api/v1/plugin-catalog", Supervisor, "plugins", "Plugins the PBX ships for companies to install", get(tenant_setup_api::plugin_catalog)),
        r(
            "post",
            "/api/v1/plugin-catalog/{name}",
            Supervisor,
            "plugins",
            "Install (or upgrade to) a plugin the PBX ships",
            post(tenant_setup_api::install_from_catalog),
        ),
        r(
            "post",
            "/api/v1/plugins/{name}/outputs",
            Supervisor,
            "plugins",
            "A plugin node's outputs for a configuration",
            post(tenant_setup_api::plugin_outputs),
        )
        .json(),
        r(
            "put",
            "/api/v1/plugins/{name}/grants",
            Supervisor,
            "plugins",
            "Grant capabilities to a plugin",
            put(tenant_setup_api::grant_plugin),
        )
        .json(),
        r(
            "put",
            "/api/v1/plugins/{name}/enabled",
            Supervisor,
            "plugins",
            "Enable or disable a plugin",
            put(tenant_setup_api::enable_plugin),
        )
        .json(),
        r(
            "delete",
            "/api/v1/plugins/{name}",
            Supervisor,
            "plugins",
            "Remove a third-party plugin",
            delete(tenant_setup_api::remove_plugin),
        ),
        r("get", "/api/v1/prompts", Supervisor, "media", "Greetings, announcements and music", get(tenant_setup_api::list_prompts))
            .query(PAGE),
        r(
            "post",
            "/api/v1/prompts",
            Supervisor,
            "media",
            "Upload a greeting or music (WAV, MP3, Ogg/Opus, FLAC)",
            post(tenant_setup_api::upload_prompt),
        )
        .query(&[("name", "the prompt's name, used by scenarios")])
        .upload("application/octet-stream", 40 * MB),
        r("get", "/api/v1/prompts/{name}/audio", Supervisor, "media", "Listen to a prompt (WAV)", get(tenant_setup_api::prompt_audio))
            .produces("audio/wav"),
        r(
            "post",
            "/api/v1/calls",
            User,
            "calls",
            "Click-to-call: ring the extension's phone, then call the number (201 with the call id; 409 when the phone is not registered)",
            post(originate_api::create),
        )
        .takes("CallRequest"),
        r("get", "/api/v1/calls", User, "calls", "The call log (a user sees their own calls)", get(calls_api::list_calls))
            .query(CALL_FILTERS),
        r("get", "/api/v1/calls.csv", User, "calls", "The call log as CSV (same filters, up to 100,000 rows)", get(calls_api::calls_csv))
            .query(CALL_FILTERS)
            .produces("text/csv"),
        r("get", "/api/v1/calls/{id}", User, "calls", "A call with its timeline, legs and recording", get(calls_api::get_call)),
        r(
            "get",
            "/api/v1/recordings",
            User,
            "recordings",
            "Calls that have a recording (same filters as the call log)",
            get(calls_api::list_recordings),
        )
        .query(CALL_FILTERS),
        r(
            "get",
            "/api/v1/recordings/{id}/audio",
            User,
            "recordings",
            "Play a recording (Ogg/Opus, HTTP Range)",
            get(calls_api::recording_audio),
        )
        .produces("audio/ogg"),
        r(
            "get",
            "/api/v1/recordings/{id}/wav",
            User,
            "recordings",
            "Download a recording as two-channel WAV",
            get(calls_api::recording_wav),
        )
        .produces("audio/wav"),
        r(
            "post",
            "/api/v1/recordings/{id}/link",
            User,
            "recordings",
            "A signed link to a recording that works without signing in until it expires (body: {\"ttl_seconds\": 60-604800}, default a day)",
            post(recording_links::create),
        )
        .json(),
        r(
            "get",
            "/api/v1/shared/recordings/{token}",
            Public,
            "recordings",
            "The recording a shared link grants (Ogg/Opus with HTTP Range; format=wav for two-channel WAV); 410 once expired",
            get(recording_links::fetch),
        )
        .query(&[("format", "ogg (default) or wav")])
        .produces("audio/ogg"),
        r("get", "/api/v1/stats", User, "calls", "Per-user figures for a period (a user sees their own)", get(calls_api::stats))
            .query(PERIOD),
        r("get", "/api/v1/live", User, "calls", "WebSocket: live calls, queues and today's figures every 2 s", get(live::socket)),
        r("get", "/api/v1/contacts", User, "contacts", "The phone book (numbers mapped to names the phones show)", get(contacts_api::list))
            .query(&[
                ("limit", "rows per page (1-500, default 50)"),
                ("after", "the `next` cursor of the previous page"),
                ("q", "digits of the number or text of the name or company"),
            ]),
        r(
            "put",
            "/api/v1/contacts/{number}",
            Supervisor,
            "contacts",
            "Add or change the contact of a number (201 when new)",
            put(contacts_api::put),
        )
        .json(),
        r("delete", "/api/v1/contacts/{number}", Supervisor, "contacts", "Delete a contact", delete(contacts_api::delete)),
        r(
            "post",
            "/api/v1/contacts/import",
            Supervisor,
            "contacts",
            "Import a CSV file (columns number, name, company, note; comma or semicolon; all lines or none)",
            post(contacts_api::import),
        )
        .upload("text/csv", crate::contacts::MAX_IMPORT_BYTES),
        r("get", "/api/v1/contacts.csv", User, "contacts", "The phone book as CSV", get(contacts_api::export)).produces("text/csv"),
        r(
            "get",
            "/api/v1/plugins/{name}/settings",
            Supervisor,
            "plugins",
            "The company's settings of the plugin and its schema (secret settings are only named as set)",
            get(plugin_settings_api::get),
        )
        .returns("SettingsView"),
        r(
            "put",
            "/api/v1/plugins/{name}/settings",
            Supervisor,
            "plugins",
            "Set the plugin's settings, checked against its schema; writeOnly properties are secrets, sealed and never returned",
            put(plugin_settings_api::put),
        )
        .json()
        .returns("SettingsView"),
        r(
            "get",
            "/api/v1/plugins/{name}/integration",
            Supervisor,
            "plugins",
            "The plugin as an integration: state, inbound webhook address, newest deliveries",
            get(webhooks_api::integration),
        ),
        r(
            "put",
            "/api/v1/plugins/{name}/integration",
            Supervisor,
            "plugins",
            "Make the plugin an integration (it receives every call's events and answers at its inbound address) or stop that",
            put(webhooks_api::set_integration),
        )
        .takes("IntegrationBody")
        .returns("IntegrationStatus"),
        r(
            "get",
            "/api/v1/plugins/{name}/integration/admin/{*rest}",
            Supervisor,
            "plugins",
            "Ask the integration a page of its own (a connector's state); it answers as at its inbound address",
            get(webhooks_api::integration_admin),
        ),
        r(
            "post",
            "/api/v1/plugins/{name}/integration/admin/{*rest}",
            Supervisor,
            "plugins",
            "Ask the integration to act (a connector's set-up, disconnect); it answers as at its inbound address",
            post(webhooks_api::integration_admin),
        ),
        r("get", "/api/v1/webhooks", Supervisor, "webhooks", "Outgoing webhooks and the event kinds there are", get(webhooks_api::list)),
        r(
            "post",
            "/api/v1/webhooks",
            Supervisor,
            "webhooks",
            "Register a URL for call events (JSON, signed; the signing secret is shown once)",
            post(webhooks_api::create),
        )
        .takes("NewWebhook"),
        r("patch", "/api/v1/webhooks/{id}", Supervisor, "webhooks", "Pause or resume a webhook", patch(webhooks_api::patch))
            .takes("WebhookPatch")
            .returns("Webhook"),
        r("delete", "/api/v1/webhooks/{id}", Supervisor, "webhooks", "Delete a webhook and its log", delete(webhooks_api::delete)),
        r(
            "get",
            "/api/v1/webhooks/{id}/deliveries",
            Supervisor,
            "webhooks",
            "The webhook's newest delivery attempts (status, outcome, error)",
            get(webhooks_api::deliveries),
        )
        .query(&[("limit", "entries, newest first (1-1000, default 100)")]),
        r("get", "/api/v1/tokens", Supervisor, "tokens", "The tenant's API tokens (never their secrets)", get(tenant_api::list_tokens))
            .query(PAGE),
        r("post", "/api/v1/tokens", Supervisor, "tokens", "Create an API token (the secret is shown once)", post(tenant_api::create_token))
            .json(),
        r("delete", "/api/v1/tokens/{id}", Supervisor, "tokens", "Revoke an API token", delete(tenant_api::revoke_token)),
        r("get", "/api/v1/tenants", Operator, "operator", "All tenants", get(operator_api::list_tenants)).query(PAGE),
        r("post", "/api/v1/tenants", Operator, "operator", "Create a tenant (with its default setup)", post(operator_api::create_tenant))
            .json(),
        r("get", "/api/v1/tenants/{slug}", Operator, "operator", "One tenant", get(operator_api::get_tenant)),
        r(
            "post",
            "/api/v1/tenants/{slug}/suspend",
            Operator,
            "operator",
            "Suspend a tenant (no calls, no logins)",
            post(operator_api::suspend),
        ),
        r("post", "/api/v1/tenants/{slug}/resume", Operator, "operator", "Resume a suspended tenant", post(operator_api::resume)),
        r("put", "/api/v1/tenants/{slug}/balance", Operator, "operator", "Set a tenant's balance", put(operator_api::set_balance)).json(),
        r("get", "/api/v1/tenants/{slug}/numbers", Operator, "operator", "A tenant's city numbers", get(operator_api::list_numbers))
            .query(PAGE),
        r("post", "/api/v1/tenants/{slug}/numbers", Operator, "operator", "Add a city number to a tenant", post(operator_api::add_number))
            .json(),
        r(
            "delete",
            "/api/v1/tenants/{slug}/numbers/{number}",
            Operator,
            "operator",
            "Remove a tenant's city number",
            delete(operator_api::delete_number),
        ),
        r("get", "/api/v1/trunks", Operator, "operator", "Carrier trunks and their registration state", get(operator_api::list_trunks))
            .query(PAGE),
        r("get", "/api/v1/operator/tokens", Operator, "operator", "Operator API tokens", get(operator_api::list_tokens)).query(PAGE),
        r("post", "/api/v1/operator/tokens", Operator, "operator", "Create an operator API token", post(operator_api::create_token)).json(),
        r(
            "delete",
            "/api/v1/operator/tokens/{id}",
            Operator,
            "operator",
            "Revoke an operator API token",
            delete(operator_api::revoke_token),
        ),
    ]
}

/// The OpenAPI 3.1 document of the table.
pub fn openapi(routes: &[Route]) -> Value {
    let mut paths = serde_json::Map::new();
    for rt in routes {
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
                .map(|(name, d)| json!({"name": name, "in": "query", "required": false, "description": d, "schema": {"type": "string"}})),
        );
        let mut responses = serde_json::Map::new();
        let ok = if let Some(name) = rt.returns {
            json!({"description": "success", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}}})
        } else if rt.produces == "application/json" {
            json!({"description": "success", "content": {"application/json": {"schema": {}}}})
        } else {
            json!({"description": "success", "content": {rt.produces: {"schema": {"type": "string", "format": "binary"}}}})
        };
        responses.insert("200".into(), ok);
        let err = json!({"description": "failure", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
        for code in ["400", "401", "403", "404"] {
            responses.insert(code.into(), err.clone());
        }
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
        if let Some(ct) = rt.body {
            let schema = match (ct, rt.body_schema) {
                (_, Some(name)) => json!({"$ref": format!("#/components/schemas/{name}")}),
                ("application/json", None) => json!({"type": "object"}),
                _ => json!({"type": "string", "format": "binary"}),
            };
            op["requestBody"] = json!({"required": true, "content": {ct: {"schema": schema}}});
        }
        let entry = paths.entry(rt.path.replace("{*", "{")).or_insert_with(|| json!({}));
        entry[rt.method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "PBX cabinet API", "version": "1.0.0",
                 "description": "Cookie sessions send X-CSRF-Token on state changes; integrations use Authorization: Bearer TOKEN. Listings page by keyset: pass the `next` of a page as `after`."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": auth::COOKIE}
            },
            "schemas": schemas(),
        },
        "security": [{"bearer": []}, {"session": []}],
        "webhooks": {
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
        },
    })
}

/// Schemas of the bodies described so far, generated from the Rust types.
fn schemas() -> Value {
    use utoipa::ToSchema;
    let mut list: Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)> = Vec::new();
    fn add<T: ToSchema>(list: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        T::schemas(list);
        list.push((T::name().into_owned(), T::schema()));
    }
    add::<pbx_store::IntegrationEvent>(&mut list);
    add::<pbx_store::EventData>(&mut list);
    add::<pbx_store::webhooks::Webhook>(&mut list);
    add::<pbx_store::webhooks::Delivery>(&mut list);
    add::<crate::webhooks::NewWebhook>(&mut list);
    add::<super::webhooks_api::WebhookPatch>(&mut list);
    add::<super::originate_api::CallRequest>(&mut list);
    add::<super::webhooks_api::IntegrationBody>(&mut list);
    add::<crate::integrations::IntegrationStatus>(&mut list);
    add::<crate::plugin_settings::SettingsView>(&mut list);
    let mut map = serde_json::Map::new();
    map.insert("Error".into(), json!({"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}));
    for (name, schema) in list {
        map.insert(name, serde_json::to_value(schema).unwrap_or(Value::Null));
    }
    Value::Object(map)
}

/// The API router built from [`table`].
pub fn api_router(state: Arc<WebState>) -> Router {
    let routes = table();
    let doc = Arc::new(openapi(&routes));
    let mut router = Router::new();
    for rt in routes {
        let mut handler = rt.handler;
        if rt.path == "/api/v1/openapi.json" {
            let doc = doc.clone();
            handler = get(move || async move { axum::Json((*doc).clone()) });
        }
        if let Some(limit) = rt.body_limit {
            handler = handler.layer(DefaultBodyLimit::max(limit));
        }
        if rt.access != Access::Public {
            handler = handler.route_layer(from_fn_with_state((state.clone(), rt.access), guard));
        }
        router = router.route(rt.path, handler);
    }
    router.with_state(state)
}
