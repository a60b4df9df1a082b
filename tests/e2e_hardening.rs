//! The real binary under attack: idle TCP connections, SIP messages trickled a few bytes at
//! a time, probes of `/metrics` and the live socket from where they do not belong, a forged
//! SDP aimed at a third party. Whatever the attacker does, everyone else is served.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::phone::collect_rtp;
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// A TCP connection to `to` from the local address `from_ip`.
fn connect_from(from_ip: &str, to: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.bind(&format!("{from_ip}:0").parse::<SocketAddr>().unwrap().into()).unwrap();
    sock.connect_timeout(&to.into(), Duration::from_secs(2)).unwrap();
    sock.into()
}

/// True when the server closed the connection (EOF or reset) within `within`.
fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 64];
    matches!(s.read(&mut b), Ok(0) | Err(_)) && !matches!(s.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[test]
fn idle_tcp_connections_cannot_take_the_server_down() {
    require_tool("sipp", "sip-tester");
    let pbx = Pbx::start(Db::Sqlite, &[("PBX_SIP_MAX_CONNECTIONS", "64"), ("PBX_SIP_MAX_CONNECTIONS_PER_SOURCE", "20")]);
    pbx.seed_acme();
    pbx.settle();
    // The attacker opens 60 connections and says nothing.
    let mut idle: Vec<TcpStream> = (0..60).map(|_| connect_from("127.0.0.9", pbx.sip)).collect();
    assert!(wait_for(Duration::from_secs(5), || pbx.metric("pbx_connections_refused_total") >= 40.0), "the per-source cap held");
    // Meanwhile the server serves everyone else: HTTP, and phones over TCP and UDP.
    assert!(pbx.http_get("/healthz").is_some_and(|b| b.contains("\"ok\"")));
    let _callee = answering_phone(&pbx, "102", "secret102");
    let ok = Sipp::run(
        &pbx,
        "register.xml",
        free_port(),
        &["-t", "t1", "-m", "1", "-au", "101", "-ap", "secret101", "-key", "domain", "acme.example", "-key", "user", "101"]
            .iter()
            .chain(&["-key", "contact_port", "5999", "-key", "expires", "60"])
            .copied()
            .collect::<Vec<_>>(),
        Duration::from_secs(10),
    );
    assert!(ok, "a phone registers over TCP during the attack:\n{}", pbx.log());
    // Silent connections are closed (10 s to say anything), so the attacker's slots come back.
    assert!(wait_for(Duration::from_secs(20), || pbx.metric("pbx_connections_idle_closed_total") >= 20.0), "idle connections were closed");
    assert!(closed_by_server(&mut idle[0], Duration::from_secs(1)));
    drop(idle);
    // And after the attack calls still get media ports.
    assert!(sipp_call(&pbx, "101", "secret101", "102", 1000), "a call after the attack:\n{}", pbx.log());
}

#[test]
fn a_message_trickled_a_few_bytes_at_a_time_is_read_once_whole() {
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    pbx.settle();
    let mut s = connect_from("127.0.0.1", pbx.sip);
    let local = s.local_addr().unwrap();
    let pad = "x".repeat(20_000);
    let msg = format!(
        "OPTIONS sip:acme.example SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKtrickle\r\nMax-Forwards: 70\r\n\
         From: <sip:101@acme.example>;tag=t\r\nTo: <sip:acme.example>\r\nCall-ID: trickle\r\nCSeq: 1 OPTIONS\r\n\
         X-Pad: {pad}\r\nContent-Length: 0\r\n\r\n"
    );
    for chunk in msg.as_bytes().chunks(5) {
        s.write_all(chunk).unwrap();
    }
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end && !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("SIP/2.0 200"), "{text}");
}

#[test]
fn metrics_are_for_the_operators_monitoring_only() {
    let pbx = Pbx::start(Db::Sqlite, &[("PBX_METRICS_TOKEN", "scrape-secret")]);
    let get = |from: &str, auth: Option<&str>| -> (u16, String) {
        let mut s = connect_from(from, pbx.http);
        let h = auth.map(|a| format!("Authorization: Bearer {a}\r\n")).unwrap_or_default();
        write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n{h}Connection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        (out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0), out)
    };
    assert_eq!(get("127.0.0.2", None).0, 403);
    assert_eq!(get("127.0.0.2", Some("guess")).0, 403);
    let (status, body) = get("127.0.0.2", Some("scrape-secret"));
    assert_eq!(status, 200);
    assert!(body.contains("pbx_engine_panics_total 0"), "{body}");
    // Without a token only the machine itself reads them (other hosts: see the unit test of
    // `metrics_allowed`, loopback is all a test here can be).
    let local = Pbx::start(Db::Sqlite, &[]);
    assert!(local.http_get("/metrics").unwrap_or_default().contains("pbx_engine_panics_total"));
}

#[test]
fn the_live_socket_opens_only_for_the_cabinets_own_pages() {
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    let token = pbx.cli_ok(&["token", "create", "acme", "--role", "supervisor", "--label", "t"]).trim().to_string();
    let upgrade = |origin: &str| -> String {
        let mut s = connect_from("127.0.0.1", pbx.http);
        write!(
            s,
            "GET /api/v1/live HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nOrigin: {origin}\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            host = pbx.http
        )
        .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or("").to_string()
    };
    assert!(upgrade("https://evil.example").contains("403"), "a foreign page is refused");
    assert!(upgrade(&format!("http://{}", pbx.http)).contains("101"), "the cabinet's own page is let in");
}

#[test]
fn a_forged_sdp_cannot_aim_the_pbxs_media_at_a_third_party() {
    require_tool("sipp", "sip-tester");
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    pbx.cli_ok(&["trunk", "create", "ipc", "--host", "127.0.0.50:5060", "--allow-ip", "127.0.0.50"]);
    pbx.cli_ok(&["did", "add", "acme", "+74951234000", "--trunk", "ipc"]);
    pbx.cli_ok(&["tenant", "set", "acme", "--greeting", "music"]);
    pbx.settle();
    // 101 rings (the greeting plays to the caller meanwhile).
    let p101 = free_port();
    let _ring = Sipp::spawn(&pbx, "uas_ring.xml", p101, &["-m", "1"]);
    assert!(Sipp::register(&pbx, "101", "secret101", free_port(), p101, 300));
    // The "carrier" (anyone who can send from its address) names a victim's socket in its SDP.
    let victim = UdpSocket::bind("127.0.0.77:0").unwrap();
    let victim_port = victim.local_addr().unwrap().port();
    let listener = std::thread::spawn(move || collect_rtp(&victim, Duration::from_secs(4)));
    let ok = Sipp::run_from(
        &pbx,
        "127.0.0.50",
        "carrier_listen.xml",
        free_port(),
        &["-m", "1", "-s", "+74951234000", "-d", "3000", "-key", "sink_ip", "127.0.0.77", "-key", "sink_port", &victim_port.to_string()],
        Duration::from_secs(20),
    );
    assert!(ok, "{}", Sipp::logs(&pbx, "carrier_listen"));
    let got = listener.join().unwrap();
    assert!(got.is_empty(), "the victim received {} packets", got.len());
}
