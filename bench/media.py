"""The media benchmark: N concurrent calls with G.711 RTP both ways through the server
(SIPp streams 20 ms A-law packets, the callee SIPp echoes them back), CPU and memory of
the server measured over a steady window."""
import os
import subprocess
import time
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))


def audio_file(tmp):
    """Ten seconds of A-law bytes (SIPp skips a RIFF header if there is one)."""
    path = os.path.join(tmp, "tone.alaw")
    data = bytes((0xD5 ^ (i * 37 & 0x7F)) for i in range(80000))
    with open(path, "wb") as f:
        f.write(data)
    return path


def udp_errors():
    """Kernel UDP receive errors (buffer overflows) of the whole machine: packets lost on
    loopback by any socket."""
    with open("/proc/net/snmp") as f:
        rows = [l.split() for l in f if l.startswith("Udp:")]
    head, vals = rows[0], rows[1]
    return int(vals[head.index("InErrors")]) + int(vals[head.index("RcvbufErrors")])


def socket_drops(lo, hi):
    """Kernel drops counted on the UDP sockets bound to ports lo..=hi (the server's media
    sockets), from /proc/net/udp."""
    total = 0
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            port = int(fields[1].split(":")[1], 16)
            if lo <= port <= hi:
                total += int(fields[-1])
    return total


def pbx_counter(name):
    try:
        body = urllib.request.urlopen("http://127.0.0.1:8085/metrics", timeout=2).read().decode()
    except OSError:
        return float("nan")
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return float("nan")


def run_media(kind, n, seconds, Server, sipp, register_callee):
    import shutil
    import tempfile
    tmp = tempfile.mkdtemp(prefix=f"media-{kind}-")
    server = Server(kind, tmp, rtpengine=(kind != "pbx"))
    try:
        rss0 = server.rss()
        uas = sipp(server, "uas_load.xml", 6400, ["-mp", "38000", "-rtp_echo"], wait=False)
        time.sleep(0.5)
        register_callee(server, "102", 6400)
        rate = 100
        ramp = n / rate + 3
        hold_ms = int((ramp + seconds + 2) * 1000)
        stats = os.path.join(tmp, "media.csv")
        # SIPp reads rtp_stream files when it parses the scenario: no [key] there.
        scenario = os.path.join(tmp, "uac_media.xml")
        with open(os.path.join(BENCH, "sipp", "uac_media.xml")) as f:
            text = f.read().replace("[audio]", audio_file(tmp))
        with open(scenario, "w") as f:
            f.write(text)
        uac = sipp(server, scenario, 6401, ["-s", "102", "-au", "101", "-ap", "secret101", "-key", "user", "101", "-r", str(rate), "-l", str(n), "-m", str(n), "-d", str(hold_ms),
                                                   "-trace_stat", "-stf", stats, "-fd", "1", "-timeout", str(int(ramp + seconds + 60))],
                   wait=False)
        time.sleep(ramp)
        cpu0, t0, err0 = server.cpu(), time.time(), udp_errors()
        pk0 = pbx_counter("pbx_rtp_packets_relayed_total") if kind == "pbx" else 0
        dr0 = pbx_counter("pbx_rtp_packets_dropped_total") if kind == "pbx" else 0
        time.sleep(seconds)
        cpu, elapsed = server.cpu() - cpu0, time.time() - t0
        pk = pbx_counter("pbx_rtp_packets_relayed_total") - pk0 if kind == "pbx" else float("nan")
        dropped = pbx_counter("pbx_rtp_packets_dropped_total") - dr0 if kind == "pbx" else float("nan")
        kernel_lost = udp_errors() - err0
        rss = server.rss()
        disk = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(tmp) for f in fs if f.endswith(".wav"))
        lo, hi = (20000, 29999) if kind == "pbx" else (40000, 49999)
        server_socket_drops = socket_drops(lo, hi)
        live = pbx_counter("pbx_active_calls") if kind == "pbx" else float("nan")
        uac.wait()
        uas.kill()
        from bench import last_stats
        ok, failed = last_stats(stats)
        expected = n * 100 * elapsed  # 50 packets/s each way
        return dict(kind=kind, calls=n, live_calls=live, ok=ok, failed=failed, cpu_pct=100.0 * cpu / elapsed,
                    relayed_pps=pk / elapsed if kind == "pbx" else None,
                    delivered_pct=100.0 * pk / expected if kind == "pbx" else None,
                    pbx_dropped=dropped, server_socket_drops=server_socket_drops,
                    server_lost_pct=100.0 * (server_socket_drops + (dropped if kind == "pbx" else 0)) / expected,
                    # SIPp's rtp_stream never reads its socket, so every echoed packet that comes
                    # back to the caller is a kernel receive error (the rest is the echoing SIPp's
                    # single socket overflowing): losses of the load tools, not of the server.
                    tools_kernel_drops=kernel_lost - server_socket_drops,
                    rss_kib=rss, rss_per_call_kib=(rss - rss0) / n,
                    recording_disk_bytes_per_s=disk / (ramp + seconds))
    finally:
        server.stop()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
