//! The 49 RFC 4475 torture messages sent to the running server, each answered as
//! tests/data/rfc4475/INDEX.md says (or dropped), with the server serving on afterwards.
//! The messages name hosts that must never be contacted, so the test re-runs itself in a
//! network namespace that has only a loopback interface.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use pbx_sip::message::{Message, SipMessage};
use pbx_sip::parse::{Framing, parse_message};
use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

const IN_NS: &str = "PBX_TEST_IN_NETNS";

/// What the server must answer: a final status, or nothing (dropped).
fn expected(name: &str) -> Option<u16> {
    Some(match name {
        // wsinv's To carries a tag: a re-INVITE for a dialog that does not exist.
        "wsinv" => 481,
        // Valid INVITEs from domains the PBX does not host: challenged like any caller, so
        // that the answer does not tell which domains exist.
        "esc01" | "longreq" | "inv2543" => 407,
        // Invalid ones are refused as such before any authentication.
        "escruri" | "baddate" => 400,
        "escnull" | "dblreq" | "unksm2" | "regaut01" | "cparam01" | "cparam02" | "regescrt" => 401,
        "intmeth" | "esc02" => 501,
        "lwsdisp" | "semiuri" | "transports" | "badbranch" | "zeromf" => 200,
        "mpart01" => 405,
        "unreason" | "noreason" | "scalarlg" | "bigcode" | "bcast" => return None,
        "badinv01" | "clerr" | "ncl" | "scalar02" | "quotbal" | "ltgtruri" | "lwsruri" | "lwsstart" | "trws" | "regbadct" | "badaspec"
        | "baddn" | "mismatch01" | "mismatch02" | "insuf" | "multi01" | "mcl01" => 400,
        "badvers" => 505,
        "unkscm" | "novelsc" => 416,
        "bext01" => 420,
        "invut" => 415,
        "sdp01" => 406,
        other => panic!("no expectation for {other}"),
    })
}

#[test]
fn torture_messages_against_the_server() {
    if std::env::var(IN_NS).is_err() {
        return run_in_namespace("torture_messages_against_the_server");
    }
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    // Responses go to the Via's received address at the sent-by port (5060, 5061 for TLS,
    // 5050 for one message) or, with rport or a malformed Via, to the source port.
    let listeners: Vec<UdpSocket> = [5060u16, 5061, 5050, 5070]
        .iter()
        .map(|p| {
            let s = UdpSocket::bind(("127.0.0.1", *p)).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            s
        })
        .collect();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(data_dir().join("rfc4475"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".dat")).map(str::to_string))
        .collect();
    names.sort();
    assert_eq!(names.len(), 49);
    let mut failures = Vec::new();
    for name in &names {
        let bytes = std::fs::read(data_dir().join("rfc4475").join(format!("{name}.dat"))).unwrap();
        sender.send_to(&bytes, pbx.sip).unwrap();
        let want = expected(name);
        let call_id = raw_call_id(&bytes);
        let deadline = Instant::now() + Duration::from_millis(if want.is_some() { 3000 } else { 600 });
        let mut finals = Vec::new();
        let mut buf = [0u8; 65536];
        while Instant::now() < deadline {
            for s in listeners.iter().chain(std::iter::once(&sender)) {
                if let Ok((n, _)) = s.recv_from(&mut buf)
                    && let Ok(p) = parse_message(&buf[..n], Framing::Datagram)
                    && let Message::Response(r) = p.message
                    && r.status >= 200
                    && r.call_id() == call_id
                {
                    finals.push((r.status, r.reason.clone(), r.call_id().to_string()));
                }
            }
            if want.is_some() && !finals.is_empty() {
                // Give a second (wrong) response a moment to show up.
                std::thread::sleep(Duration::from_millis(100));
                for s in listeners.iter().chain(std::iter::once(&sender)) {
                    while let Ok((n, _)) = s.recv_from(&mut buf) {
                        if let Ok(Message::Response(r)) = parse_message(&buf[..n], Framing::Datagram).map(|p| p.message)
                            && r.status >= 200
                            && r.call_id() == call_id
                        {
                            finals.push((r.status, r.reason.clone(), r.call_id().to_string()));
                        }
                    }
                }
                break;
            }
        }
        match want {
            None if !finals.is_empty() => failures.push(format!("{name}: must be dropped, got {finals:?}")),
            // Retransmissions (Timer G) repeat the same answer; anything else is wrong.
            Some(code) if finals.is_empty() || finals.iter().any(|f| f.0 != code) => {
                failures.push(format!("{name}: wanted {code}, got {finals:?}"))
            }
            Some(400) if finals[0].1.len() < 12 => failures.push(format!("{name}: 400 must say what is wrong: {:?}", finals[0].1)),
            _ => {}
        }
        // The server keeps serving after every message.
        let ping = format!(
            "OPTIONS sip:acme.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bKping{name};rport\r\nMax-Forwards: 70\r\nFrom: <sip:t@acme.example>;tag=p\r\nTo: <sip:acme.example>\r\nCall-ID: ping-{name}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            sender.local_addr().unwrap().port()
        );
        sender.send_to(ping.as_bytes(), pbx.sip).unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut alive = false;
        while Instant::now() < deadline && !alive {
            if let Ok((n, _)) = sender.recv_from(&mut buf) {
                alive = String::from_utf8_lossy(&buf[..n]).contains(&format!("Call-ID: ping-{name}"));
            }
        }
        assert!(alive, "the server stopped answering after {name}:\n{}", pbx.log());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(pbx.metric("pbx_sip_messages_rejected_total") >= 17.0);
}

/// The Call-ID of a raw message ("" when it has none), read without the PBX's parser.
fn raw_call_id(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    for line in text.split("\r\n") {
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let n = name.trim().to_ascii_lowercase();
            if n == "call-id" || n == "i" {
                return value.trim().to_string();
            }
        }
    }
    String::new()
}

/// Runs `test` of this binary again inside a fresh namespace with only loopback.
fn run_in_namespace(test: &str) {
    require_tool("ip", "iproute2");
    let ns = format!("pbx4475-{}", std::process::id());
    let ip = |args: &[&str]| Command::new("ip").args(args).output().unwrap();
    let out = ip(&["netns", "add", &ns]);
    assert!(out.status.success(), "cannot create a network namespace (root needed): {}", String::from_utf8_lossy(&out.stderr));
    let _ = ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(IN_NS, "1")
        .output()
        .unwrap();
    let _ = ip(&["netns", "delete", &ns]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "inside the namespace:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
