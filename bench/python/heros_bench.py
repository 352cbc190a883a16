#!/usr/bin/env python3
"""Benchmark the original Python HEROS library (zenoh) for comparison with HEROS for Rust.

One run starts a LocalHERO in a child process (this same script with ``--serve``), connects a
RemoteHERO from the parent and measures sequential call latency, a 16 MiB echo and the event rate
to one subscriber. Progress goes to stderr; stdout carries exactly one JSON line (see README.md).

The two zenoh sessions are wired explicitly over tcp/127.0.0.1 with multicast scouting off, so
nothing is sent to real interfaces even outside the private network namespace the Rust bench uses.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

HERO_NAME = "heros_bench"
# A realm of our own keeps the benchmark HERO apart from any other HERO that might be reachable.
REALM = "heros_bench"

# Per-mode workload. Quick must finish well under 20 s, full under ~60 s, including setup
# (zenoh session start, discovery) which takes a few seconds on its own.
MODES = {
    "quick": {"calls": 2000, "warmup": 200, "echo_rounds": 3, "events": 20000, "timeout_s": 18.0},
    "full": {"calls": 20000, "warmup": 1000, "echo_rounds": 7, "events": 200000, "timeout_s": 58.0},
}
ECHO_BYTES = 16 * 1024 * 1024
# Longest we wait for the events of one round after the last one arrived before calling them lost.
EVENT_IDLE_TIMEOUT_S = 2.0


def log(msg: str) -> None:
    print(f"[heros_bench] {msg}", file=sys.stderr, flush=True)


def zenoh_config(listen: str | None, connect: str | None) -> dict:
    """Keys for heros' ZenohSessionManager.update_config (json5 paths into the zenoh config).

    Multicast scouting is the only thing zenoh would send beyond the two endpoints, so it is off;
    the peers find each other through the explicit listen/connect pair instead.
    """
    return {
        "mode": "peer",
        "scouting/multicast/enabled": False,
        # Without an explicit list zenoh peers listen on tcp/[::]:0, i.e. on every interface.
        "listen/endpoints": [listen] if listen else [],
        "connect/endpoints": [connect] if connect else [],
    }


def free_port() -> int:
    # Racy in theory (the port is released before zenoh binds it), harmless on a private loopback.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# Child: the LocalHERO
# --------------------------------------------------------------------------------------------


def serve(port: int) -> None:
    import heros
    from heros import LocalHERO, event
    from heros.zenoh import session_manager

    # Must happen before the first HERO exists: heros opens one zenoh session per realm lazily.
    session_manager.update_config(zenoh_config(listen=f"tcp/127.0.0.1:{port}", connect=None))

    class BenchHERO(LocalHERO):
        # Plain attribute: the emitter reports its own rate here so the parent can show it.
        last_emit_s: float = 0.0

        def read_temp(self, min: int, max: int) -> float:
            return (max + min) / 2

        def echo(self, data: bytes) -> bytes:
            return data

        @event
        def tick(self, i: int) -> int:
            return i

        def start_events(self, n: int) -> bool:
            # Cleared here, not in the thread, so a read after this call never sees a stale value.
            self.last_emit_s = 0.0
            # The method runs inside a zenoh queryable callback; emitting from it would hold that
            # thread (and the caller's query, default timeout 10 s) for the whole burst.
            threading.Thread(target=self._emit, args=(n,), daemon=True).start()
            return True

        def _emit(self, n: int) -> None:
            t0 = time.perf_counter()
            for i in range(n):
                self.tick(i)
            self.last_emit_s = time.perf_counter() - t0

    hero = BenchHERO(HERO_NAME, realm=REALM)
    print(f"READY {heros.__version__}", flush=True)
    # The parent holds our stdin; EOF means it is done (or died), so we never outlive it.
    sys.stdin.read()
    try:
        hero._destroy_hero()
    finally:
        # Skip interpreter teardown: zenoh's atexit close can wait on a peer that is already gone.
        os._exit(0)


# --------------------------------------------------------------------------------------------
# Parent: the RemoteHERO and the measurements
# --------------------------------------------------------------------------------------------


def _same(a, b) -> bool:
    # bytes compare with ==; ndarrays need array_equal (== would be elementwise).
    if isinstance(a, bytes):
        return a == b
    import numpy as np

    return bool(np.array_equal(a, b))


class Bench:
    def __init__(self, mode: str):
        self.cfg = MODES[mode]
        self.mode = mode
        self.child: subprocess.Popen | None = None
        self.results: dict = {
            "heros_version": None,
            "call_p50_us": None,
            "call_p99_us": None,
            "calls_per_s": None,
            "echo16m_mbps": None,
            "events_per_s": None,
            "events_lost": None,
            "mode": mode,
            "errors": [],
        }
        self._printed = threading.Lock()
        self._done = False

    # ---- output and shutdown -----------------------------------------------------------

    def finish(self) -> None:
        """Print the JSON line once, stop the child and leave. Safe to call from the watchdog."""
        if not self._printed.acquire(blocking=False):
            return
        if not self.results["errors"]:
            del self.results["errors"]
        sys.stdout.write(json.dumps(self.results) + "\n")
        sys.stdout.flush()
        self.stop_child()
        # A RemoteHERO's zenoh session may still be blocked in a query if we got here from the
        # watchdog; interpreter teardown would then hang, so leave without it.
        os._exit(0)

    def stop_child(self) -> None:
        child = self.child
        if child is None or child.poll() is not None:
            return
        try:
            child.stdin.close()
            child.wait(timeout=3)
        except Exception:  # noqa: BLE001 - any failure here just escalates to kill
            pass
        if child.poll() is None:
            child.kill()
            child.wait(timeout=3)

    def watchdog(self) -> None:
        deadline = time.monotonic() + self.cfg["timeout_s"]
        while time.monotonic() < deadline:
            time.sleep(0.1)
            if self._done:
                return
        self.results["errors"].append(f"hard timeout of {self.cfg['timeout_s']} s reached; figures left null")
        log("hard timeout, killing the child")
        self.finish()

    # ---- setup --------------------------------------------------------------------------

    def start_child(self, port: int) -> str:
        self.child = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", "--port", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.child.stdout.readline().strip()
        if not line.startswith("READY"):
            try:
                code = self.child.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
            raise RuntimeError(f"child did not start (exit code {code}, said {line!r}; its stderr is above)")
        return line.split(" ", 1)[1]

    def connect(self, port: int):
        from heros import RemoteHERO
        from heros.zenoh import session_manager

        session_manager.update_config(zenoh_config(listen=None, connect=f"tcp/127.0.0.1:{port}"))
        # The child is READY once its HERO exists, but our tcp link and the routing of its
        # queryables may still be on the way; RemoteHERO raises NameError until then.
        last = None
        for _ in range(10):
            try:
                return RemoteHERO(HERO_NAME, realm=REALM)
            except NameError as e:
                last = e
                time.sleep(0.2)
        raise RuntimeError(f"RemoteHERO not found: {last}")

    # ---- measurements -------------------------------------------------------------------

    def measure_calls(self, remote) -> None:
        for _ in range(self.cfg["warmup"]):
            remote.read_temp(0, 10)
        n = self.cfg["calls"]
        lat = [0] * n
        clock = time.perf_counter_ns
        t0 = clock()
        for i in range(n):
            t = clock()
            value = remote.read_temp(i, 10)
            lat[i] = clock() - t
            # heros returns None when no HERO answered (e.g. the child died), which would
            # otherwise show up as impossibly fast calls.
            if value is None:
                raise RuntimeError(f"call {i} got no reply")
        total_s = (clock() - t0) / 1e9
        value = remote.read_temp(0, 10)
        if value != 5.0:
            raise RuntimeError(f"read_temp(0, 10) returned {value!r}, expected 5.0")
        lat.sort()

        # Same nearest-rank rule as the Rust benches: sorted[(len - 1) * p].
        def pct(p: float) -> float:
            return round(lat[int((n - 1) * p)] / 1e3, 1)

        self.results["call_p50_us"] = pct(0.50)
        self.results["call_p99_us"] = pct(0.99)
        self.results["calls_per_s"] = round(n / total_s, 1)
        self.results["calls"] = n
        log(f"calls: n={n} p50={pct(0.5)} us p99={pct(0.99)} us {n / total_s:.0f} calls/s")

    def measure_echo(self, remote) -> None:
        data = os.urandom(ECHO_BYTES)
        med = self._echo_rounds(remote, data, "bytes")
        # Payload size (one direction) over the round-trip time; README.md states this definition.
        self.results["echo16m_mbps"] = round(ECHO_BYTES / med / 1e6, 1)
        self.results["echo16m_median_ms"] = round(med * 1e3, 1)
        self.results["echo_rounds"] = self.cfg["echo_rounds"]

    def measure_echo_ndarray(self, remote) -> None:
        """Same echo with a numpy uint8 array, HEROS's own bulk-data path (CBOR tag 4242).

        Reported beside the bytes figure because heros 2026.2.2 formats every call's arguments
        and every reply into eager f-string log.debug messages: for 16 MiB of bytes that repr
        costs several hundred ms per round trip, while an ndarray's repr is a short summary.
        """
        import numpy as np

        data = np.frombuffer(os.urandom(ECHO_BYTES), dtype=np.uint8)
        med = self._echo_rounds(remote, data, "ndarray")
        self.results["echo16m_ndarray_mbps"] = round(ECHO_BYTES / med / 1e6, 1)

    def _echo_rounds(self, remote, data, label: str) -> float:
        remote.echo(data[:16])  # warm-up with the same type
        times = []
        for r in range(self.cfg["echo_rounds"]):
            t = time.perf_counter()
            back = remote.echo(data)
            dt = time.perf_counter() - t
            # Check the type that came back too: cbor2 decodes a byte string to bytes and heros
            # decodes its ndarray tag to a (read-only) array, but neither is promised by the API.
            if type(back) is not type(data) or len(back) != len(data) or not _same(back, data):
                size = len(back) if hasattr(back, "__len__") else "-"
                raise RuntimeError(f"echo of {label} returned {type(back).__name__} of length {size}")
            times.append(dt)
            log(f"echo {label} round {r + 1}: {dt * 1e3:.1f} ms ({ECHO_BYTES / dt / 1e6:.1f} MB/s)")
        return statistics.median(times)

    def measure_events(self, remote) -> None:
        lock = threading.Lock()
        state = {"count": 0, "last_at": 0.0}
        all_in = threading.Event()
        target = {"n": 0}

        def on_tick(_value) -> None:
            with lock:
                state["count"] += 1
                state["last_at"] = time.perf_counter()
                if state["count"] >= target["n"]:
                    all_in.set()

        remote.tick.connect(on_tick)

        # Warm-up: our subscription has to have reached the child's publisher before the burst,
        # otherwise its first events go nowhere and count as lost. Retry a single event until seen.
        target["n"] = 1
        for _ in range(20):
            remote.start_events(1)
            if all_in.wait(0.25):
                break
        else:
            raise RuntimeError("no event arrived in warm-up; subscription never established")
        time.sleep(0.1)  # let stray warm-up events land before resetting the counter

        n = self.cfg["events"]
        with lock:
            state["count"] = 0
            state["last_at"] = 0.0
            target["n"] = n
            all_in.clear()
        t0 = time.perf_counter()
        remote.start_events(n)
        # Wait until all arrived, or until the stream has been idle for a while (events lost).
        while not all_in.wait(0.1):
            with lock:
                idle_since = state["last_at"] or t0
            if time.perf_counter() - idle_since > EVENT_IDLE_TIMEOUT_S:
                break
        with lock:
            received, last_at = state["count"], state["last_at"]
        if received == 0:
            raise RuntimeError(f"none of {n} events arrived")
        elapsed = last_at - t0
        self.results["events_per_s"] = round(received / elapsed, 1)
        self.results["events_lost"] = n - received
        self.results["events_sent"] = n
        # The emitter stores its duration just after its last put, which can be a moment after
        # that event reached us.
        emit_s, give_up = 0.0, time.perf_counter() + 1.0
        while not emit_s and time.perf_counter() < give_up:
            emit_s = remote.last_emit_s or 0.0
            time.sleep(0.01)
        if emit_s:
            self.results["events_emit_per_s"] = round(n / emit_s, 1)
        log(f"events: {received}/{n} in {elapsed:.3f} s = {received / elapsed:.0f} events/s, lost {n - received}")

    # ---- driver -------------------------------------------------------------------------

    def run(self) -> None:
        threading.Thread(target=self.watchdog, daemon=True).start()
        t_start = time.perf_counter()
        try:
            port = free_port()
            log(f"mode={self.mode}, starting LocalHERO child on tcp/127.0.0.1:{port}")
            self.results["heros_version"] = self.start_child(port)
            remote = self.connect(port)
            log(f"connected RemoteHERO after {time.perf_counter() - t_start:.1f} s")
        except Exception as e:  # noqa: BLE001 - report, don't crash: the Rust bench wants JSON
            self.results["errors"].append(f"setup: {type(e).__name__}: {e}")
            self._done = True
            self.finish()
            return

        # Each figure is independent: a failure in one leaves it null and the others still run.
        for name, step in (("calls", self.measure_calls), ("echo", self.measure_echo),
                           ("echo_ndarray", self.measure_echo_ndarray), ("events", self.measure_events)):
            code = self.child.poll()
            if code is not None:
                self.results["errors"].append(f"{name}: skipped, the HERO child exited with code {code}")
                continue
            try:
                step(remote)
            except Exception as e:  # noqa: BLE001
                self.results["errors"].append(f"{name}: {type(e).__name__}: {e}")
                log(f"{name} failed: {e}")

        self.results["wall_s"] = round(time.perf_counter() - t_start, 1)
        self._done = True
        try:
            remote._destroy_hero()
        except Exception:  # noqa: BLE001 - teardown trouble must not cost us the figures
            pass
        self.finish()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small counts, whole run well under 20 s")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.port)
    else:
        Bench("quick" if args.quick else "full").run()


if __name__ == "__main__":
    main()
