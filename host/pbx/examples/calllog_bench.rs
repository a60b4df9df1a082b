//! Cabinet call-log benchmark: generates N call-log rows (default 1,000,000, over 90 days,
//! 50 users, with per-user call legs) in SQLite or PostgreSQL, serves the real cabinet API
//! in-process on a loopback port, and times its answers over HTTP with an API token.
//!
//! ```sh
//! cargo run --release -p pbx --example calllog_bench -- sqlite 1000000
//! cargo run --release -p pbx --example calllog_bench -- postgres://postgres@127.0.0.1:5432/test 1000000
//! ```
//! Prints one line per query: median and worst of 15 requests, in milliseconds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pbx_store::{Backend, NewUser, Role, Store, now_ms};
use std::time::Instant;

const USERS: i64 = 50;
const DAY: i64 = 86_400_000;

fn generate_sql(backend: Backend, tenant: i64, first_user: i64, n: i64, t0: i64) -> (String, String) {
    let span = 90 * DAY / n;
    let (series, pad7, pad2) = match backend {
        Backend::Sqlite => (
            format!("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) "),
            "printf('%07d', i)",
            "printf('%02d', {x})",
        ),
        Backend::Postgres => (String::new(), "lpad(i::text, 7, '0')", "lpad(({x})::text, 2, '0')"),
    };
    let from = match backend {
        Backend::Sqlite => "FROM s".to_string(),
        Backend::Postgres => format!("FROM generate_series(1::bigint, {n}) AS i"),
    };
    let ext = |x: &str| format!("'1' || {}", pad2.replace("{x}", x));
    let calls = format!(
        "{series}INSERT INTO calls (id, tenant_id, direction, caller_number, caller_name, callee, caller_user_id, callee_user_id, \
         started_at, answered_at, ended_at, disposition, hangup_cause, hangup_side, talk_seconds, node) \
         SELECT 'gen-' || {pad7}, {tenant}, \
           CASE i % 3 WHEN 0 THEN 'inbound' WHEN 1 THEN 'outbound' ELSE 'internal' END, \
           CASE i % 3 WHEN 0 THEN '+7495' || {pad7} ELSE {caller_ext} END, '', \
           CASE i % 3 WHEN 1 THEN '+7916' || {pad7} ELSE {callee_ext} END, \
           CASE i % 3 WHEN 0 THEN NULL ELSE {first_user} + (i % {USERS}) END, \
           CASE i % 3 WHEN 1 THEN NULL ELSE {first_user} + ((i * 7 + 1) % {USERS}) END, \
           {t0} + i * {span}, \
           CASE WHEN i % 5 = 0 THEN NULL ELSE {t0} + i * {span} + 5000 END, \
           {t0} + i * {span} + 5000 + (i % 300) * 1000, \
           CASE WHEN i % 5 = 0 THEN 'missed' ELSE 'answered' END, 'BYE', 'caller', \
           CASE WHEN i % 5 = 0 THEN 0 ELSE i % 300 END, 'bench' {from}",
        caller_ext = ext(&format!("i % {USERS}")),
        callee_ext = ext(&format!("(i * 7 + 1) % {USERS}")),
    );
    let legs = format!(
        "{series}INSERT INTO call_legs (call_id, user_id, outcome, rang_at) \
         SELECT 'gen-' || {pad7}, {first_user} + ((i * 7 + 1) % {USERS}), CASE WHEN i % 5 = 0 THEN 'missed' ELSE 'answered' END, \
           {t0} + i * {span} {from} WHERE i % 3 <> 1"
    );
    (calls, legs)
}

fn time(agent: &ureq::Agent, base: &str, token: &str, path: &str) -> (f64, f64, usize) {
    let mut ms = vec![];
    let mut size = 0;
    for _ in 0..15 {
        let t = Instant::now();
        let mut r = agent.get(format!("{base}{path}")).header("Authorization", format!("Bearer {token}")).call().unwrap();
        let body = r.body_mut().read_to_string().unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(r.status() == 200, "{path}: {body}");
        size = body.len();
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    (ms[ms.len() / 2], ms[ms.len() - 1], size)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let target = args.get(1).cloned().unwrap_or_else(|| "sqlite".into());
    let n: i64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let (url, pg_drop) = if target == "sqlite" {
        (format!("sqlite://{}/pbx.db", dir.path().display()), None)
    } else {
        sqlx::any::install_default_drivers();
        let name = format!("pbx_bench_{}", std::process::id());
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&target).await?;
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str()).await?;
        let base = target.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(target.clone());
        (format!("{base}/{name}"), Some((target.clone(), name)))
    };
    let store = Store::open(&url).await?;
    let t = store.create_tenant("bench", "bench.example", "Bench").await?;
    let mut first = None;
    for k in 0..USERS {
        let u = store
            .create_user(
                t.id,
                &NewUser { ext: &format!("1{k:02}"), sip_password: "secret123", name: "", role: Role::User, web_password: None },
            )
            .await?;
        first.get_or_insert(u.id);
        assert_eq!(u.id, first.unwrap_or(0) + k, "user ids must be consecutive for the generator");
    }
    let first = first.unwrap_or(0);
    let now = now_ms();
    let t0 = now - 90 * DAY;
    let generating = Instant::now();
    let (calls, legs) = generate_sql(store.backend(), t.id, first, n, t0);
    sqlx::query(&calls).execute(store.pool()).await?;
    sqlx::query(&legs).execute(store.pool()).await?;
    // Statistics for the planner; in PostgreSQL also the visibility map that autovacuum
    // keeps on a live table (index-only scans need it; a bulk insert leaves it empty).
    if store.backend() == Backend::Sqlite {
        sqlx::query("ANALYZE").execute(store.pool()).await?;
    } else {
        sqlx::query("VACUUM ANALYZE calls").execute(store.pool()).await?;
        sqlx::query("VACUUM ANALYZE call_legs").execute(store.pool()).await?;
    }
    println!(
        "generated {n} calls in {:.1} s ({})",
        generating.elapsed().as_secs_f64(),
        if target == "sqlite" { "sqlite" } else { "postgres" }
    );
    let (_, token) = store.create_token(Some(t.id), "supervisor", None, "bench").await?;

    let plugins = pbx::scenario::service::runtime_for(&store, t.id).await?;
    let web = pbx::web::WebState::new(store.clone(), dir.path().to_path_buf(), plugins).map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, pbx::web::router(web)).await });

    let fmt_day = |ms: i64| jiff::Timestamp::from_millisecond(ms).map(|t| t.strftime("%Y-%m-%d").to_string()).unwrap_or_default();
    let month_ago = fmt_day(now - 30 * DAY);
    let today = fmt_day(now);
    let week = (fmt_day(now - 60 * DAY), fmt_day(now - 53 * DAY));
    let queries = vec![
        ("call log, first page (50 rows)", "/api/v1/calls?limit=50".to_string()),
        ("call log, page as the cabinet opens it (last 30 days)", format!("/api/v1/calls?limit=50&from={month_ago}&to={today}")),
        ("call log, one user's inbound calls", "/api/v1/calls?limit=50&ext=107&direction=inbound".to_string()),
        ("call log, a week two months ago", format!("/api/v1/calls?limit=50&from={}&to={}", week.0, week.1)),
        ("call log, missed calls", "/api/v1/calls?limit=50&disposition=missed".to_string()),
        ("call log, number search in the last 30 days", format!("/api/v1/calls?limit=50&number=4950012&from={month_ago}&to={today}")),
        ("statistics, a month, all 50 users", format!("/api/v1/stats?from={month_ago}&to={today}")),
        ("statistics, a month, one user", format!("/api/v1/stats?from={month_ago}&to={today}&ext=107")),
    ];
    // A deep page: follow the cursor 200 pages in.
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let (b2, tk2) = (base.clone(), token.clone());
    let deep = tokio::task::spawn_blocking(move || {
        let mut after = String::new();
        for _ in 0..200 {
            let mut r =
                ureq::get(format!("{b2}/api/v1/calls?limit=50{after}")).header("Authorization", format!("Bearer {tk2}")).call().unwrap();
            let v: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
            after = format!("&after={}", v["next"].as_str().unwrap_or_default());
        }
        after
    })
    .await?;
    let mut all = queries;
    all.push(("call log, page 201 by keyset cursor", format!("/api/v1/calls?limit=50{deep}")));
    for (label, path) in all {
        let (a, tk) = (agent.clone(), token.clone());
        let b = base.clone();
        let (median, worst, size) = tokio::task::spawn_blocking(move || time(&a, &b, &tk, &path)).await?;
        println!("{label}: median {median:.1} ms, worst {worst:.1} ms ({size} bytes)");
    }
    store.close().await;
    if let Some((admin, name)) = pg_drop {
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin).await?;
        sqlx::Executor::execute(&mut conn, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await?;
    }
    Ok(())
}
