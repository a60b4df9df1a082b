//! Codes for the API's error messages: every message the sources write as a literal has a
//! stable code and its variable parts as parameters, so the cabinet shows it in the
//! reader's language (`err_<code>` in `web/i18n.js`); words from elsewhere (a plugin's, a
//! scenario validator's) carry only the code of their kind (`invalid`) and are shown as
//! written. The English text stays in `error` for other clients.
//!
//! A message is classified by matching it against the templates below (`{}` stands for a
//! variable part); the tests check that every message written in the sources has one and
//! that both dictionaries translate every code.

/// (code, English template) of every message the API can answer with.
pub const CODES: &[(&str, &str)] = &[
    ("bad_hours", "invalid working hours {}: write them as mon-fri 09:00-18:00; sat 10:00-14:00"),
    ("prompt_exists", "prompt {} already exists"),
    ("text_too_long", "{} must be at most {} printable characters"),
    ("plugin_not_wasm", "the file is not a usable plugin: it is not a WebAssembly component (a plugin is the .wasm file the SDK builds)"),
    (
        "plugin_core_module",
        "the file is not a usable plugin: it is a WebAssembly module, not a component: build the plugin for wasm32-wasip2 with the SDK (see examples/plugin-template)",
    ),
    ("plugin_unusable", "the file is not a usable plugin: {}"),
    ("plugin_too_large", "the component is too large ({} bytes, at most {})"),
    ("csv_not_utf8", "the file is not UTF-8 text: save it as \"CSV UTF-8\""),
    ("csv_too_large", "the file is larger than {} MB"),
    ("csv_no_header", "the first line must name the columns: number and name (company and note are optional)"),
    ("csv_empty", "the file lists no contact"),
    ("csv_not_phone_number", "line {}: {} is not a telephone number"),
    ("csv_needs_name", "line {}: the contact {} needs a name"),
    ("csv_name_too_long", "line {}: the name of {} is longer than {} characters"),
    ("csv_note_too_long", "line {}: the company or note of {} is longer than {} characters"),
    ("csv_line", "line {}: {}"),
    ("wav_exports_busy", "WAV exports are busy: try again in a few seconds"),
    ("mp3_exports_busy", "MP3 exports are busy: try again in a few seconds"),
    ("exports_busy", "exports are busy: try again in a few seconds"),
    ("bad_amount", "invalid amount {}: use a number such as 100 or 99.50"),
    ("bad_supervisor_ext", "invalid supervisor extension {}: use 2 to 6 digits"),
    ("no_such_prompt", "there is no prompt {}: upload it first"),
    ("no_web_phone", "only an employee with an extension has a web phone"),
    ("ext_in_use", "{} is in use ({}): change that first"),
    ("prompt_in_use", "the prompt {} is in use ({}): change that first"),
    ("csv_failed", "cannot write CSV: {}"),
    ("company_cannot_call", "the company cannot place calls (unknown or suspended)"),
    ("no_such_extension", "no such extension"),
    ("ext_not_registered", "the extension has no registered phone"),
    ("target_not_registered", "the extension called has no registered phone"),
    ("not_callable", "not a number that can be called"),
    ("line_not_ours", "the line is not one of the company's city numbers"),
    ("no_balance", "insufficient balance: outgoing calls are blocked"),
    ("no_line", "no city number or trunk to call out with"),
    ("no_media_ports", "no media ports free"),
    ("too_many_calls", "too many calls at once"),
    ("bad_correlation_id", "correlation_id must be one line of at most 128 bytes"),
    ("plugin_schema_not_json", "the plugin's schema is not JSON: {}"),
    ("settings_not_object", "settings must be a JSON object"),
    ("settings_too_large", "settings are larger than {} bytes"),
    ("address_not_found", "this address not found"),
    ("audit_forbidden", "the audit log is for supervisors and the operator"),
    ("bad_cursor", "`after` must be the `next` of the previous page"),
    ("operator_uses_console", "the operator acts on tenants through the operator console"),
    ("csrf", "missing or wrong X-CSRF-Token"),
    ("role_needed", "this needs the {} role"),
    ("login_too_large", "the login form is too large"),
    ("login_unreadable", "unreadable login form: {}"),
    ("token_no_password", "API tokens cannot change passwords"),
    ("bad_from", "`from` must be RFC 3339 or YYYY-MM-DD"),
    ("bad_to", "`to` must be RFC 3339 or YYYY-MM-DD"),
    ("bad_direction", "direction must be inbound, outbound or internal"),
    ("bad_disposition", "disposition must be answered, missed, busy, failed or interrupted"),
    ("token_not_user", "this token does not act as a user"),
    ("bad_cursor_value", "`after` must be a `next` value of a previous page"),
    ("bad_period", "the period ends before it starts"),
    ("call_not_found", "call {} not found"),
    ("recording_not_found", "recording of {} not found"),
    ("search_too_long", "the search is longer than 100 characters"),
    ("number_mismatch", "the number in the path and in the body differ"),
    ("file_nul", "the file may not contain NUL characters"),
    ("contact_not_found", "contact {} not found"),
    ("bad_block_prefix", "invalid prefix {}: + and the country code, e.g. +7495"),
    ("blocklist_full", "a blacklist holds at most {} entries"),
    ("blocklist_entry_not_found", "blacklist entry {} not found"),
    ("text_nul", "text may not contain NUL characters"),
    ("address_nul", "the address may not contain NUL characters (%00)"),
    ("ext_required", "`ext` is required"),
    ("bad_group_kind", "`kind` must be ring or queue"),
    ("group_fixed", "a group's extension and kind do not change: create another one"),
    ("live_forbidden", "the live socket is only for the cabinet's own pages"),
    ("token_not_found", "token {} not found"),
    ("own_extension_only", "a user places calls from their own extension only"),
    ("originate_ext_required", "name the extension whose phone rings first (ext)"),
    ("number_too_long", "the number is longer than 64 characters"),
    ("line_supervisor_only", "only a supervisor chooses the line a call goes out with"),
    ("bad_idempotency_key", "Idempotency-Key must be 1 to 128 visible characters"),
    ("no_engine", "calls cannot be placed by this process"),
    ("originate_retry", "{}: the call may still be placed; send the request again with the same Idempotency-Key"),
    ("extension_missing", "extension not found"),
    ("link_unreadable", "unreadable link request: {}"),
    ("bad_ttl", "ttl_seconds must be from {} to {}"),
    ("company_suspended", "the company's account is suspended"),
    ("bad_format", "format {}: use ogg, wav or mp3"),
    ("link_not_found", "link not found"),
    ("bad_user_role", "role must be user or supervisor"),
    ("delete_self", "you cannot delete your own account"),
    ("token_needs_ext", "a user token needs the extension it acts as"),
    ("tenant_no_operator_tokens", "a tenant cannot create operator tokens"),
    ("queue_not_found", "queue {} not found"),
    ("scenario_not_json", "the scenario must be UTF-8 JSON"),
    ("bad_at", "`at` must be an RFC 3339 time"),
    ("bad_scenario", "invalid scenario: {}"),
    ("plugin_upload_empty", "the upload is empty: send the plugin's .wasm file"),
    ("bad_plugin_name", "the name must be 1 to 64 letters, digits, '-' or '_'"),
    ("file_empty", "the file is empty"),
    ("number_not_found", "number {} not found"),
    ("catalog_plugin_not_found", "catalog plugin {} not found"),
    ("prompt_not_found", "prompt {} not found"),
    ("no_integrations", "integrations do not run in this process"),
    ("webhook_not_found", "webhook {} not found"),
    ("enabled_integration_not_found", "enabled integration {} not found"),
    ("url_too_long", "the URL is longer than {} characters"),
    ("not_url", "{} is not a URL"),
    ("url_scheme", "the URL must start with https:// or http:// and name a host"),
    ("url_credentials", "the URL may not carry a user name or password (the body is signed instead)"),
    ("url_spaces", "the URL may not contain spaces or control characters"),
    ("unknown_event", "unknown event {}; known: {}"),
    ("description_too_long", "the description must be one line of at most {} characters"),
    ("bad_password_length", "the password must be 8 to 128 characters"),
    ("bad_login", "the login must be 1 to 64 letters, digits, '.', '_', '-' or '@'"),
    ("wrong_login", "wrong login or password"),
    ("account_suspended", "the account is suspended"),
    ("wrong_current_password", "the current password is wrong"),
    ("bad_role", "role must be operator, supervisor or user"),
    ("token_tenant", "operator tokens have no tenant; others need one"),
    ("ext_not_found", "extension {} not found"),
    ("session_not_found", "session {} not found"),
    ("operator_exists", "operator {} already exists"),
    ("bad_prefix", "prefix must be up to {} digits of the international number, without +"),
    ("bad_destination", "destination name must be 1 to {} printable characters"),
    ("bad_price", "price per minute must be between 0 and 10000.00"),
    ("bad_step", "billing step must be 1 to 60 seconds"),
    ("bad_top_up", "amount must be non-zero and at most 100000000.00"),
    ("bad_threshold", "warning threshold must be between 0 and 100000000.00"),
    ("bad_note", "note must be up to 200 printable characters"),
    ("price_not_found", "price #{} not found"),
    ("price_exists", "a price for prefix {} there already exists"),
    ("not_phone_number", "{} is not a telephone number"),
    ("contact_needs_name", "the contact {} needs a name"),
    ("contact_name_too_long", "the name of {} is longer than {} characters"),
    ("contact_note_too_long", "the company or note of {} is longer than {} characters"),
    ("too_many_contacts", "a company keeps at most {} contacts"),
    ("bad_sip_password", "SIP password must be 6 to 128 characters without quotes or backslashes"),
    ("hash_failed", "cannot hash password: {}"),
    ("bad_slug", "invalid tenant slug {}: use 2-32 lowercase letters, digits and dashes"),
    ("bad_domain", "invalid SIP domain {}"),
    ("bad_recording_direction", "unknown call direction {}: use inbound, outbound, internal"),
    ("bad_retention", "retention must be 1 to 3650 days"),
    ("bad_language", "language must be ru or en"),
    ("bad_timezone", "unknown time zone {}: use an IANA name such as Europe/Moscow"),
    ("prompt_name_too_long", "a prompt name is at most 64 characters"),
    ("bad_ext", "invalid extension {}: use 2 to 6 digits"),
    ("web_password_short", "web password must be at least 8 characters"),
    ("name_too_long", "a name is at most 100 characters"),
    ("last_supervisor", "{} is the company's only supervisor: make another one first"),
    ("tenant_id_not_found", "tenant #{} not found"),
    ("tenant_not_found", "tenant {} not found"),
    ("tenant_exists", "tenant {} or domain {} already exists"),
    ("ext_exists", "extension {} already exists"),
    ("event_failed", "event not serialisable: {}"),
    ("bad_strategy", "unknown strategy {}: use {}"),
    ("group_no_members", "a group needs at least one member"),
    ("group_too_many", "a group has at most 200 members"),
    ("group_name_too_long", "a group's name is at most 100 characters"),
    ("member_unknown", "member {} is not a user of the tenant"),
    ("out_of_range", "{} must be {} to {}"),
    ("group_kind_fixed", "{} is a {}: its kind does not change"),
    ("not_a_queue", "{} is a ring group, not a queue"),
    ("forward_to_self", "{} cannot forward to itself"),
    ("bad_forward_target", "invalid forwarding target {}: an extension or a phone number"),
    ("bad_no_answer_time", "no-answer time must be 3 to 300 seconds"),
    ("group_not_found", "group or queue {} not found"),
    ("agent_not_found", "agent {} of queue {} not found"),
    ("bad_database_url", "unsupported database URL {}: use sqlite://PATH or postgres://..."),
    ("bad_prompt_name", "invalid prompt name {}: letters, digits, - and _"),
    ("call_recording_not_found", "recording of call {} not found"),
    ("plugin_store_full", "the store of {} is full ({} keys)"),
    ("plugin_not_found", "plugin {} not found"),
    ("plugin_id_not_found", "plugin #{} not found"),
    ("plugin_exists", "plugin {} already exists"),
    ("bad_trunk_name", "invalid trunk name {}: letters, digits, - and _"),
    ("bad_trunk_host", "invalid trunk host {}: use HOST:PORT"),
    ("trunk_needs_credentials", "a registering trunk needs a user name and a password"),
    ("bad_allowed_address", "invalid allowed address {}: use an address or CIDR such as 192.0.2.0/24"),
    ("trunk_needs_address", "an IP trunk needs at least one allowed address (or it registers)"),
    ("trunk_in_use", "trunk {} still carries {} city number(s); delete them first"),
    ("not_e164", "{} is not a telephone number (use E.164 such as +74951234567)"),
    ("trunk_not_found", "trunk {} not found"),
    ("trunk_exists", "trunk {} already exists"),
    ("number_exists", "number {} already exists"),
    ("too_many_webhooks", "a company may register at most {} webhooks"),
    ("integration_not_found", "integration {} not found"),
];

/// The code and the variable parts of a message, if a template matches it (the one with
/// the most fixed text when several do).
pub fn classify(message: &str) -> Option<(&'static str, Vec<String>)> {
    CODES
        .iter()
        .filter_map(|(code, template)| matches(template, message).map(|params| (template.len(), *code, params)))
        .max_by_key(|(fixed, _, _)| *fixed)
        .map(|(_, code, params)| (code, params))
}

/// The variable parts of `message` if it has the form of `template`.
pub(super) fn matches(template: &str, message: &str) -> Option<Vec<String>> {
    let parts: Vec<&str> = template.split("{}").collect();
    let (first, rest) = parts.split_first()?;
    let mut tail = message.strip_prefix(first)?;
    let Some((last, middle)) = rest.split_last() else {
        return (tail.is_empty()).then(Vec::new);
    };
    let mut params = Vec::with_capacity(rest.len());
    for fixed in middle {
        // Leftmost: a variable part does not hold the fixed text that follows it.
        let at = tail.find(fixed)?;
        params.push(tail.get(..at)?.to_string());
        tail = tail.get(at + fixed.len()..)?;
    }
    let value = tail.strip_suffix(last)?;
    params.push(value.to_string());
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn a_message_gives_its_code_and_parts() {
        assert_eq!(classify("tenant acme not found"), Some(("tenant_not_found", vec!["acme".to_string()])));
        assert_eq!(
            classify("trunk t1 still carries 2 city number(s); delete them first"),
            Some(("trunk_in_use", vec!["t1".to_string(), "2".to_string()]))
        );
        // The longer template wins over a shorter one that also matches.
        assert_eq!(classify("\"x\" is not a telephone number (use E.164 such as +74951234567)").map(|c| c.0), Some("not_e164"));
        assert_eq!(classify("wrong login or password"), Some(("wrong_login", vec![])));
        assert_eq!(classify("something nobody wrote"), None);
    }

    /// Every literal message the sources pass to an error is a template here (a new message
    /// without a code fails this test).
    #[test]
    fn every_message_in_the_sources_has_a_code() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let literal = r#""((?:[^"\\]|\\.)*)""#;
        let kinds = [
            (format!(r"(?:Invalid|InUse|bad|forbidden|conflict|payment_required|unavailable)\((?:format!\()?{literal}"), ""),
            (format!(r"(?:NotFound|not_found)\((?:format!\()?{literal}"), " not found"),
            (format!(r"conflict_or\(e, &format!\({literal}"), " already exists"),
        ];
        let kinds: Vec<(regex::Regex, &str)> = kinds.iter().filter_map(|(p, s)| regex::Regex::new(p).ok().map(|r| (r, *s))).collect();
        assert_eq!(kinds.len(), 3);
        let placeholder = regex::Regex::new(r"\{[^}]*\}").unwrap();
        let known: BTreeSet<&str> = CODES.iter().map(|c| c.1).collect();
        let mut missing = Vec::new();
        let mut seen = 0;
        for dir in ["pbx/src", "store/src"] {
            let mut stack = vec![root.join(dir)];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).unwrap().flatten() {
                    let p = e.path();
                    if p.is_dir() {
                        if !p.ends_with("sim") {
                            stack.push(p);
                        }
                        continue;
                    }
                    if p.extension().is_none_or(|x| x != "rs") {
                        continue;
                    }
                    let src = std::fs::read_to_string(&p).unwrap();
                    for (re, suffix) in &kinds {
                        for m in re.captures_iter(&src) {
                            let text = format!("{}{suffix}", placeholder.replace_all(&m[1], "{}"));
                            if text.trim_matches(|c| "{}: #".contains(c)).is_empty() {
                                continue;
                            }
                            seen += 1;
                            if !known.contains(text.as_str()) {
                                missing.push(format!("{}: {text}", p.display()));
                            }
                        }
                    }
                }
            }
        }
        assert!(seen > 100, "only {seen} messages found");
        assert!(missing.is_empty(), "messages without a code in error_codes.rs:\n{}", missing.join("\n"));
    }

    /// Both dictionaries of the cabinet translate every code, with the same variable parts.
    #[test]
    fn the_cabinet_translates_every_code() {
        let i18n = include_str!("../../../../web/i18n.js");
        let (en_at, ru_at) = (i18n.find("  en: {").unwrap(), i18n.find("  ru: {").unwrap());
        for (code, template) in CODES {
            let n = template.matches("{}").count();
            for (lang, block) in [("en", &i18n[en_at..ru_at]), ("ru", &i18n[ru_at..])] {
                let key = format!("err_{code}: '");
                let at = block.find(&key).unwrap_or_else(|| panic!("{lang} lacks err_{code}"));
                let text = &block[at + key.len()..];
                let text = &text[..text.find("',").or_else(|| text.find('\'')).unwrap()];
                for i in 0..n {
                    assert!(text.contains(&format!("{{{i}}}")), "{lang} err_{code} lacks {{{i}}}: {text}");
                }
                assert!(!text.contains(&format!("{{{n}}}")), "{lang} err_{code} has too many parts: {text}");
            }
        }
    }
}
