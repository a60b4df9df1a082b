#!/usr/bin/env python3
"""Benchmarks of the PBX with SIPp, side by side with Kamailio (and rtpengine) on the same
machine and in the same run. See bench/README.md for what each figure means.

    python3 bench/bench.py cps --rates 500,1000,2000 --seconds 10
    python3 bench/bench.py register --rate 10000 --count 100000
    python3 bench/bench.py media --calls 100,200,500,1000 --seconds 20
    python3 bench/bench.py queue --callers 200 --seconds 20
    python3 bench/bench.py group --members 20 --rate 10 --seconds 30
    python3 bench/bench.py integration --rates 100,200,400 --seconds 10
    python3 bench/bench.py webrtc --calls 50,200 --seconds 20
"""
import argparse
import csv
import glob
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import urllib.request
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
# PBX_BIN runs another build (e.g. the previous commit's) under the same load.
PBX = os.environ.get("PBX_BIN", os.path.join(ROOT, "target", "release", "pbx"))
TICK = os.sysconf("SC_CLK_TCK")
DOMAIN = "bench.example"


def cpu_of(pids):
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return total


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def pids_named(name):
    out = []
    for d in glob.glob("/proc/[0-9]*/comm"):
        try:
            with open(d) as f:
                if f.read().strip() == name:
                    out.append(int(d.split("/")[2]))
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


class Server:
    """A system under test: the PBX or the reference."""

    def __init__(self, kind, tmp, rtpengine=False, recording=True, extra_env=None):
        self.kind, self.tmp, self.procs = kind, tmp, []
        if kind == "pbx":
            self.port = 5080
            env = dict(os.environ, PBX_DATA_DIR=tmp, PBX_SIP_LISTEN=f"127.0.0.1:{self.port}", PBX_HTTP_LISTEN="127.0.0.1:8085",
                       PBX_RTP_PORTS="20000-29999", RUST_LOG="warn", PBX_RING_TIMEOUT="30", PBX_RTP_TIMEOUT="300",
                       # One benchmark user places every call: the per-user/tenant caps would refuse the load.
                       PBX_MAX_CALLS_PER_USER="0", PBX_MAX_CALLS_PER_TENANT="0", PBX_MAX_CALLS_PER_TRUNK="0", PBX_MEDIA_RESERVE="0")
            env.update(extra_env or {})
            self.env = env
            subprocess.run([PBX, "tenant", "create", "bench", "--domain", DOMAIN, "--no-supervisor"], env=env, check=True, capture_output=True)
            if not recording:
                subprocess.run([PBX, "tenant", "set", "bench", "--recording", "off"], env=env, check=True, capture_output=True)
            db = sqlite3.connect(os.path.join(tmp, "pbx.db"))
            tid = db.execute("SELECT id FROM tenants WHERE slug='bench'").fetchone()[0]
            now = int(time.time() * 1000)
            db.executemany("INSERT INTO users (tenant_id, ext, name, sip_password, role, created_at) VALUES (?,?,?,?, 'user', ?)",
                           [(tid, str(u), f"User {u}", f"secret{u}", now) for u in list(range(100, 200)) + list(range(10000, 30000))])
            db.execute("UPDATE config_version SET version = version + 1")
            db.commit()
            db.close()
            p = subprocess.Popen([PBX, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "serve.log"), "w"))
            self.procs.append(p)
            self.pids = [p.pid]
            self.settle()
        else:
            self.port = 5070
            cfg = os.path.join(BENCH, "kamailio", "kamailio.cfg")
            args = ["kamailio", "-f", cfg, "-DD", "-E", "-m", "256", "-M", "32", "-w", tmp]
            if rtpengine:
                rp = subprocess.Popen(["rtpengine", "--foreground", "--table=-1", "--interface=127.0.0.1", "--listen-ng=127.0.0.1:22222",
                                       "--port-min=40000", "--port-max=49999", "--log-level=3", "--num-threads=2",
                                       "--pidfile", os.path.join(tmp, "rtpengine.pid")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                self.procs.append(rp)
                args += ["-A", "WITH_RTPENGINE"]
            kp = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "kamailio.log"), "w"))
            self.procs.append(kp)
            time.sleep(0.5)
            self.pids = pids_named("kamailio") + (pids_named("rtpengine") if rtpengine else [])
            self.quiet()

    def settle(self):
        """Waits until the PBX answers /healthz with the latest configuration loaded and its
        start-up work (migrations, plugin compilation) is over: no figure includes it."""
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen("http://127.0.0.1:8085/healthz", timeout=2) as r:
                    h = json.loads(r.read())
                if "config_stored" not in h or h.get("config_version") == h.get("config_stored"):
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError("the PBX did not become ready")
        self.quiet()

    def quiet(self):
        """Waits (at most 30 s) until the server uses under 3% of a core over half a second."""
        deadline = time.time() + 30
        while time.time() < deadline:
            c0 = self.cpu()
            time.sleep(0.5)
            if self.cpu() - c0 < 0.015:
                return

    def cpu(self):
        return cpu_of(self.pids)

    def rss(self):
        return rss_kib(self.pids)

    def stop(self):
        for p in reversed(self.procs):
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


def sipp(server, scenario, port, extra, wait=True, log_dir=None):
    args = ["sipp", f"127.0.0.1:{server.port}", "-sf", os.path.join(BENCH, "sipp", scenario), "-i", "127.0.0.1", "-p", str(port),
            "-nostdin", "-key", "domain", DOMAIN] + extra
    p = subprocess.Popen(args, cwd=log_dir or server.tmp, stdout=subprocess.DEVNULL, stderr=open(os.path.join(server.tmp, f"sipp-{os.path.basename(scenario)}.err"), "w"), stdin=subprocess.DEVNULL)
    if wait:
        p.wait()
    return p


def last_stats(path):
    with open(path) as f:
        rows = list(csv.reader(f, delimiter=";"))
    head, last = rows[0], rows[-1]
    get = lambda name: int(last[head.index(name)])
    return get("SuccessfulCall(C)"), get("FailedCall(C)")


def register_callee(server, user, contact_port):
    reg = os.path.join(ROOT, "tests", "sipp", "register.xml")
    subprocess.run(["sipp", f"127.0.0.1:{server.port}", "-sf", reg, "-i", "127.0.0.1", "-p", "6999", "-m", "1", "-nostdin",
                    "-au", user, "-ap", f"secret{user}", "-key", "domain", DOMAIN, "-key", "user", user,
                    "-key", "contact_port", str(contact_port), "-key", "expires", "3600"],
                   cwd=server.tmp, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def offer_calls(server, rate, seconds, stats):
    """SIPp places rate * seconds calls from 101 to 102 at `rate` per second (answered, hung
    up at once); waits for them."""
    sipp(server, "uac_cps.xml", 6201, ["-s", "102", "-au", "101", "-ap", "secret101", "-key", "user", "101", "-r", str(rate),
                                       "-m", str(rate * seconds), "-l", str(rate * 4), "-d", "0", "-mp", "37000", "-trace_stat",
                                       "-stf", stats, "-fd", "1", "-timeout", str(seconds * 3 + 30)])


def run_cps(kind, rate, seconds):
    tmp = tempfile.mkdtemp(prefix=f"bench-{kind}-")
    server = Server(kind, tmp)
    try:
        uas = sipp(server, "uas_load.xml", 6200, ["-mp", "36000"], wait=False)
        time.sleep(0.5)
        register_callee(server, "102", 6200)
        stats = os.path.join(tmp, "uac.csv")
        cpu0, t0 = server.cpu(), time.time()
        offer_calls(server, rate, seconds, stats)
        elapsed, cpu = time.time() - t0, server.cpu() - cpu0
        ok, failed = last_stats(stats)
        uas.kill()
        return dict(kind=kind, offered_cps=rate, calls=ok, failed=failed, failed_pct=100.0 * failed / max(ok + failed, 1),
                    achieved_cps=ok / elapsed, cpu_ms_per_call=1000.0 * cpu / max(ok, 1), cpu_pct=100.0 * cpu / elapsed)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def run_register(kind, rate, count):
    tmp = tempfile.mkdtemp(prefix=f"bench-{kind}-")
    server = Server(kind, tmp)
    try:
        inf = os.path.join(tmp, "users.csv")
        with open(inf, "w") as f:
            f.write("SEQUENTIAL\n")
            for u in range(10000, 30000):
                f.write(f"{u};[authentication username={u} password=secret{u}]\n")
        stats = os.path.join(tmp, "reg.csv")
        cpu0, t0 = server.cpu(), time.time()
        sipp(server, "register_load.xml", 6300, ["-inf", inf, "-r", str(rate), "-m", str(count), "-l", str(rate), "-trace_stat", "-stf",
                                                 stats, "-fd", "1", "-timeout", str(count // max(rate, 1) * 3 + 30)])
        elapsed, cpu = time.time() - t0, server.cpu() - cpu0
        ok, failed = last_stats(stats)
        return dict(kind=kind, offered_rps=rate, registers=ok, failed=failed, achieved_rps=ok / elapsed,
                    cpu_us_per_register=1e6 * cpu / max(ok, 1), rss_kib=server.rss())
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def run_listen(n, seconds):
    """n callers from a carrier to a city number hear the music greeting (then ring-back)."""
    tmp = tempfile.mkdtemp(prefix="listen-")
    server = Server("pbx", tmp)
    try:
        env = server.env
        for args in (["trunk", "create", "load", "--host", "127.0.0.50:5060", "--allow-ip", "127.0.0.50"],
                     ["did", "add", "bench", "+74951110000", "--trunk", "load"],
                     ["tenant", "set", "bench", "--greeting", "music", "--recording", "off"]):
            subprocess.run([PBX] + args, env=env, check=True, capture_output=True)
        server.settle()
        # One phone that never answers (its contact is a closed port), so callers keep listening.
        register_callee(server, "102", 6999)
        rate = 100
        ramp = n / rate + 2
        cpu_idle0 = server.cpu()
        time.sleep(2)
        idle = (server.cpu() - cpu_idle0) / 2
        uac = subprocess.Popen(["sipp", f"127.0.0.1:{server.port}", "-sf", os.path.join(ROOT, "tests", "sipp", "carrier_listen.xml"),
                                "-i", "127.0.0.50", "-p", "6500", "-mp", "39000", "-nostdin", "-s", "+74951110000",
                                "-key", "sink_ip", "127.0.0.50", "-key", "sink_port", "39000", "-r", str(rate), "-l", str(n), "-m", str(n),
                                "-d", str(int((ramp + seconds + 2) * 1000)), "-timeout", str(int(ramp + seconds + 40))],
                               cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(ramp)
        from media import pbx_counter
        cpu0, t0 = server.cpu(), time.time()
        pk0 = pbx_counter("pbx_rtp_packets_relayed_total")
        time.sleep(seconds)
        cpu, elapsed = server.cpu() - cpu0, time.time() - t0
        pps = (pbx_counter("pbx_rtp_packets_relayed_total") - pk0) / elapsed
        live = pbx_counter("pbx_active_calls")
        uac.wait()
        return dict(listeners=n, live_calls=live, cpu_pct=100.0 * cpu / elapsed, idle_cpu_pct=100.0 * idle, sent_pps=pps,
                    expected_pps=n * 50, rss_kib=server.rss())
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cps")
    c.add_argument("--rates", default="500,1000,2000")
    c.add_argument("--seconds", type=int, default=10)
    c.add_argument("--only", choices=["pbx", "kamailio"])
    r = sub.add_parser("register")
    r.add_argument("--rates", default="5000,10000")
    r.add_argument("--count", type=int, default=100000)
    r.add_argument("--only", choices=["pbx", "kamailio"])
    m = sub.add_parser("media")
    m.add_argument("--calls", default="100,200,500,1000")
    m.add_argument("--seconds", type=int, default=20)
    m.add_argument("--only", choices=["pbx", "kamailio"])
    m.add_argument("--recording", choices=["on", "off", "both"], default="off")
    li = sub.add_parser("listen")
    li.add_argument("--listeners", default="100,500")
    li.add_argument("--seconds", type=int, default=10)
    q = sub.add_parser("queue")
    q.add_argument("--callers", default="200")
    q.add_argument("--seconds", type=int, default=20)
    g = sub.add_parser("group")
    g.add_argument("--members", type=int, default=20)
    g.add_argument("--rate", type=int, default=10)
    g.add_argument("--seconds", type=int, default=30)
    it = sub.add_parser("integration")
    it.add_argument("--rates", default="100,200,400")
    it.add_argument("--seconds", type=int, default=10)
    it.add_argument("--modes", default="off,plugin,notes,webhook,both")
    w = sub.add_parser("webrtc")
    w.add_argument("--calls", default="50,200")
    w.add_argument("--seconds", type=int, default=20)
    a = ap.parse_args()
    if not os.path.exists(PBX):
        subprocess.run(["cargo", "build", "--release", "-p", "pbx"], cwd=ROOT, check=True)
    kinds = [a.only] if getattr(a, "only", None) else ["pbx", "kamailio"]
    if a.cmd == "cps":
        for rate in map(int, a.rates.split(",")):
            for k in kinds:
                print(run_cps(k, rate, a.seconds), flush=True)
    elif a.cmd == "register":
        for rate in map(int, a.rates.split(",")):
            for k in kinds:
                print(run_register(k, rate, a.count), flush=True)
    elif a.cmd == "listen":
        for n in map(int, a.listeners.split(",")):
            print(run_listen(n, a.seconds), flush=True)
    elif a.cmd == "queue":
        from features import run_queue
        for n in map(int, a.callers.split(",")):
            print(run_queue(Server, register_callee, PBX, n, a.seconds), flush=True)
    elif a.cmd == "group":
        from features import run_group
        print(run_group(Server, register_callee, sipp, last_stats, PBX, a.members, a.rate, a.seconds), flush=True)
    elif a.cmd == "integration":
        from integrations import run_integration
        for rate, mode in [(int(r), m) for r in a.rates.split(",") for m in a.modes.split(",")]:
            print(run_integration(Server, register_callee, sipp, offer_calls, last_stats, PBX, rate, a.seconds, mode), flush=True)
    elif a.cmd == "webrtc":
        from media import run_media
        from webrtc import build_load, run_webrtc
        build_load()
        for n in map(int, a.calls.split(",")):
            sip = run_media("pbx", n, a.seconds, lambda kind, tmp, rtpengine=False: Server(kind, tmp, False, False), sipp, register_callee)
            web = run_webrtc(n, a.seconds, lambda kind, tmp, extra_env=None: Server(kind, tmp, False, False, extra_env), sipp, register_callee)
            print({"reference_sip": sip}, flush=True)
            print({"webrtc": web, "cpu_ratio": web["cpu_pct"] / sip["cpu_pct"] if sip["cpu_pct"] else None,
                   "rss_per_leg_kib": web["rss_per_call_kib"] - sip["rss_per_call_kib"]}, flush=True)
    elif a.cmd == "media":
        from media import run_media
        for n in map(int, a.calls.split(",")):
            for k in kinds:
                modes = [False, True] if a.recording == "both" and k == "pbx" else [a.recording == "on" and k == "pbx"]
                for rec in modes:
                    r = run_media(k, n, a.seconds, lambda kind, tmp, rtpengine=False: Server(kind, tmp, rtpengine, rec), sipp, register_callee)
                    r["recording"] = rec
                    print(r, flush=True)


if __name__ == "__main__":
    sys.exit(main())
