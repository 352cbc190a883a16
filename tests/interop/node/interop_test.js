'use strict';
// Drives the Rust interop HEROs (tests/common/interop.rs) from Node: grpc-js and the repository's
// own .proto files, loaded at run time, nothing generated. One scenario per run:
//
//   NODE_PATH=DIR/node_modules node tests/interop/node/interop_test.js SCENARIO --target HOST:PORT
//   NODE_PATH=DIR/node_modules node tests/interop/node/interop_test.js discovery --name NAME [--realm R]
//
// tests/interop_node.rs installs the packages (setup.sh), starts the server and runs this. Exit
// code 0 means the scenario passed; anything else fails the Rust test, which shows this output.

const assert = require('node:assert/strict');
const grpc = require('@grpc/grpc-js');
const heros = require('../../../clients/node/heros.js');

// The interop HEROs, as tests/common/interop.rs shares them.
const TEST = 'interop-test'; // TestObject (testme starts at 5) and Furnace, realm "heros"
const INSTRUMENT = 'interop-instrument';
const ROOT = 'interop-root'; // Node, value 1; child 0 is interop-child, value 10
const CHILD = 'interop-child';
const REALM = 'interop-lab';
const REALM_HERO = 'interop-realm-test'; // TestObject (testme at 7) in realm interop-lab
const GUIDE = 'interop-guide'; // gRPC's route guide (package routeguide): streaming methods
const GUIDE_FEATURES = 8192; // feature-<n> at place(n), each name followed by 4096 dots
const STAGE = 'interop-stage'; // a Stage: Move is long-running (heros.v1.Operations), TimeLeft reads the deadline
const ALL = [CHILD, INSTRUMENT, ROOT, REALM_HERO, TEST, GUIDE, STAGE].sort();

// A scenario that hangs fails instead of stalling the run.
const WATCHDOG_MS = Number(process.env.INTEROP_WATCHDOG_MS || 60000);

const { services, types } = heros.loadSchema([
  'examples/testobject.proto',
  'examples/furnace.proto',
  'examples/instrument.proto',
  'examples/nodes.proto',
  'examples/route_guide.proto',
  'examples/stage.proto',
  'heros/v1/core.proto',
  'heros/v1/handles.proto',
  'heros/v1/registry.proto',
  'heros/v1/operations.proto',
]);
const examples = services.examples.v1;
const framework = services.heros.v1;
const routeguide = services.routeguide;
const insecure = grpc.credentials.createInsecure();

const md = heros.metadata;
const call = heros.call;

/** Awaits `promise`, expecting a HEROS error; checks its gRPC code and kind, returns the detail. */
async function refused(promise, code, kind) {
  let error;
  try {
    const reply = await promise;
    assert.fail(`expected ${kind}, got the reply ${JSON.stringify(reply)}`);
  } catch (e) {
    error = e;
  }
  if (error instanceof assert.AssertionError) throw error;
  assert.equal(error.code, code, `gRPC code of: ${error.message}`);
  const detail = heros.errorDetail(error);
  assert.ok(detail, `a heros.v1.ErrorDetail in grpc-status-details-bin: ${error.message}`);
  assert.equal(detail.code, code, 'google.rpc.Status.code is the status code');
  assert.equal(detail.message, error.details, 'google.rpc.Status.message is the status message');
  assert.equal(detail.kind, kind, `kind of: ${error.message}`);
  return detail;
}

const sorted = (text) => text.split(',').sort();

// --- Scenarios ---------------------------------------------------------------------------------

const scenarios = {
  // A secured realm: the TLS credentials of clients/node (channelCredentials) call, set and list;
  // a plaintext client of the same server is refused with UNAUTHENTICATED.
  async secured({ target, credentials: dir }) {
    assert.ok(dir, 'the secured scenario needs --credentials DIR');
    const { credentials, options } = heros.channelCredentials(dir);
    const hero = new examples.TestObject(target, credentials, options);
    const who = md({ name: TEST, realm: 'heros' });
    assert.equal((await call(hero, 'Hello', {}, who)).value, 'world');
    assert.equal((await call(hero, 'ReadTemp', { min: 0, max: 10 }, who)).value, 5);
    assert.equal((await call(hero, 'Testme', { value: 42 }, who)).value, 42);
    const registry = new framework.Registry(target, credentials, options);
    const { heros: listed } = await call(registry, 'ListHeros', {});
    assert.ok(listed.length >= 5 && listed.every((h) => h.secured), 'every HERO of a secured server says secured');

    const plaintext = new examples.TestObject(target, insecure);
    const detail = await refused(call(plaintext, 'Hello', {}, who), grpc.status.UNAUTHENTICATED, 'UNAUTHENTICATED');
    assert.match(detail.message, /HEROS_CREDENTIALS/, 'the refusal says what to do');
    console.log(`  TLS calls answer; plaintext: UNAUTHENTICATED ${detail.message}`);
  },

  async methods({ target }) {
    const hero = new examples.TestObject(target, insecure);
    const who = md({ name: TEST, realm: 'heros' });
    assert.equal((await call(hero, 'ReadTemp', { min: 0, max: 10 }, who)).value, 5);
    assert.equal((await call(hero, 'ReadTemp', { min: -3, max: 4 }, who)).value, 0.5);
    assert.equal((await call(hero, 'Hello', {}, who)).value, 'world');
    // The realm header is optional.
    assert.equal((await call(hero, 'Hello', {}, md({ name: TEST }))).value, 'world');
    // A second interface of the same HERO, on the same connection.
    const furnace = new examples.Furnace(target, insecure);
    assert.deepEqual(await call(furnace, 'Heat', { celsius: 20 }, who), {});
  },

  async attributes({ target }) {
    const hero = new examples.TestObject(target, insecure);
    const who = md({ name: TEST });
    // Absent value: a read. The reply always carries the value.
    assert.deepEqual(await call(hero, 'Testme', {}, who), { value: 5, _value: 'value' });
    await call(hero, 'Hello', {}, who);
    assert.equal((await call(hero, 'Testme', {}, who)).value, 6, 'hello() counts in testme');
    // Present value: a set, answered with the new value; 0 is a value too.
    assert.equal((await call(hero, 'Testme', { value: 10 }, who)).value, 10);
    assert.equal((await call(hero, 'Testme', {}, who)).value, 10);
    assert.equal((await call(hero, 'Testme', { value: 0 }, who)).value, 0);
    assert.equal((await call(hero, 'Testme', {}, who)).value, 0);

    assert.equal((await call(hero, 'Firmware', {}, who)).value, '1.0.0');
    const detail = await refused(
      call(hero, 'Firmware', { value: '9.9.9' }, who),
      grpc.status.PERMISSION_DENIED,
      'READ_ONLY',
    );
    assert.deepEqual(detail.context, { hero: TEST, attribute: 'firmware' });
    assert.equal((await call(hero, 'Firmware', {}, who)).value, '1.0.0', 'a refused set changes nothing');
  },

  async errors({ target }) {
    const hero = new examples.TestObject(target, insecure);
    // The HERO's own error, with its free text.
    let detail = await refused(
      call(hero, 'ReadTemp', { min: 10, max: 0 }, md({ name: TEST })),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
    );
    assert.equal(detail.detail, 'min 10 is above max 0');

    // Routing errors name what does exist. The name travels percent-encoded and comes back intact.
    detail = await refused(call(hero, 'Hello', {}, md({ name: 'Öfen 3%' })), grpc.status.NOT_FOUND, 'HERO_NOT_FOUND');
    assert.equal(detail.context.name, 'Öfen 3%');
    assert.equal(detail.context.realm, 'any');
    assert.deepEqual(sorted(detail.context.known), ALL);
    detail = await refused(
      call(hero, 'Hello', {}, md({ name: 'nobody', realm: 'heros' })),
      grpc.status.NOT_FOUND,
      'HERO_NOT_FOUND',
    );
    assert.equal(detail.context.realm, 'heros');

    const furnace = new examples.Furnace(target, insecure);
    detail = await refused(
      call(furnace, 'Heat', { celsius: 1 }, md({ name: INSTRUMENT })),
      grpc.status.UNIMPLEMENTED,
      'INTERFACE_NOT_IMPLEMENTED',
    );
    assert.deepEqual(detail.context, {
      hero: INSTRUMENT,
      interface: 'examples.v1.Furnace',
      implemented: 'examples.v1.Instrument',
    });

    // A method the interface does not have: a plain grpc-js call to a path of our own.
    const raw = new grpc.Client(target, insecure);
    const identity = (bytes) => bytes;
    detail = await refused(
      new Promise((resolve, reject) =>
        raw.makeUnaryRequest('/examples.v1.TestObject/Goodbye', identity, identity, Buffer.alloc(0), md({ name: TEST }),
          (error, reply) => (error ? reject(error) : resolve(reply)))),
      grpc.status.UNIMPLEMENTED,
      'METHOD_NOT_FOUND',
    );
    assert.equal(detail.context.method, 'Goodbye');
    assert.deepEqual(sorted(detail.context.available), ['Firmware', 'Hello', 'ReadTemp', 'Testme']);

    // Bytes that are not a ReadTempRequest.
    const garbage = Buffer.from([0xff, 0xff, 0xff]);
    await refused(
      new Promise((resolve, reject) =>
        raw.makeUnaryRequest('/examples.v1.TestObject/ReadTemp', identity, identity, garbage, md({ name: TEST }),
          (error, reply) => (error ? reject(error) : resolve(reply)))),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
    );
  },

  async events({ target }) {
    const furnace = new examples.Furnace(target, insecure);
    const who = md({ name: TEST });
    const readings = [];
    const alarms = [];
    const streams = [furnace.Readings({}, who), furnace.Overheated({}, who)];
    const arrived = new Promise((resolve, reject) => {
      const both = () => readings.length > 0 && alarms.length > 0 && resolve();
      streams[0].on('data', (reading) => both(readings.push(reading)));
      streams[1].on('data', (alarm) => both(alarms.push(alarm)));
      for (const stream of streams) stream.on('error', (error) => error.code !== grpc.status.CANCELLED && reject(error));
    });
    // A subscription is live only once the server has it; nothing says when. Heat until both
    // streams have an event, then every later emit must arrive, in order.
    let heating = true;
    arrived.then(() => (heating = false), () => (heating = false));
    for (let celsius = 81; heating; celsius++) {
      await call(furnace, 'Heat', { celsius }, who);
      await Promise.race([arrived, new Promise((r) => setTimeout(r, 20))]);
    }
    await arrived;

    // From here on nothing may be lost: the readings are reliable, and two alarms fit the buffer.
    // (Events of the last heats may still be on their way; they come before these.)
    await call(furnace, 'Heat', { celsius: 20 }, who); // a reading, no alarm (limit 80)
    await call(furnace, 'Heat', { celsius: 95 }, who); // both
    await until(() => readings.at(-1).celsius === 95 && alarms.at(-1).celsius === 95);
    for (const stream of streams) stream.cancel();

    assert.deepEqual(readings.slice(-2).map((r) => r.celsius), [20, 95]);
    assert.ok(!alarms.some((a) => a.celsius === 20), 'no alarm at 20 degrees');
    for (let i = 1; i < readings.length; i++) {
      assert.equal(readings[i].sequence, readings[i - 1].sequence + 1, 'readings arrive in order, none lost');
    }
    for (let i = 1; i < alarms.length; i++) assert.ok(alarms[i].sequence > alarms[i - 1].sequence, 'alarms in order');
    assert.ok(alarms.every((a) => a.celsius > 80 && a.limit === 80), 'alarms only above the limit');
    // The 95 degree reading and its alarm are the same report.
    assert.equal(alarms.at(-1).sequence, readings.at(-1).sequence);
    console.log(`events: ${readings.length} readings, ${alarms.length} alarms`);
  },

  // Best-effort loss is counted, never silent: a subscriber that does not read is sent the number
  // of alarms it missed, as field 536870911 before an alarm's own fields, or alone (field
  // 536870910) once it caught up. Decoded here from the raw bytes, as PROTOCOL.md describes.
  async missed({ target }) {
    const furnace = new examples.Furnace(target, insecure);
    const who = md({ name: TEST });
    const Alarm = types.lookupType('examples.v1.Alarm');
    const raw = new grpc.Client(target, insecure);
    const stream = raw.makeServerStreamRequest('/examples.v1.Furnace/Overheated', (b) => b, (b) => b, Buffer.alloc(0), who);
    const received = []; // {alarm, missedBefore} or {caughtUp}
    let first;
    const subscribed = new Promise((resolve) => (first = resolve));
    stream.on('data', (bytes) => {
      received.push(parseEvent(bytes, Alarm));
      first();
    });
    stream.on('error', (error) => error.code !== grpc.status.CANCELLED && console.error(error));
    let heating = true;
    subscribed.then(() => (heating = false));
    while (heating) {
      await call(furnace, 'Heat', { celsius: 90 }, who);
      await Promise.race([subscribed, new Promise((r) => setTimeout(r, 20))]);
    }
    // Stop reading: grpc-js then stops taking from the HTTP/2 stream, the flow-control window
    // fills and the HERO's buffer of 8 alarms runs over.
    stream.pause();
    const count = 200;
    await call(furnace, 'Burst', { count, payload_bytes: 64 * 1024, alarms: true }, who);
    // One more alarm, to know where the burst ended.
    await call(furnace, 'Heat', { celsius: 99 }, who);
    stream.resume();
    await until(() => received.some((r) => r.alarm && r.alarm.celsius === 99));
    stream.cancel();

    // Every alarm after the first one received is either received or counted as missed.
    let expected = received[0].alarm.sequence + 1;
    let missed = 0;
    let delivered = 0;
    for (const event of received.slice(1)) {
      if (event.caughtUp !== undefined) {
        expected += event.caughtUp;
        missed += event.caughtUp;
        continue;
      }
      expected += event.missedBefore;
      missed += event.missedBefore;
      assert.equal(event.alarm.sequence, expected, 'the missed count accounts for every gap in the sequence');
      expected += 1;
      delivered += 1;
    }
    assert.ok(missed > 0, `the burst overran the buffer (delivered ${delivered})`);
    console.log(`missed: ${delivered} alarms delivered, ${missed} counted as missed`);
  },

  async handles({ target }) {
    const sessions = new framework.Sessions(target, insecure);
    const handles = new framework.Handles(target, insecure);
    const instrument = new examples.Instrument(target, insecure);
    const { id: session, lease_ms } = await call(sessions, 'Open', { lease_ms: 0 });
    assert.match(session, /^[0-9a-f]{32}$/);
    assert.ok(lease_ms > 0, 'lease 0 asks for the server lease');
    const mine = md({ name: INSTRUMENT, session });

    const { session: handle } = await call(instrument, 'Open', { channel: 3 }, mine);
    assert.equal(handle.type_name, 'examples.InstrumentSession');
    assert.equal(handle.repr, 'channel 3 session');
    assert.equal(handle.id.length, 32);
    assert.equal((await call(instrument, 'Read', { session: handle }, mine)).value, 3);

    // A message stored on the server, passed by handle next to the session.
    const Settings = types.lookupType('examples.v1.Settings');
    const stored = await call(
      handles,
      'Store',
      { type_url: 'type.googleapis.com/examples.v1.Settings', value: Settings.encode({ gain: 2.5, label: 'node' }).finish() },
      md({ session }),
    );
    assert.equal(stored.type_name, 'examples.v1.Settings');
    const { applied } = await call(instrument, 'Configure', { session: handle, settings: stored }, mine);
    assert.equal(applied, 'node on channel 3: gain 2.5');
    assert.equal((await call(instrument, 'Read', { session: handle }, mine)).value, 7.5);

    // Each refusal of a handle argument, in the documented order.
    await refused(call(instrument, 'Read', { session: handle }, md({ name: INSTRUMENT })),
      grpc.status.FAILED_PRECONDITION, 'SESSION_REQUIRED');
    await refused(call(instrument, 'Read', { session: handle }, md({ name: INSTRUMENT, session: '0'.repeat(32) })),
      grpc.status.FAILED_PRECONDITION, 'SESSION_UNKNOWN');
    await refused(call(instrument, 'Read', {}, mine), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
    await refused(call(instrument, 'Read', { session: { ...handle, id: handle.id.subarray(0, 16) } }, mine),
      grpc.status.INVALID_ARGUMENT, 'HANDLE_INVALID');
    await refused(call(instrument, 'Read', { session: stored }, mine), grpc.status.INVALID_ARGUMENT, 'HANDLE_TYPE');
    const { id: other } = await call(sessions, 'Open', { lease_ms: 0 });
    await refused(call(instrument, 'Read', { session: handle }, md({ name: INSTRUMENT, session: other })),
      grpc.status.PERMISSION_DENIED, 'HANDLE_FOREIGN');

    // Shared by name, another session reaches it.
    await call(handles, 'Attach', { handle, name: 'node-channel-3' }, md({ session }));
    const { exports } = await call(handles, 'Browse', {});
    assert.ok(exports.some((e) => e.name === 'node-channel-3' && e.repr === 'channel 3 session'));
    const fetched = await call(handles, 'Fetch', { name: 'node-channel-3' }, md({ session: other }));
    assert.equal((await call(instrument, 'Read', { session: fetched }, md({ name: INSTRUMENT, session: other }))).value, 7.5);
    await call(handles, 'Detach', { name: 'node-channel-3' }, md({ session }));

    // Released by both sessions, the value is gone.
    await call(handles, 'Release', { releases: [{ id: handle.id, count: 1 }, { id: stored.id, count: 1 }] }, md({ session }));
    await call(handles, 'Release', { releases: [{ id: fetched.id, count: 1 }] }, md({ session: other }));
    await refused(call(instrument, 'Read', { session: handle }, mine), grpc.status.NOT_FOUND, 'HANDLE_RELEASED');

    await call(sessions, 'Close', { id: session });
    await call(sessions, 'Close', { id: other });
    await refused(call(instrument, 'Open', { channel: 1 }, mine), grpc.status.FAILED_PRECONDITION, 'SESSION_UNKNOWN');
  },

  async references({ target }) {
    const root = new examples.Node(target, insecure);
    assert.equal((await call(root, 'Value', {}, md({ name: ROOT }))).value, 1);
    const { child: ref } = await call(root, 'Child', { index: 0 }, md({ name: ROOT }));
    assert.equal(ref.name, CHILD);
    assert.equal(ref.realm, 'heros');
    assert.equal(ref.interface, 'examples.v1.Node');
    assert.ok(ref.endpoints.length > 0, 'a reference says where its HERO is');
    // Follow it as any client would: its first endpoint, its name in heros-name.
    const child = new examples.Node(ref.endpoints[0].replace(/^http:\/\//, ''), insecure);
    const who = md({ name: ref.name, realm: ref.realm });
    assert.equal((await call(child, 'Value', {}, who)).value, 10);
    assert.equal((await call(child, 'CountChildren', {}, who)).count, 0);
    await refused(call(root, 'Child', { index: 5 }, md({ name: ROOT })), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
  },

  async routing({ target }) {
    const hero = new examples.TestObject(target, insecure);
    // Two TestObjects on this server: without a name the server cannot choose.
    let detail = await refused(call(hero, 'Hello', {}), grpc.status.FAILED_PRECONDITION, 'AMBIGUOUS_HERO');
    assert.equal(detail.context.interface, 'examples.v1.TestObject');
    assert.deepEqual(sorted(detail.context.candidates), [REALM_HERO, TEST].sort());
    // The realm narrows the candidates to one.
    assert.equal((await call(hero, 'Testme', {}, md({ realm: REALM }))).value, 7);
    assert.equal((await call(hero, 'Testme', {}, md({ realm: 'heros' }))).value, 5);
    // Only one Furnace: no name needed.
    const furnace = new examples.Furnace(target, insecure);
    assert.deepEqual(await call(furnace, 'Heat', { celsius: 20 }), {});
    // No TestObject in this realm, but some in others: the server names one of them (PROTOCOL.md,
    // "How the server picks the HERO", step 4).
    detail = await refused(call(hero, 'Hello', {}, md({ realm: 'elsewhere' })), grpc.status.PERMISSION_DENIED, 'REALM_MISMATCH');
    assert.ok([TEST, REALM_HERO].includes(detail.context.hero), detail.context.hero);
    assert.equal(detail.context.caller_realm, 'elsewhere');
    // No HERO at all implements AlarmLog.
    const log = new examples.AlarmLog(target, insecure);
    detail = await refused(call(log, 'Count', {}), grpc.status.UNIMPLEMENTED, 'INTERFACE_NOT_SERVED');
    assert.equal(detail.context.interface, 'examples.v1.AlarmLog');
    assert.deepEqual(sorted(detail.context.known), ALL);

    // The realm HERO by name: its realm, or no realm header, is accepted; another is refused.
    assert.equal((await call(hero, 'Testme', {}, md({ name: REALM_HERO, realm: REALM }))).value, 7);
    assert.equal((await call(hero, 'Testme', {}, md({ name: REALM_HERO }))).value, 7);
    for (const wrong of ['heros', 'interop-lab2']) {
      detail = await refused(
        call(hero, 'Testme', {}, md({ name: REALM_HERO, realm: wrong })),
        grpc.status.PERMISSION_DENIED,
        'REALM_MISMATCH',
      );
      assert.deepEqual(detail.context, { hero: REALM_HERO, hero_realm: REALM, caller_realm: wrong });
    }
    await refused(call(hero, 'Testme', {}, md({ name: TEST, realm: REALM })), grpc.status.PERMISSION_DENIED, 'REALM_MISMATCH');
  },

  async registry({ target }) {
    const registry = new framework.Registry(target, insecure);
    // Served without heros-name: any client that knows the address can ask what is there.
    const { heros: all } = await call(registry, 'ListHeros', {});
    assert.deepEqual(all.map((h) => h.name).sort(), ALL);
    const { heros: lab } = await call(registry, 'ListHeros', { realm: REALM });
    assert.deepEqual(lab.map((h) => h.name), [REALM_HERO]);
    const description = await call(registry, 'DescribeHero', { name: TEST });
    assert.deepEqual(description.info.interfaces.sort(), ['examples.v1.Furnace', 'examples.v1.TestObject']);
    assert.ok(description.info.tags.includes('interop'));
    assert.equal(description.info.protocol_version, 1);
    const testObject = description.interfaces.find((i) => i.name === 'examples.v1.TestObject');
    const attributes = Object.fromEntries(testObject.attributes.map((a) => [a.name, a.readonly]));
    assert.deepEqual(attributes, { Testme: false, Firmware: true });
    const furnace = description.interfaces.find((i) => i.name === 'examples.v1.Furnace');
    assert.deepEqual(furnace.events.map((e) => e.name).sort(), ['Overheated', 'Readings']);
    await refused(call(registry, 'DescribeHero', { name: 'nobody' }), grpc.status.NOT_FOUND, 'HERO_NOT_FOUND');
  },

  // Sequential unary calls per second: one call in flight at a time, as a script would make them.
  // For scale, the same against a grpc-js server in this process (what Node itself costs).
  async throughput({ target, calls = '3000', warmup = '500' }) {
    const [n, w] = [Number(calls), Number(warmup)];
    const hero = new examples.TestObject(target, insecure);
    const rust = await callRate(hero, md({ name: TEST }), n, w);
    assert.equal((await call(hero, 'Testme', {}, md({ name: TEST }))).value, 5 + n + w, 'every call reached the HERO');

    const server = new grpc.Server();
    server.addService(examples.TestObject.service, { Hello: (_call, reply) => reply(null, { value: 'world' }) });
    const port = await new Promise((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    const node = await callRate(new examples.TestObject(`127.0.0.1:${port}`, insecure), md(), n, w);
    server.forceShutdown();

    console.log(`MEASURE node_sequential_calls_per_s=${rust.perSecond}`);
    console.log(`MEASURE node_call_p50_us=${rust.p50} node_call_p99_us=${rust.p99} (${n} calls after ${w})`);
    console.log(`MEASURE node_to_node_calls_per_s=${node.perSecond} node_to_node_p50_us=${node.p50} (grpc-js server in the same process)`);
  },

  // Found by name over mDNS (clients/node/heros.js), then called: run inside a private network
  // namespace only (tests/interop_node.rs), against a TestObject whose testme starts at `start`,
  // tagged "node-test" with metadata Room=B1 (keys keep their case), and one of the same kind in realm `--other-realm`.
  async discovery({ name, start, other, 'other-realm': otherRealm }) {
    const started = Date.now();
    const hero = await heros.connect(name, { timeoutMs: 10000 });
    const found = Date.now() - started;
    assert.equal(hero.name, name);
    assert.equal(hero.realm, 'heros', 'the default realm');
    assert.equal(hero.info.protocolVersion, 1);
    assert.ok(hero.info.interfaces.includes('examples.v1.TestObject'), hero.info.interfaces.join(','));
    assert.ok(hero.info.tags.includes('node-test'), hero.info.tags.join(','));
    assert.deepEqual(hero.info.metadata, { Room: 'B1' });
    const client = hero.client(examples.TestObject);
    assert.equal((await call(client, 'Hello', {}, hero.metadata())).value, 'world');
    assert.equal((await call(client, 'Testme', {}, hero.metadata())).value, Number(start) + 1);
    console.log(`discovery: found ${name}@${hero.realm} at ${hero.endpoint} in ${found} ms`);

    // Another realm: found only when asked for in that realm; its calls carry that realm.
    const lab = await heros.connect(other, { realm: otherRealm, timeoutMs: 10000 });
    assert.equal((await call(lab.client(examples.TestObject), 'Hello', {}, lab.metadata())).value, 'world');
    await assert.rejects(heros.find(other, { timeoutMs: 1500 }), { kind: 'DISCOVERY_TIMEOUT' });
    // A name nobody serves is a timeout, not a hang.
    await assert.rejects(heros.find('nobody', { timeoutMs: 1500 }), { kind: 'DISCOVERY_TIMEOUT' });
  },
  // gRPC's route guide with grpc-js and the .proto alone: unary, server streaming, client
  // streaming and bidirectional, as any gRPC service.
  async streams({ target }) {
    const guide = new routeguide.RouteGuide(target, insecure);
    const who = md({ name: GUIDE, realm: 'heros' });
    const feature = await call(guide, 'GetFeature', place(3), who);
    assert.deepEqual([name(feature), feature.location], ['feature-3', place(3)]);
    assert.equal((await call(guide, 'GetFeature', { latitude: 1, longitude: 1 }, who)).name, '');

    const listed = await collect(guide.ListFeatures({ lo: place(19), hi: place(10) }, who, deadline()));
    assert.deepEqual(listed.map(name), Array.from({ length: 10 }, (_, i) => `feature-${10 + i}`));
    // The HERO's own error ends the stream with its status.
    await refused(collect(guide.ListFeatures({ lo: place(0) }, who, deadline())), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');

    const summary = await new Promise((resolve, reject) => {
      const upload = guide.RecordRoute(who, deadline(), (error, reply) => (error ? reject(error) : resolve(reply)));
      for (let n = 0; n < 5; n++) upload.write(place(n));
      upload.write({ latitude: 1, longitude: 1 });
      upload.end();
    });
    assert.deepEqual([summary.point_count, summary.feature_count], [6, 5]);
    // Four legs of 0.001 degrees of longitude at 40N (85 m each), then about 8 650 km to (0, 0).
    assert.ok(summary.distance > 8_600_000 && summary.distance < 8_700_000, `distance ${summary.distance}`);
    console.log(`  GetFeature, ListFeatures and RecordRoute answer (${summary.distance} m)`);

    // A conversation: the answers to the first notes arrive while the request stream is open. A
    // place of its own per run (the notes stay with the HERO).
    const here = { latitude: 100_000_000 + Math.floor(Math.random() * 1e8), longitude: 1 };
    const there = { ...here, longitude: 2 };
    const chat = guide.RouteChat(who, deadline());
    const heard = [];
    const ended = new Promise((resolve, reject) => {
      chat.on('data', (note) => heard.push(note));
      chat.on('end', resolve);
      chat.on('error', reject);
    });
    for (const [location, message] of [[here, 'a'], [there, 'b'], [here, 'c']]) chat.write({ location, message });
    await until(() => heard.length === 1);
    assert.deepEqual([heard[0].message, heard[0].location], ['a', here], "the answer to 'c'");
    chat.write({ location: here, message: 'd' });
    await until(() => heard.length === 3);
    assert.deepEqual(heard.slice(1).map((n) => n.message), ['a', 'c'], "the answers to 'd'");
    chat.end();
    await ended;
    assert.equal(heard.length, 3, 'nothing after the requests ended');
    console.log('  RouteChat: answers arrive while the requests are still being sent');
  },

  // A server stream read slowly, with a short deadline, ends with DEADLINE_EXCEEDED before the
  // HERO could send it all.
  async 'stream-deadline'({ target }) {
    const guide = new routeguide.RouteGuide(target, insecure);
    const who = md({ name: GUIDE, realm: 'heros' });
    const stream = guide.ListFeatures({ lo: place(0), hi: place(GUIDE_FEATURES) }, who, { deadline: Date.now() + 1000 });
    let received = 0;
    const status = await new Promise((resolve) => {
      stream.on('data', (feature) => {
        if (received++ === 0) {
          assert.equal(name(feature), 'feature-0');
          // Reads nothing more for two seconds, past the deadline.
          stream.pause();
          setTimeout(() => stream.resume(), 2000);
        }
      });
      stream.on('error', (error) => resolve(error.code));
      stream.on('end', () => resolve(grpc.status.OK));
    });
    assert.equal(status, grpc.status.DEADLINE_EXCEEDED, `the slow stream ended with ${status} after ${received} features`);
    assert.ok(received < GUIDE_FEATURES, `${received} of ${GUIDE_FEATURES} features before the deadline`);
    console.log(`  DEADLINE_EXCEEDED after ${received} of ${GUIDE_FEATURES} features`);
    assert.equal(name(await call(guide, 'GetFeature', place(7), who)), 'feature-7', 'the HERO answers after');
  },

  // The stage's long-running Move through heros.v1.Operations with grpc-js and the .proto alone:
  // started, watched with progress and an intermediate position (an Any), found and cancelled from
  // another client after the first one closed (the stage stops); the caller's deadline read by
  // the method; a direct call cancelled by grpc-js stops the stage too.
  async operations({ target }) {
    const who = md({ name: STAGE, realm: 'heros' });
    const stage = new examples.Stage(target, insecure);
    const MoveRequest = types.lookupType('examples.v1.MoveRequest');
    const MoveReply = types.lookupType('examples.v1.MoveReply');
    const StagePosition = types.lookupType('examples.v1.StagePosition');
    const start = await stageStill(stage, who);
    const move = (to, speed) => ({
      interface: 'examples.v1.Stage',
      method: 'Move',
      request: MoveRequest.encode({ target: to, speed }).finish(),
    });

    const operations = new framework.Operations(target, insecure);
    const started = await call(operations, 'Start', move(start + 20, 100), who, deadline());
    assert.deepEqual([started.hero, started.method, started.state], [STAGE, 'Move', 'OPERATION_RUNNING']);
    assert.match(started.id, /^[0-9a-f]{32}$/);
    const seen = await collect(operations.Watch({ id: started.id }, who, deadline()));
    const final = seen[seen.length - 1];
    assert.equal(final.state, 'OPERATION_SUCCEEDED', final.error_message);
    assert.equal(MoveReply.decode(final.result).position, start + 20, "the operation's result");
    const running = seen.filter((o) => o.state === 'OPERATION_RUNNING' && o.progress > 0);
    assert.ok(running.length >= 3, `Watch shows progress (${running.length} updates)`);
    const middle = running[Math.floor(running.length / 2)];
    assert.equal(middle.intermediate.type_url, 'type.googleapis.com/examples.v1.StagePosition');
    const position = StagePosition.decode(middle.intermediate.value).millimetres;
    assert.ok(position > start && position < start + 20, `the intermediate position ${position} on the way`);
    console.log(`  Move as an operation: ${running.length} progress updates, then ${final.state}`);

    const opener = new framework.Operations(target, insecure);
    const long = await call(opener, 'Start', move(start + 10_000, 10), who, deadline());
    opener.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const now = await call(operations, 'Get', { id: long.id }, who, deadline());
    assert.equal(now.state, 'OPERATION_RUNNING', 'it runs on after the client that started it closed');
    await call(operations, 'Cancel', { id: long.id }, who, deadline());
    const ended = await call(operations, 'Wait', { id: long.id }, who, deadline());
    assert.deepEqual([ended.state, ended.error_code, ended.error_detail.kind], ['OPERATION_CANCELLED', grpc.status.CANCELLED, 'CANCELLED']);
    const stopped = await stageStill(stage, who);
    assert.ok(stopped < start + 100, `the stage stopped where it was (${stopped - start} mm out)`);
    await refused(call(operations, 'Get', { id: '0'.repeat(32) }, who, deadline()), grpc.status.NOT_FOUND, 'OPERATION_NOT_FOUND');
    console.log(`  started by a closed client, cancelled from another: stopped ${(stopped - start).toFixed(2)} mm out`);

    const left = await call(stage, 'TimeLeft', {}, who, { deadline: Date.now() + 5000 });
    assert.ok(left.milliseconds > 3000 && left.milliseconds <= 5000, `TimeLeft with a 5 s deadline: ${JSON.stringify(left)}`);

    const here = await stageStill(stage, who);
    const direct = stage.Move({ target: here + 10_000, speed: 10 }, who, deadline(), () => {});
    await new Promise((resolve) => setTimeout(resolve, 300));
    direct.cancel();
    const after = await stageStill(stage, who);
    assert.ok(after > here && after < here + 20, `moved, then stopped when grpc-js cancelled (${after - here} mm)`);
    console.log('  the deadline reaches the method; a cancelled call stops the stage');
  },
};

// --- Helpers -----------------------------------------------------------------------------------

/** Where the guide's feature n is. */
const place = (n) => ({ latitude: 400_000_000, longitude: -740_000_000 + n * 10_000 });
/** A feature's name without its padding. */
const name = (feature) => feature.name.replace(/\.+$/, '');
/** Call options with a deadline, so that a stream that hangs fails the scenario. */
const deadline = () => ({ deadline: Date.now() + 10000 });

/** All messages of a server stream, or its error. */
function collect(stream) {
  return new Promise((resolve, reject) => {
    const messages = [];
    stream.on('data', (message) => messages.push(message));
    stream.on('end', () => resolve(messages));
    stream.on('error', reject);
  });
}

/** Where the stage is, once two readings 100 ms apart agree (nothing moves it any more). */
async function stageStill(stage, who) {
  let before = (await call(stage, 'Position', {}, who, deadline())).millimetres;
  for (let i = 0; i < 50; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = (await call(stage, 'Position', {}, who, deadline())).millimetres;
    if (now === before) return now;
    before = now;
  }
  throw new Error(`the stage is still moving 5 s later (at ${before} mm)`);
}

/** Resolves once `condition()` holds, checking every few milliseconds (events arrive by themselves). */
function until(condition, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (condition()) resolve();
      else if (Date.now() > deadline) reject(new Error(`condition not met within ${timeoutMs} ms: ${condition}`));
      else setTimeout(check, 5);
    };
    check();
  });
}

/** Times `calls` sequential Hello calls after `warmup` untimed ones. */
async function callRate(client, who, calls, warmup) {
  for (let i = 0; i < warmup; i++) await call(client, 'Hello', {}, who);
  const each = [];
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) {
    const t = process.hrtime.bigint();
    await call(client, 'Hello', {}, who);
    each.push(Number(process.hrtime.bigint() - t) / 1e3);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  each.sort((a, b) => a - b);
  const at = (q) => each[Math.min(each.length - 1, Math.floor(q * each.length))].toFixed(0);
  return { perSecond: (calls / seconds).toFixed(0), p50: at(0.5), p99: at(0.99) };
}

const MISSED_BEFORE = Buffer.from([0xf8, 0xff, 0xff, 0xff, 0x0f]); // field 536870911, varint
const CAUGHT_UP = Buffer.from([0xf0, 0xff, 0xff, 0xff, 0x0f]); // field 536870910, varint

/** A raw event message: `{alarm, missedBefore}`, or `{caughtUp}` for a count without an event. */
function parseEvent(bytes, type) {
  const key = bytes.subarray(0, 5);
  if (key.equals(CAUGHT_UP)) return { caughtUp: readVarint(bytes, 5).value };
  if (key.equals(MISSED_BEFORE)) {
    const { value, next } = readVarint(bytes, 5);
    return { alarm: type.toObject(type.decode(bytes.subarray(next)), { longs: Number, defaults: true }), missedBefore: value };
  }
  return { alarm: type.toObject(type.decode(bytes), { longs: Number, defaults: true }), missedBefore: 0 };
}

function readVarint(bytes, at) {
  let value = 0;
  for (let shift = 0; ; shift += 7) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return { value, next: at };
  }
}

function parseArgs(argv) {
  const [scenario, ...rest] = argv;
  const options = {};
  for (let i = 0; i < rest.length; i += 2) {
    assert.ok(rest[i].startsWith('--') && i + 1 < rest.length, `bad argument ${rest[i]}`);
    options[rest[i].slice(2)] = rest[i + 1];
  }
  return { scenario, options };
}

async function main() {
  const { scenario, options } = parseArgs(process.argv.slice(2));
  const run = scenarios[scenario];
  if (!run) {
    console.error(`usage: interop_test.js <${Object.keys(scenarios).join('|')}> --target HOST:PORT`);
    process.exit(2);
  }
  setTimeout(() => {
    console.error(`scenario '${scenario}' did not finish within ${WATCHDOG_MS} ms`);
    process.exit(3);
  }, WATCHDOG_MS).unref();
  await run(options);
  console.log(`scenario '${scenario}' passed`);
  // Open channels would keep the process alive.
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
