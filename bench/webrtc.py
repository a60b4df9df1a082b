"""The WebRTC benchmark: N concurrent calls from browser-like callers (bench/webrtc-load:
SIP over WebSocket, ICE + DTLS-SRTP by str0m, 20 ms A-law) to a SIPp callee that echoes the
audio, against the same number of SIP-to-SIP relayed calls (bench/media.py) in the same run.
Server CPU and memory over the steady window; set-up times and losses from the load client."""
import json
import os
import shutil
import subprocess
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
LOAD = os.path.join(BENCH, "webrtc-load", "target", "release", "webrtc-load")


def build_load():
    if not os.path.exists(LOAD):
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=os.path.join(BENCH, "webrtc-load"), check=True)


def run_webrtc(n, seconds, Server, sipp, register_callee):
    from media import pbx_counter, socket_drops, udp_errors
    tmp = tempfile.mkdtemp(prefix="webrtc-")
    # Every browser of the load comes from 127.0.0.1: the per-address cap on HTTP (and so
    # WebSocket) connections is lifted as for an office behind one NAT address.
    server = Server("pbx", tmp, extra_env={"PBX_WEBRTC_PORT": "31000", "PBX_HTTP_MAX_CONNECTIONS_PER_SOURCE": "2000",
                                           "PBX_HTTP_MAX_CONNECTIONS": "4000"})
    try:
        rss0 = server.rss()
        uas = sipp(server, "uas_load.xml", 6400, ["-mp", "38000", "-rtp_echo"], wait=False)
        time.sleep(0.5)
        register_callee(server, "102", 6400)
        rate = 50
        ramp = n / rate + 3
        out_path = os.path.join(tmp, "load.json")
        load = subprocess.Popen([LOAD, "--ws", "ws://127.0.0.1:8085/sip", "--domain", "bench.example", "--user", "101",
                                 "--password", "secret101", "--to", "102", "--calls", str(n), "--rate", str(rate),
                                 "--hold", str(seconds + 2)],
                                stdout=open(out_path, "w"), stderr=open(os.path.join(tmp, "load.err"), "w"))
        time.sleep(ramp)
        cpu0, t0, err0 = server.cpu(), time.time(), udp_errors()
        live0 = pbx_counter("pbx_active_calls")
        time.sleep(seconds)
        cpu, elapsed = server.cpu() - cpu0, time.time() - t0
        rss = server.rss()
        kernel_lost = udp_errors() - err0
        # Drops on the server's own sockets: the media plane's ports and the WebRTC ports.
        server_drops = socket_drops(20000, 29999) + socket_drops(31000, 31063)
        load.wait(timeout=seconds + 120)
        uas.kill()
        with open(out_path) as f:
            text = f.read().strip()
        try:
            res = json.loads(text.splitlines()[-1])
        except (ValueError, IndexError):
            with open(os.path.join(tmp, "load.err")) as f:
                raise RuntimeError(f"webrtc-load printed no result: {f.read()[-2000:]}")
        return dict(kind="webrtc", calls=n, live_calls=live0, ok=res["ok"], failed=res["failed"], errors=res["errors"],
                    cpu_pct=100.0 * cpu / elapsed, rss_kib=rss, rss_per_call_kib=(rss - rss0) / n,
                    connected_p50_ms=res["connected_p50_ms"], connected_p99_ms=res["connected_p99_ms"],
                    first_audio_p50_ms=res["first_audio_p50_ms"], first_audio_p99_ms=res["first_audio_p99_ms"],
                    sent=res["sent"], received=res["received"], lost_pct=res["lost_pct"], server_socket_drops=server_drops,
                    tools_kernel_drops=kernel_lost - server_drops)
    finally:
        server.stop()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
