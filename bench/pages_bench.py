#!/usr/bin/env python3
"""Dashboard pages and start-up benchmark.

Needs (Debian): wrk, python3 (standard library only). Not a test dependency.
Usage: bench/pages_bench.py [--bin build/grok-spicy] [--runs 100000] [--dir DIR]
                            [--duration 10] [--threads 2] [--conns 16] [--starts 20]

1. fills DIR/grok_spicy.db with RUNS runs (bench/populate_runs.lua) unless present;
2. start-up: exec `grok-spicy --web --port 0` STARTS times, time to the first
   200 from GET /health (reading the printed URL), and its VmRSS;
3. one server: RSS and fd count after start, after a few page loads, then wrk
   (--latency) on / and /api/runs, then RSS and fds again.
Prints figures; never fails. Servers listen on 127.0.0.1 and are stopped here.
"""
import argparse, os, re, select, signal, socket, statistics, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default="build/grok-spicy")
ap.add_argument("--runs", type=int, default=100000)
ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "gs-pages-bench"))
ap.add_argument("--duration", type=int, default=10)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--conns", type=int, default=16)
ap.add_argument("--starts", type=int, default=20)
ap.add_argument("--paths", default="/,/api/runs")
a = ap.parse_args()
root = os.path.dirname(os.path.abspath(__file__))


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def get(port, path, timeout=1.0):
    """One HTTP/1.1 GET; returns (status, body bytes) or (None, b'')."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), body
    except (OSError, IndexError, ValueError):
        return None, b""


def start():
    """Starts a server; returns (proc, port, ms from exec to first 200 on /health)."""
    t0 = time.perf_counter()
    p = subprocess.Popen([a.bin, "--web", "--port", "0", "--output-dir", a.dir],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = b""
    while b"\n" not in line:
        select.select([p.stdout], [], [], 5)
        chunk = os.read(p.stdout.fileno(), 4096)
        if not chunk:
            raise SystemExit("server exited: " + line.decode(errors="replace"))
        line += chunk
    port = int(re.search(rb"127\.0\.0\.1:(\d+)", line).group(1))
    while get(port, "/health")[0] != 200:
        time.sleep(0.0005)
    return p, port, (time.perf_counter() - t0) * 1000


def stop(p):
    p.send_signal(signal.SIGINT)  # ignored when this runs as a background job: then SIGTERM
    try:
        p.wait(1)
    except subprocess.TimeoutExpired:
        p.terminate()
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q * len(xs) + 0.5)) - 1))]


if not os.path.exists(os.path.join(a.dir, "grok_spicy.db")):
    subprocess.run([a.bin, os.path.join(root, "populate_runs.lua"), a.dir, str(a.runs)], check=True)

# --- start-up -------------------------------------------------------------------
ready, rss = [], []
for _ in range(a.starts):
    p, port, ms = start()
    ready.append(ms)
    rss.append(status(p.pid, "VmRSS"))
    stop(p)
print(f"ready (exec -> first 200 on /health), {a.starts} starts: median {statistics.median(ready):.1f} ms, "
      f"max {max(ready):.1f} ms   (target <= 50 ms)")
print(f"RSS right after ready: median {statistics.median(rss) / 1024:.1f} MB")

# --- one server under load --------------------------------------------------------
p, port, _ = start()
pid = p.pid
print(f"server pid {pid}: threads {status(pid, 'Threads')}, RSS {status(pid, 'VmRSS') / 1024:.1f} MB, "
      f"fds {fds(pid)} after start")
for path in ["/", "/api/runs", "/?page=2", "/?status=failed", "/api/runs/1", "/run/1", "/health"] * 3:
    get(port, path)
print(f"after 21 page loads: RSS {status(pid, 'VmRSS') / 1024:.1f} MB, fds {fds(pid)}   (target idle RSS <= 15 MB)")
for path in a.paths.split(","):
    st, body = get(port, path)
    out = subprocess.run(["wrk", f"-t{a.threads}", f"-c{a.conns}", f"-d{a.duration}s", "--latency",
                          f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    print(f"wrk -t{a.threads} -c{a.conns} -d{a.duration}s {path} ({st}, {len(body)} B): "
          f"{rps.group(1) if rps else '?'} req/s, p50 {p50.group(1) if p50 else '?'}, "
          f"p99 {p99.group(1) if p99 else '?'}"
          f"{', non-2xx ' + non2xx.group(1) if non2xx else ''}{', ' + errs.group(1) if errs else ''}"
          f"   (target >= 5000 req/s, p99 <= 10 ms)")
    print(f"  after: RSS {status(pid, 'VmRSS') / 1024:.1f} MB, fds {fds(pid)}")
time.sleep(1)
print(f"1 s after the load: RSS {status(pid, 'VmRSS') / 1024:.1f} MB, fds {fds(pid)}")
stop(p)
