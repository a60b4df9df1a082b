//! Contract checklist, part 2: records, events, installation, OAuth refresh,
//! rate limit and batch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use common::*;
use pbx_fake_bitrix24::client;
use pbx_fake_bitrix24::{BodyKind, ClickToCall, CrmEntityType, FakePortal, Options, RateLimit, RecordSource};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn attach_record_by_url_only_after_finish_and_really_downloads() {
    let p = portal().await;
    let store = Sink::start(200, "audio/wav", wav_bytes()).await;
    let id = register(&p, json!({})).await;
    let url = format!("{}/rec/call-1.wav", store.url);
    let m = "telephony.externalCall.attachRecord";
    assert_error(
        &call(&p, m, json!({"CALL_ID": id, "RECORD_URL": url})).await,
        400,
        "Call is not found in the statistic table. Looks like it is not finished yet.",
    );
    assert!(store.hits().is_empty(), "nothing downloaded before finish");
    finish(&p, &id, json!({"DURATION": 3})).await;
    let (s, b) = call(&p, m, json!({"CALL_ID": id, "RECORD_URL": url})).await;
    assert_eq!(s, 200, "{b}");
    let file_id = b["result"]["FILE_ID"].as_u64().unwrap();
    assert_eq!(store.hits().len(), 1);
    let d = &p.attach_downloads()[0];
    assert_eq!((d.status, d.content_type.as_deref(), d.bytes), (Some(200), Some("audio/wav"), 60));
    let rec = p.call(&id).unwrap().records.pop().unwrap();
    assert_eq!((rec.file_id, rec.file_name.as_str()), (file_id, "call-1.wav"));
    assert_eq!(rec.source, RecordSource::Url(url.clone()));
    assert_eq!(rec.data, wav_bytes());

    let missing = format!("{}/missing.wav", store.url);
    assert_error(&call(&p, m, json!({"CALL_ID": id, "RECORD_URL": missing})).await, 400, "Server returns HTTP error code 404");
    assert_eq!(p.attach_downloads()[1].status, Some(404));
    assert_error(
        &call(&p, m, json!({"CALL_ID": id, "RECORD_URL": url, "FILENAME": "call.ogg"})).await,
        400,
        "Wrong file extension. Only wav and mp3 are allowed",
    );
    assert_eq!(p.call(&id).unwrap().records.len(), 1);
}

#[tokio::test]
async fn attach_record_as_base64() {
    let p = portal().await;
    let id = register(&p, json!({})).await;
    finish(&p, &id, json!({})).await;
    let m = "telephony.externalCall.attachRecord";
    let b64 = base64::engine::general_purpose::STANDARD.encode(wav_bytes());
    assert_error(
        &call(&p, m, json!({"CALL_ID": id, "FILENAME": "r.ogg", "FILE_CONTENT": b64})).await,
        400,
        "Wrong file extension. Only wav and mp3 are allowed",
    );
    assert_error(
        &call(&p, m, json!({"CALL_ID": id, "FILENAME": "r.mp3", "FILE_CONTENT": "%%%"})).await,
        400,
        "File content is not properly encoded. Base64 encoding is expected.",
    );
    assert_error(&call(&p, m, json!({"CALL_ID": id, "FILENAME": "r.mp3", "FILE_CONTENT": ""})).await, 400, "File content is empty.");
    assert_error(&call(&p, m, json!({"CALL_ID": id, "FILENAME": "", "FILE_CONTENT": b64})).await, 400, "File name is empty");
    let (s, b) = call(&p, m, json!({"CALL_ID": id, "FILENAME": "r.wav", "FILE_CONTENT": b64})).await;
    assert_eq!(s, 200, "{b}");
    let (_, b2) = call(&p, m, json!({"CALL_ID": id, "FILENAME": "r2.wav", "FILE_CONTENT": b64})).await;
    assert_ne!(b["result"]["FILE_ID"], b2["result"]["FILE_ID"]);
    let c = p.call(&id).unwrap();
    assert_eq!(c.records.len(), 2, "a second attach replaces the current record");
    assert_eq!(c.records[1].file_name, "r2.wav");
    assert_eq!(c.records[1].data, wav_bytes());
}

#[tokio::test]
async fn attach_record_upload_in_two_steps() {
    let p = portal().await;
    let id = register(&p, json!({})).await;
    finish(&p, &id, json!({})).await;
    let (s, b) = call(&p, "telephony.externalCall.attachRecord", json!({"CALL_ID": id, "FILENAME": "r.mp3"})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["result"]["fieldName"], json!("file"));
    let upload = b["result"]["uploadUrl"].as_str().unwrap().to_string();
    assert!(upload.starts_with(&p.base_url()), "{upload}");
    let mut body = Vec::new();
    body.extend_from_slice(
        b"--BOUND\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.mp3\"\r\nContent-Type: audio/mpeg\r\n\r\n",
    );
    body.extend_from_slice(b"ID3\x03\x00fake-mp3");
    body.extend_from_slice(b"\r\n--BOUND--\r\n");
    let r = raw("POST", &upload, &[("Content-Type", "multipart/form-data; boundary=BOUND")], &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["result"]["FILE_ID"].is_u64());
    let rec = p.call(&id).unwrap().records.pop().unwrap();
    assert_eq!(rec.source, RecordSource::Upload);
    assert_eq!(rec.data, b"ID3\x03\x00fake-mp3".to_vec());
    assert_eq!(rec.content_type.as_deref(), Some("audio/mpeg"));
    let last = p.requests().pop().unwrap();
    assert_eq!((last.method.as_str(), last.body), ("upload", BodyKind::Multipart));
    let r = raw("POST", &upload, &[("Content-Type", "multipart/form-data; boundary=BOUND")], b"--BOUND--\r\n").await;
    assert_eq!(r.json()["error_description"], json!("Error: required parameter file is not found"));
}

async fn bind(p: &FakePortal, event: &str, handler: &str) -> (u16, serde_json::Value) {
    call(p, "event.bind", json!({"event": event, "handler": handler})).await
}

#[tokio::test]
async fn click_to_call_is_pre_registered_and_sent_once_as_a_form() {
    let p = portal().await;
    let app = Sink::start(500, "text/plain", b"boom".to_vec()).await;
    let handler = format!("{}/b24/events", app.url);
    assert_eq!(bind(&p, "ONEXTERNALCALLSTART", &handler).await.0, 200);
    assert_error(&bind(&p, "ONEXTERNALCALLSTART", &handler).await, 400, "Handler already binded");
    assert_error(&bind(&p, "ONNOTHING", &handler).await, 400, "Event not found");
    assert_eq!(p.bound_events()[0].handler, handler);

    let (status, call_id) = p.start_click_to_call(11, "+7 906 219-50-47", "74951234567").await.unwrap();
    assert_eq!(status, 500);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hits = app.hits();
    assert_eq!(hits.len(), 1, "no retry after a 500");
    assert_eq!(hits[0].content_type, "application/x-www-form-urlencoded");
    let f = form_pairs(&hits[0].body);
    assert_eq!(field(&f, "event"), Some("ONEXTERNALCALLSTART"));
    assert_eq!(field(&f, "data[CALL_ID]"), Some(call_id.as_str()));
    assert_eq!(field(&f, "data[USER_ID]"), Some("11"));
    assert_eq!(field(&f, "data[IS_MOBILE]"), Some("0"));
    assert_eq!(field(&f, "data[LINE_NUMBER]"), Some("74951234567"));
    assert_eq!(field(&f, "data[PHONE_NUMBER_INTERNATIONAL]"), Some("+79062195047"));
    assert!(field(&f, "event_handler_id").unwrap().parse::<u64>().is_ok());
    assert!(field(&f, "ts").unwrap().parse::<u64>().is_ok());
    assert_eq!(field(&f, "auth[application_token]"), Some(p.options().application_token.as_str()));
    assert_eq!(field(&f, "auth[domain]"), Some("test.bitrix24.ru"));
    assert_eq!(field(&f, "auth[member_id]"), Some(p.options().member_id.as_str()));
    let token = field(&f, "auth[access_token]").expect("access token sent").to_string();
    let r = client::post_json(&format!("{}app.info", p.rest_url()), &json!({"auth": token})).await.unwrap();
    assert_eq!(r.status, 200, "the event's token works: {}", r.text());

    let c = p.call(&call_id).unwrap();
    assert!(c.pre_registered);
    assert_eq!((c.call_type, c.external_call_id.clone(), c.crm_create), (1, None, true));
    assert!(c.created_lead.is_some(), "CRM_CREATE=1 on a line with CRM_AUTO_CREATE=Y");
    assert_eq!(field(&f, "data[CRM_ENTITY_TYPE]"), Some("LEAD"));
    assert_eq!(field(&f, "data[CRM_CREATED_ENTITIES][0][ENTITY_TYPE]"), Some("LEAD"));
    let (s, b) = finish(&p, &call_id, json!({"DURATION": 12})).await;
    assert_eq!(s, 200, "the app only finishes a pre-registered call: {b}");
}

#[tokio::test]
async fn events_may_come_without_access_token() {
    let p = portal().await;
    let app = Sink::start(200, "text/plain", b"ok".to_vec()).await;
    bind(&p, "ONEXTERNALCALLSTART", &app.url).await;
    bind(&p, "ONEXTERNALCALLBACKSTART", &app.url).await;
    let mut click = ClickToCall::new(24, "79990001122", "7");
    click.with_access_token = false;
    click.is_mobile = true;
    click.crm_entity = Some((CrmEntityType::Contact, 797));
    let (status, _) = p.start_click_to_call_with(&click).await.unwrap();
    assert_eq!(status, 200);
    let status = p.start_callback("+74951234567", "Callback from the site", "7").await.unwrap();
    assert_eq!(status, 200);
    let status = p.send_event("ONEXTERNALCALLSTART", &[("CALL_ID", "x"), ("LIST[0]", "1")], false).await.unwrap();
    assert_eq!(status, 200);
    let hits = app.wait_for(3).await;
    let f0 = form_pairs(&hits[0].body);
    assert_eq!(field(&f0, "auth[access_token]"), None);
    assert_eq!(field(&f0, "auth[refresh_token]"), None);
    assert!(field(&f0, "auth[application_token]").is_some());
    assert_eq!(field(&f0, "data[IS_MOBILE]"), Some("1"));
    assert_eq!((field(&f0, "data[CRM_ENTITY_TYPE]"), field(&f0, "data[CRM_ENTITY_ID]")), (Some("CONTACT"), Some("797")));
    let f1 = form_pairs(&hits[1].body);
    assert_eq!(field(&f1, "event"), Some("ONEXTERNALCALLBACKSTART"));
    assert_eq!(field(&f1, "data[TEXT]"), Some("Callback from the site"));
    assert!(field(&f1, "auth[access_token]").is_some());
    let f2 = form_pairs(&hits[2].body);
    assert_eq!(field(&f2, "data[LIST][0]"), Some("1"));
    assert_eq!(p.deliveries().len(), 3);
    assert!(p.send_event("ONAPPUPDATE", &[], true).await.is_err(), "nothing bound");
}

#[tokio::test]
async fn install_callback_posts_tokens_and_removes_handlers() {
    let p = portal().await;
    let app = Sink::start(200, "application/json", b"{}".to_vec()).await;
    bind(&p, "ONEXTERNALCALLSTART", &app.url).await;
    let status = p.install(&format!("{}/install", app.url)).await.unwrap();
    assert_eq!(status, 200);
    let hits = app.hits();
    assert_eq!(hits[0].path, "/install");
    assert_eq!(hits[0].content_type, "application/x-www-form-urlencoded");
    let f = form_pairs(&hits[0].body);
    assert_eq!(field(&f, "event"), Some("ONAPPINSTALL"));
    let (access, refresh) = p.tokens();
    assert_eq!(field(&f, "auth[access_token]"), Some(access.as_str()));
    assert_eq!(field(&f, "auth[refresh_token]"), Some(refresh.as_str()));
    assert_eq!(field(&f, "auth[expires_in]"), Some("3600"));
    assert_eq!(field(&f, "auth[member_id]"), Some(p.options().member_id.as_str()));
    assert_eq!(field(&f, "auth[application_token]"), Some(p.options().application_token.as_str()));
    assert_eq!(field(&f, "auth[client_endpoint]"), Some(p.rest_url().as_str()));
    assert!(p.bound_events().is_empty(), "handlers are removed on install");
    assert_eq!(call(&p, "app.info", json!({})).await.0, 200);
}

#[tokio::test]
async fn expired_token_then_refresh_rotates_the_pair() {
    let p = portal().await;
    let (old_access, old_refresh) = p.tokens();
    p.expire_tokens();
    let got = call(&p, "telephony.externalLine.get", json!({})).await;
    assert_error(&got, 401, "The access token provided has expired");
    assert_eq!(got.1["error"], json!("expired_token"));
    let o = p.options();
    let url = |secret: &str, refresh: &str| {
        format!("{}?grant_type=refresh_token&client_id={}&client_secret={secret}&refresh_token={refresh}", p.oauth_url(), o.client_id)
    };
    let r = client::get(&url("wrong", &old_refresh)).await.unwrap();
    assert_eq!((r.status, r.json()["error"].clone()), (401, json!("invalid_client")));
    let r = client::get(&url(&o.client_secret, &old_refresh)).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.json();
    let access = t["access_token"].as_str().unwrap().to_string();
    assert_ne!(access, old_access);
    assert_ne!(t["refresh_token"].as_str().unwrap(), old_refresh);
    assert_eq!(t["expires_in"], json!(3600));
    assert_eq!(t["member_id"], json!(o.member_id));
    assert_eq!(t["status"], json!("L"));
    assert_eq!(t["client_endpoint"], json!(p.rest_url()));
    for k in ["domain", "server_endpoint", "scope"] {
        assert!(t[k].is_string(), "{k} in {t}");
    }
    let r = client::post_json(&format!("{}telephony.externalLine.get", p.rest_url()), &json!({"auth": access})).await.unwrap();
    assert_eq!(r.status, 200);
    let r = client::get(&url(&o.client_secret, &old_refresh)).await.unwrap();
    assert_eq!((r.status, r.json()["error"].clone()), (400, json!("invalid_grant")), "old refresh token refused");
    p.advance_clock(Duration::from_secs(3601));
    assert_eq!(call(&p, "user.get", json!({})).await.1["error"], json!("expired_token"), "tokens live one hour");
}

#[tokio::test]
async fn query_limit_exceeded_after_the_burst() {
    let opts = Options { rate_limit: Some(RateLimit { per_second: 0.2, burst: 5.0 }), ..options() };
    let p = FakePortal::start(opts).await.unwrap();
    for i in 0..5 {
        assert_eq!(call(&p, "user.get", json!({})).await.0, 200, "request {i} is within the burst");
    }
    let got = call(&p, "user.get", json!({})).await;
    assert_error(&got, 503, "Too many requests");
    assert_eq!(got.1["error"], json!("QUERY_LIMIT_EXCEEDED"));
    p.advance_clock(Duration::from_secs(10));
    assert_eq!(call(&p, "user.get", json!({})).await.0, 200, "drained two slots");
    assert_eq!(call(&p, "user.get", json!({})).await.0, 200);
    assert_eq!(call(&p, "user.get", json!({})).await.0, 503);
}

#[tokio::test]
async fn batch_runs_commands_in_order_with_halt_and_limits() {
    let p = portal().await;
    let a = register(&p, json!({"EXTERNAL_CALL_ID": "a", "SHOW": 0})).await;
    let (s, b) = call(
        &p,
        "batch",
        json!({"halt": 0, "cmd": {
            "show": format!("telephony.externalcall.show?CALL_ID={a}&USER_ID[0]=11&USER_ID[1]=24"),
            "hide": format!("telephony.externalcall.hide?CALL_ID=$result[show_src][CALL_ID]&USER_ID=24"),
            "bad": "telephony.externalCall.finish?USER_ID=11&CALL_ID=nope",
            "users": "user.get?FILTER[UF_PHONE_INNER]=101",
            "nested": "batch?cmd[x]=user.get",
        }}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let r = &b["result"];
    assert_eq!(r["result"]["show"], json!(true));
    assert_eq!(r["result"]["hide"], json!(false), "unknown reference expands to nothing");
    assert_eq!(r["result_error"]["bad"]["error_description"], json!("Call is not found (call should be registered prior to finishing"));
    assert_eq!(r["result_error"]["nested"]["error"], json!("ERROR_BATCH_METHOD_NOT_ALLOWED"));
    assert_eq!(r["result_total"]["users"], json!(1));
    assert_eq!(r["result_next"], json!([]));
    assert!(r["result_time"]["show"]["duration"].is_number());
    assert!(b["time"]["operating"].is_number());
    assert_eq!(p.call(&a).unwrap().shown_to.iter().copied().collect::<Vec<_>>(), [11, 24]);
    let in_batch: Vec<_> = p.requests().into_iter().filter(|r| r.in_batch).map(|r| r.method).collect();
    // serde_json sorts the keys of the body this test sends, so the commands ran sorted.
    assert_eq!(
        in_batch,
        ["telephony.externalcall.finish", "telephony.externalcall.hide", "batch", "telephony.externalcall.show", "user.get"]
    );

    let (_, b) = call_form(
        &p,
        "batch",
        &format!("halt=1&cmd[z]=telephony.externalcall.hide%3FCALL_ID%3D{a}%26USER_ID%3D11&cmd[b]=nope.method&cmd[a]=user.get"),
    )
    .await;
    assert_eq!(b["result"]["result"]["z"], json!(true));
    assert_eq!(b["result"]["result_error"]["b"]["error"], json!("ERROR_METHOD_NOT_FOUND"));
    assert!(b["result"]["result"].get("a").is_none(), "commands run in sent order; halt stops at the first error");

    let cmd: serde_json::Map<String, serde_json::Value> = (0..51).map(|i| (format!("c{i}"), json!("user.get"))).collect();
    let got = call(&p, "batch", json!({"cmd": cmd})).await;
    assert_error(&got, 400, "Max batch length exceeded");
    assert_eq!(got.1["error"], json!("ERROR_BATCH_LENGTH_EXCEEDED"));
}
