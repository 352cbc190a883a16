#!/usr/bin/env python3
"""Drives the interop HEROs of tests/common/interop.rs from Python, with nothing but grpcio and the
stubs grpcio-tools generates from schema/. One scenario per run; exits non-zero with the reason
when a HERO does not behave as docs/PROTOCOL.md says.

    interop_test.py SCENARIO --target HOST:PORT

tests/interop_python.rs starts the server and runs this with the venv of setup.sh, PYTHONPATH
holding the generated stubs and clients/python.
"""

from __future__ import annotations

import argparse
import os
import queue
import secrets
import sys
import threading
import time

import grpc
from google.protobuf import any_pb2, empty_pb2
from grpc_status import rpc_status

from examples import furnace_pb2, furnace_pb2_grpc
from examples import instrument_pb2, instrument_pb2_grpc
from examples import nodes_pb2, nodes_pb2_grpc
from examples import route_guide_pb2 as rg, route_guide_pb2_grpc
from examples import stage_pb2, stage_pb2_grpc
from examples import testobject_pb2 as t, testobject_pb2_grpc
from heros.v1 import core_pb2, handles_pb2, handles_pb2_grpc, registry_pb2, registry_pb2_grpc
from heros.v1 import operations_pb2 as ops, operations_pb2_grpc

# The names and values of tests/common/interop.rs.
TEST_HERO = "interop-test"  # TestObject (counter at 5) + Furnace, realm "heros"
INSTRUMENT = "interop-instrument"
ROOT = "interop-root"  # Node, value 1, child 0 = CHILD
CHILD = "interop-child"  # Node, value 10
REALM_HERO = "interop-realm-test"  # TestObject (counter at 7), realm REALM
REALM = "interop-lab"
GUIDE = "interop-guide"  # gRPC's route guide (package routeguide), streaming methods
GUIDE_FEATURES = 8192  # feature-<n> at place(n), each name followed by 4096 dots
STAGE = "interop-stage"  # a Stage: Move is long-running (operations), TimeLeft reads the deadline
DEFAULT_REALM = "heros"
ALL_HEROS = sorted([TEST_HERO, INSTRUMENT, ROOT, CHILD, REALM_HERO, GUIDE, STAGE])

FURNACE_LIMIT = 80.0
TIMEOUT = 10.0  # seconds, for every call: a hang fails the scenario instead of stalling the test

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
]


def headers(name: str | None = None, realm: str | None = None, session: str | None = None) -> list[tuple[str, str]]:
    """The HEROS request headers, each only when given (names here are plain ASCII)."""
    md = []
    if name is not None:
        md.append(("heros-name", name))
    if realm is not None:
        md.append(("heros-realm", realm))
    if session is not None:
        md.append(("heros-session", session))
    return md


class Failure(Exception):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise Failure(what)


def equal(actual, expected, what: str) -> None:
    if actual != expected:
        raise Failure(f"{what}: expected {expected!r}, got {actual!r}")


def heros_error(call, code: grpc.StatusCode, kind: str, **context: str) -> core_pb2.ErrorDetail:
    """Makes `call` (a function that makes one gRPC call) fail, and checks the failure: status
    `code`, and in grpc-status-details-bin a google.rpc.Status holding a heros.v1.ErrorDetail of
    `kind` whose context has at least the given entries. Returns the ErrorDetail."""
    try:
        reply = call()
    except grpc.RpcError as error:
        equal(error.code(), code, f"status code (message: {error.details()!r})")
        status = rpc_status.from_call(error)
        check(status is not None, f"{kind}: no grpc-status-details-bin trailer")
        equal(status.code, code.value[0], "google.rpc.Status code")
        equal(status.message, error.details(), "google.rpc.Status message")
        details = [d for d in status.details if d.type_url == "type.googleapis.com/heros.v1.ErrorDetail"]
        equal(len(details), 1, "ErrorDetail entries in google.rpc.Status.details")
        detail = core_pb2.ErrorDetail.FromString(details[0].value)
        equal(detail.kind, kind, "ErrorDetail.kind")
        # One rule for every kind (docs/PROTOCOL.md, Errors): the status message starts with the kind.
        check(error.details().startswith(f"{kind}: "), f"status message {error.details()!r} starts with '{kind}: '")
        for key, value in context.items():
            equal(detail.context.get(key), value, f"ErrorDetail.context[{key!r}] of {kind}")
        print(f"  {code.name} {detail.kind}: {detail.message} {dict(detail.context)}")
        return detail
    raise Failure(f"expected {code.name} {kind}, got a reply: {reply!r}")


class Server:
    """Stubs on one channel to the server under test."""

    def __init__(self, target: str, credentials: str | None = None):
        self.target = target
        self.credentials = credentials
        if credentials is None:
            self.channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        else:
            # The client library's TLS channel: the realm CA, this client's certificate and key.
            import heros_client
            self.channel = heros_client.channel(target, credentials)
        grpc.channel_ready_future(self.channel).result(timeout=TIMEOUT)
        self.test_object = testobject_pb2_grpc.TestObjectStub(self.channel)
        self.furnace = furnace_pb2_grpc.FurnaceStub(self.channel)
        self.instrument = instrument_pb2_grpc.InstrumentStub(self.channel)
        self.node = nodes_pb2_grpc.NodeStub(self.channel)
        self.registry = registry_pb2_grpc.RegistryStub(self.channel)
        self.sessions = handles_pb2_grpc.SessionsStub(self.channel)
        self.handles = handles_pb2_grpc.HandlesStub(self.channel)
        self.route_guide = route_guide_pb2_grpc.RouteGuideStub(self.channel)
        self.stage = stage_pb2_grpc.StageStub(self.channel)
        self.operations = operations_pb2_grpc.OperationsStub(self.channel)

    def raw(self, path: str):
        """A unary call of any path, request and reply as bytes: what a client without the stub
        (or with an outdated one) would send."""
        return self.channel.unary_unary(path, request_serializer=None, response_deserializer=None)


# --- scenarios -------------------------------------------------------------------------------


def scenario_calls(server: Server) -> None:
    md = headers(TEST_HERO, DEFAULT_REALM)
    equal(server.test_object.ReadTemp(t.ReadTempRequest(min=0, max=10), metadata=md, timeout=TIMEOUT).value, 5.0,
          "ReadTemp(0, 10)")
    equal(server.test_object.ReadTemp(t.ReadTempRequest(min=-7, max=4), metadata=md, timeout=TIMEOUT).value, -1.5,
          "ReadTemp(-7, 4)")
    equal(server.test_object.Hello(t.HelloRequest(), metadata=md, timeout=TIMEOUT).value, "world", "Hello()")
    # Without heros-realm too: the header is optional.
    equal(server.test_object.Hello(t.HelloRequest(), metadata=headers(TEST_HERO), timeout=TIMEOUT).value, "world",
          "Hello() without heros-realm")
    print("  methods: ReadTemp and Hello answer")

    # The registry needs no heros-name.
    listed = server.registry.ListHeros(registry_pb2.ListHerosRequest(), timeout=TIMEOUT)
    equal(sorted(h.name for h in listed.heros), ALL_HEROS, "ListHeros names")
    for info in listed.heros:
        equal(info.protocol_version, 1, f"{info.name}: protocol_version")
        check(any(e.endswith(":" + server.target.rsplit(":", 1)[1]) for e in info.endpoints),
              f"{info.name}: endpoints {list(info.endpoints)} name the server's port")
    lab = server.registry.ListHeros(registry_pb2.ListHerosRequest(realm=REALM), timeout=TIMEOUT)
    equal([h.name for h in lab.heros], [REALM_HERO], f"ListHeros(realm={REALM})")

    described = server.registry.DescribeHero(registry_pb2.DescribeHeroRequest(name=TEST_HERO), timeout=TIMEOUT)
    equal(described.info.realm, DEFAULT_REALM, "DescribeHero realm")
    check("interop" in described.info.tags, f"DescribeHero tags {list(described.info.tags)} has 'interop'")
    interfaces = {i.name: i for i in described.interfaces}
    equal(sorted(interfaces), ["examples.v1.Furnace", "examples.v1.TestObject"], "DescribeHero interfaces")
    test_object = interfaces["examples.v1.TestObject"]
    equal(sorted(m.name for m in test_object.methods), ["Hello", "ReadTemp"], "TestObject methods")
    attributes = {a.name: a.readonly for a in test_object.attributes}
    equal(attributes, {"Testme": False, "Firmware": True}, "TestObject attributes (name: readonly)")
    equal(sorted(e.name for e in interfaces["examples.v1.Furnace"].events), ["Overheated", "Readings"],
          "Furnace events")
    print(f"  registry: {len(listed.heros)} HEROs listed, {TEST_HERO} described")


def scenario_attributes(server: Server) -> None:
    md = headers(TEST_HERO, DEFAULT_REALM)
    testme = server.test_object.Testme
    read = testme(t.TestmeValue(), metadata=md, timeout=TIMEOUT)
    check(read.HasField("value"), "a read replies with the value present")
    equal(read.value, 5, "Testme read (value absent)")
    equal(testme(t.TestmeValue(value=10), metadata=md, timeout=TIMEOUT).value, 10, "the reply to a set")
    equal(testme(t.TestmeValue(), metadata=md, timeout=TIMEOUT).value, 10, "Testme after the set")
    server.test_object.Hello(t.HelloRequest(), metadata=md, timeout=TIMEOUT)
    equal(testme(t.TestmeValue(), metadata=md, timeout=TIMEOUT).value, 11, "Testme after Hello (counts greetings)")
    # Zero is a value: the field's presence, not its value, makes a set.
    equal(testme(t.TestmeValue(value=0), metadata=md, timeout=TIMEOUT).value, 0, "set to 0")
    equal(testme(t.TestmeValue(), metadata=md, timeout=TIMEOUT).value, 0, "Testme after the set to 0")
    print("  Testme: read, set, read back, set to 0")

    firmware = server.test_object.Firmware
    equal(firmware(t.FirmwareValue(), metadata=md, timeout=TIMEOUT).value, "1.0.0", "Firmware read")
    heros_error(lambda: firmware(t.FirmwareValue(value="9.9.9"), metadata=md, timeout=TIMEOUT),
                grpc.StatusCode.PERMISSION_DENIED, "READ_ONLY", hero=TEST_HERO, attribute="firmware")
    equal(firmware(t.FirmwareValue(), metadata=md, timeout=TIMEOUT).value, "1.0.0", "Firmware after a refused set")

    # Each HERO has its own value.
    lab = headers(REALM_HERO, REALM)
    equal(testme(t.TestmeValue(), metadata=lab, timeout=TIMEOUT).value, 7, f"Testme of {REALM_HERO}")


def scenario_errors(server: Server) -> None:
    md = headers(TEST_HERO, DEFAULT_REALM)
    detail = heros_error(lambda: server.test_object.ReadTemp(t.ReadTempRequest(min=5, max=1), metadata=md,
                                                               timeout=TIMEOUT),
                         grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    equal(detail.message, "min 5 is above max 1", "the HERO's own message, bare")
    equal((detail.hero, detail.method), (TEST_HERO, "examples.v1.TestObject/ReadTemp"),
          "ErrorDetail.hero and .method of a HERO method's error")

    detail = heros_error(lambda: server.test_object.Hello(t.HelloRequest(), metadata=headers("nobody", DEFAULT_REALM),
                                                            timeout=TIMEOUT),
                         grpc.StatusCode.NOT_FOUND, "HERO_NOT_FOUND", name="nobody", realm=DEFAULT_REALM)
    equal(sorted(detail.context["known"].split(",")), ALL_HEROS, "HERO_NOT_FOUND lists the HEROs that are there")
    heros_error(lambda: server.test_object.Hello(t.HelloRequest(), metadata=headers("nobody"), timeout=TIMEOUT),
                grpc.StatusCode.NOT_FOUND, "HERO_NOT_FOUND", name="nobody", realm="any")
    heros_error(lambda: server.registry.DescribeHero(registry_pb2.DescribeHeroRequest(name="nobody"), timeout=TIMEOUT),
                grpc.StatusCode.NOT_FOUND, "HERO_NOT_FOUND", name="nobody")

    # A HERO asked for an interface it does not implement.
    heros_error(lambda: server.node.Value(nodes_pb2.NodeValue(), metadata=md, timeout=TIMEOUT),
                grpc.StatusCode.UNIMPLEMENTED, "INTERFACE_NOT_IMPLEMENTED", hero=TEST_HERO,
                interface="examples.v1.Node")
    # A method the interface does not have, as an outdated stub would call it.
    detail = heros_error(lambda: server.raw("/examples.v1.TestObject/Goodbye")(b"", metadata=md, timeout=TIMEOUT),
                         grpc.StatusCode.UNIMPLEMENTED, "METHOD_NOT_FOUND", hero=TEST_HERO,
                         interface="examples.v1.TestObject", method="Goodbye")
    equal((detail.hero, detail.method), (TEST_HERO, "examples.v1.TestObject/Goodbye"),
          "ErrorDetail.hero and .method of an unknown method")
    for member in ["ReadTemp", "Hello", "Testme", "Firmware"]:
        check(member in detail.context["available"], f"METHOD_NOT_FOUND lists {member}: {detail.context['available']}")
    # Bytes that are not a ReadTempRequest (field 1 as a length-delimited string of 5 bytes, cut short).
    heros_error(lambda: server.raw("/examples.v1.TestObject/ReadTemp")(b"\x0a\x05ab", metadata=md, timeout=TIMEOUT),
                grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    # A header that is not valid percent-encoding.
    heros_error(lambda: server.test_object.Hello(t.HelloRequest(), metadata=headers("bad%zz"), timeout=TIMEOUT),
                grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")


class Subscription:
    """An event stream read on a thread of its own into a queue, so that the main thread can make
    calls while messages arrive."""

    def __init__(self, stream):
        self.stream = stream
        self.messages: queue.Queue = queue.Queue()
        self.error: list[grpc.RpcError] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for message in self.stream:
                self.messages.put(message)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                self.error.append(error)

    def next(self, what: str):
        try:
            return self.messages.get(timeout=TIMEOUT)
        except queue.Empty:
            raise Failure(f"{what}: no message within {TIMEOUT} s (stream error: {self.error})") from None

    def cancel(self) -> None:
        self.stream.cancel()
        self.thread.join(TIMEOUT)


def scenario_events(server: Server) -> None:
    md = headers(TEST_HERO, DEFAULT_REALM)
    readings = Subscription(server.furnace.Readings(empty_pb2.Empty(), metadata=md))
    alarms = Subscription(server.furnace.Overheated(empty_pb2.Empty(), metadata=md))
    # A subscription starts when the server has the call, which the client is not told: heat
    # until both streams have had a message, then everything from there on must arrive in order.
    deadline = time.monotonic() + TIMEOUT
    heats = 0
    while readings.messages.empty() or alarms.messages.empty():
        check(time.monotonic() < deadline, f"no event within {TIMEOUT} s of subscribing "
                                           f"(errors: {readings.error + alarms.error})")
        server.furnace.Heat(furnace_pb2.HeatRequest(celsius=90.0), metadata=md, timeout=TIMEOUT)
        heats += 1
        time.sleep(0.02)
    print(f"  subscribed after {heats} warm-up heats")
    # The streams may have joined at different heats: one more, with a temperature of its own,
    # marks where the warm-up ends on both.
    marker = 85.5
    server.furnace.Heat(furnace_pb2.HeatRequest(celsius=marker), metadata=md, timeout=TIMEOUT)
    last = {}
    for name, stream in [("Readings", readings), ("Overheated", alarms)]:
        message = stream.next(f"{name} warm-up")
        while message.celsius != marker:
            following = stream.next(f"{name} warm-up")
            equal(following.sequence, message.sequence + 1, f"{name}: warm-up sequence")
            message = following
        last[name] = message.sequence
    equal(last["Overheated"], last["Readings"], "an alarm has the sequence number of its reading")

    # 70..79 read without alarm, 81..90 with one.
    temperatures = [70.0 + i for i in range(10)] + [81.0 + i for i in range(10)]
    for celsius in temperatures:
        server.furnace.Heat(furnace_pb2.HeatRequest(celsius=celsius), metadata=md, timeout=TIMEOUT)
    sequence = last["Readings"]
    for celsius in temperatures:
        reading = readings.next("Readings")
        equal((reading.sequence, reading.celsius), (sequence + 1, celsius), "Readings: (sequence, celsius)")
        sequence = reading.sequence
    overheated = [(reading_sequence, celsius) for reading_sequence, celsius
                  in zip(range(last["Readings"] + 1, sequence + 1), temperatures) if celsius > FURNACE_LIMIT]
    for expected_sequence, celsius in overheated:
        alarm = alarms.next("Overheated")
        equal((alarm.sequence, alarm.celsius, alarm.limit), (expected_sequence, celsius, FURNACE_LIMIT),
              "Overheated: (sequence, celsius, limit)")
    print(f"  {len(temperatures)} readings and {len(overheated)} alarms, in order")
    readings.cancel()
    alarms.cancel()
    check(not readings.error and not alarms.error, f"stream errors: {readings.error + alarms.error}")

    # A subscriber with a wrong name gets the routing error on its stream.
    stream = server.furnace.Readings(empty_pb2.Empty(), metadata=headers("nobody"), timeout=TIMEOUT)
    heros_error(lambda: next(stream), grpc.StatusCode.NOT_FOUND, "HERO_NOT_FOUND", name="nobody")


# The keys in front of a best-effort event message that report loss (docs/PROTOCOL.md, "Events").
MISSED_BEFORE = bytes.fromhex("F8FFFFFF0F")  # field 536870911, varint: dropped just before this one
MISSED_ONLY = bytes.fromhex("F0FFFFFF0F")  # field 536870910, varint: dropped, and no event here


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


def scenario_missed(server: Server) -> None:
    md = headers(TEST_HERO, DEFAULT_REALM)
    # Raw bytes, to read the loss counters the way the protocol suggests: by the first bytes.
    overheated = server.channel.unary_stream("/examples.v1.Furnace/Overheated", request_serializer=None,
                                             response_deserializer=None)
    stream = overheated(b"", metadata=md)
    # Wait until the subscription is live (one alarm through), then until a marked alarm has come:
    # everything before it is warm-up.
    deadline = time.monotonic() + TIMEOUT
    subscription = Subscription(stream)
    while subscription.messages.empty():
        check(time.monotonic() < deadline, "no alarm within the time limit")
        server.furnace.Heat(furnace_pb2.HeatRequest(celsius=99.0), metadata=md, timeout=TIMEOUT)
        time.sleep(0.02)
    marker = 98.5
    server.furnace.Heat(furnace_pb2.HeatRequest(celsius=marker), metadata=md, timeout=TIMEOUT)
    while (alarm := furnace_pb2.Alarm.FromString(subscription.next("the marked alarm"))).celsius != marker:
        pass
    start = alarm.sequence

    # Far more than the subscriber's buffer (8) and the HTTP/2 windows hold, emitted faster than
    # this process reads them: best-effort delivery drops some and says how many.
    count, payload = 400, 64 * 1024
    reached = server.furnace.Burst(furnace_pb2.BurstRequest(count=count, payload_bytes=payload, alarms=True),
                                   metadata=md, timeout=60).reached
    print(f"  burst of {count} alarms of {payload} bytes sent (readings reached {reached})")
    # One more alarm after the burst, which may be dropped too: the stream has caught up when
    # its sequence number has been delivered or counted as missed.
    server.furnace.Heat(furnace_pb2.HeatRequest(celsius=100.0), metadata=md, timeout=TIMEOUT)
    last = start + count + 1
    delivered, missed, sequence, notices = 0, 0, start, 0
    while sequence < last:
        data = subscription.next("Overheated after the burst")
        if data.startswith(MISSED_ONLY):
            gap, end = read_varint(data, len(MISSED_ONLY))
            equal(end, len(data), "a loss notice holds nothing else")
            missed += gap
            notices += 1
            sequence += gap
            continue
        gap = 0
        if data.startswith(MISSED_BEFORE):
            gap, _ = read_varint(data, len(MISSED_BEFORE))
            missed += gap
        # The counter is an unknown field to the generated class: it parses all the same.
        alarm = furnace_pb2.Alarm.FromString(data)
        equal(alarm.sequence, sequence + gap + 1, f"alarm sequence after {gap} missed")
        sequence = alarm.sequence
        delivered += 1
    equal(sequence, last, "the last sequence number accounted for")
    subscription.cancel()
    equal(delivered + missed, count + 1, "delivered + missed = emitted")
    check(missed > 0, f"the burst overran the subscriber (delivered {delivered}, missed {missed})")
    print(f"  delivered {delivered}, missed {missed} ({notices} loss notices without an event)")


def open_session(server: Server) -> str:
    session = server.sessions.Open(handles_pb2.OpenSessionRequest(lease_ms=0), timeout=TIMEOUT)
    equal(len(session.id), 32, "session id length")
    check(all(c in "0123456789abcdef" for c in session.id), f"session id {session.id!r} is lower-case hex")
    check(session.lease_ms > 0, "lease_ms 0 asks for the server's lease")
    return session.id


def scenario_handles(server: Server) -> None:
    instrument = server.instrument
    a = open_session(server)
    md_a = headers(INSTRUMENT, DEFAULT_REALM, a)

    opened = instrument.Open(instrument_pb2.OpenRequest(channel=3), metadata=md_a, timeout=TIMEOUT).session
    equal(opened.type_name, "examples.InstrumentSession", "Handle.type_name")
    equal(opened.repr, "channel 3 session", "Handle.repr")
    equal(len(opened.id), 32, "Handle.id length")
    equal(instrument.Read(instrument_pb2.ReadRequest(session=opened), metadata=md_a, timeout=TIMEOUT).value, 3.0,
          "Read(channel 3)")

    settings_any = any_pb2.Any()
    settings_any.Pack(instrument_pb2.Settings(gain=2.5, label="from python"))
    settings = server.handles.Store(settings_any, metadata=headers(session=a), timeout=TIMEOUT)
    equal(settings.type_name, "examples.v1.Settings", "a stored message's type_name")
    applied = instrument.Configure(instrument_pb2.ConfigureRequest(session=opened, settings=settings), metadata=md_a,
                                   timeout=TIMEOUT).applied
    equal(applied, "from python on channel 3: gain 2.5", "Configure")
    equal(instrument.Read(instrument_pb2.ReadRequest(session=opened), metadata=md_a, timeout=TIMEOUT).value, 7.5,
          "Read after Configure: the same value on the server")
    print("  Open -> Handle, Read and Configure with it, Store a Settings message")

    # Each refusal of docs/PROTOCOL.md, "Handles in HERO methods".
    read = lambda handle, md: lambda: instrument.Read(instrument_pb2.ReadRequest(session=handle), metadata=md,
                                                      timeout=TIMEOUT)
    heros_error(read(opened, headers(INSTRUMENT)), grpc.StatusCode.FAILED_PRECONDITION, "SESSION_REQUIRED")
    heros_error(read(opened, headers(INSTRUMENT, session=secrets.token_hex(16))),
                grpc.StatusCode.FAILED_PRECONDITION, "SESSION_UNKNOWN")
    heros_error(lambda: instrument.Read(instrument_pb2.ReadRequest(), metadata=md_a, timeout=TIMEOUT),
                grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    forged = core_pb2.Handle(type_name=opened.type_name, id=opened.id[:-1] + bytes([opened.id[-1] ^ 1]))
    heros_error(read(forged, md_a), grpc.StatusCode.INVALID_ARGUMENT, "HANDLE_INVALID")
    heros_error(read(core_pb2.Handle(type_name=opened.type_name, id=b"short"), md_a),
                grpc.StatusCode.INVALID_ARGUMENT, "HANDLE_INVALID")
    stale = core_pb2.Handle(type_name=opened.type_name, id=bytes(8) + opened.id[8:])
    heros_error(read(stale, md_a), grpc.StatusCode.NOT_FOUND, "HANDLE_STALE")
    heros_error(read(settings, md_a), grpc.StatusCode.INVALID_ARGUMENT, "HANDLE_TYPE")

    b = open_session(server)
    md_b = headers(INSTRUMENT, DEFAULT_REALM, b)
    heros_error(read(opened, md_b), grpc.StatusCode.PERMISSION_DENIED, "HANDLE_FOREIGN")

    # Shared on purpose: attached under a name, fetched by the other session.
    server.handles.Attach(handles_pb2.AttachRequest(handle=opened, name="python-channel-3"),
                          metadata=headers(session=a), timeout=TIMEOUT)
    exports = server.handles.Browse(empty_pb2.Empty(), timeout=TIMEOUT).exports
    equal([(e.name, e.type_name, e.repr) for e in exports],
          [("python-channel-3", "examples.InstrumentSession", "channel 3 session")], "Browse")
    heros_error(lambda: server.handles.Attach(handles_pb2.AttachRequest(handle=opened, name="python-channel-3"),
                                              metadata=headers(session=a), timeout=TIMEOUT),
                grpc.StatusCode.ALREADY_EXISTS, "EXPORT_EXISTS")
    fetched = server.handles.Fetch(handles_pb2.ExportName(name="python-channel-3"), metadata=headers(session=b),
                                   timeout=TIMEOUT)
    equal(instrument.Read(instrument_pb2.ReadRequest(session=fetched), metadata=md_b, timeout=TIMEOUT).value, 7.5,
          "Read by the session that fetched the export")
    heros_error(lambda: server.handles.Fetch(handles_pb2.ExportName(name="nothing"), metadata=headers(session=b),
                                             timeout=TIMEOUT),
                grpc.StatusCode.NOT_FOUND, "EXPORT_NOT_FOUND")
    print("  Attach, Browse, Fetch by another session")

    # A value released by its only holder is gone.
    other = instrument.Open(instrument_pb2.OpenRequest(channel=4), metadata=md_a, timeout=TIMEOUT).session
    server.handles.Release(handles_pb2.ReleaseRequest(releases=[handles_pb2.Release(id=other.id, count=1)]),
                           metadata=headers(session=a), timeout=TIMEOUT)
    heros_error(read(other, md_a), grpc.StatusCode.NOT_FOUND, "HANDLE_RELEASED")

    # A value released by one holder while another holds it: the first may no longer use it.
    server.handles.Release(handles_pb2.ReleaseRequest(releases=[handles_pb2.Release(id=opened.id, count=1)]),
                           metadata=headers(session=a), timeout=TIMEOUT)
    heros_error(read(opened, md_a), grpc.StatusCode.PERMISSION_DENIED, "HANDLE_FOREIGN")
    equal(instrument.Read(instrument_pb2.ReadRequest(session=fetched), metadata=md_b, timeout=TIMEOUT).value, 7.5,
          "the other holder still reads")

    # Everything goes when the sessions and the export go.
    server.handles.Detach(handles_pb2.ExportName(name="python-channel-3"), metadata=headers(session=a),
                          timeout=TIMEOUT)
    for session in (a, b):
        server.sessions.Close(handles_pb2.SessionRequest(id=session), timeout=TIMEOUT)
    heros_error(read(fetched, md_b), grpc.StatusCode.FAILED_PRECONDITION, "SESSION_UNKNOWN")
    stats = server.registry.GetHandleStats(registry_pb2.HandleStatsRequest(), timeout=TIMEOUT)
    equal((stats.entries, stats.exports, stats.references, len(stats.sessions)), (0, 0, 0, 0),
          "handle table after closing (entries, exports, references, sessions)")
    print("  released, foreign and closed: all refused as documented; the table is empty")


def scenario_references(server: Server) -> None:
    md = headers(ROOT, DEFAULT_REALM)
    equal(server.node.Value(nodes_pb2.NodeValue(), metadata=md, timeout=TIMEOUT).value, 1, "root Value")
    ref = server.node.Child(nodes_pb2.ChildRequest(index=0), metadata=md, timeout=TIMEOUT).child
    equal((ref.name, ref.realm, ref.interface), (CHILD, DEFAULT_REALM, "examples.v1.Node"), "HeroRef")
    check(len(ref.endpoints) > 0 and all(e.startswith("http://") for e in ref.endpoints),
          f"HeroRef endpoints {list(ref.endpoints)} are http:// URLs")

    # Follow it: a new channel to its endpoint, heros-name from the reference.
    endpoint = ref.endpoints[0].removeprefix("http://")
    with grpc.insecure_channel(endpoint, options=CHANNEL_OPTIONS) as channel:
        child = nodes_pb2_grpc.NodeStub(channel)
        child_md = headers(ref.name, ref.realm)
        equal(child.Value(nodes_pb2.NodeValue(), metadata=child_md, timeout=TIMEOUT).value, 10, "child Value")
        equal(child.CountChildren(empty_pb2.Empty(), metadata=child_md, timeout=TIMEOUT).count, 0,
              "child CountChildren")
    print(f"  Child(0) -> {ref.name} at {ref.endpoints[0]}, Value 10")

    heros_error(lambda: server.node.Child(nodes_pb2.ChildRequest(index=5), metadata=md, timeout=TIMEOUT),
                grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")

    # Passing a reference the other way: the root keeps it and hands it out again.
    made = core_pb2.HeroRef(name=CHILD, realm=DEFAULT_REALM, interface="examples.v1.Node",
                            endpoints=[f"http://{server.target}"])
    equal(server.node.AddChild(nodes_pb2.AddChildRequest(child=made), metadata=md, timeout=TIMEOUT).count, 2,
          "AddChild with a HeroRef made in Python")
    equal(server.node.CountChildren(empty_pb2.Empty(), metadata=md, timeout=TIMEOUT).count, 2, "CountChildren")
    again = server.node.Child(nodes_pb2.ChildRequest(index=1), metadata=md, timeout=TIMEOUT).child
    equal(again.name, CHILD, "Child(1) is the reference passed in")
    # A reference into another realm is refused.
    foreign = core_pb2.HeroRef(name=REALM_HERO, realm=REALM, interface="examples.v1.Node",
                               endpoints=[f"http://{server.target}"])
    heros_error(lambda: server.node.AddChild(nodes_pb2.AddChildRequest(child=foreign), metadata=md, timeout=TIMEOUT),
                grpc.StatusCode.PERMISSION_DENIED, "REALM_MISMATCH")
    print("  AddChild(HeroRef) kept and handed back; another realm's refused")


def scenario_routing(server: Server) -> None:
    hello = lambda md: server.test_object.Hello(t.HelloRequest(), metadata=md, timeout=TIMEOUT)
    # Two TestObjects (in two realms) on this server: without a name or a realm, which one?
    detail = heros_error(lambda: hello(headers()), grpc.StatusCode.FAILED_PRECONDITION, "AMBIGUOUS_HERO",
                         interface="examples.v1.TestObject")
    equal(sorted(detail.context["candidates"].split(",")), sorted([TEST_HERO, REALM_HERO]), "AMBIGUOUS_HERO candidates")
    heros_error(lambda: server.node.Value(nodes_pb2.NodeValue(), timeout=TIMEOUT),
                grpc.StatusCode.FAILED_PRECONDITION, "AMBIGUOUS_HERO", interface="examples.v1.Node")
    # The realm alone picks one.
    testme = lambda md: server.test_object.Testme(t.TestmeValue(), metadata=md, timeout=TIMEOUT).value
    equal(testme(headers(realm=DEFAULT_REALM)), 5, f"Testme with heros-realm {DEFAULT_REALM} only")
    equal(testme(headers(realm=REALM)), 7, f"Testme with heros-realm {REALM} only")
    # One HERO implements the Furnace: no header needed.
    server.furnace.Heat(furnace_pb2.HeatRequest(celsius=20.0), timeout=TIMEOUT)
    # Nobody here implements AlarmLog.
    heros_error(lambda: server.raw("/examples.v1.AlarmLog/Count")(b"", timeout=TIMEOUT),
                grpc.StatusCode.UNIMPLEMENTED, "INTERFACE_NOT_SERVED", interface="examples.v1.AlarmLog")
    # Nobody in realm interop-lab implements the Furnace, but a HERO of another realm does: the
    # server names it rather than pretend nobody does (docs/PROTOCOL.md, routing step 4).
    heros_error(lambda: server.furnace.Heat(furnace_pb2.HeatRequest(celsius=20.0), metadata=headers(realm=REALM),
                                            timeout=TIMEOUT),
                grpc.StatusCode.PERMISSION_DENIED, "REALM_MISMATCH", hero=TEST_HERO, hero_realm=DEFAULT_REALM,
                caller_realm=REALM)
    # A client may percent-encode more than it must.
    equal(hello(headers("%69nterop%2Dtest", "%68eros")).value, "world", "an over-escaped heros-name")
    print("  no name: AMBIGUOUS_HERO, INTERFACE_NOT_SERVED, REALM_MISMATCH or the only one; escapes decode")


def scenario_realm(server: Server) -> None:
    testme = lambda md: server.test_object.Testme(t.TestmeValue(), metadata=md, timeout=TIMEOUT).value
    equal(testme(headers(REALM_HERO, REALM)), 7, f"{REALM_HERO} with heros-realm {REALM}")
    heros_error(lambda: testme(headers(REALM_HERO, DEFAULT_REALM)), grpc.StatusCode.PERMISSION_DENIED,
                "REALM_MISMATCH", hero=REALM_HERO, hero_realm=REALM, caller_realm=DEFAULT_REALM)
    heros_error(lambda: testme(headers(TEST_HERO, REALM)), grpc.StatusCode.PERMISSION_DENIED, "REALM_MISMATCH",
                hero=TEST_HERO, hero_realm=DEFAULT_REALM, caller_realm=REALM)
    # A set refused for the realm changes nothing.
    heros_error(lambda: server.test_object.Testme(t.TestmeValue(value=99), metadata=headers(REALM_HERO, "elsewhere"),
                                                  timeout=TIMEOUT),
                grpc.StatusCode.PERMISSION_DENIED, "REALM_MISMATCH", caller_realm="elsewhere")
    equal(testme(headers(REALM_HERO, REALM)), 7, "Testme after a refused set")
    # heros-realm is optional (docs/PROTOCOL.md, "Request headers"): named, the HERO answers.
    equal(testme(headers(REALM_HERO)), 7, f"{REALM_HERO} named, without heros-realm")
    print("  the right realm answers, a wrong one is REALM_MISMATCH, none is allowed")


def scenario_reflection(server: Server) -> None:
    """A client without stubs: grpcio-reflection's descriptor database (v1alpha, as grpcurl and most
    tools speak it) learns the interfaces from the server, and the call is made with message
    classes built from those descriptors alone."""
    from google.protobuf import descriptor_pool, message_factory
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    from heros.v1 import options_pb2

    database = ProtoReflectionDescriptorDatabase(server.channel)
    services = set(database.get_services())
    for service in ["examples.v1.TestObject", "examples.v1.Furnace", "examples.v1.Instrument", "examples.v1.Node",
                    "heros.v1.Registry", "grpc.health.v1.Health"]:
        check(service in services, f"{service} listed by reflection: {sorted(services)}")
    check("examples.v1.AlarmLog" not in services, "AlarmLog is declared but served by no HERO: not listed")
    pool = descriptor_pool.DescriptorPool(database)
    test_object = pool.FindServiceByName("examples.v1.TestObject")
    methods = {m.name: m for m in test_object.methods}
    equal(sorted(methods), ["Firmware", "Hello", "ReadTemp", "Testme"], "TestObject rpcs from reflection")
    # The heros.v1 options travel with the files: attributes are told from methods.
    firmware = methods["Firmware"].GetOptions()
    check(firmware.HasExtension(options_pb2.attribute), "Firmware carries (heros.v1.attribute)")
    check(firmware.Extensions[options_pb2.attribute].readonly, "Firmware is read-only")
    check(not methods["ReadTemp"].GetOptions().HasExtension(options_pb2.attribute), "ReadTemp is a method")
    readings = {m.name: m for m in pool.FindServiceByName("examples.v1.Furnace").methods}["Readings"]
    check(readings.GetOptions().HasExtension(options_pb2.event), "Readings carries (heros.v1.event)")

    read_temp = methods["ReadTemp"]
    request_class = message_factory.GetMessageClass(read_temp.input_type)
    reply_class = message_factory.GetMessageClass(read_temp.output_type)
    call = server.channel.unary_unary("/examples.v1.TestObject/ReadTemp",
                                      request_serializer=request_class.SerializeToString,
                                      response_deserializer=reply_class.FromString)
    reply = call(request_class(min=2, max=8), metadata=headers(TEST_HERO, DEFAULT_REALM), timeout=TIMEOUT)
    equal(reply.value, 5.0, "ReadTemp(2, 8) through reflected descriptors")
    # grpcio-reflection has client stubs for v1alpha only; v1 takes the same messages on its own
    # path (docs/PROTOCOL.md, "Reflection from Python").
    from grpc_reflection.v1alpha import reflection_pb2
    v1 = server.channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                                      request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                      response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
    answers = list(v1(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=TIMEOUT))
    v1_services = {s.name for s in answers[0].list_services_response.service}
    check("examples.v1.TestObject" in v1_services, f"v1 with v1alpha messages lists TestObject: {sorted(v1_services)}")
    print(f"  reflection: {len(services)} services listed (v1alpha; v1 too, with the same messages); "
          "ReadTemp called with descriptors from the server")


def scenario_bench(server: Server) -> None:
    md = headers(TEST_HERO, DEFAULT_REALM)
    hello = server.test_object.Hello
    request = t.HelloRequest()
    for _ in range(500):
        hello(request, metadata=md, timeout=TIMEOUT)
    for name, call, count in [
        ("hello", lambda: hello(request, metadata=md, timeout=TIMEOUT), 5000),
        ("read_temp", lambda: server.test_object.ReadTemp(t.ReadTempRequest(min=0, max=10), metadata=md,
                                                          timeout=TIMEOUT), 5000),
    ]:
        started = time.perf_counter()
        for _ in range(count):
            call()
        elapsed = time.perf_counter() - started
        print(f"MEASURE python_{name}_calls_per_s={count / elapsed:.0f} ({count} sequential calls, "
              f"{elapsed / count * 1e6:.0f} us each, grpcio {grpc.__version__})")


def scenario_discover(target: str) -> None:
    """heros_client against the server's HEROs over mDNS; only inside a private network namespace."""
    refuse_unless_private_network()
    import heros_client

    port = int(target.rsplit(":", 1)[1])
    started = time.monotonic()
    with heros_client.connect(TEST_HERO, timeout=15.0) as hero:
        found_in = time.monotonic() - started
        equal((hero.info.name, hero.info.realm), (TEST_HERO, DEFAULT_REALM), "the HERO found")
        equal(sorted(hero.info.interfaces), ["examples.v1.Furnace", "examples.v1.TestObject"], "TXT 'if'")
        check("interop" in hero.info.tags, f"TXT tags {hero.info.tags} has 'interop'")
        equal(hero.endpoint.rsplit(":", 1)[1], str(port), "the endpoint's port is the server's")
        equal(dict(hero.metadata), {"heros-name": TEST_HERO, "heros-realm": DEFAULT_REALM}, "the headers to send")
        stub = testobject_pb2_grpc.TestObjectStub(hero.channel)
        equal(stub.Hello(t.HelloRequest(), metadata=hero.metadata, timeout=TIMEOUT).value, "world", "Hello()")
        print(f"  connect({TEST_HERO!r}) in {found_in:.2f} s at {hero.endpoint}; Hello() = world")

    with heros_client.connect(REALM_HERO, realm=REALM, timeout=10.0) as hero:
        stub = testobject_pb2_grpc.TestObjectStub(hero.channel)
        equal(stub.Testme(t.TestmeValue(), metadata=hero.metadata, timeout=TIMEOUT).value, 7, "Testme in the lab realm")
        print(f"  connect({REALM_HERO!r}, realm={REALM!r}): Testme = 7")

    listed = heros_client.list_heros()
    equal(sorted(h.name for h in listed), ALL_HEROS, "list_heros() names")
    equal([h.name for h in heros_client.list_heros(realm=REALM)], [REALM_HERO], "list_heros(realm)")
    print(f"  list_heros(): {', '.join(f'{h.name}@{h.realm}' for h in listed)}")

    started = time.monotonic()
    try:
        heros_client.connect(REALM_HERO, timeout=1.5)
    except heros_client.HeroNotFound as error:
        waited = time.monotonic() - started
        check(waited < 5.0, f"the timeout holds ({waited:.1f} s)")
        equal(error.name, REALM_HERO, "HeroNotFound.name")
        equal(error.realm, DEFAULT_REALM, "HeroNotFound.realm")
        check(TEST_HERO in error.known, f"HeroNotFound.known {error.known} names what is there")
        check(f"{REALM_HERO}@{REALM}" in error.elsewhere, f"HeroNotFound.elsewhere {error.elsewhere}")
        print(f"  not in the default realm: {error}")
    else:
        raise Failure(f"{REALM_HERO} was found in realm {DEFAULT_REALM}")


def scenario_client_records(target: str) -> None:
    """heros_client's reading of records and writing of headers, without a network: the cases of
    docs/PROTOCOL.md ("Request headers", "Discovery") that a live HERO does not show."""
    import heros_client
    from heros_client import _decode_txt, _endpoints

    equal(heros_client.encode_header("Öfen-3"), "%C3%96fen-3", "a non-ASCII name is percent-encoded")
    equal(heros_client.encode_header("a%b c"), "a%25b%20c", "'%' and space are escaped")

    def txt(*entries: bytes) -> bytes:
        return b"".join(bytes([len(entry)]) + entry for entry in entries)

    info = _decode_txt(txt(b"HEROS=2", b"Name=oven", b"realm=lab", b"name=other", b"if=a.B,,c.D", b"tags=",
                           b"m.Owner=ada = b", b"m.x", b"future=1"))
    check(info is not None, "a record with upper-case keys and an unknown key is a HERO's")
    equal((info.name, info.realm, info.protocol_version), ("oven", "lab", 2), "first of duplicates, any case")
    equal((info.interfaces, info.tags), (["a.B", "c.D"], []), "lists skip empty items")
    equal(info.metadata, {"Owner": "ada = b", "x": ""}, "metadata keeps the key's case; no '=' is empty")
    for bad in [txt(b"name=a", b"realm=b"), txt(b"heros=0", b"name=a", b"realm=b"), txt(b"heros=x", b"name=a"),
                txt(b"heros=1", b"name=a"), txt(b"heros=1", b"name=\xff", b"realm=b")]:
        equal(_decode_txt(bad), None, f"not a HERO's record: {bad!r}")
    equal(_endpoints(["::1", "127.0.0.1", "10.0.0.2", "fe80::1%2", "0.0.0.0", "2001:db8::1"], 5),
          ["10.0.0.2:5", "127.0.0.1:5", "[2001:db8::1]:5", "[::1]:5"],
          "IPv4 first, loopback last, no link-local or unspecified")
    print("  headers encoded, TXT records read, endpoints ordered as the Rust side does")


def refuse_unless_private_network() -> None:
    """mDNS from this process must not reach a real network: only `lo` may be up here (the test
    moved into a private network namespace before starting this process)."""
    import fcntl
    import socket
    import struct

    siocgifflags, iff_up = 0x8913, 0x1
    with open("/proc/self/net/dev") as dev:
        names = [line.split(":", 1)[0].strip() for line in dev.readlines()[2:]]
    up = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for name in names:
            request = struct.pack("16sH", name.encode(), 0)
            flags = struct.unpack("16sH", fcntl.ioctl(sock, siocgifflags, request)[:18])[1]
            if flags & iff_up and name != "lo":
                up.append(name)
    check(not up, f"interfaces other than lo are up ({', '.join(up)}): refusing to use mDNS here")


def scenario_secured(server: Server) -> None:
    """A secured realm: the TLS channel (clients/python, ``heros_client.channel``) calls, sets and
    lists; a plaintext channel to the same server is refused with UNAUTHENTICATED."""
    check(server.credentials is not None, "the secured scenario needs --credentials")
    md = headers(TEST_HERO, DEFAULT_REALM)
    equal(server.test_object.Hello(t.HelloRequest(), metadata=md, timeout=TIMEOUT).value, "world", "Hello() over TLS")
    equal(server.test_object.ReadTemp(t.ReadTempRequest(min=0, max=10), metadata=md, timeout=TIMEOUT).value, 5.0,
          "ReadTemp(0, 10) over TLS")
    server.test_object.Testme(t.TestmeValue(value=42), metadata=md, timeout=TIMEOUT)
    equal(server.test_object.Testme(t.TestmeValue(), metadata=md, timeout=TIMEOUT).value, 42, "Testme after a set")
    listed = server.registry.ListHeros(registry_pb2.ListHerosRequest(), timeout=TIMEOUT)
    equal(sorted(h.name for h in listed.heros), ALL_HEROS, "ListHeros names over TLS")
    check(all(h.secured for h in listed.heros), "HeroInfo.secured is set for every HERO of a secured server")
    print("  TLS with the realm's certificate: methods, attributes and the registry answer")

    plaintext = grpc.insecure_channel(server.target, options=CHANNEL_OPTIONS)
    stub = testobject_pb2_grpc.TestObjectStub(plaintext)
    detail = heros_error(lambda: stub.Hello(t.HelloRequest(), metadata=md, timeout=TIMEOUT),
                         grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")
    check("HEROS_CREDENTIALS" in detail.message, f"the refusal says what to do: {detail.message!r}")
    plaintext.close()


def place(n: int) -> rg.Point:
    """Where the guide's feature n is."""
    return rg.Point(latitude=400_000_000, longitude=-740_000_000 + n * 10_000)


def feature_name(feature: rg.Feature) -> str:
    return feature.name.rstrip(".")


def scenario_streams(server: Server) -> None:
    """The route guide's four rpcs with grpcio's plain stubs: unary, server streaming, client
    streaming and bidirectional, as any gRPC service."""
    md = headers(GUIDE, DEFAULT_REALM)
    guide = server.route_guide
    feature = guide.GetFeature(place(3), metadata=md, timeout=TIMEOUT)
    equal((feature_name(feature), feature.location), ("feature-3", place(3)), "GetFeature(place 3)")
    equal(guide.GetFeature(rg.Point(latitude=1, longitude=1), metadata=md, timeout=TIMEOUT).name, "",
          "GetFeature where there is none")

    listed = guide.ListFeatures(rg.Rectangle(lo=place(19), hi=place(10)), metadata=md, timeout=TIMEOUT)
    equal([feature_name(f) for f in listed], [f"feature-{n}" for n in range(10, 20)], "ListFeatures(10..19)")
    # The HERO's own error ends the stream with its status.
    heros_error(lambda: list(guide.ListFeatures(rg.Rectangle(lo=place(0)), metadata=md, timeout=TIMEOUT)),
                grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    print("  GetFeature and ListFeatures answer")

    route = [place(n) for n in range(5)] + [rg.Point(latitude=1, longitude=1)]
    summary = guide.RecordRoute(iter(route), metadata=md, timeout=TIMEOUT)
    equal((summary.point_count, summary.feature_count), (6, 5), "RecordRoute (point_count, feature_count)")
    # Four legs of 0.001° of longitude at 40°N (85 m each), then about 8 650 km to (0°, 0°).
    check(8_600_000 < summary.distance < 8_700_000, f"RecordRoute distance {summary.distance} m")
    empty = guide.RecordRoute(iter([]), metadata=md, timeout=TIMEOUT)
    equal(empty.point_count, 0, "RecordRoute of no points")
    print(f"  RecordRoute: {summary.point_count} points, {summary.distance} m")

    # A conversation: each note goes out when it is put in the queue; the replies to the first
    # notes must arrive while the request stream is still open. A place of its own per run (the
    # notes stay with the HERO).
    here = rg.Point(latitude=secrets.randbelow(10**8) + 10**8, longitude=1)
    there = rg.Point(latitude=here.latitude, longitude=2)
    outgoing: queue.Queue = queue.Queue()

    def requests():
        while (note := outgoing.get()) is not None:
            yield note

    replies = guide.RouteChat(requests(), metadata=md, timeout=TIMEOUT)
    for where, text in [(here, "a"), (there, "b"), (here, "c")]:
        outgoing.put(rg.RouteNote(location=where, message=text))
    first = next(replies)
    equal((first.message, first.location), ("a", here), "the answer to 'c': the note left there before")
    outgoing.put(rg.RouteNote(location=here, message="d"))
    equal([next(replies).message, next(replies).message], ["a", "c"], "the answers to 'd'")
    outgoing.put(None)
    equal(list(replies), [], "nothing after the requests ended")
    print("  RouteChat: answers arrive while the requests are still being sent")


def scenario_stream_deadline(server: Server) -> None:
    """A server stream read slowly, with a short deadline: it ends with DEADLINE_EXCEEDED before
    the HERO could send it all."""
    md = headers(GUIDE, DEFAULT_REALM)
    everything = rg.Rectangle(lo=place(0), hi=place(GUIDE_FEATURES))
    stream = server.route_guide.ListFeatures(everything, metadata=md, timeout=1.0)
    equal(feature_name(next(stream)), "feature-0", "the first feature")
    time.sleep(2.0)
    received = 1
    try:
        for _ in stream:
            received += 1
    except grpc.RpcError as error:
        equal(error.code(), grpc.StatusCode.DEADLINE_EXCEEDED, f"status of the slow stream ({error.details()})")
    else:
        raise Failure(f"all {received} features arrived within the deadline")
    check(received < GUIDE_FEATURES, f"{received} of {GUIDE_FEATURES} features before the deadline")
    print(f"  DEADLINE_EXCEEDED after {received} of {GUIDE_FEATURES} features")
    # The HERO answers the next call as usual.
    equal(feature_name(server.route_guide.GetFeature(place(7), metadata=md, timeout=TIMEOUT)), "feature-7",
          "GetFeature after the deadline")


def stage_still(stage, md) -> float:
    """Where the stage is, once two readings 100 ms apart agree (nothing moves it any more)."""
    before = stage.Position(empty_pb2.Empty(), metadata=md, timeout=TIMEOUT).millimetres
    for _ in range(50):
        time.sleep(0.1)
        now = stage.Position(empty_pb2.Empty(), metadata=md, timeout=TIMEOUT).millimetres
        if now == before:
            return now
        before = now
    raise Failure(f"the stage is still moving 5 s later (at {before} mm)")


def scenario_operations(server: Server) -> None:
    """A long-running method with heros.v1.Operations and nothing but the .proto files: started,
    watched (progress, message, the intermediate position as an Any), awaited, looked up from
    another connection after the one that started it closed, cancelled (the stage stops: the
    method's future was dropped); errors for an unknown id and a method that is not long-running.
    The caller's deadline reaches the method (TimeLeft), and a direct call cancelled or past its
    deadline stops the stage too."""
    md = headers(STAGE, DEFAULT_REALM)
    stage, operations = server.stage, server.operations
    start = stage_still(stage, md)

    # Started, watched to its end.
    target = start + 20.0
    request = stage_pb2.MoveRequest(target=target, speed=100.0).SerializeToString()
    started = operations.Start(ops.StartOperationRequest(interface="examples.v1.Stage", method="Move", request=request),
                               metadata=md, timeout=TIMEOUT)
    equal((started.hero, started.interface, started.method, started.state),
          (STAGE, "examples.v1.Stage", "Move", ops.OPERATION_RUNNING), "Start's reply")
    check(len(started.id) == 32 and int(started.id, 16) >= 0, f"a 128-bit id in hex: {started.id!r}")
    seen = list(operations.Watch(ops.OperationId(id=started.id), metadata=md, timeout=TIMEOUT))
    final = seen[-1]
    equal(final.state, ops.OPERATION_SUCCEEDED, f"the last Watch message ({final.error_message})")
    equal(stage_pb2.MoveReply.FromString(final.result).position, target, "the operation's result")
    running = [o for o in seen if o.state == ops.OPERATION_RUNNING and o.progress > 0]
    check(len(running) >= 3, f"Watch shows the move's progress ({len(running)} updates)")
    fractions = [o.progress for o in running]
    equal(fractions, sorted(fractions), "progress only grows")
    middle = running[len(running) // 2]
    position = stage_pb2.StagePosition()
    check(middle.intermediate.Unpack(position), f"intermediate is a StagePosition: {middle.intermediate.type_url}")
    check(start < position.millimetres < target, f"the intermediate position {position.millimetres} on the way")
    check(middle.message.startswith("at "), f"the progress message: {middle.message!r}")
    equal(operations.Wait(ops.OperationId(id=started.id), metadata=md, timeout=TIMEOUT).state,
          ops.OPERATION_SUCCEEDED, "Wait of an ended operation")
    print(f"  Move as an operation: {len(running)} progress updates, ended at {target} mm")

    # A long move, started on a connection that then closes; found and cancelled from another.
    opener = grpc.insecure_channel(server.target, options=CHANNEL_OPTIONS)
    request = stage_pb2.MoveRequest(target=start + 10_000.0, speed=10.0).SerializeToString()
    long = operations_pb2_grpc.OperationsStub(opener).Start(
        ops.StartOperationRequest(interface="examples.v1.Stage", method="Move", request=request),
        metadata=md, timeout=TIMEOUT)
    opener.close()
    time.sleep(0.3)
    other = grpc.insecure_channel(server.target, options=CHANNEL_OPTIONS)
    other_ops = operations_pb2_grpc.OperationsStub(other)
    now = other_ops.Get(ops.OperationId(id=long.id), metadata=md, timeout=TIMEOUT)
    equal(now.state, ops.OPERATION_RUNNING, "the operation runs on after its connection closed")
    check(now.progress > 0, f"and makes progress ({now.progress})")
    listed = other_ops.List(empty_pb2.Empty(), metadata=md, timeout=TIMEOUT)
    check(long.id in [o.id for o in listed.operations], "List has it")
    cancelled = other_ops.Cancel(ops.OperationId(id=long.id), metadata=md, timeout=TIMEOUT)
    ended = other_ops.Wait(ops.OperationId(id=long.id), metadata=md, timeout=TIMEOUT)
    equal(ended.state, ops.OPERATION_CANCELLED, f"Wait after Cancel (Cancel said {cancelled.state})")
    equal(ended.error_code, grpc.StatusCode.CANCELLED.value[0], "a cancelled operation's error_code")
    equal((ended.error_detail.kind, ended.error_detail.hero, ended.error_detail.method),
          ("CANCELLED", STAGE, "examples.v1.Stage/Move"), "its ErrorDetail")
    stopped = stage_still(stage, md)
    check(stopped < start + 100.0, f"the stage stopped where it was ({stopped} mm, {stopped - start:.1f} mm out)")
    equal(other_ops.Cancel(ops.OperationId(id=long.id), metadata=md, timeout=TIMEOUT).state,
          ops.OPERATION_CANCELLED, "a second Cancel leaves it as it is")
    other.close()
    print(f"  a move started on a closed connection, cancelled from another: stopped at {stopped:.2f} mm")

    heros_error(lambda: operations.Get(ops.OperationId(id="0" * 32), metadata=md, timeout=TIMEOUT),
                grpc.StatusCode.NOT_FOUND, "OPERATION_NOT_FOUND")
    heros_error(lambda: operations.Start(ops.StartOperationRequest(interface="examples.v1.Stage", method="Position",
                                                                   request=b""), metadata=md, timeout=TIMEOUT),
                grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")

    # The caller's deadline, as the method reads it. grpcio rounds the grpc-timeout it sends up
    # (5 s came as 5009 ms): a little over 5 s is still this deadline.
    left = stage.TimeLeft(empty_pb2.Empty(), metadata=md, timeout=5.0)
    check(left.HasField("milliseconds") and 3000 < left.milliseconds <= 5100,
          f"TimeLeft with a 5 s deadline: {left}")
    check(not stage.TimeLeft(empty_pb2.Empty(), metadata=md).HasField("milliseconds"), "no deadline, none left")

    # A direct call past its deadline, and one cancelled by the caller: the stage stops both times.
    here = stage_still(stage, md)
    try:
        stage.Move(stage_pb2.MoveRequest(target=here + 10_000.0, speed=10.0), metadata=md, timeout=0.5)
        raise Failure("a 1000 s move answered within 0.5 s")
    except grpc.RpcError as error:
        equal(error.code(), grpc.StatusCode.DEADLINE_EXCEEDED, f"a move past its deadline ({error.details()})")
    after_deadline = stage_still(stage, md)
    check(after_deadline < here + 20.0, f"the stage stopped at its deadline ({after_deadline - here:.1f} mm moved)")
    future = stage.Move.future(stage_pb2.MoveRequest(target=after_deadline + 10_000.0, speed=10.0), metadata=md,
                               timeout=TIMEOUT)
    time.sleep(0.3)
    future.cancel()
    after_cancel = stage_still(stage, md)
    check(after_deadline < after_cancel < after_deadline + 20.0,
          f"the stage moved, then stopped when the caller cancelled ({after_cancel - after_deadline:.1f} mm moved)")
    print("  the deadline reaches the method; a call past it, or cancelled, stops the stage")


SCENARIOS = {
    "calls": scenario_calls,
    "attributes": scenario_attributes,
    "errors": scenario_errors,
    "events": scenario_events,
    "missed": scenario_missed,
    "handles": scenario_handles,
    "references": scenario_references,
    "routing": scenario_routing,
    "realm": scenario_realm,
    "reflection": scenario_reflection,
    "bench": scenario_bench,
    "secured": scenario_secured,
    "streams": scenario_streams,
    "stream-deadline": scenario_stream_deadline,
    "operations": scenario_operations,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=sorted([*SCENARIOS, "discover", "client-records"]))
    parser.add_argument("--target", required=True, help="HOST:PORT of the server with the interop HEROs")
    parser.add_argument("--credentials", help="credentials folder of a secured realm (ca.pem, cert.pem, key.pem)")
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("INTEROP_REPEAT", "1")),
                        help="run the scenario this many times, to hunt flakes (default: $INTEROP_REPEAT or 1)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, grpcio {grpc.__version__}: scenario {args.scenario} "
          f"against {args.target} (pid {os.getpid()})")
    try:
        if args.scenario == "discover":
            scenario_discover(args.target)
        elif args.scenario == "client-records":
            scenario_client_records(args.target)
        else:
            server = Server(args.target, args.credentials)
            for _ in range(args.repeat):
                SCENARIOS[args.scenario](server)
    except Failure as failure:
        print(f"FAILED: {failure}")
        return 1
    print(f"ok: {args.scenario}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
