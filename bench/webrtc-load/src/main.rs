//! Browser-like callers for the WebRTC benchmark: each call opens its own SIP-over-WebSocket
//! connection (RFC 7118, as JsSIP does), sends an INVITE with a WebRTC offer made by `str0m`
//! (ICE, DTLS-SRTP, rtcp-mux, PCMA), answers the digest challenge, and once media is up
//! sends 20 ms A-law packets for the hold time while counting what comes back (the callee
//! echoes). Prints one JSON object: calls set up and failed, time from the first INVITE to
//! DTLS-SRTP up and to the first audio back (p50, p99), packets sent and received.
//!
//! ```sh
//! webrtc-load --ws ws://127.0.0.1:8085/sip --domain bench.example --user 101 \
//!     --password secret101 --to 102 --calls 200 --rate 50 --hold 20
//! ```

use futures_util::{SinkExt, StreamExt};
use md5::{Digest, Md5};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[derive(Clone)]
struct Args {
    ws: String,
    domain: String,
    user: String,
    password: String,
    to: String,
    calls: usize,
    rate: f64,
    hold: Duration,
    ip: String,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        ws: "ws://127.0.0.1:8085/sip".into(),
        domain: "bench.example".into(),
        user: "101".into(),
        password: "secret101".into(),
        to: "102".into(),
        calls: 10,
        rate: 50.0,
        hold: Duration::from_secs(10),
        ip: "127.0.0.1".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--ws" => a.ws = v,
            "--domain" => a.domain = v,
            "--user" => a.user = v,
            "--password" => a.password = v,
            "--to" => a.to = v,
            "--calls" => a.calls = v.parse().map_err(|e| format!("--calls: {e}"))?,
            "--rate" => a.rate = v.parse().map_err(|e| format!("--rate: {e}"))?,
            "--hold" => a.hold = Duration::from_secs_f64(v.parse().map_err(|e| format!("--hold: {e}"))?),
            "--ip" => a.ip = v,
            _ => return Err(format!("unknown option {k}")),
        }
    }
    Ok(a)
}

/// What one call measured.
#[derive(Default)]
struct CallStats {
    connected_ms: f64,
    first_audio_ms: f64,
    sent: u64,
    received: u64,
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("webrtc-load: {e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("webrtc-load: runtime: {e}");
            std::process::exit(1);
        }
    };
    let results = rt.block_on(run(a));
    let mut ok: Vec<CallStats> = Vec::new();
    let mut errors: std::collections::BTreeMap<String, usize> = Default::default();
    for r in results {
        match r {
            Ok(s) => ok.push(s),
            Err(e) => *errors.entry(e).or_default() += 1,
        }
    }
    let pct = |mut v: Vec<f64>, p: f64| -> f64 {
        if v.is_empty() {
            return f64::NAN;
        }
        v.sort_by(f64::total_cmp);
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v[i.min(v.len() - 1)]
    };
    let conn: Vec<f64> = ok.iter().map(|s| s.connected_ms).collect();
    let audio: Vec<f64> = ok.iter().map(|s| s.first_audio_ms).collect();
    let sent: u64 = ok.iter().map(|s| s.sent).sum();
    let received: u64 = ok.iter().map(|s| s.received).sum();
    let out = serde_json::json!({
        "ok": ok.len(),
        "failed": errors.values().sum::<usize>(),
        "errors": errors,
        "connected_p50_ms": pct(conn.clone(), 0.5),
        "connected_p99_ms": pct(conn, 0.99),
        "first_audio_p50_ms": pct(audio.clone(), 0.5),
        "first_audio_p99_ms": pct(audio, 0.99),
        "sent": sent,
        "received": received,
        "lost_pct": if sent > 0 { 100.0 * (sent.saturating_sub(received)) as f64 / sent as f64 } else { f64::NAN },
    });
    println!("{out}");
}

async fn run(a: Args) -> Vec<Result<CallStats, String>> {
    let start = Instant::now();
    // Every call sends media until the same moment, so the steady window has them all.
    let ramp = Duration::from_secs_f64(a.calls as f64 / a.rate);
    let stop_at = start + ramp + Duration::from_secs(3) + a.hold;
    let mut tasks = Vec::new();
    for i in 0..a.calls {
        let at = start + Duration::from_secs_f64(i as f64 / a.rate);
        tokio::time::sleep_until(at.into()).await;
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            match tokio::time::timeout(stop_at - Instant::now() + Duration::from_secs(30), call(i, &a, stop_at)).await {
                Ok(r) => r,
                Err(_) => Err("timed out".into()),
            }
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap_or_else(|e| Err(format!("task: {e}"))));
    }
    out
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A SIP response as far as a caller needs it.
struct Response {
    status: u16,
    cseq_method: String,
    to: String,
    contact: Option<String>,
    record_route: Vec<String>,
    challenge: Option<(String, String)>,
    body: String,
}

fn header<'a>(head: &'a str, names: &[&str]) -> Vec<&'a str> {
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| names.iter().any(|w| n.trim().eq_ignore_ascii_case(w)))
        .map(|(_, v)| v.trim())
        .collect()
}

fn parse_response(text: &str) -> Option<Response> {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let first = head.lines().next()?;
    let status: u16 = first.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()?;
    let cseq = header(head, &["CSeq"]).first()?.to_string();
    let challenge = header(head, &["WWW-Authenticate"])
        .first()
        .map(|v| ("Authorization".to_string(), v.to_string()))
        .or_else(|| header(head, &["Proxy-Authenticate"]).first().map(|v| ("Proxy-Authorization".to_string(), v.to_string())));
    Some(Response {
        status,
        cseq_method: cseq.split_whitespace().nth(1).unwrap_or("").to_string(),
        to: header(head, &["To", "t"]).first()?.to_string(),
        contact: header(head, &["Contact", "m"]).first().map(|c| {
            let c = c.trim();
            c.strip_prefix('<').and_then(|c| c.split('>').next()).unwrap_or(c).to_string()
        }),
        record_route: header(head, &["Record-Route"]).iter().map(|s| s.to_string()).collect(),
        challenge,
        body: body.to_string(),
    })
}

fn param(challenge: &str, name: &str) -> Option<String> {
    let i = challenge.find(&format!("{name}="))?;
    let rest = &challenge[i + name.len() + 1..];
    if let Some(r) = rest.strip_prefix('"') {
        r.split('"').next().map(str::to_string)
    } else {
        rest.split([',', ' ']).next().map(str::to_string)
    }
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn authorization(a: &Args, challenge: &str, method: &str, uri: &str) -> String {
    let realm = param(challenge, "realm").unwrap_or_default();
    let nonce = param(challenge, "nonce").unwrap_or_default();
    let ha1 = md5_hex(&format!("{}:{realm}:{}", a.user, a.password));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let mut v = format!("Digest username=\"{}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm=MD5", a.user);
    if param(challenge, "qop").is_some_and(|q| q.split(',').any(|q| q.trim() == "auth")) {
        let cnonce = format!("{:08x}", rand::random::<u32>());
        let resp = md5_hex(&format!("{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}"));
        v += &format!(", response=\"{resp}\", qop=auth, nc=00000001, cnonce=\"{cnonce}\"");
    } else {
        v += &format!(", response=\"{}\"", md5_hex(&format!("{ha1}:{nonce}:{ha2}")));
    }
    if let Some(o) = param(challenge, "opaque") {
        v += &format!(", opaque=\"{o}\"");
    }
    v
}

/// The dialog's fixed parts.
struct Dialog {
    call_id: String,
    from: String,
    to_uri: String,
    host: String,
}

impl Dialog {
    fn request(&self, method: &str, uri: &str, cseq: u32, to: &str, extra: &str, body: &str) -> String {
        let branch = format!("z9hG4bK{:016x}", rand::random::<u64>());
        let ctype = if body.is_empty() { String::new() } else { "Content-Type: application/sdp\r\n".into() };
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/WS {host};branch={branch}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\n\
             Call-ID: {cid}\r\nCSeq: {cseq} {cm}\r\nContact: <sip:bench@{host};transport=ws>\r\n{extra}{ctype}Content-Length: {len}\r\n\r\n{body}",
            host = self.host,
            from = self.from,
            cid = self.call_id,
            cm = if method == "ACK" { "ACK" } else { method },
            len = body.len(),
        )
    }
}

async fn send(ws: &mut Ws, text: String) -> Result<(), String> {
    ws.send(Message::text(text)).await.map_err(|e| format!("websocket send: {e}"))
}

/// The next SIP response on the connection (requests from the PBX get a 200).
async fn next_response(ws: &mut Ws) -> Result<Response, String> {
    loop {
        let m = ws.next().await.ok_or("websocket closed")?.map_err(|e| format!("websocket: {e}"))?;
        let text = match m {
            Message::Text(t) => t.to_string(),
            Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            _ => continue,
        };
        if text.starts_with("SIP/2.0") {
            return parse_response(&text).ok_or_else(|| "unreadable response".to_string());
        }
    }
}

fn new_rtc(local: SocketAddr) -> Result<(Rtc, Mid, String, SdpPendingOffer), String> {
    let mut rtc = Rtc::builder().clear_codecs().enable_pcma(true, false).build(Instant::now());
    let c = Candidate::host(local, "udp").map_err(|e| format!("candidate: {e}"))?;
    rtc.add_local_candidate(c);
    let mut api = rtc.sdp_api();
    let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, pending) = api.apply().ok_or("no offer")?;
    Ok((rtc, mid, offer.to_sdp_string(), pending))
}

async fn call(i: usize, a: &Args, stop_at: Instant) -> Result<CallStats, String> {
    let mut req = a.ws.as_str().into_client_request().map_err(|e| format!("ws url: {e}"))?;
    req.headers_mut().insert("Sec-WebSocket-Protocol", "sip".parse().map_err(|_| "header")?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.map_err(|e| format!("websocket connect: {e}"))?;
    let sock = UdpSocket::bind(format!("{}:0", a.ip)).await.map_err(|e| format!("udp bind: {e}"))?;
    let local = sock.local_addr().map_err(|e| e.to_string())?;
    let (mut rtc, mid, offer, pending) = new_rtc(local)?;

    let d = Dialog {
        call_id: format!("wl{i}-{:016x}", rand::random::<u64>()),
        from: format!("<sip:{}@{}>;tag={:08x}", a.user, a.domain, rand::random::<u32>()),
        to_uri: format!("sip:{}@{}", a.to, a.domain),
        host: format!("wl{i}.invalid"),
    };
    let t0 = Instant::now();
    let to_hdr = format!("<{}>", d.to_uri);
    let mut cseq = 1;
    send(&mut ws, d.request("INVITE", &d.to_uri, cseq, &to_hdr, "", &offer)).await?;
    let ok = loop {
        let r = next_response(&mut ws).await?;
        if r.cseq_method != "INVITE" || r.status < 200 {
            continue;
        }
        if r.status == 401 || r.status == 407 {
            if cseq > 1 {
                return Err(format!("INVITE: {} after authenticating", r.status));
            }
            send(&mut ws, d.request("ACK", &d.to_uri, cseq, &r.to, "", "")).await?;
            let (hname, ch) = r.challenge.ok_or("challenge without a header")?;
            cseq += 1;
            let auth = format!("{hname}: {}\r\n", authorization(a, &ch, "INVITE", &d.to_uri));
            send(&mut ws, d.request("INVITE", &d.to_uri, cseq, &to_hdr, &auth, &offer)).await?;
            continue;
        }
        if r.status >= 300 {
            return Err(format!("INVITE: {}", r.status));
        }
        break r;
    };
    let target = ok.contact.clone().unwrap_or_else(|| d.to_uri.clone());
    let routes: String = ok.record_route.iter().rev().map(|r| format!("Route: {r}\r\n")).collect();
    send(&mut ws, d.request("ACK", &target, cseq, &ok.to, &routes, "")).await?;
    let answer = SdpAnswer::from_sdp_string(&ok.body).map_err(|e| format!("answer: {e}"))?;
    rtc.sdp_api().accept_answer(pending, answer).map_err(|e| format!("answer: {e}"))?;

    let mut stats = CallStats::default();
    let mut connected = false;
    let mut buf = vec![0u8; 2048];
    let payload: Vec<u8> = (0..160u32).map(|k| 0xD5 ^ ((k * 37) & 0x7F) as u8).collect();
    let mut next_frame = Instant::now();
    let mut media_time: u64 = 0;
    let quiet_at = stop_at;
    let end_at = stop_at + Duration::from_millis(400);
    let mut hung_up_by_pbx = false;
    loop {
        // Run str0m until it waits.
        let timeout = loop {
            match rtc.poll_output().map_err(|e| format!("rtc: {e}"))? {
                Output::Timeout(t) => break t,
                Output::Transmit(t) => {
                    let _ = sock.send_to(&t.contents, t.destination).await;
                }
                Output::Event(Event::Connected) => {
                    connected = true;
                    stats.connected_ms = t0.elapsed().as_secs_f64() * 1000.0;
                    next_frame = Instant::now();
                }
                Output::Event(Event::MediaData(_)) => {
                    if stats.received == 0 {
                        stats.first_audio_ms = t0.elapsed().as_secs_f64() * 1000.0;
                    }
                    stats.received += 1;
                }
                Output::Event(_) => {}
            }
        };
        let now = Instant::now();
        if now >= end_at || hung_up_by_pbx {
            break;
        }
        let mut wake = timeout.min(end_at);
        let sending = connected && now < quiet_at;
        if sending {
            wake = wake.min(next_frame);
        }
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                let (n, from) = r.map_err(|e| format!("udp: {e}"))?;
                let Ok(contents) = buf[..n].try_into() else { continue };
                let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source: from, destination: local, contents });
                rtc.handle_input(input).map_err(|e| format!("rtc input: {e}"))?;
            }
            m = ws.next() => {
                match m {
                    Some(Ok(Message::Text(t))) if t.starts_with("BYE ") => hung_up_by_pbx = true,
                    Some(Ok(_)) => {}
                    _ => return Err("websocket closed during the call".into()),
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => {
                let now = Instant::now();
                if sending && now >= next_frame {
                    let pt = rtc.writer(mid).and_then(|w| w.payload_params().next().map(|p| p.pt()));
                    if let (Some(pt), Some(w)) = (pt, rtc.writer(mid))
                        && w.write(pt, now, MediaTime::new(media_time, Frequency::EIGHT_KHZ), payload.clone()).is_ok()
                    {
                        stats.sent += 1;
                    }
                    media_time += 160;
                    next_frame += Duration::from_millis(20);
                }
                rtc.handle_input(Input::Timeout(now)).map_err(|e| format!("rtc timeout: {e}"))?;
            }
        }
    }
    if hung_up_by_pbx {
        return Err("the PBX hung up".into());
    }
    if !connected {
        return Err("media never connected".into());
    }
    cseq += 1;
    send(&mut ws, d.request("BYE", &target, cseq, &ok.to, &routes, "")).await?;
    loop {
        let r = next_response(&mut ws).await?;
        if r.cseq_method == "BYE" && r.status >= 200 {
            break;
        }
    }
    let _ = ws.close(None).await;
    Ok(stats)
}
