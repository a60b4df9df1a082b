//! Contract checklist, part 1: transport, auth, required parameters, the call model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use pbx_fake_bitrix24::client;
use pbx_fake_bitrix24::{AuthKind, BodyKind, CardAction, CrmEntity, CrmEntityType, FakePortal, Options, Owner, Webhook};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn json_body_with_auth_in_body_and_form_body_with_auth_in_query() {
    let p = portal().await;
    let (s, b) = call(
        &p,
        "telephony.externalCall.register",
        json!({"USER_ID": 11, "PHONE_NUMBER": "+7 906 123-45-67", "TYPE": 2, "EXTERNAL_CALL_ID": "a"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let id = b["result"]["CALL_ID"].as_str().unwrap();
    let (s, b) =
        call_form(&p, "telephony.externalCall.register", "USER_ID=24&PHONE_NUMBER=%2B79060000000&TYPE=1&EXTERNAL_CALL_ID=b&SHOW=0").await;
    assert_eq!(s, 200, "{b}");
    assert_ne!(b["result"]["CALL_ID"].as_str().unwrap(), id);

    let reqs = p.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "telephony.externalcall.register");
    assert_eq!(reqs[0].body, BodyKind::Json);
    assert_eq!(reqs[0].params["USER_ID"], json!(11));
    assert!(reqs[0].params.get("auth").is_none(), "auth is not logged as a param");
    assert_eq!(reqs[1].body, BodyKind::Form);
    assert_eq!(reqs[1].params["PHONE_NUMBER"], json!("+79060000000"));
    assert_eq!(reqs[1].auth, AuthKind::OAuth { access_token: p.tokens().0 });
    let calls = p.calls();
    assert_eq!(calls[0].phone_number, "79061234567", "letters and + stripped");
    assert!(calls[0].shown_to.contains(&11), "SHOW defaults to 1");
    assert!(calls[1].shown_to.is_empty(), "SHOW=0");
}

#[tokio::test]
async fn success_envelope_has_every_time_field() {
    let p = portal().await;
    let (s, b) = call(&p, "telephony.externalLine.get", json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(b["result"], json!([]));
    for f in ["start", "finish", "duration", "processing", "date_start", "date_finish", "operating_reset_at", "operating"] {
        assert!(b["time"].get(f).is_some(), "time.{f} missing in {b}");
    }
    assert!(b["time"]["date_start"].as_str().unwrap().ends_with("+00:00"));
}

#[tokio::test]
async fn missing_unknown_and_webhook_credentials() {
    let opts = Options {
        webhooks: vec![Webhook { user_id: 11, secret: "s3cret".into() }, Webhook { user_id: 30, secret: "old".into() }],
        ..options()
    };
    let p = FakePortal::start(opts).await.unwrap();
    let url = format!("{}telephony.externalLine.get", p.rest_url());
    assert_error(&post_json(&url, json!({})).await, 401, "Wrong authorization data");
    let got = post_json(&url, json!({"auth": "nope"})).await;
    assert_error(&got, 401, "Wrong authorization data");
    assert_eq!(got.1["error"], json!("NO_AUTH_FOUND"));
    let bad = format!("{}telephony.externalLine.get", p.webhook_url(11, "wrong"));
    assert_error(&post_json(&bad, json!({})).await, 401, "Wrong authorization data");
    let inactive = format!("{}telephony.externalLine.get.json", p.webhook_url(30, "old"));
    let got = post_json(&inactive, json!({})).await;
    assert_error(&got, 403, "Invalid request credentials");
    assert_eq!(got.1["error"], json!("INVALID_CREDENTIALS"));
    let good = format!("{}telephony.externalLine.get.json", p.webhook_url(11, "s3cret"));
    assert_eq!(post_json(&good, json!({})).await.0, 200);
    let (s, b) = call(&p, "no.such.method", json!({})).await;
    assert_eq!((s, b["error"].clone()), (404, json!("ERROR_METHOD_NOT_FOUND")));
}

#[tokio::test]
async fn webhook_auth_on_app_context_methods_only_refused_when_strict() {
    let hook = Webhook { user_id: 11, secret: "s3cret".into() };
    for strict in [true, false] {
        let opts = Options { webhooks: vec![hook.clone()], strict_auth_type: strict, ..options() };
        let p = FakePortal::start(opts).await.unwrap();
        let base = p.webhook_url(11, "s3cret");
        let reg = post_json(
            &format!("{base}telephony.externalCall.register.json"),
            json!({"USER_ID": 11, "PHONE_NUMBER": "79061234567", "TYPE": 2}),
        )
        .await;
        let line = post_json(&format!("{base}telephony.externalLine.add"), json!({"NUMBER": "1"})).await;
        if strict {
            assert_error(&reg, 403, "Current authorization type is denied for this method");
            assert_eq!(reg.1["error"], json!("WRONG_AUTH_TYPE"));
            assert_error(&line, 403, "Current authorization type is denied for this method");
            let fin = post_json(&format!("{base}telephony.externalCall.finish"), json!({"USER_ID": 11, "CALL_ID": "x"})).await;
            assert_eq!(fin.1["error"], json!("WRONG_AUTH_TYPE"));
            let show = post_json(&format!("{base}telephony.externalCall.show"), json!({"CALL_ID": "x"})).await;
            assert_eq!(show, (200, show.1.clone()));
            assert_eq!(show.1["result"], json!(false), "show has no auth-type check");
        } else {
            assert_eq!(reg.0, 200, "{}", reg.1);
            assert_eq!(line.0, 200, "{}", line.1);
            assert_eq!(p.lines()[0].owner, Owner::Webhook);
            assert_eq!(p.calls()[0].owner, Owner::Webhook);
        }
        let bind =
            post_json(&format!("{base}event.bind"), json!({"event": "ONEXTERNALCALLSTART", "handler": "http://127.0.0.1:1/h"})).await;
        assert_eq!(bind.0, 403, "event.bind needs an app: {}", bind.1);
    }
}

#[tokio::test]
async fn register_required_params_and_exact_texts() {
    let p = portal().await;
    let m = "telephony.externalCall.register";
    let cases = [
        (json!({"PHONE_NUMBER": "1", "TYPE": 2}), "USER_ID or USER_PHONE_INNER should be set"),
        (json!({"USER_PHONE_INNER": "999", "PHONE_NUMBER": "1", "TYPE": 2}), "USER_ID or USER_PHONE_INNER should be set"),
        (json!({"USER_ID": 11, "PHONE_NUMBER": "1", "TYPE": 7}), "Unknown TYPE"),
        (json!({"USER_ID": 11, "PHONE_NUMBER": "1"}), "Unknown TYPE"),
        (
            json!({"USER_ID": 11, "PHONE_NUMBER": "1", "TYPE": 2, "CALL_START_DATE": "10.03.2026"}),
            "CALL_START_DATE should be in the ISO-8601 format",
        ),
        (json!({"USER_ID": 11, "PHONE_NUMBER": "anonymous", "TYPE": 2}), "Unsupported phone number format"),
        (json!({"USER_ID": 11, "TYPE": 2}), "Unsupported phone number format"),
        (json!({"USER_ID": 30, "PHONE_NUMBER": "1", "TYPE": 2}), "User is not found or is not active"),
        (json!({"USER_ID": 99, "PHONE_NUMBER": "1", "TYPE": 2}), "User is not found or is not active"),
    ];
    for (params, text) in cases {
        let got = call(&p, m, params.clone()).await;
        assert_error(&got, 400, text);
        assert_eq!(got.1["error"], json!("ERROR_CORE"), "{params}");
    }
    assert!(p.calls().is_empty());
    let (s, b) = call(
        &p,
        m,
        json!({"USER_PHONE_INNER": "102", "PHONE_NUMBER": "5", "TYPE": "3",
        "CALL_START_DATE": "2026-03-07T10:20:30+03:00"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let c = &p.calls()[0];
    assert_eq!((c.user_id, c.call_type, c.call_start_date), (24, 3, 1_772_868_030));
    let id = b["result"]["CALL_ID"].as_str().unwrap();
    let parts: Vec<&str> = id.split('.').collect();
    assert_eq!(parts.len(), 3, "{id}");
    assert_eq!(parts[0], "externalCall");
    assert!(parts[1].len() == 32 && parts[1].chars().all(|c| c.is_ascii_hexdigit()));
    assert!(parts[2].parse::<u64>().is_ok());
}

#[tokio::test]
async fn finish_and_line_and_search_errors() {
    let p = portal().await;
    let fin = "telephony.externalCall.finish";
    assert_error(&call(&p, fin, json!({"CALL_ID": "x"})).await, 400, "USER_ID or USER_PHONE_INNER should be set");
    let got = call(&p, fin, json!({"CALL_ID": 5, "USER_ID": 11})).await;
    assert_error(&got, 400, "CALL_ID must be a string");
    assert_eq!(got.1["error"], json!("INVALID_ARGUMENT"));
    assert_error(&call(&p, fin, json!({"USER_ID": 11})).await, 400, "CALL_ID must be a string");
    assert_error(
        &call(&p, fin, json!({"CALL_ID": "externalCall.x.1", "USER_ID": 11})).await,
        400,
        "Call is not found (call should be registered prior to finishing",
    );
    let id = register(&p, json!({})).await;
    assert_error(&finish_as(&p, &id, 30).await, 400, "User is not found or is not active");

    assert_error(&call(&p, "telephony.externalLine.add", json!({"NAME": "x"})).await, 400, "NUMBER should not be empty");
    assert_eq!(call(&p, "telephony.externalLine.add", json!({"NUMBER": " 74951234567 "})).await.0, 200);
    assert_error(&call(&p, "telephony.externalLine.add", json!({"NUMBER": "74951234567"})).await, 400, "Line already exists");
    assert_error(&call(&p, "telephony.externalLine.update", json!({"NUMBER": "74951234567"})).await, 400, "There are no fields to update");
    assert_error(
        &call(&p, "telephony.externalLine.update", json!({"NUMBER": "1", "NAME": "n"})).await,
        400,
        "Could not find line with number 1",
    );
    assert_error(&call(&p, "telephony.externalLine.delete", json!({})).await, 400, "NUMBER should not be empty");
    assert_error(&call(&p, "telephony.externalLine.delete", json!({"NUMBER": "2"})).await, 400, "Could not find line with number 2");
    assert_error(&call(&p, "telephony.externalCall.searchCrmEntities", json!({})).await, 400, "PHONE_NUMBER is empty");
    assert_error(
        &call(&p, "telephony.externalCall.attachRecord", json!({"CALL_ID": id})).await,
        400,
        "Required parameters are not set. Request should contain or URL or FILENAME parameter",
    );
}

async fn finish_as(p: &FakePortal, id: &str, user: u64) -> (u16, Value) {
    call(p, "telephony.externalCall.finish", json!({"CALL_ID": id, "USER_ID": user})).await
}

#[tokio::test]
async fn lines_crud_and_register_auto_creates_unknown_line() {
    let p = portal().await;
    let (s, b) = call(&p, "telephony.externalLine.add", json!({"NUMBER": "74951234567", "NAME": "Main"})).await;
    assert_eq!(s, 200);
    assert!(b["result"]["ID"].is_u64(), "{b}");
    let (_, b) = call(&p, "telephony.externalLine.update", json!({"NUMBER": "74951234567", "CRM_AUTO_CREATE": "N"})).await;
    assert!(b["result"]["ID"].is_string(), "update answers ID as a string: {b}");
    register(&p, json!({"LINE_NUMBER": "74957654321"})).await;
    let (_, b) = call(&p, "telephony.externalLine.get", json!({})).await;
    assert_eq!(
        b["result"],
        json!([
            {"NUMBER": "74951234567", "NAME": "Main", "CRM_AUTO_CREATE": "N"},
            {"NUMBER": "74957654321", "NAME": "", "CRM_AUTO_CREATE": "Y"}
        ])
    );
    assert!(p.lines()[1].auto_created);
    let (s, b) = call(&p, "telephony.externalLine.delete", json!({"NUMBER": "74951234567"})).await;
    assert_eq!((s, b["result"].clone()), (200, json!([])));
    assert_eq!(p.lines().len(), 1);
}

#[tokio::test]
async fn dedup_within_thirty_minutes_and_not_after() {
    let p = portal().await;
    let a = register(&p, json!({"LINE_NUMBER": "7", "EXTERNAL_CALL_ID": "u1", "CRM_CREATE": 1})).await;
    let same = register(&p, json!({"LINE_NUMBER": "7", "EXTERNAL_CALL_ID": "u1", "CRM_CREATE": 0, "SHOW": 0})).await;
    assert_eq!(a, same, "same user/phone/type/app/line/external id within 30 min");
    assert_eq!(p.call(&a).unwrap().register_count, 2);
    let other = register(&p, json!({"LINE_NUMBER": "7", "EXTERNAL_CALL_ID": "u2"})).await;
    assert_ne!(a, other, "a different EXTERNAL_CALL_ID is a different call");
    let other_line = register(&p, json!({"LINE_NUMBER": "8", "EXTERNAL_CALL_ID": "u1"})).await;
    assert_ne!(a, other_line);
    let other_type = register(&p, json!({"LINE_NUMBER": "7", "EXTERNAL_CALL_ID": "u1", "TYPE": 3})).await;
    assert_ne!(a, other_type);
    p.advance_clock(Duration::from_secs(29 * 60));
    assert_eq!(register(&p, json!({"LINE_NUMBER": "7", "EXTERNAL_CALL_ID": "u1"})).await, a);
    p.advance_clock(Duration::from_secs(2 * 60));
    let late = register(&p, json!({"LINE_NUMBER": "7", "EXTERNAL_CALL_ID": "u1"})).await;
    assert_ne!(late, a, "after 30 minutes a new CALL_ID");
}

#[tokio::test]
async fn without_external_id_overlapping_calls_collapse_and_second_finish_fails() {
    let p = portal().await;
    let first = register(&p, json!({})).await;
    let second = register(&p, json!({})).await;
    assert_eq!(first, second);
    assert_eq!(finish(&p, &first, json!({"DURATION": 10})).await.0, 200);
    assert_error(&finish(&p, &second, json!({})).await, 400, "Call is not found (call should be registered prior to finishing");
    let third = register(&p, json!({})).await;
    assert_ne!(third, first, "a finished call is no longer a dedup candidate");
}

#[tokio::test]
async fn internal_calls_get_no_crm_and_external_ones_get_a_lead() {
    let opts = Options { crm: vec![CrmEntity::new(CrmEntityType::Contact, 651, "Ivan", "+7 (906) 219-50-47", 24)], ..options() };
    let p = FakePortal::start(opts).await.unwrap();
    let (_, b) =
        call(&p, "telephony.externalCall.register", json!({"USER_ID": 11, "PHONE_NUMBER": "102", "TYPE": 1, "CRM_CREATE": 1})).await;
    assert_eq!(b["result"]["CRM_CREATED_LEAD"], Value::Null);
    assert_eq!(b["result"]["CRM_CREATED_ENTITIES"], json!([]));
    assert_eq!(b["result"]["CRM_ENTITY_TYPE"], json!(""));
    let c = &p.calls()[0];
    assert!(c.internal && c.portal_user_id == Some(24) && c.crm_entity.is_none());

    let (_, b) =
        call(&p, "telephony.externalCall.register", json!({"USER_ID": 11, "PHONE_NUMBER": "79062195047", "TYPE": 2, "CRM_CREATE": 1}))
            .await;
    assert_eq!(b["result"]["CRM_ENTITY_TYPE"], json!("CONTACT"));
    assert_eq!(b["result"]["CRM_ENTITY_ID"], json!(651));
    assert_eq!(b["result"]["CRM_CREATED_LEAD"], Value::Null, "found, not created");

    let (_, b) =
        call(&p, "telephony.externalCall.register", json!({"USER_ID": 11, "PHONE_NUMBER": "79990001122", "TYPE": 2, "CRM_CREATE": 1}))
            .await;
    let lead = b["result"]["CRM_CREATED_LEAD"].as_u64().expect("lead created");
    assert_eq!(b["result"]["CRM_CREATED_ENTITIES"], json!([{"ENTITY_TYPE": "LEAD", "ENTITY_ID": lead}]));
    let id = b["result"]["CALL_ID"].as_str().unwrap().to_string();
    finish_as(&p, &id, 24).await;
    let (_, b) = call(&p, "telephony.externalCall.searchCrmEntities", json!({"PHONE_NUMBER": "+79990001122"})).await;
    assert_eq!(b["result"][0]["CRM_ENTITY_TYPE"], json!("LEAD"));
    assert_eq!(b["result"][0]["ASSIGNED_BY_ID"], json!(24), "finish makes USER_ID responsible");
    assert_eq!(b["result"][0]["ASSIGNED_BY"]["USER_PHONE_INNER"], json!("102"));
}

#[tokio::test]
async fn lead_creation_error_is_reported_on_success() {
    let opts = Options { lead_creation_error: Some("Lead creation is disabled for local users".into()), ..options() };
    let p = FakePortal::start(opts).await.unwrap();
    let (s, b) =
        call(&p, "telephony.externalCall.register", json!({"USER_ID": 11, "PHONE_NUMBER": "79990001122", "TYPE": 2, "CRM_CREATE": 1}))
            .await;
    assert_eq!(s, 200);
    assert_eq!(b["result"]["LEAD_CREATION_ERROR"], json!("Lead creation is disabled for local users"));
}

#[tokio::test]
async fn show_and_hide_take_scalar_or_array_user_id() {
    let p = portal().await;
    let id = register(&p, json!({"SHOW": 0})).await;
    let (s, b) = call_form(&p, "telephony.externalCall.show", &format!("CALL_ID={id}&USER_ID[0]=11&USER_ID[1]=24")).await;
    assert_eq!((s, b["result"].clone()), (200, json!(true)));
    assert_eq!(p.call(&id).unwrap().shown_to.iter().copied().collect::<Vec<_>>(), [11, 24]);
    let (_, b) = call(&p, "telephony.externalCall.hide", json!({"CALL_ID": id, "USER_ID": 11})).await;
    assert_eq!(b["result"], json!(true));
    let (_, b) = call(&p, "telephony.externalCall.show", json!({"CALL_ID": id, "USER_ID": [1, "30"]})).await;
    assert_eq!(b["result"], json!(true));
    let c = p.call(&id).unwrap();
    assert_eq!(c.shown_to.iter().copied().collect::<Vec<_>>(), [1, 24, 30]);
    assert_eq!(c.card_history.len(), 3);
    assert_eq!(c.card_history[1].action, CardAction::Hide);
    assert_eq!(c.card_history[1].shown_after, [24]);
    let (_, b) = call(&p, "telephony.externalCall.hide", json!({"CALL_ID": "externalCall.nope.1"})).await;
    assert_eq!(b["result"], json!(false));
    finish(&p, &id, json!({})).await;
    assert!(!p.call(&id).unwrap().shown_to.contains(&11), "finish hides the card for USER_ID");
    let (_, b) = call(&p, "telephony.externalCall.show", json!({"CALL_ID": id})).await;
    assert_eq!(b["result"], json!(false), "finished calls are not found");
}

#[tokio::test]
async fn finish_derives_status_code_from_duration() {
    let p = portal().await;
    let a = register(&p, json!({"EXTERNAL_CALL_ID": "a", "LINE_NUMBER": "3"})).await;
    let (s, b) = finish(&p, &a, json!({"DURATION": 95, "COST": "1.5", "COST_CURRENCY": "RUB", "VOTE": 5})).await;
    assert_eq!(s, 200, "{b}");
    let r = &b["result"];
    assert_eq!((r["CALL_FAILED_CODE"].clone(), r["CALL_STATUS"].clone()), (json!("200"), json!(1)));
    assert_eq!(r["CALL_DURATION"], json!(95));
    assert_eq!(r["EXTERNAL_CALL_ID"], json!("a"));
    assert_eq!(r["PORTAL_NUMBER"], json!("3"));
    assert_eq!(r["INCOMING"], json!("2"));
    assert_eq!(r["COST"], json!(1.5));
    assert_eq!(r["PORTAL_USER_ID"], json!(11));
    assert!(r["ID"].is_u64());
    let b2 = register(&p, json!({"EXTERNAL_CALL_ID": "b"})).await;
    let (_, b) = finish(&p, &b2, json!({})).await;
    assert_eq!((b["result"]["CALL_FAILED_CODE"].clone(), b["result"]["CALL_STATUS"].clone()), (json!("304"), json!(0)));
    let c = register(&p, json!({"EXTERNAL_CALL_ID": "c"})).await;
    let (_, b) = finish(&p, &c, json!({"DURATION": 0, "STATUS_CODE": "486"})).await;
    assert_eq!(b["result"]["CALL_FAILED_CODE"], json!("486"));
    let f = p.call(&c).unwrap().finish.unwrap();
    assert_eq!((f.status_code.as_str(), f.call_status), ("486", 0));
}

#[tokio::test]
async fn user_get_filters_by_extension_and_activity() {
    let p = portal().await;
    let (_, b) = call_form(&p, "user.get", "FILTER[UF_PHONE_INNER]=101&FILTER[ACTIVE]=true").await;
    assert_eq!(b["total"], json!(1));
    assert_eq!(b["result"][0]["ID"], json!("11"));
    assert_eq!(b["result"][0]["UF_PHONE_INNER"], json!("101"));
    let (_, b) = call(&p, "user.get", json!({"FILTER": {"UF_PHONE_INNER": "103", "ACTIVE": true}})).await;
    assert_eq!(b["result"], json!([]), "deactivated users are filtered out");
    let (_, b) = call(&p, "user.get", json!({})).await;
    assert_eq!(b["total"], json!(4));
}

#[tokio::test]
async fn empty_error_code_option_matches_live_portal() {
    let opts = Options { empty_core_error_code: true, ..options() };
    let p = FakePortal::start(opts).await.unwrap();
    let got = call(&p, "telephony.externalCall.finish", json!({"CALL_ID": "externalCall.x.1", "USER_ID": 11})).await;
    assert_error(&got, 400, "Call is not found (call should be registered prior to finishing");
    assert_eq!(got.1["error"], json!(""));
}

#[tokio::test]
async fn down_portal_answers_like_a_load_balancer() {
    let p = portal().await;
    p.set_down(true);
    let r = client::post_json(&format!("{}user.get", p.rest_url()), &json!({"auth": p.tokens().0})).await.unwrap();
    assert_eq!(r.status, 503);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text().contains("503 Service Temporarily Unavailable"));
    assert_eq!(p.requests()[0].status, 503);
    p.set_down(false);
    assert_eq!(call(&p, "user.get", json!({})).await.0, 200);
}
