#!/usr/bin/env python3
"""REGISTER round trips while the cabinet is hammered: wrong passwords in parallel (argon2
for each, from many addresses so the login throttle lets them through) and plugin uploads
(a WebAssembly compilation each). The call engine runs on its own thread and heavy work on a
bounded pool, so the SIP round trips should hardly move.

    cargo build --release -p pbx
    python3 bench/storm.py --logins 50 --uploads 3 --seconds 20
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import PBX, DOMAIN, ROOT, Server  # noqa: E402

HTTP = "127.0.0.1:8085"


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def register_rtts(port, user, password, count, rate):
    """Registers `count` times at `rate`/s; returns the round trips (challenge + answer), ms."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    me = sock.getsockname()
    out = []
    for i in range(count):
        t_next = time.time() + 1.0 / rate
        call_id = f"storm-{random.getrandbits(48):x}"
        def req(cseq, auth=""):
            return (f"REGISTER sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {me[0]}:{me[1]};branch=z9hG4bK{random.getrandbits(48):x};rport\r\n"
                    f"Max-Forwards: 70\r\nFrom: <sip:{user}@{DOMAIN}>;tag=s{i}\r\nTo: <sip:{user}@{DOMAIN}>\r\nCall-ID: {call_id}\r\n"
                    f"CSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{me[0]}:{me[1]}>\r\nExpires: 600\r\n{auth}Content-Length: 0\r\n\r\n").encode()
        t0 = time.perf_counter()
        try:
            sock.sendto(req(1), ("127.0.0.1", port))
            resp = sock.recv(65535).decode(errors="replace")
            nonce = resp.split('nonce="')[1].split('"')[0]
            uri = f"sip:{DOMAIN}"
            ha1, ha2 = md5(f"{user}:{DOMAIN}:{password}"), md5(f"REGISTER:{uri}")
            cnonce, nc = f"{random.getrandbits(32):08x}", "00000001"
            response = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
            auth = (f'Authorization: Digest username="{user}", realm="{DOMAIN}", nonce="{nonce}", uri="{uri}", '
                    f'response="{response}", algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}"\r\n')
            sock.sendto(req(2, auth), ("127.0.0.1", port))
            resp = sock.recv(65535).decode(errors="replace")
            if resp.startswith("SIP/2.0 200"):
                out.append((time.perf_counter() - t0) * 1000)
        except (socket.timeout, IndexError):
            out.append(2000.0)
        time.sleep(max(0.0, t_next - time.time()))
    return out


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))] if v else float("nan")


def post(url, body, headers, src=None):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    if src:
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", 8085, timeout=30, source_address=(src, 0))
        conn.request("POST", url.split(HTTP, 1)[1], body=body, headers=headers)
        r = conn.getresponse()
        r.read()
        conn.close()
        return r.status
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--logins", type=int, default=50)
    ap.add_argument("--uploads", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--rate", type=int, default=20)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="storm-")
    server = Server("pbx", tmp)
    try:
        token = subprocess.run([PBX, "token", "create", "bench", "--role", "supervisor", "--label", "storm"], env=server.env,
                               check=True, capture_output=True, text=True).stdout.strip()
        server.settle()
        n = a.seconds * a.rate
        idle = register_rtts(server.port, "100", "secret100", n, a.rate)
        stop = threading.Event()
        counts = {"logins": 0, "uploads": 0}
        wasm = open(os.path.join(ROOT, "target", "wasm", "wasm32-wasip2", "release", "pbx_plugin_template.wasm"), "rb").read()

        def login_loop(i):
            # A new address and account for every guess, so the throttle lets each one reach
            # the password check (an argon2 evaluation each): the worst case for the CPU.
            k = 0
            while not stop.is_set():
                src = f"127.{1 + i}.{1 + (k // 250) % 250}.{1 + k % 250}"
                body = json.dumps({"login": f"{k}@storm{i}", "password": "wrong-password"}).encode()
                try:
                    post(f"http://{HTTP}/api/v1/login", body, {"Content-Type": "application/json"}, src=src)
                    counts["logins"] += 1
                except OSError:
                    pass
                k += 1

        def upload_loop():
            while not stop.is_set():
                post(f"http://{HTTP}/api/v1/plugins", wasm, {"Authorization": f"Bearer {token}", "Content-Type": "application/wasm"})
                counts["uploads"] += 1

        threads = [threading.Thread(target=login_loop, args=(i,), daemon=True) for i in range(a.logins)]
        threads += [threading.Thread(target=upload_loop, daemon=True) for _ in range(a.uploads)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        cpu0 = server.cpu()
        storm = register_rtts(server.port, "101", "secret101", n, a.rate)
        cpu = server.cpu() - cpu0
        stop.set()
        for t in threads:
            t.join(timeout=60)
        print(dict(idle_p50_ms=round(pct(idle, 50), 2), idle_p99_ms=round(pct(idle, 99), 2),
                   storm_p50_ms=round(pct(storm, 50), 2), storm_p99_ms=round(pct(storm, 99), 2),
                   p99_ratio=round(pct(storm, 99) / max(pct(idle, 99), 1e-9), 2), registers=len(storm),
                   logins_checked=counts["logins"], uploads=counts["uploads"], server_cpu_pct=round(100 * cpu / a.seconds, 1)))
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
