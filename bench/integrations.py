"""The cost of integrations: the same call load without any, with an integration plugin
(the test connector `tests/plugins/crm`, which POSTs each event to the CRM: `plugin` only
forwards, `notes` also appends each event to a note in its key-value store), with a
webhook, and with both; and how soon the events reach a responsive CRM.

    python3 bench/bench.py integration --rates 100,200,400 --seconds 10

`cpu_ms_per_call` counts the server's CPU from the first call until every event of the run
was delivered (the deliveries are part of the cost). The CRM is a threaded Python HTTP
server on the same machine; `webhook_p99_ms` is the time from an event's `at` to its
arrival there, `plugin_p99_ms` the same for the plugin's POST of the event (which carries
the event's `at`).
"""
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

EVENTS = "call.started,call.answered,call.ended"


class Crm:
    """Takes every POST, noting when it arrived."""

    def __init__(self):
        got, lock = [], threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with lock:
                    got.append((time.time() * 1000, self.path, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.got, self.lock = got, lock
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def snapshot(self):
        with self.lock:
            return list(self.got)


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(len(v) * p / 100))], 1)


def run_integration(Server, register_callee, sipp, offer_calls, last_stats, pbx, rate, seconds, mode):
    """mode: off, plugin, notes, webhook or both."""
    tmp = tempfile.mkdtemp(prefix="integ-")
    server = Server("pbx", tmp, extra_env={"PBX_PLUGIN_EGRESS_ALLOW": "127.0.0.0/8"})
    with_plugin, with_webhook = mode in ("plugin", "notes", "both"), mode in ("webhook", "both")
    with_integration = with_plugin or with_webhook
    crm = Crm() if with_integration else None
    try:
        env = server.env
        cli = lambda *args: subprocess.run([pbx] + list(args), env=env, check=True, capture_output=True, text=True).stdout
        if with_plugin:
            wasm = os.environ.get("CRM_WASM") or os.path.join(os.path.dirname(pbx), "..", "wasm", "wasm32-wasip2", "release", "test_plugin_crm.wasm")
            cli("plugin", "install", "bench", wasm)
            cli("plugin", "grant", "bench", "crm", "--kv", "--contacts", "--http", "127.0.0.1")
            settings = {"crm_url": f"http://127.0.0.1:{crm.port}/crm", "note_events": mode == "notes"}
            cli("plugin", "settings", "bench", "crm", "--set", json.dumps(settings))
            cli("plugin", "integration", "bench", "crm")
        if with_webhook:
            cli("webhook", "add", "bench", f"http://127.0.0.1:{crm.port}/hook", "--event", EVENTS)
        if with_integration:
            server.settle()
        uas = sipp(server, "uas_load.xml", 6200, ["-mp", "36000"], wait=False)
        time.sleep(0.5)
        register_callee(server, "102", 6200)
        server.quiet()
        stats = os.path.join(tmp, "uac.csv")
        cpu0, t0 = server.cpu(), time.time()
        offer_calls(server, rate, seconds, stats)
        ok, failed = last_stats(stats)
        result = dict(mode=mode, offered_cps=rate, calls=ok, failed=failed)
        if with_integration:
            # Every call's events delivered: as many ended events as calls, to both.
            deadline = time.time() + 120
            while time.time() < deadline:
                got = crm.snapshot()
                ended_hook = sum(1 for _, p, b in got if p == "/hook" and b'"call.ended"' in b)
                ended_plugin = sum(1 for _, p, b in got if p == "/crm" and b'"ended"' in b)
                if (ended_hook >= ok or not with_webhook) and (ended_plugin >= ok or not with_plugin):
                    break
                time.sleep(0.05)
            elapsed, cpu = time.time() - t0, server.cpu() - cpu0
            got = crm.snapshot()
            hook_lat = [arrived - json.loads(b)["at"] for arrived, p, b in got if p == "/hook"]
            plugin_lat = [arrived - json.loads(b)["at"] for arrived, p, b in got if p == "/crm"]
            result.update(webhook_events=len(hook_lat), plugin_events=len(plugin_lat), webhook_p50_ms=pct(hook_lat, 50),
                          webhook_p99_ms=pct(hook_lat, 99), plugin_p50_ms=pct(plugin_lat, 50), plugin_p99_ms=pct(plugin_lat, 99),
                          drained_after_s=round(elapsed - seconds, 1))
        else:
            server.quiet()
            elapsed, cpu = time.time() - t0, server.cpu() - cpu0
        uas.kill()
        result.update(cpu_ms_per_call=round(1000.0 * cpu / max(ok, 1), 3))
        return result
    finally:
        server.stop()
        if crm:
            crm.server.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
