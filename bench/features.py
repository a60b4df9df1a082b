"""Benchmarks of the calling features (run through bench.py):

    python3 bench/bench.py queue --callers 200 --seconds 20
    python3 bench/bench.py group --members 20 --rate 10 --seconds 30

queue: N callers from a carrier wait in one queue (its only agent is paused) hearing music
with a position announcement every 10 s; CPU and memory of the server over a steady window,
and the packets it sends per second.
group: a simultaneous ring group of M members, all registered to one SIPp that answers at
once, called at R calls per second: every call forks M INVITEs, the first answer wins and
the other M-1 answers are acknowledged and hung up; failed calls and the rate reached.
"""
import os
import subprocess
import time

from media import pbx_counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(server, pbx, *args):
    subprocess.run([pbx] + list(args), env=server.env, check=True, capture_output=True)


def run_queue(Server, register_callee, pbx, n, seconds):
    import shutil
    import tempfile
    tmp = tempfile.mkdtemp(prefix="queue-")
    server = Server("pbx", tmp)
    try:
        _cli(server, pbx, "trunk", "create", "load", "--host", "127.0.0.50:5060", "--allow-ip", "127.0.0.50")
        _cli(server, pbx, "did", "add", "bench", "+74951110000", "--trunk", "load")
        _cli(server, pbx, "tenant", "set", "bench", "--recording", "off")
        _cli(server, pbx, "queue", "create", "bench", "300", "--strategy", "longest-idle", "--agents", "100",
             "--max-wait", "3600", "--max-length", str(n + 10), "--announce-every", "10")
        _cli(server, pbx, "queue", "pause", "bench", "300", "100")
        scenario = os.path.join(tmp, "queue.json")
        with open(scenario, "w") as f:
            f.write('{"start":"q","nodes":{"q":{"type":"queue","queue":"300","next":{"*":"bye"}},"bye":{"type":"hangup"}}}')
        _cli(server, pbx, "scenario", "set", "bench", "+74951110000", scenario)
        server.settle()
        register_callee(server, "100", 6999)
        rate = 50
        ramp = n / rate + 3
        cpu_idle0 = server.cpu()
        time.sleep(2)
        idle = (server.cpu() - cpu_idle0) / 2
        uac = subprocess.Popen(["sipp", f"127.0.0.1:{server.port}", "-sf", os.path.join(ROOT, "tests", "sipp", "carrier_listen.xml"),
                                "-i", "127.0.0.50", "-p", "6500", "-mp", "39000", "-nostdin", "-s", "+74951110000",
                                "-key", "sink_ip", "127.0.0.50", "-key", "sink_port", "39000", "-r", str(rate), "-l", str(n), "-m", str(n),
                                "-d", str(int((ramp + seconds + 2) * 1000)), "-timeout", str(int(ramp + seconds + 40))],
                               cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(ramp)
        cpu0, t0 = server.cpu(), time.time()
        pk0 = pbx_counter("pbx_rtp_packets_relayed_total")
        time.sleep(seconds)
        cpu, elapsed = server.cpu() - cpu0, time.time() - t0
        pps = (pbx_counter("pbx_rtp_packets_relayed_total") - pk0) / elapsed
        live = pbx_counter("pbx_active_calls")
        status = subprocess.run([pbx, "queue", "status", "bench", "300", "--json"], env=server.env, capture_output=True, text=True).stdout
        import json
        waiting = len(json.loads(status).get("callers", [])) if status else -1
        rss = server.rss()
        uac.wait()
        return dict(callers=n, live_calls=live, waiting_in_queue=waiting, cpu_pct=100.0 * cpu / elapsed, idle_cpu_pct=100.0 * idle,
                    sent_pps=pps, expected_pps=n * 50, rss_kib=rss)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def run_group(Server, register_callee, sipp, last_stats, pbx, members, rate, seconds):
    import shutil
    import tempfile
    tmp = tempfile.mkdtemp(prefix="group-")
    server = Server("pbx", tmp, recording=False)
    try:
        exts = [str(100 + i) for i in range(members)]
        _cli(server, pbx, "group", "create", "bench", "200", "--strategy", "simultaneous", "--members", ",".join(exts), "--timeout", "20")
        uas = sipp(server, "uas_load.xml", 6200, ["-mp", "36000"], wait=False)
        server.settle()
        for e in exts:
            register_callee(server, e, 6200)
        total = rate * seconds
        stats = os.path.join(tmp, "uac.csv")
        cpu0, t0 = server.cpu(), time.time()
        sipp(server, "uac_cps.xml", 6201, ["-s", "200", "-au", "199", "-ap", "secret199", "-key", "user", "199", "-r", str(rate),
                                           "-m", str(total), "-l", str(rate * 10), "-d", "1000", "-mp", "37000", "-trace_stat", "-stf", stats,
                                           "-fd", "1", "-timeout", str(seconds * 3 + 30)])
        elapsed, cpu = time.time() - t0, server.cpu() - cpu0
        ok, failed = last_stats(stats)
        uas.kill()
        return dict(members=members, offered_cps=rate, calls=ok, failed=failed, achieved_cps=ok / elapsed,
                    cpu_ms_per_call=1000.0 * cpu / max(ok, 1), cpu_pct=100.0 * cpu / elapsed, rss_kib=server.rss())
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
