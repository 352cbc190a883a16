"""The Python side of the zenoh interop tests (zenoh/tests/python_interop.rs), with Python HEROS
from PyPI. Each scenario exits non-zero, saying why, when the HEROs do not behave as Python HEROS
expects; the Rust test fails with that output.

    zenoh_interop.py calls|attributes|errors|events HERO   drive the Rust HERO HERO
    zenoh_interop.py observe HERO     say READY, then JOINED and LEFT as the Rust HERO comes and goes
    zenoh_interop.py serve HERO       serve the seed's TestObject as HERO until stdin closes
    zenoh_interop.py bench RUST PY N  p50 of N read_temp calls to each HERO, as JSON
"""
import json
import sys
import threading
import time

from heros import HEROObserver, LocalHERO, RemoteHERO, event
from heros.exceptions import RemoteHEROError


def check(condition, what):
    if not condition:
        print(f"FAILED: {what}", flush=True)
        sys.exit(1)


def expect_raise(call, kind, what):
    try:
        result = call()
    except kind as error:
        return error
    check(False, f"{what}: expected {kind.__name__}, got the result {result!r}")


def remote(name):
    """RemoteHERO(name), asked again for up to 20 s: a zenoh session that has just opened may not
    be connected to the other peer yet (on a loaded machine), and a query reaches only the peers it
    is connected to. Python HEROS has the same race between two Python processes."""
    deadline = time.monotonic() + 20
    while True:
        try:
            return RemoteHERO(name)
        except NameError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def calls(name):
    with remote(name) as hero:
        caps = {cap.name: type(cap).__name__ for cap in hero._remote_capabilities}
        check(caps.get("read_temp") == "MethodCapability", f"read_temp is a method: {caps}")
        check(caps.get("testme") == "AttributeCapability", f"testme is an attribute: {caps}")
        check(caps.get("overheated") == "EventCapability", f"overheated is an event: {caps}")
        check(hero.read_temp(0, 10) == 5.0, "read_temp(0, 10) == 5.0")
        check(hero.read_temp(min=2, max=4) == 3.0, "read_temp(min=2, max=4) == 3.0")
        check(hero.hello() == "world", "hello() == 'world'")
        reply = hero.heat(20.5, unit="C")
        check(reply == {"reached": 20.5, "unit": "C"}, f"heat(20.5, unit='C') answers a dict: {reply!r}")
        myself = hero.myself()
        check(isinstance(myself, RemoteHERO) and myself._name == name, f"myself() is a RemoteHERO of {name}: {myself!r}")
        check(myself.read_temp(1, 3) == 2.0, "the returned reference can be called")
    print("calls ok", flush=True)


def attributes(name):
    with remote(name) as hero:
        start = hero.testme
        check(isinstance(start, int), f"testme is an int: {start!r}")
        hero.testme = 42
        check(hero.testme == 42, "testme reads 42 after setting it")
        hero.hello()
        check(hero.testme == 43, "hello() counted up to 43")
        check(hero.firmware == "1.2.3", f"firmware reads 1.2.3: {hero.firmware!r}")
        error = expect_raise(lambda: setattr(hero, "firmware", "6.6.6"), AttributeError, "setting read-only firmware")
        check(isinstance(error, RemoteHEROError), f"the refusal is a RemoteHEROError: {type(error)}")
        check("firmware" in str(error), f"the refusal names the attribute: {error}")
        check(hero.firmware == "1.2.3", "firmware unchanged after the refused set")
    print("attributes ok", flush=True)


def errors(name):
    with remote(name) as hero:
        error = expect_raise(lambda: hero.heat(95.0), RemoteHEROError, "heat(95)")
        check(error.remote_type == "Overheated", f"remote_type is the application's kind: {error.remote_type!r}")
        check("95" in error.message and "80" in error.message, f"the message says why: {error.message!r}")
        error = expect_raise(lambda: hero.read_temp("warm", 1), TypeError, "read_temp('warm', 1)")
        check("'min'" in str(error), f"a wrong type names the argument: {error}")
        error = expect_raise(lambda: hero.read_temp(1, 2, 3), TypeError, "read_temp(1, 2, 3)")
        check("positional" in str(error), f"too many arguments are counted: {error}")
    print("errors ok", flush=True)


def events(name):
    with remote(name) as hero:
        got = []
        arrived = threading.Event()

        def on_alarm(alarm):
            got.append(alarm)
            arrived.set()

        hero.overheated.connect(on_alarm)
        # zenoh carries the new subscription to the Rust side's session on its own time: heat
        # again until an alarm arrives (each heat fails with Overheated and emits one).
        for _ in range(20):
            expect_raise(lambda: hero.heat(91.5), RemoteHEROError, "heat(91.5)")
            if arrived.wait(0.5):
                break
        check(arrived.is_set(), "the overheated event arrived within 10 s")
        check(got[0] == {"celsius": 91.5, "limit": 80.0}, f"the event carries the alarm: {got[0]!r}")
    print("events ok", flush=True)


def observe(name):
    observer = HEROObserver()
    joined, left = threading.Event(), threading.Event()
    observer.register_object_added_callback(lambda n: n == name and joined.set())
    observer.register_object_removed_callback(lambda n: n == name and left.set())
    print("READY", flush=True)
    check(joined.wait(20), f"HEROObserver saw {name} come")
    check(name in observer.known_objects, f"{name} is in known_objects: {list(observer.known_objects)}")
    info = observer.known_objects[name]
    check("zlab.v1.Oven" in info["implements"], f"it implements zlab.v1.Oven: {info}")
    print("JOINED", flush=True)
    check(left.wait(20), f"HEROObserver saw {name} go")
    check(name not in observer.known_objects, "it left known_objects")
    print("LEFT", flush=True)


class TestObject(LocalHERO):
    """The seed's TestObject, with an event."""

    testme: int = 0

    def __init__(self, name: str, start: int, *args, **kwargs):
        super().__init__(name, *args, **kwargs)
        self.testme = start

    def read_temp(self, min: int, max: int) -> float:
        return (max + min) / 2

    def hello(self) -> str:
        self.testme += 1
        return "world"

    def fail(self, why: str) -> None:
        raise ValueError(why)

    def emit(self, value: int) -> bool:
        # Emitting from within the queryable callback would hold it: emit from a thread.
        threading.Thread(target=self.new_data, args=(value,)).start()
        return True

    @event
    def new_data(self, value: int):
        return {"value": value, "doubled": 2 * value}


def serve(name):
    with TestObject(name, 5):
        print("READY", flush=True)
        sys.stdin.read()


def bench(rust_name, python_name, n):
    n = int(n)
    result = {}
    for label, name in (("python_to_rust", rust_name), ("python_to_python", python_name)):
        with remote(name) as hero:
            for _ in range(50):
                hero.read_temp(0, 10)
            times = []
            for _ in range(n):
                t = time.perf_counter()
                hero.read_temp(0, 10)
                times.append(time.perf_counter() - t)
            times.sort()
            result[label] = {"p50_us": times[n // 2] * 1e6, "p90_us": times[n * 9 // 10] * 1e6, "calls": n}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    scenario, args = sys.argv[1], sys.argv[2:]
    {"calls": calls, "attributes": attributes, "errors": errors, "events": events, "observe": observe,
     "serve": serve, "bench": bench}[scenario](*args)
    sys.stdout.flush()
    # zenoh's atexit close can wait on peers that are gone: leave without it.
    import os
    os._exit(0)
