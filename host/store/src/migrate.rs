//! Schema migrations: an ordered list, each in an SQLite and a PostgreSQL dialect, applied
//! once at start by whichever process opens the database first.

use crate::{Backend, Store, StoreError, now_ms};
use sqlx::Executor;

struct Migration {
    version: i64,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sqlite: r#"
CREATE TABLE config_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
INSERT INTO config_version (id, version) VALUES (1, 1);
CREATE TABLE tenants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    domain TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'active',
    balance_cents INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    ext TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    sip_password TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'user',
    web_password_hash TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, ext)
);
CREATE TABLE registrations (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    contact TEXT NOT NULL,
    tenant_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    call_id TEXT NOT NULL,
    cseq INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    user_agent TEXT NOT NULL DEFAULT '',
    node TEXT NOT NULL,
    PRIMARY KEY (user_id, contact)
);
CREATE TABLE calls (
    id TEXT PRIMARY KEY,
    tenant_id INTEGER NOT NULL,
    direction TEXT NOT NULL,
    caller_number TEXT NOT NULL,
    caller_name TEXT NOT NULL DEFAULT '',
    callee TEXT NOT NULL,
    did TEXT,
    trunk TEXT,
    caller_user_id INTEGER,
    callee_user_id INTEGER,
    started_at INTEGER NOT NULL,
    answered_at INTEGER,
    ended_at INTEGER,
    disposition TEXT,
    hangup_cause TEXT,
    hangup_side TEXT,
    talk_seconds INTEGER NOT NULL DEFAULT 0,
    node TEXT NOT NULL
);
CREATE INDEX calls_tenant_started ON calls (tenant_id, started_at DESC, id DESC);
CREATE INDEX calls_open ON calls (node, ended_at);
"#,
        postgres: r#"
CREATE TABLE config_version (id BIGINT PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL);
INSERT INTO config_version (id, version) VALUES (1, 1);
CREATE TABLE tenants (
    id BIGSERIAL PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    domain TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'active',
    balance_cents BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    ext TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    sip_password TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'user',
    web_password_hash TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, ext)
);
CREATE TABLE registrations (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    contact TEXT NOT NULL,
    tenant_id BIGINT NOT NULL,
    source TEXT NOT NULL,
    call_id TEXT NOT NULL,
    cseq BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    user_agent TEXT NOT NULL DEFAULT '',
    node TEXT NOT NULL,
    PRIMARY KEY (user_id, contact)
);
CREATE TABLE calls (
    id TEXT PRIMARY KEY,
    tenant_id BIGINT NOT NULL,
    direction TEXT NOT NULL,
    caller_number TEXT NOT NULL,
    caller_name TEXT NOT NULL DEFAULT '',
    callee TEXT NOT NULL,
    did TEXT,
    trunk TEXT,
    caller_user_id BIGINT,
    callee_user_id BIGINT,
    started_at BIGINT NOT NULL,
    answered_at BIGINT,
    ended_at BIGINT,
    disposition TEXT,
    hangup_cause TEXT,
    hangup_side TEXT,
    talk_seconds BIGINT NOT NULL DEFAULT 0,
    node TEXT NOT NULL
);
CREATE INDEX calls_tenant_started ON calls (tenant_id, started_at DESC, id DESC);
CREATE INDEX calls_open ON calls (node, ended_at);
"#,
    },
    Migration {
        version: 2,
        sqlite: r#"
CREATE TABLE trunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    host TEXT NOT NULL,
    username TEXT,
    password TEXT,
    register INTEGER NOT NULL DEFAULT 0,
    allow_ips TEXT NOT NULL DEFAULT '',
    country_code TEXT NOT NULL DEFAULT '7',
    number_format TEXT NOT NULL DEFAULT 'e164',
    reg_state TEXT NOT NULL DEFAULT 'none',
    reg_detail TEXT NOT NULL DEFAULT '',
    reg_updated_at INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE TABLE dids (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    number TEXT NOT NULL UNIQUE,
    trunk_id INTEGER NOT NULL REFERENCES trunks(id),
    user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    is_main INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX dids_tenant ON dids (tenant_id);
ALTER TABLE tenants ADD COLUMN country_code TEXT NOT NULL DEFAULT '7';
ALTER TABLE tenants ADD COLUMN emergency_numbers TEXT NOT NULL DEFAULT '112,101,102,103,104,911';
"#,
        postgres: r#"
CREATE TABLE trunks (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    host TEXT NOT NULL,
    username TEXT,
    password TEXT,
    register BIGINT NOT NULL DEFAULT 0,
    allow_ips TEXT NOT NULL DEFAULT '',
    country_code TEXT NOT NULL DEFAULT '7',
    number_format TEXT NOT NULL DEFAULT 'e164',
    reg_state TEXT NOT NULL DEFAULT 'none',
    reg_detail TEXT NOT NULL DEFAULT '',
    reg_updated_at BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE TABLE dids (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    number TEXT NOT NULL UNIQUE,
    trunk_id BIGINT NOT NULL REFERENCES trunks(id),
    user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    is_main BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX dids_tenant ON dids (tenant_id);
ALTER TABLE tenants ADD COLUMN country_code TEXT NOT NULL DEFAULT '7';
ALTER TABLE tenants ADD COLUMN emergency_numbers TEXT NOT NULL DEFAULT '112,101,102,103,104,911';
"#,
    },
    Migration {
        version: 3,
        sqlite: r#"
CREATE TABLE call_events (
    call_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (call_id, seq)
);
CREATE TABLE recordings (
    call_id TEXT PRIMARY KEY,
    tenant_id INTEGER NOT NULL,
    path TEXT NOT NULL,
    format TEXT NOT NULL,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    size_bytes INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX recordings_tenant ON recordings (tenant_id, created_at);
CREATE TABLE prompts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    original_name TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
);
ALTER TABLE tenants ADD COLUMN recording TEXT NOT NULL DEFAULT 'inbound,outbound,internal';
ALTER TABLE tenants ADD COLUMN retention_days INTEGER NOT NULL DEFAULT 90;
ALTER TABLE tenants ADD COLUMN language TEXT NOT NULL DEFAULT 'ru';
ALTER TABLE tenants ADD COLUMN moh_prompt TEXT NOT NULL DEFAULT 'music';
ALTER TABLE tenants ADD COLUMN greeting_prompt TEXT NOT NULL DEFAULT '';
"#,
        postgres: r#"
CREATE TABLE call_events (
    call_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (call_id, seq)
);
CREATE TABLE recordings (
    call_id TEXT PRIMARY KEY,
    tenant_id BIGINT NOT NULL,
    path TEXT NOT NULL,
    format TEXT NOT NULL,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    size_bytes BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX recordings_tenant ON recordings (tenant_id, created_at);
CREATE TABLE prompts (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    original_name TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);
ALTER TABLE tenants ADD COLUMN recording TEXT NOT NULL DEFAULT 'inbound,outbound,internal';
ALTER TABLE tenants ADD COLUMN retention_days BIGINT NOT NULL DEFAULT 90;
ALTER TABLE tenants ADD COLUMN language TEXT NOT NULL DEFAULT 'ru';
ALTER TABLE tenants ADD COLUMN moh_prompt TEXT NOT NULL DEFAULT 'music';
ALTER TABLE tenants ADD COLUMN greeting_prompt TEXT NOT NULL DEFAULT '';
"#,
    },
    Migration {
        version: 4,
        sqlite: r#"
ALTER TABLE tenants ADD COLUMN timezone TEXT NOT NULL DEFAULT 'Europe/Moscow';
ALTER TABLE dids ADD COLUMN scenario TEXT;
CREATE TABLE plugins (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    wasm BLOB NOT NULL,
    metadata TEXT NOT NULL,
    grants TEXT NOT NULL DEFAULT '{}',
    enabled INTEGER NOT NULL DEFAULT 1,
    installed_at INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE TABLE plugin_kv (
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    plugin TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, plugin, key)
);
"#,
        postgres: r#"
ALTER TABLE tenants ADD COLUMN timezone TEXT NOT NULL DEFAULT 'Europe/Moscow';
ALTER TABLE dids ADD COLUMN scenario TEXT;
CREATE TABLE plugins (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    wasm BYTEA NOT NULL,
    metadata TEXT NOT NULL,
    grants TEXT NOT NULL DEFAULT '{}',
    enabled BIGINT NOT NULL DEFAULT 1,
    installed_at BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE TABLE plugin_kv (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    plugin TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, plugin, key)
);
"#,
    },
    Migration {
        version: 5,
        sqlite: r#"
CREATE TABLE groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    ext TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    strategy TEXT NOT NULL,
    members TEXT NOT NULL,
    ring_seconds INTEGER NOT NULL DEFAULT 15,
    timeout_seconds INTEGER NOT NULL DEFAULT 60,
    max_wait_seconds INTEGER NOT NULL DEFAULT 300,
    max_length INTEGER NOT NULL DEFAULT 20,
    wrap_up_seconds INTEGER NOT NULL DEFAULT 5,
    announce_seconds INTEGER NOT NULL DEFAULT 30,
    callback INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, ext)
);
CREATE TABLE queue_agents (
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    ext TEXT NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    logged_in INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (group_id, ext)
);
CREATE TABLE call_legs (
    call_id TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    rang_at INTEGER NOT NULL,
    PRIMARY KEY (call_id, user_id)
);
CREATE INDEX call_legs_user ON call_legs (user_id, rang_at);
CREATE TABLE queue_status (group_id BIGINT PRIMARY KEY, status TEXT NOT NULL, updated_at BIGINT NOT NULL);
ALTER TABLE users ADD COLUMN fwd_always TEXT;
ALTER TABLE users ADD COLUMN fwd_busy TEXT;
ALTER TABLE users ADD COLUMN fwd_no_answer TEXT;
ALTER TABLE users ADD COLUMN fwd_no_answer_seconds INTEGER NOT NULL DEFAULT 20;
ALTER TABLE users ADD COLUMN fwd_unreachable TEXT;
ALTER TABLE calls ADD COLUMN forwarded_from TEXT;
ALTER TABLE calls ADD COLUMN via TEXT;
ALTER TABLE calls ADD COLUMN kind TEXT NOT NULL DEFAULT 'call'
"#,
        postgres: r#"
CREATE TABLE groups (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    ext TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    strategy TEXT NOT NULL,
    members TEXT NOT NULL,
    ring_seconds BIGINT NOT NULL DEFAULT 15,
    timeout_seconds BIGINT NOT NULL DEFAULT 60,
    max_wait_seconds BIGINT NOT NULL DEFAULT 300,
    max_length BIGINT NOT NULL DEFAULT 20,
    wrap_up_seconds BIGINT NOT NULL DEFAULT 5,
    announce_seconds BIGINT NOT NULL DEFAULT 30,
    callback BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, ext)
);
CREATE TABLE queue_agents (
    group_id BIGINT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    ext TEXT NOT NULL,
    paused BIGINT NOT NULL DEFAULT 0,
    logged_in BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (group_id, ext)
);
CREATE TABLE call_legs (
    call_id TEXT NOT NULL,
    user_id BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    rang_at BIGINT NOT NULL,
    PRIMARY KEY (call_id, user_id)
);
CREATE INDEX call_legs_user ON call_legs (user_id, rang_at);
CREATE TABLE queue_status (group_id BIGINT PRIMARY KEY, status TEXT NOT NULL, updated_at BIGINT NOT NULL);
ALTER TABLE users ADD COLUMN fwd_always TEXT;
ALTER TABLE users ADD COLUMN fwd_busy TEXT;
ALTER TABLE users ADD COLUMN fwd_no_answer TEXT;
ALTER TABLE users ADD COLUMN fwd_no_answer_seconds BIGINT NOT NULL DEFAULT 20;
ALTER TABLE users ADD COLUMN fwd_unreachable TEXT;
ALTER TABLE calls ADD COLUMN forwarded_from TEXT;
ALTER TABLE calls ADD COLUMN via TEXT;
ALTER TABLE calls ADD COLUMN kind TEXT NOT NULL DEFAULT 'call'
"#,
    },
    Migration {
        version: 6,
        sqlite: r#"
CREATE TABLE operators (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    login TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until INTEGER NOT NULL DEFAULT 0;
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    operator_id INTEGER,
    user_id INTEGER,
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    tenant_id INTEGER,
    role TEXT NOT NULL,
    user_id INTEGER,
    label TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX calls_caller_user ON calls (caller_user_id, started_at);
CREATE INDEX calls_callee_user ON calls (callee_user_id, started_at, answered_at, talk_seconds);
DROP INDEX call_legs_user;
CREATE INDEX call_legs_user ON call_legs (user_id, rang_at, outcome);
DROP INDEX calls_tenant_started;
CREATE INDEX calls_tenant_started ON calls (tenant_id, started_at DESC, id DESC, caller_number, callee)
"#,
        postgres: r#"
CREATE TABLE operators (
    id BIGSERIAL PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
ALTER TABLE users ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until BIGINT NOT NULL DEFAULT 0;
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    operator_id BIGINT,
    user_id BIGINT,
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE api_tokens (
    id BIGSERIAL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    tenant_id BIGINT,
    role TEXT NOT NULL,
    user_id BIGINT,
    label TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX calls_caller_user ON calls (caller_user_id, started_at);
CREATE INDEX calls_callee_user ON calls (callee_user_id, started_at, answered_at, talk_seconds);
DROP INDEX call_legs_user;
CREATE INDEX call_legs_user ON call_legs (user_id, rang_at, outcome);
DROP INDEX calls_tenant_started;
CREATE INDEX calls_tenant_started ON calls (tenant_id, started_at DESC, id DESC, caller_number, callee)
"#,
    },
    Migration {
        // SIP passwords are kept as digest hashes (HA1 per algorithm, in the tenant's realm);
        // `hash_sip_passwords` moves existing plain passwords over at start.
        version: 7,
        sqlite: r#"
ALTER TABLE users ADD COLUMN sip_ha1_md5 TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN sip_ha1_sha256 TEXT NOT NULL DEFAULT ''
"#,
        postgres: r#"
ALTER TABLE users ADD COLUMN sip_ha1_md5 TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN sip_ha1_sha256 TEXT NOT NULL DEFAULT ''
"#,
    },
    Migration {
        // The tenant's phone book (numbers mapped to names).
        version: 8,
        sqlite: r#"
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    number TEXT NOT NULL,
    name TEXT NOT NULL,
    company TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    folded TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    UNIQUE (tenant_id, number)
)
"#,
        postgres: r#"
CREATE TABLE contacts (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    number TEXT NOT NULL,
    name TEXT NOT NULL,
    company TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    folded TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, number)
)
"#,
    },
    Migration {
        // Call events for integrations (a durable outbox) and the outgoing webhooks that
        // receive them, with their delivery log.
        version: 9,
        sqlite: r#"
CREATE TABLE event_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    call_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX event_outbox_tenant ON event_outbox (tenant_id, id);
CREATE INDEX event_outbox_at ON event_outbox (at);
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    kinds TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    secret TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    cursor_id INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    duration_ms INTEGER NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, id)
"#,
        postgres: r#"
CREATE TABLE event_outbox (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL,
    call_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX event_outbox_tenant ON event_outbox (tenant_id, id);
CREATE INDEX event_outbox_at ON event_outbox (at);
CREATE TABLE webhooks (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    kinds TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    secret TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    cursor_id BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    webhook_id BIGINT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    status BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    duration_ms BIGINT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, id)
"#,
    },
    Migration {
        // A subscriber of the event outbox may be an integration plugin instead of a URL.
        version: 10,
        // A node delivers a subscriber's events only while it holds the subscriber's lease.
        sqlite: "ALTER TABLE webhooks ADD COLUMN plugin TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN lease_node TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX webhooks_plugin ON webhooks (tenant_id, plugin) WHERE plugin <> ''",
        postgres: "ALTER TABLE webhooks ADD COLUMN plugin TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN lease_node TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX webhooks_plugin ON webhooks (tenant_id, plugin) WHERE plugin <> ''",
    },
    Migration {
        // A tenant's settings of a plugin (validated against its schema), with its secret
        // fields sealed with the operator's key.
        version: 11,
        sqlite: "CREATE TABLE plugin_settings (
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    plugin TEXT NOT NULL,
    settings TEXT NOT NULL,
    secrets TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, plugin)
)",
        postgres: "CREATE TABLE plugin_settings (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    plugin TEXT NOT NULL,
    settings TEXT NOT NULL,
    secrets TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, plugin)
)",
    },
    Migration {
        // The audit log: who changed what, through which door, from where.
        version: 12,
        sqlite: "CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    tenant_id INTEGER,
    actor TEXT NOT NULL,
    via TEXT NOT NULL,
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    status INTEGER NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id)",
        postgres: "CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    tenant_id BIGINT,
    actor TEXT NOT NULL,
    via TEXT NOT NULL,
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    status BIGINT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id)",
    },
    Migration {
        // Where a session was opened from, so its owner can tell their sessions apart.
        version: 13,
        sqlite: "ALTER TABLE sessions ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT ''",
        postgres: "ALTER TABLE sessions ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT ''",
    },
    Migration {
        // Prepaid billing: the operator's prices by number prefix (tenant 0: every company),
        // every change of a balance with the balance after it, the running total charged
        // (the call engine subtracts what it charged since its snapshot) and the threshold of
        // the low-balance warning.
        version: 14,
        sqlite: "ALTER TABLE tenants ADD COLUMN charged_cents INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN low_balance_cents INTEGER NOT NULL DEFAULT 10000;
CREATE TABLE tariffs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL DEFAULT 0,
    prefix TEXT NOT NULL,
    name TEXT NOT NULL,
    per_minute_cents INTEGER NOT NULL,
    step_seconds INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, prefix)
);
CREATE TABLE balance_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    balance_cents INTEGER NOT NULL,
    call_id TEXT,
    detail TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX balance_history_tenant ON balance_history (tenant_id, id)",
        postgres: "ALTER TABLE tenants ADD COLUMN charged_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN low_balance_cents BIGINT NOT NULL DEFAULT 10000;
CREATE TABLE tariffs (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL DEFAULT 0,
    prefix TEXT NOT NULL,
    name TEXT NOT NULL,
    per_minute_cents BIGINT NOT NULL,
    step_seconds BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, prefix)
);
CREATE TABLE balance_history (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    amount_cents BIGINT NOT NULL,
    balance_cents BIGINT NOT NULL,
    call_id TEXT,
    detail TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX balance_history_tenant ON balance_history (tenant_id, id)",
    },
    Migration {
        // Working hours of the default setup and the message callers hear outside them.
        version: 15,
        sqlite: "ALTER TABLE tenants ADD COLUMN working_hours TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN after_hours_prompt TEXT NOT NULL DEFAULT 'closed'",
        postgres: "ALTER TABLE tenants ADD COLUMN working_hours TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN after_hours_prompt TEXT NOT NULL DEFAULT 'closed'",
    },
    Migration {
        // A queue's own music while callers wait and its announcement on entering.
        version: 16,
        sqlite: "ALTER TABLE groups ADD COLUMN music_prompt TEXT NOT NULL DEFAULT '';
ALTER TABLE groups ADD COLUMN entry_prompt TEXT NOT NULL DEFAULT ''",
        postgres: "ALTER TABLE groups ADD COLUMN music_prompt TEXT NOT NULL DEFAULT '';
ALTER TABLE groups ADD COLUMN entry_prompt TEXT NOT NULL DEFAULT ''",
    },
    Migration {
        // Do not disturb per user; blacklists of the company (user 0) and of each user, and
        // how the company refuses blocked and anonymous callers; calls by the other party's
        // number (who was missed and whether they were reached since); each caller's stay in
        // a queue (the queue reports).
        version: 17,
        sqlite: "ALTER TABLE users ADD COLUMN dnd INTEGER NOT NULL DEFAULT 0;
CREATE TABLE blocked_numbers (
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL DEFAULT 0,
    pattern TEXT NOT NULL,
    prefix INTEGER NOT NULL DEFAULT 0,
    note TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id, pattern)
);
CREATE TABLE block_settings (
    tenant_id INTEGER PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    anonymous INTEGER NOT NULL DEFAULT 0,
    action TEXT NOT NULL DEFAULT 'busy'
);
CREATE INDEX calls_tenant_caller ON calls (tenant_id, caller_number, started_at);
CREATE INDEX calls_tenant_callee ON calls (tenant_id, callee, started_at);
CREATE TABLE queue_calls (
    call_id TEXT NOT NULL,
    tenant_id INTEGER NOT NULL,
    queue TEXT NOT NULL,
    joined_at INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    agent_user_id INTEGER,
    resolved_at INTEGER,
    PRIMARY KEY (call_id, queue)
);
CREATE INDEX queue_calls_tenant ON queue_calls (tenant_id, joined_at)",
        postgres: "ALTER TABLE users ADD COLUMN dnd BIGINT NOT NULL DEFAULT 0;
CREATE TABLE blocked_numbers (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL DEFAULT 0,
    pattern TEXT NOT NULL,
    prefix BIGINT NOT NULL DEFAULT 0,
    note TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, pattern)
);
CREATE TABLE block_settings (
    tenant_id BIGINT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    anonymous BIGINT NOT NULL DEFAULT 0,
    action TEXT NOT NULL DEFAULT 'busy'
);
CREATE INDEX calls_tenant_caller ON calls (tenant_id, caller_number, started_at);
CREATE INDEX calls_tenant_callee ON calls (tenant_id, callee, started_at);
CREATE TABLE queue_calls (
    call_id TEXT NOT NULL,
    tenant_id BIGINT NOT NULL,
    queue TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    agent_user_id BIGINT,
    resolved_at BIGINT,
    PRIMARY KEY (call_id, queue)
);
CREATE INDEX queue_calls_tenant ON queue_calls (tenant_id, joined_at)",
    },
    Migration {
        // Who is on the phone: each company's users and their states, as the call engine
        // last published them.
        version: 18,
        sqlite: "CREATE TABLE presence (tenant_id INTEGER PRIMARY KEY, status TEXT NOT NULL, updated_at INTEGER NOT NULL)",
        postgres: "CREATE TABLE presence (tenant_id BIGINT PRIMARY KEY, status TEXT NOT NULL, updated_at BIGINT NOT NULL)",
    },
];

/// Replaces the plain SIP passwords an older version stored with their digest hashes.
async fn hash_sip_passwords(store: &Store) -> Result<(), StoreError> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT u.id, u.ext, u.sip_password, t.domain FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.sip_password <> ''",
    )
    .fetch_all(store.pool())
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    // One transaction for all of them (thousands of users take milliseconds, not a commit each).
    let mut tx = store.pool().begin().await?;
    for r in rows {
        let (id, ext, password, domain): (i64, String, String, String) =
            (r.try_get("id")?, r.try_get("ext")?, r.try_get("sip_password")?, r.try_get("domain")?);
        let (md5, sha256) = crate::directory::sip_ha1(&ext, &domain, &password);
        sqlx::query("UPDATE users SET sip_ha1_md5 = $1, sip_ha1_sha256 = $2, sip_password = '' WHERE id = $3")
            .bind(md5)
            .bind(sha256)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Applies every migration the database lacks.
pub(crate) async fn run(store: &Store) -> Result<(), StoreError> {
    let pool = store.pool();
    let mut conn = pool.acquire().await?;
    if store.backend() == Backend::Postgres {
        // Serialise concurrent starters (server and CLI) on one lock.
        conn.execute("SELECT pg_advisory_lock(7243001)").await?;
    }
    let mut result = apply_all(store, &mut conn).await;
    if result.is_ok() {
        result = hash_sip_passwords(store).await;
    }
    if store.backend() == Backend::Postgres {
        let _ = conn.execute("SELECT pg_advisory_unlock(7243001)").await;
    }
    result
}

async fn apply_all(store: &Store, conn: &mut sqlx::pool::PoolConnection<sqlx::Any>) -> Result<(), StoreError> {
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)").await?;
    for m in MIGRATIONS {
        let done: Option<(i64,)> =
            sqlx::query_as("SELECT version FROM schema_migrations WHERE version = $1").bind(m.version).fetch_optional(&mut **conn).await?;
        if done.is_some() {
            continue;
        }
        let sql = match store.backend() {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        // SQLite: take the write lock first so that two starters do not both migrate.
        let begin = if store.backend() == Backend::Sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" };
        conn.execute(begin).await?;
        let again: Option<(i64,)> =
            sqlx::query_as("SELECT version FROM schema_migrations WHERE version = $1").bind(m.version).fetch_optional(&mut **conn).await?;
        if again.is_some() {
            conn.execute("COMMIT").await?;
            continue;
        }
        let mut failed = None;
        for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            if let Err(e) = conn.execute(stmt).await {
                failed = Some(e);
                break;
            }
        }
        if failed.is_none()
            && let Err(e) = sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(m.version)
                .bind(now_ms())
                .execute(&mut **conn)
                .await
        {
            failed = Some(e);
        }
        match failed {
            None => {
                conn.execute("COMMIT").await?;
                tracing::info!(version = m.version, "applied schema migration");
            }
            Some(e) => {
                let _ = conn.execute("ROLLBACK").await;
                return Err(StoreError::Db(e));
            }
        }
    }
    Ok(())
}
