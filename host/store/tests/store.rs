//! The storage layer against both engines: SQLite in a temporary file and a fresh
//! PostgreSQL database (PBX_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pbx_store::*;

async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/pbx.db", dir.path().display());
    (Store::open(&url).await.unwrap(), dir)
}

/// Creates a uniquely named PostgreSQL database and returns its URL; dropped by the guard.
pub struct PgDb {
    admin: String,
    name: String,
    /// URL of the new database.
    pub url: String,
}

impl PgDb {
    async fn create() -> PgDb {
        let admin = std::env::var("PBX_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        sqlx::any::install_default_drivers();
        let name = format!("pbx_store_{}_{}", std::process::id(), rand::random::<u32>());
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is required for this test at {admin}: {e}"));
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str()).await.unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
        PgDb { url: format!("{base}/{name}"), admin, name }
    }

    async fn drop_db(self) {
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&self.admin).await.unwrap();
        let _ = sqlx::Executor::execute(&mut conn, format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str()).await;
    }
}

async fn exercise(store: &Store) {
    // Tenants and users.
    let v0 = store.config_version().await.unwrap();
    let t = store.create_tenant("acme", "Acme.Example", "Acme Ltd").await.unwrap();
    assert_eq!(t.domain, "acme.example");
    assert!(store.config_version().await.unwrap() > v0);
    assert!(matches!(store.create_tenant("acme", "other.example", "").await, Err(StoreError::Conflict(_))));
    assert!(matches!(store.create_tenant("Bad Slug", "x.example", "").await, Err(StoreError::Invalid(_))));
    // Free text is bounded: a 2,800-character name is refused, with the field named.
    let long = store.create_tenant("longname", "long.example", &"Я".repeat(2800)).await;
    assert!(matches!(&long, Err(StoreError::Invalid(m)) if m.contains("company name")), "{long:?}");
    assert!(matches!(store.create_token(Some(t.id), "supervisor", None, &"x".repeat(101)).await, Err(StoreError::Invalid(_))));
    let u = store
        .create_user(
            t.id,
            &NewUser {
                ext: "101",
                sip_password: "secret101",
                name: "Иван Петров",
                role: Role::Supervisor,
                web_password: Some("longpassword"),
            },
        )
        .await
        .unwrap();
    assert!(u.has_web_login);
    assert_eq!(u.name, "Иван Петров");
    store
        .create_user(t.id, &NewUser { ext: "102", sip_password: "secret102", name: "", role: Role::User, web_password: None })
        .await
        .unwrap();
    assert!(matches!(
        store.create_user(t.id, &NewUser { ext: "102", sip_password: "secret102", name: "", role: Role::User, web_password: None }).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_user(t.id, &NewUser { ext: "1x", sip_password: "secret102", name: "", role: Role::User, web_password: None }).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.list_users(t.id).await.unwrap().len(), 2);

    // Registrations.
    let reg = RegistrationRow {
        user_id: u.id,
        tenant_id: t.id,
        contact: "sip:101@127.0.0.1:5070".into(),
        source: "udp:127.0.0.1:5070".into(),
        call_id: "r1".into(),
        cseq: 1,
        expires_at: now_ms() + 60_000,
        user_agent: "test".into(),
        node: "n1".into(),
    };
    store.apply_registrations(std::slice::from_ref(&reg), &[]).await.unwrap();
    store.apply_registrations(&[RegistrationRow { cseq: 2, ..reg.clone() }], &[]).await.unwrap();
    let live = store.live_registrations(now_ms()).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].cseq, 2);
    store.apply_registrations(&[], &[(u.id, reg.contact.clone())]).await.unwrap();
    assert!(store.live_registrations(now_ms()).await.unwrap().is_empty());

    // Call log: start, answer, end; a live call closed as interrupted.
    let start = |id: &str, at: i64| CallStart {
        id: id.into(),
        tenant_id: t.id,
        direction: Direction::Internal,
        caller_number: "101".into(),
        caller_name: "Иван".into(),
        callee: "102".into(),
        did: None,
        trunk: None,
        caller_user_id: Some(u.id),
        callee_user_id: None,
        started_at: at,
        node: "n1".into(),
    };
    store
        .apply_call_ops(&[
            CallOp::Start(start("c1", 1_000)),
            CallOp::Answer { id: "c1".into(), at: 2_000, callee_user_id: Some(u.id) },
            CallOp::End(CallEnd {
                id: "c1".into(),
                ended_at: 12_000,
                disposition: Disposition::Answered,
                hangup_cause: "BYE".into(),
                hangup_side: "caller".into(),
                talk_seconds: 10,
                callee_user_id: None,
            }),
            CallOp::Start(start("c2", 3_000)),
            CallOp::Start(start("c3", 3_000)),
            CallOp::Answer { id: "c3".into(), at: 4_000, callee_user_id: None },
        ])
        .await
        .unwrap();
    assert_eq!(store.close_interrupted_calls("n1", 10_000).await.unwrap(), 2);
    let calls = store.list_calls(t.id, 10, None).await.unwrap();
    assert_eq!(calls.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), vec!["c3", "c2", "c1"]);
    assert_eq!(calls[0].disposition, Some(Disposition::Interrupted));
    assert_eq!(calls[0].talk_seconds, 6);
    assert_eq!(calls[2].disposition, Some(Disposition::Answered));
    assert_eq!(calls[2].callee_user_id, Some(u.id));
    assert_eq!(calls[2].talk_seconds, 10);
    // Keyset paging.
    let page2 = store.list_calls(t.id, 2, Some((calls[1].started_at, &calls[1].id))).await.unwrap();
    assert_eq!(page2.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), vec!["c1"]);
    // Deleting a user.
    store.delete_user(t.id, "102").await.unwrap();
    assert!(matches!(store.delete_user(t.id, "102").await, Err(StoreError::NotFound(_))));
}

/// Plugins, grants, key-value stores and scenarios, scoped by tenant.
async fn exercise_plugins(store: &Store) {
    let a = store.create_tenant("pa", "pa.example", "A").await.unwrap();
    let b = store.create_tenant("pb", "pb.example", "B").await.unwrap();
    let wasm = vec![0u8, 97, 115, 109, 255, 0, 1];
    let p = store.install_plugin(a.id, "crm", "1.0.0", "abc", &wasm, "{}").await.unwrap();
    assert_eq!((p.version.as_str(), p.enabled), ("1.0.0", true));
    assert_eq!(p.grants, Grants::default());
    let g = Grants { http: vec!["crm.example".into()], directory: true, kv: true, contacts: false };
    store.set_plugin_grants(a.id, "crm", &g).await.unwrap();
    // An upgrade keeps the grants and replaces the component.
    let up = store.install_plugin(a.id, "crm", "1.1.0", "def", &[1, 2, 3], "{}").await.unwrap();
    assert_eq!((up.version.as_str(), up.id, &up.grants), ("1.1.0", p.id, &g));
    assert_eq!(store.plugin_wasm(up.id).await.unwrap(), vec![1, 2, 3]);
    assert!(matches!(store.plugin(b.id, "crm").await, Err(StoreError::NotFound(_))));
    assert!(!store.set_plugin_enabled(a.id, "crm", false).await.unwrap().enabled);
    assert_eq!(store.list_plugins(None).await.unwrap().len(), 1);
    // Key-value stores are per tenant and plugin.
    store.kv_set(a.id, "crm", "k", "va").await.unwrap();
    store.kv_set(a.id, "crm", "k", "va2").await.unwrap();
    store.kv_set(b.id, "crm", "k", "vb").await.unwrap();
    assert_eq!(store.kv_get(a.id, "crm", "k").await.unwrap().as_deref(), Some("va2"));
    assert_eq!(store.kv_get(b.id, "crm", "k").await.unwrap().as_deref(), Some("vb"));
    assert_eq!(store.kv_get(a.id, "other", "k").await.unwrap(), None);
    store.kv_delete(a.id, "crm", "k").await.unwrap();
    assert_eq!(store.kv_get(a.id, "crm", "k").await.unwrap(), None);
    store.delete_plugin(a.id, "crm").await.unwrap();
    assert!(matches!(store.delete_plugin(a.id, "crm").await, Err(StoreError::NotFound(_))));
    // Scenarios live on the city number, found in any of its written forms.
    store
        .create_trunk(&NewTrunk { name: "pt", host: "127.0.0.1:5099", allow_ips: vec!["127.0.0.1".into()], ..NewTrunk::default() })
        .await
        .unwrap();
    // A trunk changed to register keeps the password it was given when one is left out.
    let reg = NewTrunk { name: "pt", host: "127.0.0.2:5080", username: Some("u"), password: Some("p"), register: true, allow_ips: vec![] };
    let changed = store.update_trunk(&reg).await.unwrap();
    assert_eq!((changed.host.as_str(), changed.register), ("127.0.0.2:5080", true));
    let kept = store.update_trunk(&NewTrunk { password: None, host: "127.0.0.3:5080", ..reg.clone() }).await.unwrap();
    assert_eq!(kept.password.as_deref(), Some("p"));
    assert!(matches!(store.update_trunk(&NewTrunk { name: "nope", ..reg.clone() }).await, Err(StoreError::NotFound(_))));
    store.add_did(a.id, "+74957770000", "pt", None, false).await.unwrap();
    assert_eq!(store.scenario(a.id, "84957770000").await.unwrap(), None);
    store.set_scenario(a.id, "84957770000", Some(r#"{"start":"x"}"#)).await.unwrap();
    assert_eq!(store.scenario(a.id, "+74957770000").await.unwrap().as_deref(), Some(r#"{"start":"x"}"#));
    assert_eq!(store.list_dids(Some(a.id)).await.unwrap()[0].scenario.as_deref(), Some(r#"{"start":"x"}"#));
    assert!(matches!(store.scenario(b.id, "+74957770000").await, Err(StoreError::NotFound(_))));
    // Recordings page by keyset and expire by the tenant's retention.
    let day = 86_400_000i64;
    let ops: Vec<CallOp> = (0..3)
        .map(|i| CallOp::Recording { id: format!("rec{i}"), tenant_id: a.id, path: format!("/r/{i}.wav"), at: 1_000 + i * day })
        .collect();
    store.apply_call_ops(&ops).await.unwrap();
    let page1 = store.list_recordings(a.id, 2, None).await.unwrap();
    assert_eq!(page1.iter().map(|r| r.call_id.as_str()).collect::<Vec<_>>(), vec!["rec2", "rec1"]);
    let page2 = store.list_recordings(a.id, 2, Some((page1[1].created_at, &page1[1].call_id))).await.unwrap();
    assert_eq!(page2.iter().map(|r| r.call_id.as_str()).collect::<Vec<_>>(), vec!["rec0"]);
    // Retention 90 days: at day 90.5 the first recording (day 0) is gone, the others stay.
    let gone = store.expire_recordings(1_000 + 90 * day + day / 2).await.unwrap();
    assert_eq!(gone, vec!["/r/0.wav".to_string()]);
    assert_eq!(store.list_recordings(a.id, 10, None).await.unwrap().len(), 2);
    // Time zones are checked.
    let s = TenantSettings { timezone: Some("Asia/Yekaterinburg".into()), ..TenantSettings::default() };
    assert_eq!(store.set_tenant_settings("pa", &s).await.unwrap().timezone, "Asia/Yekaterinburg");
    let s = TenantSettings { timezone: Some("Mars/Olympus".into()), ..TenantSettings::default() };
    assert!(store.set_tenant_settings("pa", &s).await.unwrap_err().to_string().contains("unknown time zone"));
    assert_eq!(b.timezone, "Europe/Moscow");
}

/// Groups, queues, agents, forwarding, call legs and marks.
async fn exercise_features(store: &Store) {
    let t = store.create_tenant("fx", "fx.example", "F").await.unwrap();
    for ext in ["101", "102", "103"] {
        store
            .create_user(t.id, &NewUser { ext, sip_password: "secret123", name: ext, role: Role::User, web_password: None })
            .await
            .unwrap();
    }
    let g = store.create_group(t.id, &NewGroup::new(GroupKind::Ring, "200", "random", vec!["101".into(), "102".into()])).await.unwrap();
    assert_eq!((g.kind, g.members.len(), g.strategy.as_str()), (GroupKind::Ring, 2, "random"));
    for (ng, why) in [
        (NewGroup::new(GroupKind::Ring, "101", "random", vec!["102".into()]), "already exists"),
        (NewGroup::new(GroupKind::Ring, "201", "loudest", vec!["102".into()]), "unknown strategy"),
        (NewGroup::new(GroupKind::Queue, "201", "random", vec!["102".into()]), "unknown strategy"),
        (NewGroup::new(GroupKind::Ring, "201", "random", vec!["999".into()]), "member 999"),
        (NewGroup::new(GroupKind::Ring, "200", "random", vec!["102".into()]), "already exists"),
    ] {
        let e = store.create_group(t.id, &ng).await.unwrap_err().to_string();
        assert!(e.contains(why), "{e}");
    }
    let e =
        store.create_user(t.id, &NewUser { ext: "200", sip_password: "secret123", name: "", role: Role::User, web_password: None }).await;
    assert!(e.unwrap_err().to_string().contains("already exists"));
    let q =
        store.create_group(t.id, &NewGroup::new(GroupKind::Queue, "300", "longest-idle", vec!["101".into(), "103".into()])).await.unwrap();
    let a = store.set_agent_state(t.id, "300", "103", Some(true), None).await.unwrap();
    assert!(a.paused && a.logged_in);
    let a = store.set_agent_state(t.id, "300", "103", None, Some(false)).await.unwrap();
    assert!(a.paused && !a.logged_in);
    assert_eq!(store.agent_states(Some(q.id)).await.unwrap().len(), 1);
    assert!(store.set_agent_state(t.id, "300", "102", Some(true), None).await.is_err());
    assert!(store.set_agent_state(t.id, "200", "101", Some(true), None).await.is_err());
    assert_eq!(store.list_groups(Some(t.id)).await.unwrap().len(), 2);
    // Forwarding.
    let f = Forwarding { busy: Some("102".into()), no_answer: Some("+79161234567".into()), no_answer_seconds: 15, ..Forwarding::default() };
    store.set_forwarding(t.id, "101", &f).await.unwrap();
    assert_eq!(store.user_by_ext(t.id, "101").await.unwrap().forwarding, f);
    let self_fwd = Forwarding { always: Some("101".into()), no_answer_seconds: 20, ..Forwarding::default() };
    assert!(store.set_forwarding(t.id, "101", &self_fwd).await.unwrap_err().to_string().contains("itself"));
    // Legs and marks.
    let start = CallStart {
        id: "fx1".into(),
        tenant_id: t.id,
        direction: Direction::Internal,
        caller_number: "103".into(),
        caller_name: String::new(),
        callee: "200".into(),
        did: None,
        trunk: None,
        caller_user_id: None,
        callee_user_id: None,
        started_at: 5,
        node: "n".into(),
    };
    store
        .apply_call_ops(&[
            CallOp::Start(start),
            CallOp::Legs { id: "fx1".into(), legs: vec![(1, "missed".into(), 6), (2, "missed".into(), 7)] },
            CallOp::Legs { id: "fx1".into(), legs: vec![(2, "answered".into(), 7)] },
            CallOp::Mark { id: "fx1".into(), forwarded_from: Some("101".into()), via: Some("200".into()), kind: None },
        ])
        .await
        .unwrap();
    assert_eq!(store.call_legs("fx1").await.unwrap(), vec![(1, "missed".to_string()), (2, "answered".to_string())]);
    let row = store.call_by_id(t.id, "fx1").await.unwrap();
    assert_eq!((row.forwarded_from.as_deref(), row.via.as_deref(), row.kind.as_str()), (Some("101"), Some("200"), "call"));
    store.delete_group(t.id, "200").await.unwrap();
    assert!(store.delete_group(t.id, "200").await.is_err());
}

/// Accounts (login, lock, sessions, tokens) and the cabinet's reports.
async fn exercise_accounts(store: &Store) {
    let t = store.create_tenant("ac", "ac.example", "A").await.unwrap();
    let other = store.create_tenant("ad", "ad.example", "D").await.unwrap();
    let boss = store
        .create_user(
            t.id,
            &NewUser { ext: "101", sip_password: "secret123", name: "Boss", role: Role::Supervisor, web_password: Some("boss-pass-1") },
        )
        .await
        .unwrap();
    let clerk = store
        .create_user(t.id, &NewUser { ext: "102", sip_password: "secret123", name: "Clerk", role: Role::User, web_password: None })
        .await
        .unwrap();
    let now = 1_000_000;
    let p = store.try_login("101@ac", "boss-pass-1", now).await.unwrap().unwrap();
    assert_eq!(p, Principal::User { id: boss.id, tenant_id: t.id, ext: "101".into(), supervisor: true });
    // A user without a web password cannot log in at all.
    assert_eq!(store.try_login("102@ac", "", now).await.unwrap(), Err(LoginError::Invalid));
    assert_eq!(store.try_login("999@ac", "whatever", now).await.unwrap(), Err(LoginError::Invalid));
    // The store never locks an account (slowing guesses is the cabinet's throttle): after
    // many failures the right password still opens it, so nobody can lock another out.
    for i in 0..10 {
        assert_eq!(store.try_login("101@ac", "wrong", now + i).await.unwrap(), Err(LoginError::Invalid));
    }
    let later = now + 11;
    assert!(store.try_login("101@ac", "boss-pass-1", later).await.unwrap().is_ok());
    // Sessions: cookie secret and CSRF; suspension ends them.
    let (cookie, csrf) = store.create_session(&p, later).await.unwrap();
    let s = store.session(&cookie, later + 1).await.unwrap().unwrap();
    assert_eq!((s.principal.clone(), s.csrf.as_str()), (p.clone(), csrf.as_str()));
    assert!(store.session("not-a-session", later).await.unwrap().is_none());
    assert!(store.session(&cookie, later + accounts::SESSION_MS + 1).await.unwrap().is_none());
    store.set_tenant_status("ac", TenantStatus::Suspended).await.unwrap();
    assert!(store.session(&cookie, later + 1).await.unwrap().is_none());
    assert_eq!(store.try_login("101@ac", "boss-pass-1", later).await.unwrap(), Err(LoginError::Suspended));
    store.set_tenant_status("ac", TenantStatus::Active).await.unwrap();
    store.delete_session(&cookie).await.unwrap();
    assert!(store.session(&cookie, later + 1).await.unwrap().is_none());
    // Password change checks the current one and ends every session of the account.
    let (open, _) = store.create_session(&p, later).await.unwrap();
    assert!(store.change_password(&p, "wrong", "new-pass-22").await.is_err());
    assert!(store.change_password(&p, "boss-pass-1", "short").await.is_err());
    assert!(store.session(&open, later + 1).await.unwrap().is_some(), "a refused change ends nothing");
    store.change_password(&p, "boss-pass-1", "new-pass-22").await.unwrap();
    assert!(store.session(&open, later + 1).await.unwrap().is_none(), "sessions end with the old password");
    assert!(store.try_login("101@ac", "new-pass-22", later).await.unwrap().is_ok());
    // A supervisor's reset of a user's cabinet password ends that user's sessions too.
    let (open, _) = store.create_session(&p, later).await.unwrap();
    store.set_web_password(t.id, "101", "reset-pass-33").await.unwrap();
    assert!(store.session(&open, later + 1).await.unwrap().is_none());
    // SIP passwords are kept only as digest hashes.
    store.set_sip_password(t.id, "102", "new-sip-secret").await.unwrap();
    let u = store.user_by_ext(t.id, "102").await.unwrap();
    assert_eq!((u.sip_ha1_md5.clone(), u.sip_ha1_sha256.clone()), pbx_store::sip_ha1("102", &t.domain, "new-sip-secret"));
    let raw: String = sqlx::query_scalar("SELECT sip_password FROM users WHERE id = $1").bind(u.id).fetch_one(store.pool()).await.unwrap();
    assert!(raw.is_empty(), "no plain SIP password is stored");
    // Operators.
    store.create_operator("root", "operator-pass").await.unwrap();
    assert!(matches!(store.create_operator("root", "operator-pass").await, Err(StoreError::Conflict(_))));
    assert!(matches!(store.try_login("root", "operator-pass", later).await.unwrap(), Ok(Principal::Operator { .. })));
    // Tokens: scoped, listed without secrets, revocable only within their tenant.
    let (tid, secret) = store.create_token(Some(t.id), "supervisor", None, "crm").await.unwrap();
    assert!(
        matches!(store.token_principal(&secret).await.unwrap(), Some(Principal::User { supervisor: true, tenant_id, .. }) if tenant_id == t.id)
    );
    let (_, user_secret) = store.create_token(Some(t.id), "user", Some(clerk.id), "phone").await.unwrap();
    assert!(
        matches!(store.token_principal(&user_secret).await.unwrap(), Some(Principal::User { supervisor: false, ref ext, .. }) if ext == "102")
    );
    assert!(store.create_token(None, "supervisor", None, "x").await.is_err());
    assert_eq!(store.list_tokens(Some(t.id)).await.unwrap().len(), 2);
    assert!(matches!(store.revoke_token(Some(other.id), tid).await, Err(StoreError::NotFound(_))));
    store.revoke_token(Some(t.id), tid).await.unwrap();
    assert!(store.token_principal(&secret).await.unwrap().is_none());
    // Reports: three calls to the clerk (answered 60 s, answered 30 s, missed), one made.
    let mut ops = vec![];
    for (i, (answered, talk)) in [(true, 60), (true, 30), (false, 0)].into_iter().enumerate() {
        let id = format!("ac{i}");
        let at = 10_000 + i as i64 * 1000;
        ops.push(CallOp::Start(CallStart {
            id: id.clone(),
            tenant_id: t.id,
            direction: Direction::Inbound,
            caller_number: format!("+7495000000{i}"),
            caller_name: String::new(),
            callee: "102".into(),
            did: None,
            trunk: None,
            caller_user_id: None,
            callee_user_id: Some(clerk.id),
            started_at: at,
            node: "n".into(),
        }));
        ops.push(CallOp::Legs { id: id.clone(), legs: vec![(clerk.id, if answered { "answered" } else { "missed" }.into(), at)] });
        if answered {
            ops.push(CallOp::Answer { id: id.clone(), at: at + 1, callee_user_id: Some(clerk.id) });
        }
        ops.push(CallOp::End(CallEnd {
            id,
            ended_at: at + 2,
            disposition: if answered { Disposition::Answered } else { Disposition::Missed },
            hangup_cause: "BYE".into(),
            hangup_side: "caller".into(),
            talk_seconds: talk,
            callee_user_id: None,
        }));
    }
    ops.push(CallOp::Start(CallStart {
        id: "ac9".into(),
        tenant_id: t.id,
        direction: Direction::Internal,
        caller_number: "102".into(),
        caller_name: String::new(),
        callee: "101".into(),
        did: None,
        trunk: None,
        caller_user_id: Some(clerk.id),
        callee_user_id: Some(boss.id),
        started_at: 20_000,
        node: "n".into(),
    }));
    store.apply_call_ops(&ops).await.unwrap();
    let stats = store.user_stats(t.id, 0, 30_000, Some(clerk.id)).await.unwrap();
    assert_eq!(stats.len(), 1);
    let s = &stats[0];
    assert_eq!((s.received, s.answered, s.missed, s.busy, s.answered_elsewhere, s.made), (3, 2, 1, 0, 0, 1));
    assert!((s.avg_inbound_talk_seconds - 45.0).abs() < 0.01, "{}", s.avg_inbound_talk_seconds);
    assert_eq!(store.user_stats(t.id, 0, 30_000, None).await.unwrap().len(), 2);
    assert_eq!(store.user_stats(other.id, 0, 30_000, Some(clerk.id)).await.unwrap().len(), 0);
    // Filters and keyset paging.
    let all = store.search_calls(t.id, &CallFilter::default(), 10, None).await.unwrap();
    assert_eq!(all.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["ac9", "ac2", "ac1", "ac0"]);
    let page1 = store.search_calls(t.id, &CallFilter::default(), 2, None).await.unwrap();
    let last = page1.last().unwrap();
    let page2 = store.search_calls(t.id, &CallFilter::default(), 2, Some((last.started_at, &last.id))).await.unwrap();
    assert_eq!(page2.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["ac1", "ac0"]);
    let f = CallFilter { disposition: Some("missed".into()), ..CallFilter::default() };
    assert_eq!(store.search_calls(t.id, &f, 10, None).await.unwrap().len(), 1);
    let f = CallFilter { number: Some("74950000001".into()), direction: Some("inbound".into()), ..CallFilter::default() };
    assert_eq!(store.search_calls(t.id, &f, 10, None).await.unwrap()[0].id, "ac1");
    let f = CallFilter { from: Some(11_000), to: Some(12_001), user_id: Some(clerk.id), ..CallFilter::default() };
    assert_eq!(store.search_calls(t.id, &f, 10, None).await.unwrap().len(), 2);
    assert!(store.search_calls(other.id, &CallFilter::default(), 10, None).await.unwrap().is_empty());
    assert_eq!(store.tenant_day(t.id, 0).await.unwrap(), (4, 2, 1));
    let mut ops = Vec::new();
    // Two more calls rang the clerk: one found the clerk busy, one a colleague answered.
    for (id, outcome) in [("ac10", "busy"), ("ac11", "elsewhere")] {
        ops.push(CallOp::Start(CallStart {
            id: id.into(),
            tenant_id: t.id,
            direction: Direction::Inbound,
            caller_number: "+74950000000".into(),
            caller_name: String::new(),
            callee: "+74951111111".into(),
            did: None,
            trunk: None,
            caller_user_id: None,
            callee_user_id: None,
            started_at: 21_000,
            node: "n".into(),
        }));
        ops.push(CallOp::Legs { id: id.into(), legs: vec![(clerk.id, outcome.into(), 21_000)] });
    }
    store.apply_call_ops(&ops).await.unwrap();
    let s = store.user_stats(t.id, 0, 30_000, Some(clerk.id)).await.unwrap().remove(0);
    assert_eq!((s.received, s.answered, s.missed, s.busy, s.answered_elsewhere), (5, 2, 1, 1, 1));
}

/// Keyset pages read from the database: walking them yields every row once, in order.
async fn exercise_pages(store: &Store) {
    let t = store.create_tenant("pages", "pages.example", "").await.unwrap();
    for ext in ["1000", "99", "001", "01", "100", "20"] {
        let u = NewUser { ext, sip_password: "secret-pages", name: "", role: Role::User, web_password: None };
        store.create_user(t.id, &u).await.unwrap();
    }
    let (mut seen, mut after) = (Vec::new(), None::<String>);
    loop {
        let page = store.users_page(t.id, after.as_deref(), 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.ext.clone());
        seen.extend(page.into_iter().map(|u| u.ext));
    }
    assert_eq!(seen, ["01", "20", "99", "001", "100", "1000"]);
    let all: Vec<String> = store.list_tenants().await.unwrap().into_iter().map(|t| t.slug).collect();
    assert!(all.len() >= 2);
    let (mut slugs, mut after) = (Vec::new(), None::<String>);
    loop {
        let page = store.tenants_page(after.as_deref(), 1).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.slug.clone());
        slugs.extend(page.into_iter().map(|t| t.slug));
    }
    assert_eq!(slugs, all);
}

/// The phone book: batched upserts count new and replaced rows, a number given twice keeps
/// its last name, search folds Cyrillic case on both engines, and tenants stay apart.
async fn exercise_contacts(store: &Store) {
    use pbx_store::NewContact;
    let t = store.create_tenant("book", "book.example", "").await.unwrap();
    let other = store.create_tenant("book2", "book2.example", "").await.unwrap();
    let c = |number: &str, name: &str| {
        NewContact { number: number.into(), name: name.into(), company: "ООО Ромашка".into(), note: String::new() }.check("7").unwrap()
    };
    // 450 contacts cross the 200-row batches; one number appears twice.
    let mut many: Vec<_> = (0..450).map(|i| c(&format!("+7916{i:07}"), &format!("Клиент {i}"))).collect();
    many.push(c("+79160000007", "Последний"));
    assert_eq!(store.upsert_contacts(t.id, &many, "import").await.unwrap(), (450, 0));
    assert_eq!(store.contact(t.id, "+79160000007").await.unwrap().name, "Последний");
    let again = vec![c("+79160000001", "Новое имя"), c("+74950000000", "Новый")];
    assert_eq!(store.upsert_contacts(t.id, &again, "cabinet").await.unwrap(), (1, 1));
    let found = store.list_contacts(t.id, "7", "НОВ", None, 10).await.unwrap();
    assert_eq!(found.iter().map(|c| c.number.as_str()).collect::<Vec<_>>(), ["+74950000000", "+79160000001"]);
    assert_eq!(store.list_contacts(t.id, "7", "ромашка", None, 1000).await.unwrap().len(), 451);
    assert_eq!(store.list_contacts(t.id, "7", "000044", None, 1000).await.unwrap().len(), 11, "digits of the number");
    assert_eq!(store.list_contacts(t.id, "7", "8 (916) 000-04-49", None, 10).await.unwrap().len(), 1, "a national number");
    assert!(store.list_contacts(t.id, "7", "Клиент 44", None, 1000).await.unwrap().len() < 20, "text with digits is text");
    let page = store.list_contacts(t.id, "7", "", Some("+79160000448"), 10).await.unwrap();
    assert_eq!(page.len(), 1);
    assert!(store.list_contacts(other.id, "7", "", None, 10).await.unwrap().is_empty());
    assert!(matches!(store.delete_contact(other.id, "+79160000001").await, Err(pbx_store::StoreError::NotFound(_))));
    store.delete_contact(t.id, "+79160000001").await.unwrap();
    assert_eq!(store.all_contacts(Some(t.id)).await.unwrap().len(), 450);
}

async fn exercise_webhooks(store: &Store) {
    use pbx_store::webhooks::Delivery;
    let t = store.create_tenant("hooks", "hooks.example", "").await.unwrap();
    let other = store.create_tenant("hooks2", "hooks2.example", "").await.unwrap();
    let ev = |call: &str, seq: i64| IntegrationEvent {
        id: format!("{call}:{seq}"),
        call_id: call.into(),
        seq,
        at: now_ms(),
        data: EventData::Ringing { extensions: vec!["101".into()] },
    };
    // Events before a webhook exists are not its business.
    store.append_events(&[(t.id, ev("old", 1))]).await.unwrap();
    assert!(store.tenants_with_webhooks().await.unwrap().iter().all(|id| *id != t.id));
    let v = store.config_version().await.unwrap();
    let hook = store.create_webhook(t.id, "https://crm.example/h", &["call.ringing".into()], "CRM", "whsec_x").await.unwrap();
    assert!(store.config_version().await.unwrap() > v, "the engine learns the tenant now has a subscriber");
    assert!(store.tenants_with_webhooks().await.unwrap().contains(&t.id));
    assert_eq!(hook.cursor, store.last_event_id(t.id).await.unwrap());
    assert!(hook.wants("call.ringing") && !hook.wants("call.ended"));
    store.append_events(&[(t.id, ev("c1", 1)), (other.id, ev("x", 1)), (t.id, ev("c1", 2))]).await.unwrap();
    let pending = store.events_after(t.id, hook.cursor, 10).await.unwrap();
    assert_eq!(pending.len(), 2, "the other tenant's event is not listed");
    let body: IntegrationEvent = serde_json::from_str(&pending[1].body).unwrap();
    assert_eq!(body, ev("c1", 2).clone_with_at(body.at));
    // A failure keeps the cursor and records the backoff; a success moves it.
    let attempt = |n: i64, outcome: &str| Delivery {
        id: 0,
        webhook_id: hook.id,
        event_id: "c1:1".into(),
        event: "call.ringing".into(),
        attempt: n,
        status: if outcome == "delivered" { 200 } else { 503 },
        outcome: outcome.into(),
        error: String::new(),
        duration_ms: 3,
        at: now_ms(),
    };
    // One node at a time holds a subscriber's lease; only the holder moves its cursor.
    assert!(store.lease_webhook(hook.id, "a", now_ms(), now_ms() + 30_000).await.unwrap());
    assert!(!store.lease_webhook(hook.id, "b", now_ms(), now_ms() + 30_000).await.unwrap(), "b waits for a's lease");
    assert!(!store.record_deliveries(hook.id, "b", 999, 0, 0, "", &[]).await.unwrap(), "b cannot move the cursor");
    assert!(store.record_deliveries(hook.id, "a", hook.cursor, 1, now_ms() + 2000, "HTTP 503", &[attempt(1, "retry")]).await.unwrap());
    let h = store.webhook(t.id, hook.id).await.unwrap();
    assert_eq!((h.attempts, h.last_error.as_str()), (1, "HTTP 503"));
    assert!(store.record_deliveries(hook.id, "a", pending[1].id, 0, 0, "", &[attempt(2, "delivered")]).await.unwrap());
    // An expired lease passes to another node.
    assert!(store.lease_webhook(hook.id, "b", now_ms() + 60_000, now_ms() + 90_000).await.unwrap());
    assert!(store.events_after(t.id, store.webhook(t.id, hook.id).await.unwrap().cursor, 10).await.unwrap().is_empty());
    let log = store.list_deliveries(t.id, hook.id, 10).await.unwrap();
    assert_eq!(log.iter().map(|d| d.outcome.as_str()).collect::<Vec<_>>(), ["delivered", "retry"], "newest first");
    assert!(matches!(store.list_deliveries(other.id, hook.id, 10).await, Err(StoreError::NotFound(_))), "another tenant's log");
    // Disabled webhooks are not delivered to (a running delivery stops at its next record);
    // deleting takes the log along.
    store.set_webhook_enabled(t.id, hook.id, false).await.unwrap();
    assert!(!store.record_deliveries(hook.id, "b", 0, 0, 0, "", &[]).await.unwrap());
    assert!(store.active_webhooks().await.unwrap().iter().all(|(w, _)| w.id != hook.id));
    assert!(matches!(store.delete_webhook(other.id, hook.id).await, Err(StoreError::NotFound(_))));
    store.delete_webhook(t.id, hook.id).await.unwrap();
    assert!(store.list_webhooks(t.id).await.unwrap().is_empty());
    assert!(store.prune_events(now_ms() + 1).await.unwrap() >= 4);
    // An integration plugin subscribes with a row of its own, not listed among the webhooks.
    let (row, secret) = store.set_integration(t.id, "crm", true, "hook-secret", false, pbx_store::webhooks::PLUGIN_KINDS).await.unwrap();
    assert_eq!((row.plugin.as_str(), secret.as_str(), row.enabled), ("crm", "hook-secret", true));
    assert!(row.wants("call.ended") && !row.wants("call.ringing"), "contract 0.1 knows started, answered, ended");
    let (again, secret2) = store.set_integration(t.id, "crm", false, "other", false, pbx_store::webhooks::PLUGIN_KINDS).await.unwrap();
    assert_eq!((again.id, secret2.as_str(), again.enabled), (row.id, "hook-secret", false), "the secret stays");
    // Events while it is off are not replayed when it is switched on again.
    store.append_events(&[(t.id, ev("while-off", 1))]).await.unwrap();
    let (on, secret3) = store.set_integration(t.id, "crm", true, "rotated", true, pbx_store::webhooks::PLUGIN_KINDS).await.unwrap();
    assert_eq!((on.cursor, secret3.as_str()), (store.last_event_id(t.id).await.unwrap(), "rotated"));
    assert!(store.list_webhooks(t.id).await.unwrap().is_empty());
    assert!(matches!(store.webhook(t.id, row.id).await, Err(StoreError::NotFound(_))), "not a webhook");
    assert!(store.integration(other.id, "crm").await.unwrap().is_none());
    for i in 0..pbx_store::webhooks::MAX_WEBHOOKS_PER_TENANT {
        store.create_webhook(other.id, &format!("https://crm.example/{i}"), &[], "", "s").await.unwrap();
    }
    assert!(matches!(store.create_webhook(other.id, "https://crm.example/x", &[], "", "s").await, Err(StoreError::Invalid(_))));
}

trait WithAt {
    fn clone_with_at(&self, at: i64) -> Self;
}

impl WithAt for IntegrationEvent {
    fn clone_with_at(&self, at: i64) -> Self {
        IntegrationEvent { at, ..self.clone() }
    }
}

async fn exercise_billing(store: &Store) {
    let t = store.create_tenant("billed", "billed.example", "").await.unwrap();
    assert_eq!((t.balance_cents, t.charged_cents, t.low_balance_cents), (0, 0, 10_000));
    // Prices: one for everyone, one of the company's own; a second for the same prefix is a conflict.
    let all = store
        .add_tariff(&NewTariff { tenant_id: None, prefix: "7495", name: "Moscow", per_minute_cents: 150, step_seconds: 60 })
        .await
        .unwrap();
    assert_eq!(all.tenant_id, None);
    let own = store
        .add_tariff(&NewTariff { tenant_id: Some(t.id), prefix: "7495", name: "Moscow (contract)", per_minute_cents: 90, step_seconds: 1 })
        .await
        .unwrap();
    assert!(matches!(
        store.add_tariff(&NewTariff { tenant_id: None, prefix: "7495", name: "again", per_minute_cents: 1, step_seconds: 60 }).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.add_tariff(&NewTariff { tenant_id: None, prefix: "x", name: "bad", per_minute_cents: 1, step_seconds: 60 }).await,
        Err(StoreError::Invalid(_))
    ));
    let mine = store.tariffs_for(t.id).await.unwrap();
    assert_eq!(mine.len(), 2);
    assert_eq!(billing::best_tariff(&mine, t.id, "+74951112233").map(|x| x.id), Some(own.id));
    // Top-ups, a correction and a set, each in the history with the balance after it.
    let v = store.config_version().await.unwrap();
    assert_eq!(store.top_up("billed", 100_000, "invoice 17", "op").await.unwrap().balance_cents, 100_000);
    assert!(store.config_version().await.unwrap() > v, "a top-up reaches the call engine");
    assert_eq!(store.top_up("billed", -500, "", "op").await.unwrap().balance_cents, 99_500);
    assert!(matches!(store.top_up("billed", 0, "", "op").await, Err(StoreError::Invalid(_))));
    // A call's charge lands with its call-log row.
    let start = CallStart {
        id: "bill-1".into(),
        tenant_id: t.id,
        direction: Direction::Outbound,
        caller_number: "101".into(),
        caller_name: String::new(),
        callee: "+74951112233".into(),
        did: None,
        trunk: None,
        caller_user_id: None,
        callee_user_id: None,
        started_at: 1,
        node: "n".into(),
    };
    let charge =
        Charge { tenant_id: t.id, call_id: "bill-1".into(), amount_cents: 270, at: 5, detail: "Moscow +74951112233, 180 s".into() };
    store.apply_call_ops(&[CallOp::Start(start), CallOp::Charge(charge)]).await.unwrap();
    let after = store.tenant_by_slug("billed").await.unwrap();
    assert_eq!((after.balance_cents, after.charged_cents), (99_230, 270));
    let h = store.balance_history(t.id, None, 10).await.unwrap();
    let kinds: Vec<(&str, i64, i64)> = h.iter().map(|e| (e.kind.as_str(), e.amount_cents, e.balance_cents)).collect();
    assert_eq!(kinds, vec![("call", -270, 99_230), ("correction", -500, 99_500), ("top-up", 100_000, 100_000)]);
    assert_eq!(h[0].call_id.as_deref(), Some("bill-1"));
    assert_eq!(h[2].detail, "invoice 17");
    let older = store.balance_history(t.id, Some(h[1].id), 10).await.unwrap();
    assert_eq!(older.len(), 1, "paged by id");
    let set = store.set_tenant_balance("billed", 5_000, "op").await.unwrap();
    assert_eq!((set.balance_cents, set.charged_cents), (5_000, 270), "setting keeps the running total charged");
    assert_eq!(store.balance_history(t.id, None, 1).await.unwrap()[0].amount_cents, 5_000 - 99_230);
    assert_eq!(store.set_low_balance("billed", 0).await.unwrap().low_balance_cents, 0);
    store.delete_tariff(own.id).await.unwrap();
    assert!(matches!(store.delete_tariff(own.id).await, Err(StoreError::NotFound(_))));
    assert_eq!(store.list_tariffs().await.unwrap(), vec![all]);
}

/// Blacklists, do not disturb, and "missed and not called back".
async fn exercise_office(store: &Store) {
    let t = store.create_tenant("of", "of.example", "O").await.unwrap();
    let other = store.create_tenant("og", "og.example", "G").await.unwrap();
    let clerk = store
        .create_user(t.id, &NewUser { ext: "102", sip_password: "secret123", name: "Clerk", role: Role::User, web_password: None })
        .await
        .unwrap();
    // Blacklists: the company's and the clerk's are apart, re-adding re-notes, removing works once.
    let p = pbx_store::blocklist::check_pattern("8 916 111-22-33", false, "7").unwrap();
    store.block_number(t.id, None, &p, false, "spam").await.unwrap();
    store.block_number(t.id, None, &p, false, "still spam").await.unwrap();
    store.block_number(t.id, None, "+7800", true, "").await.unwrap();
    store.block_number(t.id, Some(clerk.id), "+79990000000", false, "ex").await.unwrap();
    let company = store.blocked_numbers(t.id, None).await.unwrap();
    assert_eq!(
        company.iter().map(|b| (b.pattern.as_str(), b.prefix, b.note.as_str())).collect::<Vec<_>>(),
        vec![("+79161112233", false, "still spam"), ("+7800", true, "")]
    );
    assert_eq!(store.blocked_numbers(t.id, Some(clerk.id)).await.unwrap().len(), 1);
    assert!(store.blocked_numbers(other.id, None).await.unwrap().is_empty());
    assert_eq!(store.all_blocked().await.unwrap().len(), 3);
    assert!(matches!(store.unblock_number(other.id, None, "+7800").await, Err(StoreError::NotFound(_))));
    store.unblock_number(t.id, None, "+7800").await.unwrap();
    assert!(matches!(store.unblock_number(t.id, None, "+7800").await, Err(StoreError::NotFound(_))));
    assert_eq!(store.block_settings(t.id).await.unwrap(), BlockSettings::default());
    let s = BlockSettings { anonymous: true, action: BlockAction::Prompt };
    store.set_block_settings(t.id, &s).await.unwrap();
    assert_eq!(store.block_settings(t.id).await.unwrap(), s);
    assert_eq!(store.all_block_settings().await.unwrap(), vec![(t.id, s)]);
    assert_eq!(store.presence(t.id).await.unwrap(), None);
    store.put_presence(t.id, r#"[{"ext":"102","state":"idle"}]"#, 5).await.unwrap();
    store.put_presence(t.id, r#"[{"ext":"102","state":"talking"}]"#, 6).await.unwrap();
    assert_eq!(store.presence(t.id).await.unwrap(), Some((r#"[{"ext":"102","state":"talking"}]"#.to_string(), 6)));
    assert_eq!(store.presence(other.id).await.unwrap(), None);
    store.set_dnd(t.id, "102", true).await.unwrap();
    assert!(store.user_by_ext(t.id, "102").await.unwrap().dnd);

    // Missed: +7...01 called twice unanswered (once ringing the clerk), +7...02 once, then the
    // company called +7...02 back and was answered; +7...03 was answered; a call from +7...04
    // was missed, then +7...04 called again and got through.
    let mut ops = vec![];
    let mut call = |id: &str, at: i64, dir: Direction, from: &str, to: &str, disposition: Disposition, rang: Option<i64>| {
        ops.push(CallOp::Start(CallStart {
            id: id.into(),
            tenant_id: t.id,
            direction: dir,
            caller_number: from.into(),
            caller_name: format!("N{from}"),
            callee: to.into(),
            did: None,
            trunk: None,
            caller_user_id: None,
            callee_user_id: None,
            started_at: at,
            node: "n".into(),
        }));
        if let Some(u) = rang {
            ops.push(CallOp::Legs { id: id.into(), legs: vec![(u, "missed".into(), at)] });
        }
        ops.push(CallOp::End(CallEnd {
            id: id.into(),
            ended_at: at + 5,
            disposition,
            hangup_cause: "x".into(),
            hangup_side: "caller".into(),
            talk_seconds: 0,
            callee_user_id: None,
        }));
    };
    call("m1", 1_000, Direction::Inbound, "+74950000001", "+74951110000", Disposition::Missed, Some(clerk.id));
    call("m2", 2_000, Direction::Inbound, "+74950000001", "+74951110000", Disposition::Missed, None);
    call("m3", 3_000, Direction::Inbound, "+74950000002", "+74951110000", Disposition::Busy, Some(clerk.id));
    call("m4", 4_000, Direction::Outbound, "102", "+74950000002", Disposition::Answered, None);
    call("m5", 5_000, Direction::Inbound, "+74950000003", "+74951110000", Disposition::Answered, None);
    call("m6", 6_000, Direction::Inbound, "+74950000004", "+74951110000", Disposition::Missed, None);
    call("m7", 7_000, Direction::Inbound, "+74950000004", "+74951110000", Disposition::Answered, None);
    call("m8", 8_000, Direction::Inbound, "+74950000005", "+74951110000", Disposition::Failed, None);
    call("m9", 9_000, Direction::Inbound, "+74950000006", "+74951110000", Disposition::Failed, None);
    ops.push(CallOp::End(CallEnd {
        id: "m9".into(),
        ended_at: 9_005,
        disposition: Disposition::Failed,
        hangup_cause: "486 blacklisted".into(),
        hangup_side: "system".into(),
        talk_seconds: 0,
        callee_user_id: None,
    }));
    store.apply_call_ops(&ops).await.unwrap();
    let list = store.missed_not_returned(t.id, None, 0, 100).await.unwrap();
    assert_eq!(list.iter().map(|m| m.number.as_str()).collect::<Vec<_>>(), vec!["+74950000005", "+74950000001"], "{list:?}");
    let m = &list[1];
    assert_eq!(
        (m.number.as_str(), m.name.as_str(), m.attempts, m.first_at, m.last_at, m.last_call_id.as_str()),
        ("+74950000001", "N+74950000001", 2, 1_000, 2_000, "m2")
    );
    let mine = store.missed_not_returned(t.id, Some(clerk.id), 0, 100).await.unwrap();
    assert_eq!(mine.iter().map(|m| (m.number.as_str(), m.attempts)).collect::<Vec<_>>(), vec![("+74950000001", 1)]);
    assert_eq!(store.missed_not_returned(t.id, None, 2_001, 100).await.unwrap().len(), 1, "the period bounds the list");
    assert!(store.missed_not_returned(other.id, None, 0, 100).await.unwrap().is_empty());

    // Queue reports: six callers of queue 600 and how their stays ended.
    let mut ops = vec![];
    let q = |id: &str, at: i64, outcome: &str, agent: Option<i64>| CallOp::Queue {
        id: id.into(),
        tenant_id: t.id,
        queue: "600".into(),
        at,
        outcome: outcome.into(),
        agent,
    };
    for (id, joined, end, outcome, talk) in [
        ("q1", 100_000, 105_000, "answered", 60),
        ("q2", 200_000, 230_000, "answered", 30),
        ("q3", 300_000, 308_000, "abandoned", 0),
        ("q4", 400_000, 400_000, "full", 0),
        ("q5", 410_000, 710_000, "timeout", 0),
        ("q6", 720_000, 725_000, "callback", 0),
    ] {
        ops.push(CallOp::Start(CallStart {
            id: id.into(),
            tenant_id: t.id,
            direction: Direction::Inbound,
            caller_number: "+74950000009".into(),
            caller_name: String::new(),
            callee: "+74951110000".into(),
            did: None,
            trunk: None,
            caller_user_id: None,
            callee_user_id: None,
            started_at: joined,
            node: "n".into(),
        }));
        if outcome == "full" {
            ops.push(q(id, joined, "full", None));
        } else {
            ops.push(q(id, joined, "waiting", None));
            ops.push(q(id, end, outcome, (outcome == "answered").then_some(clerk.id)));
        }
        ops.push(CallOp::End(CallEnd {
            id: id.into(),
            ended_at: end + talk * 1000,
            disposition: if outcome == "answered" { Disposition::Answered } else { Disposition::Missed },
            hangup_cause: "BYE".into(),
            hangup_side: "caller".into(),
            talk_seconds: talk,
            callee_user_id: None,
        }));
    }
    ops.push(CallOp::Legs { id: "q3".into(), legs: vec![(clerk.id, "missed".into(), 301_000)] });
    // A late "answered" for a stay that already ended changes nothing.
    ops.push(q("q3", 309_000, "answered", Some(clerk.id)));
    store.apply_call_ops(&ops).await.unwrap();
    let reports = store.queue_reports(t.id, 0, 1_000_000, 20_000).await.unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    assert_eq!(
        (r.queue.as_str(), r.entered, r.answered, r.answered_in_time, r.abandoned, r.timed_out, r.callback, r.full),
        ("600", 6, 2, 1, 1, 1, 1, 1)
    );
    assert!((r.service_level - 100.0 / 6.0).abs() < 0.01, "{}", r.service_level);
    assert!((r.avg_wait_answered - 17.5).abs() < 0.01, "{}", r.avg_wait_answered);
    assert!((r.avg_wait_abandoned - 8.0).abs() < 0.01, "{}", r.avg_wait_abandoned);
    assert!((r.max_wait - 300.0).abs() < 0.01, "{}", r.max_wait);
    assert!((r.avg_talk - 45.0).abs() < 0.01, "{}", r.avg_talk);
    assert_eq!(r.agents.len(), 1, "{:?}", r.agents);
    let a = &r.agents[0];
    assert_eq!((a.ext.as_str(), a.answered, a.missed, a.talk_seconds), ("102", 2, 1, 90));
    assert!(store.queue_reports(t.id, 0, 100_000, 20_000).await.unwrap().is_empty(), "the period bounds the report");
    assert!(store.queue_reports(other.id, 0, 1_000_000, 20_000).await.unwrap().is_empty());
}

#[tokio::test]
async fn sqlite_store() {
    let (store, _dir) = sqlite().await;
    exercise(&store).await;
    exercise_plugins(&store).await;
    exercise_features(&store).await;
    exercise_accounts(&store).await;
    exercise_pages(&store).await;
    exercise_contacts(&store).await;
    exercise_webhooks(&store).await;
    exercise_billing(&store).await;
    exercise_office(&store).await;
    store.close().await;
}

#[tokio::test]
async fn postgres_store() {
    let db = PgDb::create().await;
    let store = Store::open(&db.url).await.unwrap();
    // Opening twice (server and CLI) migrates once.
    let again = Store::open(&db.url).await.unwrap();
    exercise(&store).await;
    exercise_plugins(&store).await;
    exercise_features(&store).await;
    exercise_accounts(&store).await;
    exercise_pages(&store).await;
    exercise_contacts(&store).await;
    exercise_webhooks(&store).await;
    exercise_billing(&store).await;
    exercise_office(&store).await;
    store.close().await;
    again.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn bad_url_is_a_clear_error() {
    let e = Store::open("mysql://x").await.err().unwrap();
    assert!(e.to_string().contains("unsupported database URL"));
}
