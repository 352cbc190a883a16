'use strict';
// HEROS for Node, without code generation: what a Node program needs besides @grpc/grpc-js to
// find and call HEROs, following docs/PROTOCOL.md.
//
// - loadSchema(files): the services (grpc-js clients) and message types (protobufjs) of the
//   repository's .proto files, read at run time;
// - metadata({name, realm, session}): the heros-* request headers, percent-encoded;
// - errorDetail(error): the heros.v1.ErrorDetail of a failed call, from grpc-status-details-bin;
// - find(name, {realm, timeoutMs}): a HERO's discovery record, over mDNS (DNS-SD);
// - connect(name, {realm, timeoutMs, credentials}): find, then dial its endpoints in order;
// - channelCredentials(dir): TLS with mutual authentication for a secured realm, from the
//   credentials folder `heros realm issue` wrote (ca.pem, cert.pem, key.pem; docs/PROTOCOL.md,
//   "Security"), as `{credentials, options}` for a grpc-js client.
//
// It needs @grpc/grpc-js, @grpc/proto-loader and protobufjs; find/connect need multicast-dns too
// (loaded only when used). See README.md beside this file.

const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

/** Where the .proto files are: $HEROS_SCHEMA, or schema/ of the repository this file is in. */
const SCHEMA_DIR = process.env.HEROS_SCHEMA || path.resolve(__dirname, '../../schema');

const SERVICE_TYPE = '_heros._tcp.local';
// Every certificate of a realm carries this DNS name: servers are reached by address, so the
// realm CA's signature, not a host name, says that a server belongs to the realm.
const SERVER_NAME = 'heros';
const DEFAULT_REALM = 'heros';
const ERROR_DETAIL_URL = 'type.googleapis.com/heros.v1.ErrorDetail';

// The options that make proto-loader and protobufjs agree: field names as in the .proto files,
// 64-bit integers as numbers, and presence kept (an absent `optional` field stays absent, which is
// how an attribute read differs from a set).
const LOADER_OPTIONS = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

/**
 * Loads `files` (paths relative to the schema folder, e.g. 'examples/testobject.proto') and
 * returns `{services, types}`: `services` as grpc.loadPackageDefinition gives them
 * (`services.examples.v1.TestObject` is a client class), `types` a protobufjs Root for messages
 * that no rpc carries directly (e.g. a message to `Handles/Store`).
 */
function loadSchema(files, { includeDirs = [SCHEMA_DIR] } = {}) {
  const definition = protoLoader.loadSync(files, { ...LOADER_OPTIONS, includeDirs });
  const types = new protobuf.Root();
  // google/protobuf/*.proto come with protobufjs, the rest from the include folders.
  const bundled = path.dirname(require.resolve('protobufjs/package.json'));
  types.resolvePath = (origin, target) => {
    for (const dir of [...includeDirs, bundled]) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    return protobuf.util.path.resolve(origin, target);
  };
  types.loadSync(files, { keepCase: true });
  types.resolveAll();
  return { services: grpc.loadPackageDefinition(definition), types };
}

/**
 * A header value as the protocol sends it: visible ASCII but '%' as it is, every other byte of
 * the UTF-8 text as %XX ('Öfen-3' -> '%C3%96fen-3').
 */
function encodeHeader(text) {
  let encoded = '';
  for (const byte of Buffer.from(String(text), 'utf8')) {
    const plain = byte >= 0x21 && byte <= 0x7e && byte !== 0x25;
    encoded += plain ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}

/** The request headers that pick a HERO (`name`), check its realm and carry a session. */
function metadata({ name, realm, session } = {}) {
  const md = new grpc.Metadata();
  if (name !== undefined) md.set('heros-name', encodeHeader(name));
  if (realm !== undefined) md.set('heros-realm', encodeHeader(realm));
  if (session !== undefined) md.set('heros-session', session);
  return md;
}

// google.rpc.Status is Google's, not the repository's: declared here rather than shipped as a file.
const STATUS = protobuf.Root.fromJSON({
  nested: {
    google: {
      nested: {
        rpc: {
          nested: {
            Status: {
              fields: {
                code: { type: 'int32', id: 1 },
                message: { type: 'string', id: 2 },
                details: { rule: 'repeated', type: 'google.protobuf.Any', id: 3 },
              },
            },
          },
        },
        protobuf: {
          nested: { Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } } },
        },
      },
    },
  },
}).lookupType('google.rpc.Status');

let errorDetailType;

/**
 * The HEROS error of a failed grpc-js call: `{code, message, kind, detail, context}` (`code` and
 * `message` of the status, `kind`, `detail` (ErrorDetail.message) and `context` of the
 * heros.v1.ErrorDetail), or null when the status carries no ErrorDetail (not a HEROS error).
 */
function errorDetail(error) {
  const [bin] = error.metadata ? error.metadata.get('grpc-status-details-bin') : [];
  if (!bin) return null;
  const status = STATUS.decode(bin);
  const any = status.details.find((detail) => detail.type_url === ERROR_DETAIL_URL);
  if (!any) return null;
  errorDetailType ??= loadSchema(['heros/v1/core.proto']).types.lookupType('heros.v1.ErrorDetail');
  const detail = errorDetailType.toObject(errorDetailType.decode(any.value), { defaults: true });
  return { code: status.code, message: status.message, kind: detail.kind, detail: detail.message, context: detail.context };
}

/** `client[method](request, md)` as a promise. */
function call(client, method, request, md = new grpc.Metadata(), options = {}) {
  return new Promise((resolve, reject) => {
    client[method](request, md, options, (error, reply) => (error ? reject(error) : resolve(reply)));
  });
}

// --- Discovery ---------------------------------------------------------------------------------

/**
 * Parses TXT strings as the protocol reads them: keys compared case-insensitively, the first one
 * wins. Each entry keeps the key as written, since metadata keys (`m.<key>`) keep their case.
 */
function parseTxt(strings) {
  const entries = new Map();
  for (const raw of strings) {
    const text = Buffer.from(raw).toString('utf8');
    const at = text.indexOf('=');
    const written = at < 0 ? text : text.slice(0, at);
    const key = written.toLowerCase();
    if (key && !entries.has(key)) entries.set(key, { written, value: at < 0 ? '' : text.slice(at + 1) });
  }
  return entries;
}

const list = (text) => (text || '').split(',').filter((item) => item !== '');

/** The HERO a TXT record describes, or null if it is not one for this instance label. */
function heroFromTxt(strings, label) {
  const entries = parseTxt(strings);
  const txt = { get: (key) => entries.get(key)?.value };
  const version = Number(txt.get('heros'));
  const name = txt.get('name');
  const realm = txt.get('realm');
  if (!Number.isInteger(version) || version < 1 || !name || !realm) return null;
  if (`${name}@${realm}`.toLowerCase() !== label.toLowerCase()) return null;
  const metadata = {};
  for (const [key, { written, value }] of entries) if (key.startsWith('m.')) metadata[written.slice(2)] = value;
  return {
    name,
    realm,
    interfaces: list(txt.get('if')),
    tags: list(txt.get('tags')),
    metadata,
    protocolVersion: version,
    secured: txt.get('secured') === '1',
  };
}

/**
 * Channel credentials for a grpc-js client: TLS with the credentials folder `dir` (default
 * $HEROS_CREDENTIALS; `ca.pem`, `cert.pem`, `key.pem`), or plaintext when there is none. Returns
 * `{credentials, options}`: `new Service(address, credentials, options)`.
 */
function channelCredentials(dir = process.env.HEROS_CREDENTIALS) {
  if (!dir) return { credentials: grpc.credentials.createInsecure(), options: {} };
  const read = (file) => fs.readFileSync(path.join(dir, file));
  return {
    credentials: grpc.credentials.createSsl(read('ca.pem'), read('key.pem'), read('cert.pem')),
    options: { 'grpc.ssl_target_name_override': SERVER_NAME, 'grpc.default_authority': SERVER_NAME },
  };
}

/** IPv4 first, then IPv6; loopback last within each; no link-local or unspecified addresses. */
function endpoints(addresses, port) {
  const rank = ({ v6, loopback }) => (v6 ? 2 : 0) + (loopback ? 1 : 0);
  return [...addresses]
    .map((address) => {
      const v6 = address.includes(':');
      const lower = address.toLowerCase();
      const unusable = v6 ? /^fe[89ab]/.test(lower) || lower === '::' : address === '0.0.0.0';
      const loopback = v6 ? lower === '::1' : address.startsWith('127.');
      return { address, v6, loopback, unusable };
    })
    .filter((a) => !a.unusable)
    .sort((a, b) => rank(a) - rank(b))
    .map((a) => (a.v6 ? `http://[${a.address}]:${port}` : `http://${a.address}:${port}`));
}

/**
 * Finds the HERO `name` of `realm` over mDNS and returns its record: `{name, realm, interfaces,
 * tags, metadata, protocolVersion, endpoints}`. Asks once a second (mDNS answers the same
 * question at most once a second) for the realm's subtype and for the instance's SRV and TXT
 * records and its host's addresses, until they are all known or `timeoutMs` has passed.
 */
function find(name, { realm = process.env.HEROS_REALM || DEFAULT_REALM, timeoutMs = 5000, mdnsOptions } = {}) {
  const multicastDns = require('multicast-dns');
  const label = `${name}@${realm}`;
  const instance = `${label}.${SERVICE_TYPE}`.toLowerCase();
  const mdns = multicastDns(mdnsOptions);
  let srv = null;
  let hero = null;
  const addresses = new Map(); // host name -> Set of addresses

  return new Promise((resolve, reject) => {
    let finished = false;
    const done = (error, value) => {
      if (finished) return; // a late response after the answer, or after the timeout
      finished = true;
      clearInterval(asking);
      clearTimeout(timer);
      mdns.destroy();
      if (error) reject(error);
      else resolve(value);
    };
    const check = () => {
      const known = srv && addresses.get(srv.target.toLowerCase());
      const usable = known ? endpoints(known, srv.port) : [];
      if (hero && usable.length > 0) done(null, { ...hero, endpoints: usable });
    };
    const ask = () => {
      const questions = [
        { name: `_${realm}._sub.${SERVICE_TYPE}`, type: 'PTR' },
        { name: `${label}.${SERVICE_TYPE}`, type: 'SRV' },
        { name: `${label}.${SERVICE_TYPE}`, type: 'TXT' },
      ];
      if (srv) questions.push({ name: srv.target, type: 'A' }, { name: srv.target, type: 'AAAA' });
      mdns.query({ questions });
    };

    mdns.on('response', (response) => {
      for (const record of [...response.answers, ...(response.additionals || [])]) {
        const owner = String(record.name).toLowerCase();
        // TTL 0 is a goodbye: the record is withdrawn.
        const gone = record.ttl === 0;
        if (record.type === 'SRV' && owner === instance) {
          srv = gone ? null : { target: record.data.target, port: record.data.port };
        } else if (record.type === 'TXT' && owner === instance) {
          hero = gone ? null : heroFromTxt([].concat(record.data), label);
        } else if (record.type === 'A' || record.type === 'AAAA') {
          const set = addresses.get(owner) || new Set();
          if (gone) set.delete(record.data);
          else set.add(record.data);
          addresses.set(owner, set);
        }
      }
      check();
    });
    mdns.on('error', (error) => done(error));

    const asking = setInterval(ask, 1000);
    const timer = setTimeout(() => {
      const error = new Error(`no HERO '${name}' found by mDNS in realm '${realm}' within ${timeoutMs} ms`);
      error.kind = 'DISCOVERY_TIMEOUT';
      done(error);
    }, timeoutMs);
    ask();
  });
}

/**
 * Finds the HERO `name` and dials its endpoints in order; resolves to a HERO handle:
 * `{name, realm, info, endpoint, address, metadata(extra), client(Service, options)}` where
 * `client(services.examples.v1.TestObject)` is a grpc-js client of the server the HERO is on and
 * `metadata()` the headers that route calls to it.
 */
async function connect(
  name,
  { realm = process.env.HEROS_REALM || DEFAULT_REALM, timeoutMs = 5000, mdnsOptions, credentials: dir } = {},
) {
  const deadline = Date.now() + timeoutMs;
  const info = await find(name, { realm, timeoutMs, mdnsOptions });
  const { credentials, options: tlsOptions } = channelCredentials(dir);
  for (const endpoint of info.endpoints) {
    const address = endpoint.replace(/^http:\/\//, '');
    const probe = new grpc.Client(address, credentials, tlsOptions);
    const reachable = await new Promise((resolve) => probe.waitForReady(deadline, (error) => resolve(!error)));
    probe.close();
    if (reachable) {
      return {
        name: info.name,
        realm: info.realm,
        info,
        endpoint,
        address,
        metadata: (extra = {}) => metadata({ name: info.name, realm: info.realm, ...extra }),
        client: (Service, options) => new Service(address, credentials, { ...tlsOptions, ...options }),
      };
    }
  }
  throw new Error(`HERO '${name}' was found at ${info.endpoints.join(', ')}, but none of them answered`);
}

module.exports = {
  SCHEMA_DIR,
  SERVER_NAME,
  channelCredentials,
  loadSchema,
  encodeHeader,
  metadata,
  errorDetail,
  call,
  find,
  connect,
  endpoints,
  heroFromTxt,
};
