//! The cabinet's REST API against the real binary, in SQLite and PostgreSQL: every route
//! with an id answers 404 for another tenant's id and leaves it untouched, every
//! supervisor/operator route refuses the roles below it, state changes need the CSRF token
//! (API tokens do not), password guessing is slowed per address without locking the owner
//! out, a suspended tenant cannot sign in,
//! recordings play with HTTP Range, and the OpenAPI document is valid and covers every
//! address the cabinet's pages call.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// An HTTP client of the test server.
struct Api {
    base: String,
    agent: ureq::Agent,
}

/// A response: status, headers (lowercase names) and body.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A signed-in session: cookie and CSRF token.
#[derive(Clone, Default)]
struct Session {
    cookie: String,
    csrf: String,
}

impl Api {
    fn new(pbx: &Pbx) -> Api {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Api { base: format!("http://{}", pbx.http), agent }
    }

    fn call(&self, method: &str, path: &str, body: Option<&[u8]>, headers: &[(&str, &str)]) -> Resp {
        let mut b = ureq::http::Request::builder().method(method).uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(body.map(|x| x.to_vec()).unwrap_or_default()).unwrap();
        let mut r = self.agent.run(req).unwrap();
        // Several Set-Cookie headers (the session and the device mark) are kept one per line.
        let mut headers: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        for (k, v) in r.headers() {
            let v = v.to_str().unwrap_or("").to_string();
            headers.entry(k.as_str().to_string()).and_modify(|old: &mut String| *old = format!("{old}\n{v}")).or_insert(v);
        }
        let status = r.status().as_u16();
        let body = r.body_mut().with_config().limit(50 << 20).read_to_vec().unwrap();
        Resp { status, headers, body }
    }

    /// A request in a session (with the CSRF token unless `csrf` is false).
    fn as_(&self, s: &Session, method: &str, path: &str, body: Option<&str>, csrf: bool) -> Resp {
        let mut h = vec![("Cookie", s.cookie.as_str()), ("Content-Type", "application/json")];
        if csrf {
            h.push(("X-CSRF-Token", s.csrf.as_str()));
        }
        self.call(method, path, body.map(str::as_bytes), &h)
    }

    fn bearer(&self, token: &str, method: &str, path: &str, body: Option<&str>) -> Resp {
        let auth = format!("Bearer {token}");
        self.call(method, path, body.map(str::as_bytes), &[("Authorization", auth.as_str()), ("Content-Type", "application/json")])
    }

    fn login(&self, login: &str, password: &str) -> Result<Session, Resp> {
        let r = self.call(
            "POST",
            "/api/v1/login",
            Some(json!({"login": login, "password": password}).to_string().as_bytes()),
            &[("Content-Type", "application/json")],
        );
        if r.status != 200 {
            return Err(r);
        }
        let all = r.headers.get("set-cookie").cloned().unwrap_or_default();
        let set = all.lines().find(|c| c.starts_with("pbx_session=")).unwrap_or_default().to_string();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{all}");
        assert!(all.lines().any(|c| c.starts_with("pbx_device=") && c.contains("HttpOnly")), "{all}");
        let cookie = set.split(';').next().unwrap().to_string();
        Ok(Session { cookie, csrf: r.json()["csrf"].as_str().unwrap().to_string() })
    }
}

const DID: &str = "+74951230001";

fn seed(pbx: &Pbx) -> String {
    pbx.cli_ok(&["tenant", "create", "acme", "--domain", "acme.example", "--name", "Acme", "--no-supervisor"]);
    pbx.cli_ok(&["tenant", "create", "beta", "--domain", "beta.example", "--name", "Beta", "--no-supervisor"]);
    pbx.cli_ok(&["user", "create", "acme", "101", "--password", "secret101", "--role", "supervisor", "--web-password", "boss-pass-1"]);
    pbx.cli_ok(&["user", "create", "acme", "102", "--password", "secret102", "--name", "Clerk", "--web-password", "clerk-pass-1"]);
    pbx.cli_ok(&["user", "create", "beta", "201", "--password", "secret201", "--role", "supervisor", "--web-password", "beta-pass-1"]);
    pbx.cli_ok(&["operator", "create", "root", "--password", "operator-pass"]);
    pbx.cli_ok(&["trunk", "create", "carrier", "--host", "127.0.0.1:5999", "--allow-ip", "127.0.0.9/32"]);
    pbx.cli_ok(&["did", "add", "acme", DID, "--trunk", "carrier"]);
    pbx.cli_ok(&["did", "add", "beta", "+74951230002", "--trunk", "carrier"]);
    pbx.cli_ok(&["queue", "create", "acme", "300", "--strategy", "ring-all", "--agents", "101,102"]);
    let greeting = data_dir().join("audio/greeting-8k-mono.wav");
    pbx.cli_ok(&["prompt", "upload", "acme", "acme-hello", &greeting.display().to_string()]);
    let template = pbx_bundled_plugins::component_path("pbx_plugin_template");
    pbx.cli_ok(&["plugin", "install", "acme", &template.display().to_string()]);
    pbx.cli_ok(&["token", "create", "acme", "--role", "supervisor", "--label", "crm"]).trim().to_string()
}

/// A valid body for each state-changing route, so that only the id decides the answer.
fn body_for(method: &str, path: &str) -> Option<&'static str> {
    Some(match (method, path) {
        ("get" | "delete", _) => return None,
        (_, "/api/v1/users/{ext}/forwarding") | (_, "/api/v1/me/forwarding") => r#"{"no_answer_seconds": 20}"#,
        (_, "/api/v1/users/{ext}/dnd") | (_, "/api/v1/me/dnd") => r#"{"on": false}"#,
        (_, "/api/v1/blocklist") | (_, "/api/v1/me/blocklist") => r#"{"number": "+74951239999"}"#,
        (_, "/api/v1/blocklist/settings") => r#"{"anonymous": false, "action": "busy"}"#,
        (_, "/api/v1/users/{ext}/web-password") => r#"{"password": "changed-pass-1"}"#,
        (_, "/api/v1/queues/{ext}/agents/{agent}") => r#"{"paused": true}"#,
        (_, "/api/v1/numbers/{number}/scenario") => r#"{"start": "a", "nodes": {"a": {"type": "hangup"}}}"#,
        (_, "/api/v1/plugins/{name}/grants") => r#"{"http": [], "directory": false, "kv": false}"#,
        (_, "/api/v1/plugins/{name}/enabled") => r#"{"enabled": false}"#,
        (_, "/api/v1/plugins/{name}/integration") => r#"{"enabled": true}"#,
        (_, "/api/v1/users") => r#"{"ext": "150"}"#,
        (_, "/api/v1/tokens") => r#"{"role": "supervisor"}"#,
        (_, "/api/v1/tenants") => r#"{"slug": "gamma", "domain": "gamma.example"}"#,
        (_, "/api/v1/tenants/{slug}/balance") => r#"{"amount": "5"}"#,
        (_, "/api/v1/me/password") => r#"{"current": "x", "new": "yyyyyyyy"}"#,
        (_, "/api/v1/contacts/{number}") => r#"{"number": "+74951230001", "name": "Changed"}"#,
        (_, "/api/v1/webhooks/{id}") => r#"{"enabled": false}"#,
        (_, "/api/v1/webhooks") => r#"{"url": "https://crm.example/hook"}"#,
        (_, "/api/v1/prompts/{name}") => r#"{"name": "stolen"}"#,
        _ => "{}",
    })
}

/// A login from a given local address (raw HTTP over a socket bound to it); the status.
fn login_from(pbx: &Pbx, local_ip: &str, login: &str, password: &str) -> u16 {
    use socket2::{Domain, Socket, Type};
    use std::io::{Read, Write};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.bind(&format!("{local_ip}:0").parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    sock.connect(&pbx.http.into()).unwrap();
    let mut s: std::net::TcpStream = sock.into();
    let body = serde_json::json!({"login": login, "password": password}).to_string();
    write!(
        s,
        "POST /api/v1/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        pbx.http,
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn cabinet_api(db: Db) {
    require_tool("sipp", "sip-tester");
    let pbx = Pbx::start(db, &[]);
    let acme_token = seed(&pbx);
    pbx.settle();
    let api = Api::new(&pbx);

    // A real recorded call in acme: 101 calls 102.
    let _phone = answering_phone(&pbx, "102", "secret102");
    assert!(sipp_call(&pbx, "101", "secret101", "102", 2500), "the call failed:\n{}", pbx.log());
    let call_id = call_log(&pbx)[0]["id"].as_str().unwrap().to_string();
    let acme = api.login("101@acme", "boss-pass-1").unwrap();
    assert!(
        wait_for(
            Duration::from_secs(15),
            || api.as_(&acme, "GET", &format!("/api/v1/calls/{call_id}"), None, true).json()["recording"]["format"] == "ogg"
        ),
        "the recording was not stored: {}\n{}",
        api.as_(&acme, "GET", &format!("/api/v1/calls/{call_id}"), None, true).text(),
        pbx.log()
    );

    // The description: every route, each with its access.
    let doc = api.call("GET", "/api/v1/openapi.json", None, &[]).json();
    let mut routes: Vec<(String, String, String)> = vec![];
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            routes.push((method.clone(), path.clone(), op["x-access"].as_str().unwrap().to_string()));
        }
    }
    assert!(routes.len() >= 50, "{} routes", routes.len());

    // Isolation: beta's supervisor tries acme's ids on every route that takes one.
    let beta = api.login("201@beta", "beta-pass-1").unwrap();
    let acme_token_id = api.as_(&acme, "GET", "/api/v1/tokens", None, true).json()["items"][0]["id"].to_string();
    let ids: HashMap<&str, String> = [
        ("ext", "102".to_string()),
        ("number", DID.replace('+', "%2B")),
        ("name", "vip".to_string()),
        ("id", call_id.clone()),
        ("agent", "102".to_string()),
    ]
    .into_iter()
    .collect();
    let mut probed = 0;
    // Acme's phone book has the number the probe uses.
    let put = api.as_(
        &acme,
        "PUT",
        &format!("/api/v1/contacts/{}", DID.replace('+', "%2B")),
        Some(r#"{"number": "+74951230001", "name": "Acme's own"}"#),
        true,
    );
    assert_eq!(put.status, 201, "{}", put.text());
    // Acme has a webhook; its secret is shown at creation only.
    let hook = api.as_(&acme, "POST", "/api/v1/webhooks", Some(r#"{"url": "https://crm.example/acme", "events": ["call.ended"]}"#), true);
    assert_eq!(hook.status, 201, "{}", hook.text());
    assert!(hook.json()["secret"].as_str().unwrap().starts_with("whsec_"));
    let acme_hook_id = hook.json()["id"].to_string();
    let bad = api.as_(&acme, "POST", "/api/v1/webhooks", Some(r#"{"url": "javascript:alert(1)"}"#), true);
    assert_eq!(bad.status, 400, "{}", bad.text());
    for (method, path, access) in &routes {
        if !(access == "supervisor" || access == "user") || !path.contains('{') {
            continue;
        }
        // Writing a contact names a number in the writer's own phone book (checked below).
        if method == "put" && path == "/api/v1/contacts/{number}" {
            continue;
        }
        let mut concrete = path.clone();
        for (k, v) in &ids {
            let v = match (*k, path.as_str()) {
                ("name", p) if p.starts_with("/api/v1/prompts") => "acme-hello".to_string(),
                ("id", p) if p.starts_with("/api/v1/tokens") => acme_token_id.clone(),
                ("id", p) if p.starts_with("/api/v1/webhooks") => acme_hook_id.clone(),
                ("ext", p) if p.starts_with("/api/v1/queues") || p.starts_with("/api/v1/groups") => "300".to_string(),
                _ => v.clone(),
            };
            concrete = concrete.replace(&format!("{{{k}}}"), &v);
        }
        let r = api.as_(&beta, &method.to_uppercase(), &concrete, body_for(method, path), true);
        assert_eq!(r.status, 404, "{method} {concrete} as another tenant: {} {}", r.status, r.text());
        probed += 1;
    }
    assert!(probed >= 19, "{probed} routes probed");
    // Nothing of acme changed.
    assert_eq!(api.as_(&acme, "GET", "/api/v1/users/102", None, true).status, 200);
    assert_eq!(api.bearer(&acme_token, "GET", "/api/v1/users", None).status, 200);
    let plugins = api.as_(&acme, "GET", "/api/v1/plugins", None, true).json();
    assert!(plugins["items"].as_array().unwrap().iter().any(|p| p["name"] == "vip" && p["enabled"] == true));
    assert_eq!(api.as_(&acme, "GET", &format!("/api/v1/recordings/{call_id}/audio"), None, true).status, 200);
    let hooks = api.as_(&acme, "GET", "/api/v1/webhooks", None, true).json();
    assert_eq!(hooks["items"][0]["enabled"], true, "beta's PATCH and DELETE did not touch acme's webhook: {hooks}");
    assert!(hooks["items"][0].get("secret").is_none());

    // Roles: a user gets 403 on every supervisor and operator route; a supervisor on every
    // operator route; the operator on every tenant route.
    let clerk = api.login("102@acme", "clerk-pass-1").unwrap();
    let op = api.login("root", "operator-pass").unwrap();
    for (method, path, access) in &routes {
        let concrete = path
            .replace("{ext}", "102")
            .replace("{slug}", "acme")
            .replace("{number}", "x")
            .replace("{name}", "vip")
            .replace("{id}", "1")
            .replace("{agent}", "102");
        let m = method.to_uppercase();
        let body = body_for(method, path);
        let who: Vec<(&Session, &str)> = match access.as_str() {
            "supervisor" => vec![(&clerk, "user"), (&op, "operator")],
            "operator" => vec![(&clerk, "user"), (&acme, "supervisor")],
            "user" => vec![(&op, "operator")],
            _ => vec![],
        };
        for (s, role) in who {
            let r = api.as_(s, &m, &concrete, body, true);
            assert_eq!(r.status, 403, "{m} {concrete} as {role}: {} {}", r.status, r.text());
        }
    }
    // A user sees only their own calls and figures.
    let own = api.as_(&clerk, "GET", "/api/v1/calls", None, true).json();
    assert_eq!(own["items"].as_array().unwrap().len(), 1);
    let stats = api.as_(&clerk, "GET", "/api/v1/stats", None, true).json();
    assert_eq!(stats["users"].as_array().unwrap().len(), 1);
    assert_eq!((stats["users"][0]["ext"].as_str(), stats["users"][0]["answered"].as_i64()), (Some("102"), Some(1)));

    // CSRF: a cookie alone cannot change anything; a bearer token needs no CSRF token.
    let r = api.as_(&acme, "POST", "/api/v1/users", Some(r#"{"ext": "160"}"#), false);
    assert_eq!(r.status, 403, "{}", r.text());
    let wrong = Session { csrf: "forged".into(), ..acme.clone() };
    assert_eq!(api.as_(&wrong, "POST", "/api/v1/users", Some(r#"{"ext": "160"}"#), true).status, 403);
    assert_eq!(api.as_(&acme, "GET", "/api/v1/users/160", None, true).status, 404);
    assert_eq!(api.bearer(&acme_token, "POST", "/api/v1/users", Some(r#"{"ext": "161"}"#)).status, 201);
    assert_eq!(api.as_(&acme, "POST", "/api/v1/users", Some(r#"{"ext": "160"}"#), true).status, 201);

    // The phone book: acme's entry survived beta's probes; beta writing the same number
    // names it in beta's book only.
    let mine = api.as_(&acme, "GET", "/api/v1/contacts", None, true).json();
    assert_eq!(mine["items"][0]["name"], "Acme's own", "{mine}");
    let theirs = api.as_(&beta, "PUT", "/api/v1/contacts/84951230001", Some(r#"{"number": "84951230001", "name": "Beta's"}"#), true);
    assert_eq!(theirs.status, 201, "{}", theirs.text());
    assert_eq!(api.as_(&acme, "GET", "/api/v1/contacts", None, true).json()["items"][0]["name"], "Acme's own");
    // Import: Excel's semicolons, BOM and Russian headers; a bad line names itself and
    // nothing of the file is stored.
    let csv_headers =
        |s: &Session| vec![("Cookie", s.cookie.clone()), ("X-CSRF-Token", s.csrf.clone()), ("Content-Type", "text/csv".to_string())];
    let hdrs = csv_headers(&acme);
    let hdrs: Vec<(&str, &str)> = hdrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let bad = api.call("POST", "/api/v1/contacts/import", Some("номер;имя\n+79160000001;Анна\nnot a number;Борис\n".as_bytes()), &hdrs);
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.json()["error"].as_str().unwrap().contains("line 3"), "{}", bad.text());
    assert_eq!(
        api.as_(&acme, "GET", "/api/v1/contacts?q=%D0%B0%D0%BD%D0%BD%D0%B0", None, true).json()["items"].as_array().unwrap().len(),
        0
    );
    let good = "\u{feff}Телефон;Имя;Компания\r\n8 916 000-00-01;Анна Белова;\"ООО \"\"Ромашка\"\"\"\r\n+74951230001;Отдел продаж;\r\n";
    let imported = api.call("POST", "/api/v1/contacts/import", Some(good.as_bytes()), &hdrs);
    assert_eq!(
        (imported.status, imported.json()["added"].as_u64(), imported.json()["replaced"].as_u64()),
        (200, Some(1), Some(1)),
        "{}",
        imported.text()
    );
    let found = api.as_(&acme, "GET", "/api/v1/contacts?q=%D0%A0%D0%BE%D0%BC%D0%B0%D1%88", None, true).json();
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "search by company: {found}");
    assert_eq!(found["items"][0]["number"], "+79160000001");
    let by_digits = api.as_(&acme, "GET", "/api/v1/contacts?q=000-00-01", None, true).json();
    assert_eq!(by_digits["items"][0]["name"], "Анна Белова");
    // Employees read the book (and export it); only supervisors change it.
    assert_eq!(api.as_(&clerk, "GET", "/api/v1/contacts", None, true).json()["items"].as_array().unwrap().len(), 2);
    let export = api.as_(&clerk, "GET", "/api/v1/contacts.csv", None, true);
    assert!(export.body.starts_with(b"\xEF\xBB\xBFnumber,name,company,note"), "{}", export.text());
    assert!(export.text().contains("+79160000001,Анна Белова,\"ООО \"\"Ромашка\"\"\""), "{}", export.text());
    // For Excel in Russian: the same book with semicolons, which the import reads back.
    let excel = api.as_(&clerk, "GET", "/api/v1/contacts.csv?delimiter=semicolon", None, true);
    assert!(excel.body.starts_with("\u{feff}number;name;company;note\r\n".as_bytes()), "{}", excel.text());
    assert!(excel.text().contains("+79160000001;Анна Белова;\"ООО \"\"Ромашка\"\"\""), "{}", excel.text());
    assert_eq!(api.as_(&clerk, "GET", "/api/v1/contacts.csv?delimiter=tab", None, true).status, 400);
    assert_eq!(api.as_(&acme, "DELETE", "/api/v1/contacts/%2B79160000001", None, true).status, 204);
    assert_eq!(api.as_(&acme, "DELETE", "/api/v1/contacts/%2B79160000001", None, true).status, 404);
    let mismatch = api.as_(&acme, "PUT", "/api/v1/contacts/84951230001", Some(r#"{"number": "+79160000009", "name": "X"}"#), true);
    assert_eq!(mismatch.status, 400);

    // The company's settings: read, changed, and a bad field changes nothing.
    let before = api.as_(&acme, "GET", "/api/v1/settings", None, true).json();
    assert_eq!(before["domain"], "acme.example", "{before}");
    assert!(before["builtin_prompts"].as_array().unwrap().iter().any(|p| p == "music"), "{before}");
    let set = api.as_(
        &acme,
        "PUT",
        "/api/v1/settings",
        Some(r#"{"timezone": "Asia/Yekaterinburg", "greeting": "acme-hello", "recording": ["inbound"], "retention_days": 30}"#),
        true,
    );
    assert_eq!(set.status, 200, "{}", set.text());
    let now = set.json();
    assert_eq!(
        (now["timezone"].as_str(), now["greeting"].as_str(), now["recording"].clone(), now["retention_days"].as_i64()),
        (Some("Asia/Yekaterinburg"), Some("acme-hello"), json!(["inbound"]), Some(30))
    );
    let other = if before["language"] == "en" { "ru" } else { "en" };
    for (bad, code) in [
        (format!(r#"{{"language": "{other}", "timezone": "Mars/Olympus"}}"#), 400),
        (format!(r#"{{"language": "{other}", "greeting": "never-uploaded"}}"#), 400),
        (r#"{"colour": "red"}"#.to_string(), 422),
    ] {
        let r = api.as_(&acme, "PUT", "/api/v1/settings", Some(&bad), true);
        assert_eq!(r.status, code, "{bad}: {}", r.text());
        assert!(!r.json()["error"].as_str().unwrap_or_default().is_empty());
    }
    assert_eq!(
        api.as_(&acme, "GET", "/api/v1/settings", None, true).json()["language"],
        before["language"],
        "a refused change changed nothing"
    );
    assert_eq!(api.as_(&clerk, "PUT", "/api/v1/settings", Some(r#"{"language": "en"}"#), true).status, 403);
    // A greeting in use is not deleted (the answer says where); once free, it goes with its file.
    let used = api.as_(&acme, "DELETE", "/api/v1/prompts/acme-hello", None, true);
    assert_eq!(used.status, 409, "{}", used.text());
    assert!(used.json()["error"].as_str().unwrap().contains("the company's greeting"), "{}", used.text());
    assert_eq!(api.as_(&acme, "GET", "/api/v1/prompts/acme-hello/audio", None, true).status, 200);
    assert_eq!(api.as_(&acme, "PUT", "/api/v1/settings", Some(r#"{"greeting": ""}"#), true).status, 200);
    assert_eq!(api.as_(&clerk, "DELETE", "/api/v1/prompts/acme-hello", None, true).status, 403);
    assert_eq!(api.as_(&acme, "DELETE", "/api/v1/prompts/acme-hello", None, true).status, 204);
    assert_eq!(api.as_(&acme, "GET", "/api/v1/prompts/acme-hello/audio", None, true).status, 404);
    assert_eq!(api.as_(&acme, "DELETE", "/api/v1/prompts/acme-hello", None, true).status, 404);

    // The audit log: the supervisor reads their company's changes (the cabinet's, the API
    // tokens' and the CLI's, never a secret), the operator everybody's, a user nothing.
    let all = |who: &Session, q: &str| {
        let mut out: Vec<Value> = Vec::new();
        let mut after = String::new();
        loop {
            let page = api.as_(who, "GET", &format!("/api/v1/audit?limit=200{q}{after}"), None, true).json();
            out.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next"].as_str() {
                Some(n) => after = format!("&after={n}"),
                None => return out,
            }
        }
    };
    let mine = all(&acme, "");
    let has = |rows: &[Value], action: &str, via: &str, status: i64| {
        rows.iter().any(|e| e["action"] == action && e["via"] == via && e["status"] == status)
    };
    assert!(has(&mine, "PUT /api/v1/settings", "session", 200), "{mine:?}");
    assert!(has(&mine, "DELETE /api/v1/prompts/{name}", "session", 409) && has(&mine, "DELETE /api/v1/prompts/{name}", "session", 204));
    assert!(has(&mine, "POST /api/v1/login", "session", 200));
    let set = mine.iter().find(|e| e["action"] == "PUT /api/v1/settings").unwrap();
    assert_eq!(
        (set["actor"].as_str(), set["address"].as_str(), set["object"].as_str()),
        (Some("101"), Some("127.0.0.1"), Some("/api/v1/settings"))
    );
    assert!(has(&mine, "user create", "cli", 0), "the CLI's changes are there too");
    let text = serde_json::to_string(&mine).unwrap();
    assert!(!text.contains("secret101") && !text.contains("boss-pass-1") && !text.contains("clerk-pass-1"), "a secret in the audit log");
    assert!(mine.iter().all(|e| e["tenant_id"] == mine[0]["tenant_id"]), "only acme's entries");
    assert!(!mine.iter().any(|e| e["object"].as_str().unwrap_or_default().contains("beta")), "nothing of beta");
    assert_eq!(api.as_(&clerk, "GET", "/api/v1/audit", None, true).status, 403);
    let beta_only = all(&op, "&tenant=beta");
    assert!(!beta_only.is_empty() && beta_only.iter().all(|e| e["tenant_id"] != mine[0]["tenant_id"]), "{beta_only:?}");
    assert!(all(&op, "").len() > mine.len() + beta_only.len() - 1, "the operator reads everybody's");

    // Ring groups: created, changed, refused with reasons, not deleted while a scenario
    // dials them; queue 300 (whose extension beta probed above) is untouched.
    let g = api.as_(
        &acme,
        "POST",
        "/api/v1/groups",
        Some(r#"{"ext": "310", "name": "Sales", "strategy": "sequential", "members": ["102", "101"]}"#),
        true,
    );
    assert_eq!(g.status, 201, "{}", g.text());
    assert_eq!((g.json()["kind"].as_str(), g.json()["members"].clone()), (Some("ring"), json!(["102", "101"])));
    for (bad, why) in [
        (r#"{"ext": "311", "members": ["999"]}"#, "not a user"),
        (r#"{"ext": "312", "members": ["101"], "strategy": "longest-idle"}"#, "unknown strategy"),
        (r#"{"ext": "101", "members": ["102"]}"#, "already exists"),
        (r#"{"ext": "313", "members": ["101"], "ring_seconds": 1}"#, "ring seconds"),
    ] {
        let r = api.as_(&acme, "POST", "/api/v1/groups", Some(bad), true);
        assert!(r.status == 400 || r.status == 409, "{bad}: {} {}", r.status, r.text());
        assert!(r.json()["error"].as_str().unwrap().contains(why), "{bad}: {}", r.text());
    }
    let changed = api.as_(
        &acme,
        "PUT",
        "/api/v1/groups/310",
        Some(r#"{"strategy": "simultaneous", "members": ["101"], "timeout_seconds": 40}"#),
        true,
    );
    assert_eq!(changed.status, 200, "{}", changed.text());
    assert_eq!(
        (changed.json()["strategy"].as_str(), changed.json()["timeout_seconds"].as_i64(), changed.json()["name"].as_str()),
        (Some("simultaneous"), Some(40), Some("Sales"))
    );
    assert_eq!(api.as_(&acme, "PUT", "/api/v1/groups/310", Some(r#"{"kind": "queue"}"#), true).status, 400);
    let dial = r#"{"start": "a", "nodes": {"a": {"type": "dial", "targets": ["310"], "timeout": 20, "next": {"*": "b"}}, "b": {"type": "hangup"}}}"#;
    let put = api.as_(&acme, "PUT", &format!("/api/v1/numbers/{}/scenario", DID.replace('+', "%2B")), Some(dial), true);
    assert_eq!(put.status, 200, "{}", put.text());
    let used = api.as_(&acme, "DELETE", "/api/v1/groups/310", None, true);
    assert_eq!(used.status, 409, "{}", used.text());
    assert!(used.json()["error"].as_str().unwrap().contains(DID), "{}", used.text());
    let hang = r#"{"start": "b", "nodes": {"b": {"type": "hangup"}}}"#;
    assert_eq!(api.as_(&acme, "PUT", &format!("/api/v1/numbers/{}/scenario", DID.replace('+', "%2B")), Some(hang), true).status, 200);
    assert_eq!(api.as_(&acme, "DELETE", "/api/v1/groups/310", None, true).status, 204);
    let groups = api.as_(&acme, "GET", "/api/v1/groups", None, true).json();
    let exts: Vec<&str> = groups["items"].as_array().unwrap().iter().map(|g| g["ext"].as_str().unwrap()).collect();
    assert_eq!(exts, ["300"], "{groups}");

    // A user's name and role change; the company keeps at least one supervisor.
    let renamed = api.as_(&acme, "PUT", "/api/v1/users/102", Some(r#"{"name": "Клерк Иванов", "role": "supervisor"}"#), true);
    assert_eq!(renamed.status, 200, "{}", renamed.text());
    assert_eq!((renamed.json()["name"].as_str(), renamed.json()["role"].as_str()), (Some("Клерк Иванов"), Some("supervisor")));
    assert_eq!(api.as_(&acme, "PUT", "/api/v1/users/102", Some(r#"{"role": "user"}"#), true).status, 200);
    let only = api.as_(&acme, "PUT", "/api/v1/users/101", Some(r#"{"role": "user"}"#), true);
    assert_eq!(only.status, 400, "{}", only.text());
    assert!(only.json()["error"].as_str().unwrap().contains("only supervisor"), "{}", only.text());
    let long = format!(r#"{{"name": "{}"}}"#, "я".repeat(101));
    assert_eq!(api.as_(&acme, "PUT", "/api/v1/users/102", Some(&long), true).status, 400);

    // Recordings: playback with Range, WAV download with two channels.
    let audio = format!("/api/v1/recordings/{call_id}/audio");
    let full = api.as_(&acme, "GET", &audio, None, true);
    assert_eq!(full.headers.get("accept-ranges").map(String::as_str), Some("bytes"));
    assert!(full.body.starts_with(b"OggS"));
    let len = full.body.len();
    let part = api.call("GET", &audio, None, &[("Cookie", acme.cookie.as_str()), ("Range", "bytes=100-199")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.headers["content-range"], format!("bytes 100-199/{len}"));
    assert_eq!(part.body, full.body[100..200]);
    let tail = api.call("GET", &audio, None, &[("Cookie", acme.cookie.as_str()), ("Range", "bytes=-50")]);
    assert_eq!((tail.status, tail.body.as_slice()), (206, &full.body[len - 50..]));
    let bad = api.call("GET", &audio, None, &[("Cookie", acme.cookie.as_str()), ("Range", &format!("bytes={}-", len + 10))]);
    assert_eq!(bad.status, 416);
    let wav = api.as_(&acme, "GET", &format!("/api/v1/recordings/{call_id}/wav"), None, true);
    assert!(wav.body.starts_with(b"RIFF") && wav.body.len() > 44);
    assert_eq!(u16::from_le_bytes([wav.body[22], wav.body[23]]), 2, "two channels");
    // A shared link: the clerk (rung for this call) makes one; anyone with it fetches the
    // recording without signing in, as stored (with Range) or as WAV; altered, it is refused.
    let link = api.as_(&clerk, "POST", &format!("/api/v1/recordings/{call_id}/link"), Some(r#"{"ttl_seconds": 3600}"#), true);
    assert_eq!(link.status, 200, "{}", link.text());
    let url = link.json()["url"].as_str().unwrap().to_string();
    let expires = link.json()["expires_at"].as_i64().unwrap();
    assert!((expires - pbx_store::now_ms() - 3_600_000).abs() < 60_000, "expires at {expires}");
    let shared = api.call("GET", &url, None, &[]);
    assert_eq!((shared.status, shared.body.as_slice()), (200, full.body.as_slice()), "{}", shared.text());
    assert_eq!(shared.headers.get("cache-control").map(String::as_str), Some("private, no-store"));
    let ranged = api.call("GET", &url, None, &[("Range", "bytes=100-199")]);
    assert_eq!((ranged.status, ranged.body.as_slice()), (206, &full.body[100..200]));
    let shared_wav = api.call("GET", &format!("{url}?format=wav"), None, &[]);
    assert_eq!(shared_wav.body, wav.body, "the WAV of a link is the cabinet's download");
    let mut forged = url.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(api.call("GET", &forged, None, &[]).status, 404);
    assert_eq!(api.call("GET", "/api/v1/shared/recordings/nonsense", None, &[]).status, 404);
    let too_long = api.as_(&acme, "POST", &format!("/api/v1/recordings/{call_id}/link"), Some(r#"{"ttl_seconds": 99999999}"#), true);
    assert_eq!(too_long.status, 400);
    let csv = api.as_(&acme, "GET", "/api/v1/calls.csv?direction=internal", None, true);
    assert!(csv.text().lines().count() == 2 && csv.text().contains(&call_id), "{}", csv.text());
    assert!(csv.text().starts_with("\u{feff}started,direction,"), "{}", csv.text());
    let excel = api.as_(&acme, "GET", "/api/v1/calls.csv?direction=internal&delimiter=semicolon", None, true);
    assert!(excel.text().starts_with("\u{feff}started;direction;caller;"), "{}", excel.text());
    assert!(excel.text().contains("\"internal\";\"101\";"), "{}", excel.text());

    // A bad upload gets a readable message and stores nothing.
    let junk = api.call(
        "POST",
        "/api/v1/prompts?name=junk",
        Some(b"this is not audio"),
        &[("Cookie", acme.cookie.as_str()), ("X-CSRF-Token", acme.csrf.as_str())],
    );
    assert_eq!(junk.status, 400);
    assert!(!junk.json()["error"].as_str().unwrap().is_empty());
    assert!(!api.as_(&acme, "GET", "/api/v1/prompts", None, true).text().contains("junk"));

    // Failed logins: a few free guesses per account and address (the answer says how many
    // are left), then answers wait, growing; nobody can lock the account's owner out.
    for left in [2, 1, 0, 0] {
        let r = api.login("102@acme", "wrong-pass").err().unwrap();
        assert_eq!((r.status, r.json()["remaining"].as_u64()), (401, Some(left)));
    }
    // From here on answers wait (even the right password has to wait its turn).
    let slowed = (0..3).find_map(|_| api.login("102@acme", "clerk-pass-1").err().filter(|r| r.status == 429)).expect("a 429");
    assert_eq!(slowed.json()["reason"].as_str(), Some("throttled"));
    assert!(slowed.headers.get("retry-after").is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
    assert_eq!(login_from(&pbx, "127.0.0.2", "102@acme", "clerk-pass-1"), 200, "the owner at another address signs in");
    // A parallel burst has only the free guesses checked, the rest wait.
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..30).map(|_| s.spawn(|| login_from(&pbx, "127.0.0.3", "999@acme", "guess-guess"))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(checked <= 4 && statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");

    // Suspension: no login (and the reason is said), existing sessions end.
    assert_eq!(api.as_(&op, "POST", "/api/v1/tenants/beta/suspend", None, true).status, 200);
    let refused = api.login("201@beta", "beta-pass-1").err().unwrap();
    assert_eq!((refused.status, refused.json()["reason"].as_str()), (403, Some("suspended")));
    assert_eq!(api.as_(&beta, "GET", "/api/v1/me", None, true).status, 401);
    assert_eq!(api.as_(&op, "POST", "/api/v1/tenants/beta/resume", None, true).status, 200);
    assert!(api.login("201@beta", "beta-pass-1").is_ok());

    // Listings page by keyset: walking `next` one row at a time yields each row once, in
    // order (extensions by length, so 99 comes before 101 and 1000 last).
    pbx.cli_ok(&["user", "create", "acme", "99", "--password", "secret099"]);
    pbx.cli_ok(&["user", "create", "acme", "1000", "--password", "secret1000"]);
    let walk = |s: &Session, path: &str, key: &str| -> Vec<String> {
        let (mut out, mut after) = (vec![], String::new());
        for _ in 0..20 {
            let cursor = if after.is_empty() { String::new() } else { format!("&after={after}") };
            let page = api.as_(s, "GET", &format!("{path}?limit=1{cursor}"), None, true).json();
            out.extend(page["items"].as_array().unwrap().iter().map(|i| i[key].as_str().unwrap().to_string()));
            match page["next"].as_str() {
                Some(n) => after = n.to_string(),
                None => return out,
            }
        }
        panic!("{path} did not end: {out:?}");
    };
    let all = api.as_(&acme, "GET", "/api/v1/users?limit=500", None, true).json();
    let mut exts: Vec<String> = all["items"].as_array().unwrap().iter().map(|u| u["ext"].as_str().unwrap().to_string()).collect();
    exts.sort_by_key(|e| (e.len(), e.clone()));
    assert_eq!((exts.first().map(String::as_str), exts.last().map(String::as_str)), (Some("99"), Some("1000")));
    assert_eq!(walk(&acme, "/api/v1/users", "ext"), exts);
    assert_eq!(walk(&op, "/api/v1/tenants", "slug"), ["acme", "beta"]);

    // Tokens: revoked means refused; logout ends the session.
    let id = api.bearer(&acme_token, "GET", "/api/v1/tokens", None).json()["items"][0]["id"].to_string();
    assert_eq!(api.as_(&acme, "DELETE", &format!("/api/v1/tokens/{id}"), None, true).status, 204);
    assert_eq!(api.bearer(&acme_token, "GET", "/api/v1/users", None).status, 401);
    assert_eq!(api.as_(&acme, "POST", "/api/v1/logout", None, true).status, 204);
    assert_eq!(api.as_(&acme, "GET", "/api/v1/me", None, true).status, 401);
    // Trunks, for the operator: added with the CLI's checks, the password never shown, not
    // deleted while they carry numbers.
    let t = api.as_(
        &op,
        "POST",
        "/api/v1/trunks",
        Some(r#"{"name": "reg1", "host": "sip.carrier.example", "register": true, "username": "u1", "password": "trunk-secret"}"#),
        true,
    );
    assert_eq!(t.status, 201, "{}", t.text());
    assert_eq!(t.json()["host"], "sip.carrier.example:5060");
    assert!(!api.as_(&op, "GET", "/api/v1/trunks", None, true).text().contains("trunk-secret"), "the trunk's password is not listed");
    let bad =
        api.as_(&op, "POST", "/api/v1/trunks", Some(r#"{"name": "ip2", "host": "c.example:5060", "allow_ips": ["10.0.0.0/99"]}"#), true);
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(
        api.as_(&beta, "POST", "/api/v1/trunks", Some(r#"{"name": "x", "host": "y", "allow_ips": ["10.0.0.1"]}"#), true).status,
        403
    );
    let busy = api.as_(&op, "DELETE", "/api/v1/trunks/carrier", None, true);
    assert_eq!(busy.status, 409, "{}", busy.text());
    assert!(busy.json()["error"].as_str().unwrap().contains("city number"), "{}", busy.text());
    assert_eq!(api.as_(&op, "DELETE", "/api/v1/trunks/reg1", None, true).status, 204);
    assert_eq!(api.as_(&op, "DELETE", "/api/v1/trunks/reg1", None, true).status, 404);

    // Sessions: listed with where they were opened, one ended from another, then all.
    let here = api.login("101@acme", "boss-pass-1").unwrap();
    let there = api.login("101@acme", "boss-pass-1").unwrap();
    let list = api.as_(&here, "GET", "/api/v1/me/sessions", None, true).json();
    let items = list["items"].as_array().unwrap();
    assert!(items.len() >= 2, "{list}");
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1, "{list}");
    assert!(items.iter().all(|s| s["address"] == "127.0.0.1" && s["key"].as_str().unwrap().len() == 16), "{list}");
    assert!(!list.to_string().contains(here.cookie.trim_start_matches("pbx_session=")), "no cookie in the list");
    let theirs: Vec<String> = api.as_(&there, "GET", "/api/v1/me/sessions", None, true).json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["current"] == true)
        .map(|s| s["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(api.as_(&here, "DELETE", &format!("/api/v1/me/sessions/{}", theirs[0]), None, true).status, 204);
    assert_eq!(api.as_(&there, "GET", "/api/v1/me", None, true).status, 401, "the ended session is gone");
    assert_eq!(api.as_(&beta, "DELETE", &format!("/api/v1/me/sessions/{}", theirs[0]), None, true).status, 404);
    assert_eq!(api.as_(&here, "POST", "/api/v1/me/logout-everywhere", None, true).status, 204);
    assert_eq!(api.as_(&here, "GET", "/api/v1/me", None, true).status, 401);

    // Unknown API addresses are JSON 404s; page addresses get the app.
    assert_eq!(api.call("GET", "/api/v1/nope", None, &[]).status, 404);
    assert!(api.call("GET", "/calls", None, &[]).text().contains("/assets/app.js"));
}

#[test]
fn cabinet_api_in_sqlite() {
    cabinet_api(Db::Sqlite);
}

#[test]
fn cabinet_api_in_postgres() {
    cabinet_api(Db::Postgres(PgDb::create()));
}

/// Every `/api/v1/...` address the pages call is described, with the path parameters the
/// description names.
#[test]
fn openapi_covers_every_address_the_pages_call() {
    let pbx = Pbx::start(Db::Sqlite, &[]);
    let api = Api::new(&pbx);
    let doc = api.call("GET", "/api/v1/openapi.json", None, &[]).json();
    assert_eq!(doc["openapi"], "3.1.0");
    let templates: Vec<Vec<String>> =
        doc["paths"].as_object().unwrap().keys().map(|p| p.split('/').map(str::to_string).collect()).collect();
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    let mut seen = 0;
    // Every script of the cabinet, so a new page file cannot slip past.
    let mut files: Vec<String> =
        std::fs::read_dir(&web).unwrap().filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.ends_with(".js")).collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    for f in files {
        let src = std::fs::read_to_string(web.join(&f)).unwrap();
        for lit in src.split('\'').filter(|s| s.starts_with("/api/v1/")) {
            // A literal is a prefix; what follows it in the code is a parameter or a query.
            let lit = lit.split('?').next().unwrap();
            let segs: Vec<&str> = lit.trim_end_matches('/').split('/').collect();
            let ends_open = lit.ends_with('/');
            let ok = templates.iter().any(|t| {
                t.len() >= segs.len()
                    && segs.iter().zip(t).all(|(s, t)| s == t || (t.starts_with('{') && !s.is_empty()))
                    && (ends_open || t.len() == segs.len() || t.len() == segs.len() + 1 || t.len() == segs.len() + 2)
            });
            assert!(ok, "{f} calls {lit}, which the OpenAPI document does not describe");
            seen += 1;
        }
    }
    assert!(seen >= 30, "only {seen} addresses found in the pages");
}
