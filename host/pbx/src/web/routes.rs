//! The API's route table: every route is registered from this one list, which also writes
//! the OpenAPI document, so the description cannot drift from what is served. Each entry
//! names who may call it; the access check is applied here, not left to each handler.

use super::auth::{self, Access, guard};
use super::openapi::Component;
use super::{
    WebState, audit_api, billing_api, blocklist_api, calls_api, company_api, contacts_api, groups_api, live, missed_api, operator_api,
    originate_api, phone_api, plugin_settings_api, presence_api, queue_reports_api, recording_links, tenant_api, tenant_setup_api,
    webhooks_api,
};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use std::sync::Arc;
use utoipa::ToSchema;

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
    /// Request body content types (any of them), when it takes one.
    pub body: &'static [&'static str],
    /// Whether the body may be left out.
    pub body_optional: bool,
    /// The component schema of the JSON request body.
    pub takes: Option<Component>,
    /// Response content type of a success.
    pub produces: &'static str,
    /// The component schema of a success's JSON body.
    pub returns: Option<Component>,
    /// The status of a success (200, 201; 204 and 101 have no body).
    pub status: u16,
    /// Other success statuses with the same body (a PUT that creates or replaces; what an
    /// integration answers at its own pages).
    pub also: Vec<u16>,
    /// Failures whose body is not the plain [`super::error::ErrorBody`].
    pub errors: Vec<(u16, Component)>,
    /// Largest accepted body, bytes (uploads).
    pub body_limit: Option<usize>,
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
        body: &[],
        body_optional: false,
        takes: None,
        produces: "application/json",
        returns: None,
        status: 200,
        also: Vec::new(),
        errors: Vec::new(),
        body_limit: None,
        handler,
    }
}

impl Route {
    fn query(mut self, q: &'static [(&'static str, &'static str)]) -> Route {
        self.query = q;
        self
    }
    /// A body that is not JSON (a file) in one of these content types, of at most `limit` bytes.
    fn upload(mut self, content: &'static [&'static str], limit: usize) -> Route {
        self.body = content;
        self.body_limit = Some(limit);
        self
    }
    /// A success that is not JSON.
    fn produces(mut self, p: &'static str) -> Route {
        self.produces = p;
        self
    }
    /// A JSON body of type `T` (its schema generated from the type).
    fn takes<T: ToSchema>(mut self) -> Route {
        self.body = &["application/json"];
        self.takes = Some(Component::of::<T>());
        self
    }
    /// A JSON body of type `T` that may be left out.
    fn takes_optional<T: ToSchema>(self) -> Route {
        let mut r = self.takes::<T>();
        r.body_optional = true;
        r
    }
    /// A success whose JSON body is a `T`.
    fn returns<T: ToSchema>(mut self) -> Route {
        self.returns = Some(Component::of::<T>());
        self
    }
    /// A success answered 201 Created with a `T`.
    fn creates<T: ToSchema>(mut self) -> Route {
        self.status = 201;
        self.returns::<T>()
    }
    /// A success without a body: 204 No Content.
    fn no_content(mut self) -> Route {
        self.status = 204;
        self
    }
    /// A success with another status and no body (101 Switching Protocols).
    fn status(mut self, status: u16) -> Route {
        self.status = status;
        self
    }
    /// The body may be left out.
    fn optional_body(mut self) -> Route {
        self.body_optional = true;
        self
    }
    /// One more success status with the same body.
    fn also(mut self, status: u16) -> Route {
        self.also.push(status);
        self
    }
    /// Failures with these statuses answer a `T`.
    fn fails_with<T: ToSchema>(mut self, statuses: &[u16]) -> Route {
        self.errors.extend(statuses.iter().map(|s| (*s, Component::of::<T>())));
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
const CALL_CSV: &[(&str, &str)] = &[
    ("from", "started at or after (RFC 3339 or YYYY-MM-DD in the tenant's time zone)"),
    ("to", "started before (RFC 3339 or YYYY-MM-DD, that whole day included)"),
    ("ext", "calls of this user"),
    ("number", "digits of the calling or called number"),
    ("direction", "inbound, outbound or internal"),
    ("disposition", "answered, missed, busy, failed or interrupted"),
    (DELIMITER.0, DELIMITER.1),
];
const DELIMITER: (&str, &str) =
    ("delimiter", "comma (default) or semicolon (spreadsheets in the Russian locale); the file starts with a UTF-8 BOM");
const PERIOD: &[(&str, &str)] = &[
    ("from", "period start (RFC 3339 or YYYY-MM-DD in the tenant's time zone; default: 30 days ago)"),
    ("to", "period end (default: now)"),
    ("ext", "one user"),
];

/// Megabytes.
const MB: usize = 1 << 20;

/// Every API route.
pub fn table() -> Vec<Route> {
    use super::auth::{CsrfToken, LoginBody, LoginFailure, Me, PasswordBody};
    use super::calls_api::{CallDetail, CallPage, Stats};
    use super::contacts_api::{ContactBody, ContactPage, ImportResult};
    use super::openapi::ApiDocument;
    use super::operator_api::{
        BalanceBody, DidPage, DidView, NumberBody, OperatorTokenBody, TenantBody, TenantPage, TenantView, TrunkPage,
    };
    use super::originate_api::{CallCreated, CallRequest};
    use super::plugin_settings_api::SettingsInput;
    use super::recording_links::{LinkBody, SharedLink};
    use super::tenant_api::{
        AgentBody, AgentView, GroupPage, NewToken, NewUserBody, QueueStatus, SipAccount, TokenBody, TokenPage, UserPage, UserView,
        WebPasswordBody,
    };
    use super::tenant_setup_api::{
        EnabledBody, NumberPage, PluginCatalog, PluginConfig, PluginEnabled, PluginGrants, PluginInstalled, PluginOutputs, PluginPage,
        PromptPage, PromptUploaded, ScenarioView, SimulateBody,
    };
    use super::webhooks_api::{CreatedWebhook, DeliveryList, IntegrationBody, IntegrationView, WebhookList, WebhookPatch};
    use crate::integrations::IntegrationStatus;
    use crate::plugin_settings::SettingsView;
    use crate::scenario::Scenario;
    use crate::scenario::simulate::SimResult;
    use crate::webhooks::NewWebhook;
    use Access::*;
    use pbx_store::webhooks::Webhook;
    use pbx_store::{Contact, Forwarding, Grants, Tenant};
    vec![
        r("get", "/api/v1/openapi.json", Public, "meta", "This description of the API", get(|| async { "" })).returns::<ApiDocument>(),
        r("post", "/api/v1/login", Public, "account", "Sign in with login and password; sets the session cookie", post(auth::login))
            .takes::<LoginBody>()
            .returns::<Me>()
            .fails_with::<LoginFailure>(&[401, 403, 429]),
        r("post", "/api/v1/logout", Public, "account", "Sign out (ends the session)", post(auth::logout)).no_content(),
        r("get", "/api/v1/me", Signed, "account", "The signed-in account and its CSRF token", get(auth::me)).returns::<Me>(),
        r("post", "/api/v1/me/password", Signed, "account", "Change the own password", post(auth::change_password))
            .takes::<PasswordBody>()
            .returns::<CsrfToken>(),
        r("get", "/api/v1/me/sessions", Signed, "account", "The own live sessions (where and when opened)", get(auth::sessions))
            .returns::<auth::SessionList>(),
        r("delete", "/api/v1/me/sessions/{key}", Signed, "account", "End one of the own sessions", delete(auth::end_session)).no_content(),
        r(
            "post",
            "/api/v1/me/logout-everywhere",
            Signed,
            "account",
            "End every session of the own account, this one too",
            post(auth::logout_everywhere),
        )
        .no_content(),
        r("get", "/api/v1/me/forwarding", User, "account", "The own call forwarding", get(tenant_api::my_forwarding))
            .returns::<Forwarding>(),
        r("put", "/api/v1/me/forwarding", User, "account", "Set the own call forwarding", put(tenant_api::set_my_forwarding))
            .takes::<Forwarding>()
            .returns::<Forwarding>(),
        r(
            "get",
            "/api/v1/missed",
            User,
            "calls",
            "Callers missed and not reached since: the company's for a supervisor (mine=true: their own), an employee's own",
            get(missed_api::list),
        )
        .query(&[("days", "days looked back (1-90, default 30)"), ("mine", "a supervisor's own list (true) instead of the company's")])
        .returns::<missed_api::MissedList>(),
        r(
            "get",
            "/api/v1/presence",
            User,
            "users",
            "Who is on the phone: every user of the company and whether they are offline, idle, in do not disturb, ringing or talking",
            get(presence_api::list),
        )
        .returns::<presence_api::PresenceList>(),
        r(
            "get",
            "/api/v1/queue-reports",
            Supervisor,
            "queues",
            "Queue reports of a period: service level, abandoned callers and their waits, waits and talk, per agent",
            get(queue_reports_api::reports),
        )
        .query(&[
            ("from", "start: RFC 3339 or YYYY-MM-DD (default: today)"),
            ("to", "end: RFC 3339 or YYYY-MM-DD, that day included (default: now)"),
            ("sl", "service level: answered within this many seconds (1-600, default 20)"),
        ])
        .returns::<queue_reports_api::QueueReports>(),
        r("get", "/api/v1/me/dnd", User, "account", "Whether the own \"do not disturb\" is on", get(blocklist_api::my_dnd))
            .returns::<blocklist_api::Dnd>(),
        r("put", "/api/v1/me/dnd", User, "account", "Turn the own \"do not disturb\" on or off", put(blocklist_api::set_my_dnd))
            .takes::<blocklist_api::Dnd>()
            .returns::<blocklist_api::Dnd>(),
        r(
            "get",
            "/api/v1/me/blocklist",
            User,
            "account",
            "The own blacklist: callers who do not ring the own phones",
            get(blocklist_api::mine),
        )
        .returns::<blocklist_api::OwnBlocklist>(),
        r("post", "/api/v1/me/blocklist", User, "account", "Add a number or prefix to the own blacklist", post(blocklist_api::mine_add))
            .takes::<blocklist_api::BlockBody>()
            .creates::<pbx_store::BlockedNumber>(),
        r(
            "delete",
            "/api/v1/me/blocklist/{pattern}",
            User,
            "account",
            "Remove a number or prefix from the own blacklist",
            delete(blocklist_api::mine_remove),
        )
        .no_content(),
        r(
            "get",
            "/api/v1/blocklist",
            Supervisor,
            "company",
            "The company's blacklist and how it refuses callers",
            get(blocklist_api::company),
        )
        .returns::<blocklist_api::CompanyBlocklist>(),
        r(
            "put",
            "/api/v1/blocklist/settings",
            Supervisor,
            "company",
            "Refuse anonymous callers or not, and refuse with busy or a message",
            put(blocklist_api::set_settings),
        )
        .takes::<pbx_store::BlockSettings>()
        .returns::<pbx_store::BlockSettings>(),
        r("post", "/api/v1/blocklist", Supervisor, "company", "Refuse a number or prefix", post(blocklist_api::company_add))
            .takes::<blocklist_api::BlockBody>()
            .creates::<pbx_store::BlockedNumber>(),
        r(
            "delete",
            "/api/v1/blocklist/{pattern}",
            Supervisor,
            "company",
            "Take a number or prefix off the company's blacklist",
            delete(blocklist_api::company_remove),
        )
        .no_content(),
        r("get", "/api/v1/users", Supervisor, "users", "The tenant's users", get(tenant_api::list_users)).query(PAGE).returns::<UserPage>(),
        r(
            "get",
            "/api/v1/phone",
            User,
            "users",
            "The web phone's settings: SIP address, WebSocket path, STUN/TURN servers",
            get(phone_api::config),
        )
        .returns::<phone_api::PhoneConfig>(),
        r(
            "get",
            "/api/v1/colleagues",
            User,
            "users",
            "The company's extensions (people, ring groups, queues) for employees' phones",
            get(tenant_api::colleagues),
        )
        .returns::<tenant_api::ColleagueList>(),
        r(
            "post",
            "/api/v1/users",
            Supervisor,
            "users",
            "Create a user; the answer shows the SIP password once",
            post(tenant_api::create_user),
        )
        .takes::<NewUserBody>()
        .creates::<UserView>(),
        r("get", "/api/v1/users/{ext}", Supervisor, "users", "One user, with the SIP user name and domain", get(tenant_api::get_user))
            .returns::<UserView>(),
        r(
            "post",
            "/api/v1/users/{ext}/sip-password",
            Supervisor,
            "users",
            "Generate a new SIP password (shown once; phones must use it to register again)",
            post(tenant_api::reset_sip_password),
        )
        .returns::<SipAccount>(),
        r("put", "/api/v1/users/{ext}", Supervisor, "users", "Change a user's name or role", put(tenant_api::update_user))
            .takes::<tenant_api::UserChange>()
            .returns::<UserView>(),
        r("delete", "/api/v1/users/{ext}", Supervisor, "users", "Delete a user", delete(tenant_api::delete_user)).no_content(),
        r("put", "/api/v1/users/{ext}/dnd", Supervisor, "users", "Turn a user's \"do not disturb\" on or off", put(blocklist_api::set_dnd))
            .takes::<blocklist_api::Dnd>()
            .returns::<blocklist_api::Dnd>(),
        r("put", "/api/v1/users/{ext}/forwarding", Supervisor, "users", "Set a user's call forwarding", put(tenant_api::set_forwarding))
            .takes::<Forwarding>()
            .returns::<Forwarding>(),
        r(
            "put",
            "/api/v1/users/{ext}/web-password",
            Supervisor,
            "users",
            "Set a user's cabinet password",
            put(tenant_api::set_web_password),
        )
        .takes::<WebPasswordBody>()
        .no_content(),
        r(
            "get",
            "/api/v1/audit",
            Signed,
            "company",
            "The audit log, newest first (supervisors: their company's; the operator: all)",
            get(audit_api::list),
        )
        .query(&[
            ("limit", "rows per page (1-500, default 50)"),
            ("after", "the `next` cursor of the previous page"),
            ("tenant", "the operator: one company's entries (its slug)"),
        ])
        .returns::<audit_api::AuditPage>(),
        r("get", "/api/v1/balance", Supervisor, "company", "The company's balance, its history and prices", get(billing_api::get_balance))
            .query(&[("before", "history entries older than this id")])
            .returns::<crate::billing::BalanceView>(),
        r(
            "put",
            "/api/v1/balance/warning",
            Supervisor,
            "company",
            "Set the balance below which the company is warned",
            put(billing_api::put_warning),
        )
        .takes::<billing_api::WarningBody>()
        .returns::<crate::billing::BalanceView>(),
        r(
            "get",
            "/api/v1/tariffs",
            Signed,
            "company",
            "Prices of outbound calls (the operator: all; a company: its own)",
            get(billing_api::list_tariffs),
        )
        .returns::<billing_api::TariffList>(),
        r("get", "/api/v1/settings", Supervisor, "company", "The company's settings", get(company_api::get_settings))
            .returns::<company_api::CompanySettings>(),
        r(
            "put",
            "/api/v1/settings",
            Supervisor,
            "company",
            "Change the company's settings (time zone, language, greeting, music, recording, retention)",
            put(company_api::put_settings),
        )
        .takes::<company_api::CompanySettingsBody>()
        .returns::<company_api::CompanySettings>(),
        r("get", "/api/v1/groups", Supervisor, "users", "Ring groups and queues", get(tenant_api::list_groups))
            .query(PAGE)
            .returns::<GroupPage>(),
        r("post", "/api/v1/groups", Supervisor, "users", "Create a ring group or queue", post(groups_api::create_group))
            .takes::<groups_api::GroupBody>()
            .creates::<pbx_store::Group>(),
        r("put", "/api/v1/groups/{ext}", Supervisor, "users", "Change a ring group or queue", put(groups_api::update_group))
            .takes::<groups_api::GroupBody>()
            .returns::<pbx_store::Group>(),
        r(
            "delete",
            "/api/v1/groups/{ext}",
            Supervisor,
            "users",
            "Delete a ring group or queue (409 while a scenario sends calls to it)",
            delete(groups_api::delete_group),
        )
        .no_content(),
        r(
            "get",
            "/api/v1/queues/{ext}/status",
            Supervisor,
            "queues",
            "A queue's waiting callers and agents",
            get(tenant_api::queue_status),
        )
        .returns::<QueueStatus>(),
        r(
            "patch",
            "/api/v1/queues/{ext}/agents/{agent}",
            Supervisor,
            "queues",
            "Pause, unpause, log in or out an agent",
            patch(tenant_api::set_agent),
        )
        .takes::<AgentBody>()
        .returns::<AgentView>(),
        r(
            "get",
            "/api/v1/numbers",
            Supervisor,
            "numbers",
            "The tenant's city numbers and whether each has a scenario",
            get(tenant_setup_api::list_numbers),
        )
        .query(PAGE)
        .returns::<NumberPage>(),
        r(
            "get",
            "/api/v1/numbers/{number}/scenario",
            Supervisor,
            "numbers",
            "A city number's scenario",
            get(tenant_setup_api::get_scenario),
        )
        .returns::<ScenarioView>(),
        r(
            "put",
            "/api/v1/numbers/{number}/scenario",
            Supervisor,
            "numbers",
            "Save a city number's scenario (validated)",
            put(tenant_setup_api::put_scenario),
        )
        .takes::<Scenario>()
        .returns::<ScenarioView>(),
        r(
            "delete",
            "/api/v1/numbers/{number}/scenario",
            Supervisor,
            "numbers",
            "Back to the default setup",
            delete(tenant_setup_api::clear_scenario),
        )
        .no_content(),
        r(
            "post",
            "/api/v1/numbers/{number}/simulate",
            Supervisor,
            "numbers",
            "The path a call would take through a scenario (the saved one or one in the body)",
            post(tenant_setup_api::simulate),
        )
        .takes::<SimulateBody>()
        .returns::<SimResult>(),
        r(
            "get",
            "/api/v1/plugins",
            Supervisor,
            "plugins",
            "Plugins available to the tenant with their schema and grants",
            get(tenant_setup_api::list_plugins),
        )
        .query(PAGE)
        .returns::<PluginPage>(),
        r(
            "post",
            "/api/v1/plugins",
            Supervisor,
            "plugins",
            "Upload a third-party plugin (a WebAssembly component)",
            post(tenant_setup_api::upload_plugin),
        )
        .upload(&["application/wasm", "application/octet-stream"], 16 * MB)
        .creates::<PluginInstalled>(),
        r(
            "get",
            "/api/v1/plugin-catalog",
            Supervisor,
            "plugins",
            "Plugins the PBX ships for companies to install",
            get(tenant_setup_api::plugin_catalog),
        )
        .returns::<PluginCatalog>(),
        r(
            "post",
            "/api/v1/plugin-catalog/{name}",
            Supervisor,
            "plugins",
            "Install (or upgrade to) a plugin the PBX ships",
            post(tenant_setup_api::install_from_catalog),
        )
        .creates::<PluginInstalled>(),
        r(
            "post",
            "/api/v1/plugins/{name}/outputs",
            Supervisor,
            "plugins",
            "A plugin node's outputs for a configuration",
            post(tenant_setup_api::plugin_outputs),
        )
        .takes::<PluginConfig>()
        .returns::<PluginOutputs>(),
        r(
            "put",
            "/api/v1/plugins/{name}/grants",
            Supervisor,
            "plugins",
            "Grant capabilities to a plugin",
            put(tenant_setup_api::grant_plugin),
        )
        .takes::<Grants>()
        .returns::<PluginGrants>(),
        r(
            "put",
            "/api/v1/plugins/{name}/enabled",
            Supervisor,
            "plugins",
            "Enable or disable a plugin",
            put(tenant_setup_api::enable_plugin),
        )
        .takes::<EnabledBody>()
        .returns::<PluginEnabled>(),
        r(
            "delete",
            "/api/v1/plugins/{name}",
            Supervisor,
            "plugins",
            "Remove a third-party plugin",
            delete(tenant_setup_api::remove_plugin),
        )
        .no_content(),
        r("get", "/api/v1/prompts", Supervisor, "media", "Greetings, announcements and music", get(tenant_setup_api::list_prompts))
            .query(PAGE)
            .returns::<PromptPage>(),
        r(
            "post",
            "/api/v1/prompts",
            Supervisor,
            "media",
            "Upload a greeting or music (WAV, MP3, Ogg/Opus, FLAC)",
            post(tenant_setup_api::upload_prompt),
        )
        .query(&[("name", "the prompt's name, used by scenarios"), ("filename", "the uploaded file's name, kept for display")])
        .upload(&["application/octet-stream"], 40 * MB)
        .creates::<PromptUploaded>(),
        r("get", "/api/v1/prompts/{name}/audio", Supervisor, "media", "Listen to a prompt (WAV)", get(tenant_setup_api::prompt_audio))
            .produces("audio/wav"),
        r(
            "delete",
            "/api/v1/prompts/{name}",
            Supervisor,
            "media",
            "Delete an uploaded prompt (409 while the company's settings or a scenario use it)",
            delete(tenant_setup_api::delete_prompt),
        )
        .no_content(),
        r(
            "put",
            "/api/v1/prompts/{name}",
            Supervisor,
            "media",
            "Rename an uploaded prompt (409 while the company's settings or a scenario use its old name)",
            put(tenant_setup_api::rename_prompt),
        )
        .takes::<tenant_setup_api::PromptRename>()
        .no_content(),
        r(
            "post",
            "/api/v1/calls",
            User,
            "calls",
            "Click-to-call: ring the extension's phone, then call the number (201 with the call id; 409 when the phone is not registered)",
            post(originate_api::create),
        )
        .takes::<CallRequest>()
        .creates::<CallCreated>(),
        r("get", "/api/v1/calls", User, "calls", "The call log (a user sees their own calls)", get(calls_api::list_calls))
            .query(CALL_FILTERS)
            .returns::<CallPage>(),
        r("get", "/api/v1/calls.csv", User, "calls", "The call log as CSV (same filters, up to 100,000 rows)", get(calls_api::calls_csv))
            .query(CALL_CSV)
            .produces("text/csv"),
        r("get", "/api/v1/calls/{id}", User, "calls", "A call with its timeline, legs and recording", get(calls_api::get_call))
            .returns::<CallDetail>(),
        r(
            "get",
            "/api/v1/recordings",
            User,
            "recordings",
            "Calls that have a recording (same filters as the call log)",
            get(calls_api::list_recordings),
        )
        .query(CALL_FILTERS)
        .returns::<CallPage>(),
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
            "A signed link to a recording that works without signing in until it expires (default lifetime a day)",
            post(recording_links::create),
        )
        .takes_optional::<LinkBody>()
        .returns::<SharedLink>(),
        r(
            "get",
            "/api/v1/shared/recordings/{token}",
            Public,
            "recordings",
            "The recording a shared link grants (Ogg/Opus with HTTP Range; format=wav for two-channel WAV); 410 once expired",
            get(recording_links::fetch),
        )
        .query(&[("format", "ogg (default), wav or mp3")])
        .produces("audio/ogg"),
        r("get", "/api/v1/stats", User, "calls", "Per-user figures for a period (a user sees their own)", get(calls_api::stats))
            .query(PERIOD)
            .returns::<Stats>(),
        r("get", "/api/v1/live", User, "calls", "WebSocket: live calls, queues and today's figures every 2 s", get(live::socket))
            .status(101),
        r("get", "/api/v1/contacts", User, "contacts", "The phone book (numbers mapped to names the phones show)", get(contacts_api::list))
            .query(&[
                ("limit", "rows per page (1-500, default 50)"),
                ("after", "the `next` cursor of the previous page"),
                ("q", "digits of the number or text of the name or company"),
            ])
            .returns::<ContactPage>(),
        r(
            "put",
            "/api/v1/contacts/{number}",
            Supervisor,
            "contacts",
            "Add or change the contact of a number (201 when new)",
            put(contacts_api::put),
        )
        .takes::<ContactBody>()
        .returns::<Contact>()
        .also(201),
        r("delete", "/api/v1/contacts/{number}", Supervisor, "contacts", "Delete a contact", delete(contacts_api::delete)).no_content(),
        r(
            "post",
            "/api/v1/contacts/import",
            Supervisor,
            "contacts",
            "Import a CSV file (columns number, name, company, note; comma or semicolon; all lines or none)",
            post(contacts_api::import),
        )
        .upload(&["text/csv"], crate::contacts::MAX_IMPORT_BYTES)
        .returns::<ImportResult>(),
        r("get", "/api/v1/contacts.csv", User, "contacts", "The phone book as CSV", get(contacts_api::export))
            .query(&[DELIMITER])
            .produces("text/csv"),
        r(
            "get",
            "/api/v1/plugins/{name}/settings",
            Supervisor,
            "plugins",
            "The company's settings of the plugin and its schema (secret settings are only named as set)",
            get(plugin_settings_api::get),
        )
        .returns::<SettingsView>(),
        r(
            "put",
            "/api/v1/plugins/{name}/settings",
            Supervisor,
            "plugins",
            "Set the plugin's settings, checked against its schema; writeOnly properties are secrets, sealed and never returned",
            put(plugin_settings_api::put),
        )
        .takes::<SettingsInput>()
        .returns::<SettingsView>(),
        r(
            "get",
            "/api/v1/plugins/{name}/integration",
            Supervisor,
            "plugins",
            "The plugin as an integration: state, inbound webhook address, newest deliveries",
            get(webhooks_api::integration),
        )
        .returns::<IntegrationView>(),
        r(
            "put",
            "/api/v1/plugins/{name}/integration",
            Supervisor,
            "plugins",
            "Make the plugin an integration (it receives every call's events and answers at its inbound address) or stop that",
            put(webhooks_api::set_integration),
        )
        .takes::<IntegrationBody>()
        .returns::<IntegrationStatus>(),
        // The integration answers these itself: any content type, any body.
        r(
            "get",
            "/api/v1/plugins/{name}/integration/admin/{*rest}",
            Supervisor,
            "plugins",
            "Ask the integration a page of its own (a connector's state); it answers as at its inbound address",
            get(webhooks_api::integration_admin),
        )
        .produces("*/*")
        .also(201)
        .also(202)
        .also(204),
        r(
            "post",
            "/api/v1/plugins/{name}/integration/admin/{*rest}",
            Supervisor,
            "plugins",
            "Ask the integration to act (a connector's set-up, disconnect); it answers as at its inbound address",
            post(webhooks_api::integration_admin),
        )
        .upload(&["*/*"], 2 * MB)
        .optional_body()
        .produces("*/*")
        .also(201)
        .also(202)
        .also(204),
        r("get", "/api/v1/webhooks", Supervisor, "webhooks", "Outgoing webhooks and the event kinds there are", get(webhooks_api::list))
            .returns::<WebhookList>(),
        r(
            "post",
            "/api/v1/webhooks",
            Supervisor,
            "webhooks",
            "Register a URL for call events (JSON, signed; the signing secret is shown once)",
            post(webhooks_api::create),
        )
        .takes::<NewWebhook>()
        .creates::<CreatedWebhook>(),
        r("patch", "/api/v1/webhooks/{id}", Supervisor, "webhooks", "Pause or resume a webhook", patch(webhooks_api::patch))
            .takes::<WebhookPatch>()
            .returns::<Webhook>(),
        r("delete", "/api/v1/webhooks/{id}", Supervisor, "webhooks", "Delete a webhook and its log", delete(webhooks_api::delete))
            .no_content(),
        r(
            "get",
            "/api/v1/webhooks/{id}/deliveries",
            Supervisor,
            "webhooks",
            "The webhook's newest delivery attempts (status, outcome, error)",
            get(webhooks_api::deliveries),
        )
        .query(&[("limit", "entries, newest first (1-1000, default 100)")])
        .returns::<DeliveryList>(),
        r("get", "/api/v1/tokens", Supervisor, "tokens", "The tenant's API tokens (never their secrets)", get(tenant_api::list_tokens))
            .query(PAGE)
            .returns::<TokenPage>(),
        r("post", "/api/v1/tokens", Supervisor, "tokens", "Create an API token (the secret is shown once)", post(tenant_api::create_token))
            .takes::<TokenBody>()
            .creates::<NewToken>(),
        r("delete", "/api/v1/tokens/{id}", Supervisor, "tokens", "Revoke an API token", delete(tenant_api::revoke_token)).no_content(),
        r("get", "/api/v1/tenants", Operator, "operator", "All tenants", get(operator_api::list_tenants))
            .query(PAGE)
            .returns::<TenantPage>(),
        r(
            "post",
            "/api/v1/tenants",
            Operator,
            "operator",
            "Create a tenant with its first supervisor (passwords shown once in the answer)",
            post(operator_api::create_tenant),
        )
        .takes::<TenantBody>()
        .creates::<crate::company::CreatedCompany>(),
        r("get", "/api/v1/tenants/{slug}", Operator, "operator", "One tenant", get(operator_api::get_tenant)).returns::<TenantView>(),
        r(
            "post",
            "/api/v1/tenants/{slug}/suspend",
            Operator,
            "operator",
            "Suspend a tenant (no calls, no logins)",
            post(operator_api::suspend),
        )
        .returns::<Tenant>(),
        r("post", "/api/v1/tenants/{slug}/resume", Operator, "operator", "Resume a suspended tenant", post(operator_api::resume))
            .returns::<Tenant>(),
        r("put", "/api/v1/tenants/{slug}/balance", Operator, "operator", "Set a tenant's balance", put(billing_api::set_balance))
            .takes::<BalanceBody>()
            .returns::<Tenant>(),
        r(
            "get",
            "/api/v1/tenants/{slug}/balance",
            Operator,
            "operator",
            "A tenant's balance, history and prices",
            get(billing_api::tenant_balance),
        )
        .query(&[("before", "history entries older than this id")])
        .returns::<crate::billing::BalanceView>(),
        r(
            "post",
            "/api/v1/tenants/{slug}/topup",
            Operator,
            "operator",
            "Add money to a tenant's balance (negative: a correction), kept in its history",
            post(billing_api::top_up),
        )
        .takes::<billing_api::TopUpBody>()
        .returns::<Tenant>(),
        r(
            "post",
            "/api/v1/tariffs",
            Operator,
            "operator",
            "Add a price for outbound calls by number prefix (for every company or one)",
            post(billing_api::create_tariff),
        )
        .takes::<billing_api::TariffBody>()
        .creates::<pbx_store::Tariff>(),
        r("delete", "/api/v1/tariffs/{id}", Operator, "operator", "Remove a price", delete(billing_api::delete_tariff)).no_content(),
        r("get", "/api/v1/tenants/{slug}/numbers", Operator, "operator", "A tenant's city numbers", get(operator_api::list_numbers))
            .query(PAGE)
            .returns::<DidPage>(),
        r("post", "/api/v1/tenants/{slug}/numbers", Operator, "operator", "Add a city number to a tenant", post(operator_api::add_number))
            .takes::<NumberBody>()
            .creates::<DidView>(),
        r(
            "delete",
            "/api/v1/tenants/{slug}/numbers/{number}",
            Operator,
            "operator",
            "Remove a tenant's city number",
            delete(operator_api::delete_number),
        )
        .no_content(),
        r("get", "/api/v1/trunks", Operator, "operator", "Carrier trunks and their registration state", get(operator_api::list_trunks))
            .query(PAGE)
            .returns::<TrunkPage>(),
        r(
            "post",
            "/api/v1/trunks",
            Operator,
            "operator",
            "Add a carrier trunk (an IP trunk or a registering one)",
            post(operator_api::create_trunk),
        )
        .takes::<operator_api::TrunkBody>()
        .creates::<pbx_store::Trunk>(),
        r(
            "put",
            "/api/v1/trunks/{name}",
            Operator,
            "operator",
            "Change a carrier trunk (address, credentials, registration, allowed addresses; the password stays unless given)",
            put(operator_api::update_trunk),
        )
        .takes::<operator_api::TrunkChange>()
        .returns::<pbx_store::Trunk>(),
        r(
            "delete",
            "/api/v1/trunks/{name}",
            Operator,
            "operator",
            "Delete a carrier trunk (409 while it carries city numbers)",
            delete(operator_api::delete_trunk),
        )
        .no_content(),
        r("get", "/api/v1/operator/tokens", Operator, "operator", "Operator API tokens", get(operator_api::list_tokens))
            .query(PAGE)
            .returns::<TokenPage>(),
        r("post", "/api/v1/operator/tokens", Operator, "operator", "Create an operator API token", post(operator_api::create_token))
            .takes::<OperatorTokenBody>()
            .creates::<NewToken>(),
        r(
            "delete",
            "/api/v1/operator/tokens/{id}",
            Operator,
            "operator",
            "Revoke an operator API token",
            delete(operator_api::revoke_token),
        )
        .no_content(),
    ]
}

/// The API router built from [`table`].
pub fn api_router(state: Arc<WebState>) -> Router {
    let routes = table();
    // Written once: every request for it gets the same bytes.
    let doc = axum::body::Bytes::from(serde_json::to_vec(&super::openapi::document(&routes)).unwrap_or_default());
    let mut router = Router::new();
    for rt in routes {
        let mut handler = rt.handler;
        if rt.path == "/api/v1/openapi.json" {
            let doc = doc.clone();
            handler = get(move || async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], doc) });
        }
        if let Some(limit) = rt.body_limit {
            handler = handler.layer(DefaultBodyLimit::max(limit));
        }
        if rt.access != Access::Public {
            handler = handler.route_layer(from_fn_with_state((state.clone(), rt.access, rt.path), guard));
        }
        router = router.route(rt.path, handler);
    }
    router.with_state(state)
}
