// The HEROS monitor page. Plain JavaScript, no framework and no build step: the monitor serves
// this file from its binary. Everything live arrives over one EventSource (/api/stream), the
// roster always and the chosen HERO's attribute values and events; forms use fetch() on the
// JSON API. Text from HEROs is only ever set as textContent, never parsed as HTML.
'use strict';

const MAX_LOG = 300; // events kept in the log
const PALETTE = ['#2b6cb0', '#d64545', '#1f9d55', '#d69e2e', '#805ad5', '#dd6b20', '#319795', '#b83280'];

const state = {
  selected: null, // HERO name
  description: null, // GET /api/heros/NAME
  roster: [],
  source: null,
  retry: null,
  paused: false,
  counts: new Map(), // event member -> count
  values: new Map(), // attribute key -> its latest value, to draw rows again with it
  signature: null, // the chosen HERO's interfaces and endpoint, to notice a restart elsewhere
  series: new Map(), // plot series name -> { points: [[t, v]], color, on }
  windowMs: 300000,
  sharedScale: false, // one value axis for every line, or each line its own
};

const $ = (id) => document.getElementById(id);

/** An element with properties and children (strings become text nodes). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function setConnection(text, ok) {
  const node = $('connection');
  node.textContent = text;
  node.className = 'connection ' + (ok ? 'ok' : 'bad');
}

// ---- the live stream ------------------------------------------------------------------------

function connect() {
  clearTimeout(state.retry);
  if (state.source) state.source.close();
  const query = state.selected ? '?hero=' + encodeURIComponent(state.selected) : '';
  const source = new EventSource('/api/stream' + query);
  state.source = source;
  source.onopen = () => setConnection('live', true);
  source.onmessage = (message) => handle(JSON.parse(message.data));
  source.onerror = () => {
    if (source.readyState !== EventSource.CLOSED) {
      setConnection('reconnecting…', false); // EventSource tries again by itself
      return;
    }
    // Refused (e.g. the chosen HERO is unknown or unreachable): say why, and try again.
    setConnection('disconnected', false);
    if (state.selected) explainFailure(state.selected);
    state.retry = setTimeout(connect, 2000);
  };
}

async function explainFailure(name) {
  try {
    const response = await fetch('/api/heros/' + encodeURIComponent(name));
    if (!response.ok) showHeroError(await errorText(response));
  } catch (error) {
    showHeroError(String(error));
  }
}

function handle(item) {
  switch (item.type) {
    case 'roster': return showRoster(item);
    case 'attribute': return showAttribute(item);
    case 'event': return showEvent(item);
    case 'missed': return logProblem(item.member, `missed ${item.missed} event(s)`, item.at);
    case 'lagged': return logProblem('monitor', `this page fell behind and missed ${item.missed} item(s)`, Date.now());
    case 'feed_error': return showFeedError(item);
  }
}

// ---- the roster -----------------------------------------------------------------------------

function showRoster(item) {
  state.roster = item.heros;
  $('realm').textContent = `realm ${item.realm}`;
  $('hero-count').textContent = `(${item.heros.length})`;
  $('roster-empty').hidden = item.heros.length > 0;
  const body = $('roster').tBodies[0];
  body.replaceChildren(...item.heros.map((hero) => {
    const row = el('tr', { dataset: { hero: hero.name, health: hero.health } },
      el('td', {}, el('span', { className: 'health ' + hero.health, title: hero.health })),
      el('td', {}, hero.name),
      el('td', { className: 'small' }, hero.interfaces.join(', ')),
      el('td', { className: 'small' }, hero.tags.join(', ')),
      el('td', { className: 'small' }, hero.endpoint || ''));
    if (hero.name === state.selected) row.classList.add('selected');
    row.onclick = () => { location.hash = 'hero=' + encodeURIComponent(hero.name); };
    return row;
  }));
  showHeroState();
  describeAgainIfChanged();
}

/**
 * The chosen HERO back with other interfaces or at another address (restarted, upgraded): its
 * forms are built again from its new description. Counts, log and plot go on.
 */
async function describeAgainIfChanged() {
  const hero = state.roster.find((h) => h.name === state.selected);
  if (!hero) return;
  const signature = `${hero.interfaces.join(',')}|${hero.endpoint}`;
  const before = state.signature;
  state.signature = signature;
  if (before === null || before === signature || !state.description) return;
  const name = state.selected;
  const response = await fetch('/api/heros/' + encodeURIComponent(name));
  if (response.ok && state.selected === name) {
    state.description = await response.json();
    showDescription(state.description);
  }
}

/** The chosen HERO's badge: its health, or "gone" once it left the roster. */
function showHeroState() {
  if (!state.selected) return;
  const hero = state.roster.find((h) => h.name === state.selected);
  const badge = $('hero-state');
  const text = hero ? hero.health.replace('_', ' ') : 'gone';
  badge.textContent = text;
  badge.className = 'badge ' + (hero ? hero.health : 'gone');
  $('detail').dataset.state = hero ? hero.health : 'gone';
}

// ---- one HERO -------------------------------------------------------------------------------

function chosenFromHash() {
  const match = /^#hero=(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

async function choose(name) {
  state.selected = name;
  state.description = null;
  state.counts.clear();
  state.series.clear();
  state.values.clear();
  state.signature = null;
  $('event-log').replaceChildren();
  $('event-counts').replaceChildren();
  $('attributes').tBodies[0].replaceChildren();
  $('methods').replaceChildren();
  $('hero-error').hidden = true;
  $('placeholder').hidden = !!name;
  $('detail').hidden = !name;
  for (const row of $('roster').tBodies[0].rows) row.classList.toggle('selected', row.dataset.hero === name);
  draw();
  if (name) {
    $('hero-name').textContent = name;
    showHeroState();
    try {
      const response = await fetch('/api/heros/' + encodeURIComponent(name));
      if (!response.ok) {
        showHeroError(await errorText(response));
      } else if (state.selected === name) {
        state.description = await response.json();
        showDescription(state.description);
      }
    } catch (error) {
      showHeroError(String(error));
    }
  }
  connect();
}

function showHeroError(text) {
  const node = $('hero-error');
  node.textContent = text;
  node.hidden = false;
}

function showDescription(hero) {
  const metadata = Object.entries(hero.metadata || {}).map(([k, v]) => `${k}=${v}`);
  $('hero-meta').textContent = [
    `at ${hero.endpoint}`,
    hero.tags.length ? `tags: ${hero.tags.join(', ')}` : null,
    metadata.length ? `metadata: ${metadata.join(', ')}` : null,
    `interfaces: ${hero.interfaces.map((i) => i.name).join(', ')}`,
  ].filter(Boolean).join(' · ');

  const attributes = hero.interfaces.flatMap((i) => i.attributes.map((a) => ({ ...a, interface: i.name })));
  $('no-attributes').hidden = attributes.length > 0;
  $('attributes').tBodies[0].replaceChildren(...attributes.map(attributeRow));

  const methods = hero.interfaces.flatMap((i) => i.methods.map((m) => ({ ...m, interface: i.name })));
  $('no-methods').hidden = methods.length > 0;
  $('methods').replaceChildren(...methods.map(methodForm));

  for (const i of hero.interfaces) for (const e of i.events) if (!state.counts.has(e.name)) state.counts.set(e.name, 0);
  showCounts();
}

function attributeKey(item) {
  return `${item.interface}.${item.name ?? item.member}`;
}

function attributeRow(attribute) {
  const key = attributeKey(attribute);
  const known = state.values.has(key) ? JSON.stringify(state.values.get(key)) : '…';
  const value = el('td', { className: 'value', dataset: { attr: key } }, known);
  const cells = [
    el('td', { title: attribute.doc }, attribute.name),
    value,
    el('td', { className: 'small' }, attribute.type),
  ];
  if (attribute.readonly) {
    cells.push(el('td', { className: 'small' }, 'read-only'));
  } else {
    const form = el('form', { className: 'set', dataset: { set: key } });
    const input = inputFor(attribute.form || { name: 'value', input: 'json', example: '' }, true);
    const result = el('span', { className: 'small' });
    form.append(input.node, el('button', { type: 'submit' }, 'Set'), result);
    form.onsubmit = async (event) => {
      event.preventDefault();
      result.className = 'small';
      let value;
      try {
        value = input.read();
      } catch (error) {
        return showResult(result, { error: { message: error.message } });
      }
      const path = `/api/heros/${encodeURIComponent(state.selected)}/attributes/${encodeURIComponent(key)}`;
      showResult(result, await post(path, value === undefined ? '' : value));
    };
    cells.push(el('td', {}, form));
  }
  return el('tr', { dataset: { attribute: key } }, ...cells);
}

function showAttribute(item) {
  state.values.set(attributeKey(item), item.value);
  const cell = document.querySelector(`[data-attr="${CSS.escape(attributeKey(item))}"]`);
  if (cell) {
    cell.textContent = JSON.stringify(item.value);
    cell.title = 'since ' + new Date(item.at).toLocaleTimeString();
    cell.classList.remove('changed');
    void cell.offsetWidth; // restart the highlight
    cell.classList.add('changed');
  }
  const number = numeric(item.value);
  if (number !== null) addPoint(item.member, item.at, number);
}

function methodForm(method) {
  const key = `${method.interface}.${method.name}`;
  if (method.streaming) {
    return el('form', { className: 'member', dataset: { method: key } },
      el('div', {}, el('span', { className: 'name' }, method.name), el('span', { className: 'doc' }, method.doc || '')),
      el('p', { className: 'small' }, 'A streaming method: the monitor calls methods with one request and one reply.'));
  }
  const inputs = (method.form || []).map((field) => inputFor(field, false));
  const reply = el('pre', { className: 'reply', hidden: true });
  const raw = el('textarea', { spellcheck: false, placeholder: '{}' });
  const form = el('form', { className: 'member', dataset: { method: key } },
    el('div', {}, el('span', { className: 'name' }, method.name), el('span', { className: 'doc' }, method.doc || '')),
    inputs.length ? el('div', { className: 'fields' }, inputs.map((i) => i.node)) : null,
    el('button', { type: 'submit' }, 'Call'),
    el('details', {}, el('summary', { className: 'small' }, 'request as JSON'), raw,
      el('button', { type: 'button', className: 'raw-call', onclick: () => call(raw.value) }, 'Call with this JSON')),
    reply);
  // The JSON box starts as what the inputs would send, so it is a template, not a blank.
  const sync = () => {
    try {
      raw.value = JSON.stringify(request());
    } catch (_) { /* keep what was typed */ }
  };
  const request = () => {
    const message = {};
    for (const input of inputs) {
      const value = input.read();
      if (value !== undefined) message[input.name] = value;
    }
    return message;
  };
  const call = async (body) => {
    const path = `/api/heros/${encodeURIComponent(state.selected)}/methods/${encodeURIComponent(key)}`;
    showResult(reply, await post(path, body));
  };
  form.onsubmit = async (event) => {
    event.preventDefault();
    let body;
    try {
      body = JSON.stringify(request());
    } catch (error) {
      return showResult(reply, { error: { message: error.message } });
    }
    sync();
    await call(body);
  };
  sync();
  return form;
}

/** An input for one field, typed by the form description the monitor sends (forms.rs). */
function inputFor(field, bare) {
  let node;
  let read;
  const label = (control) => bare ? control : el('label', { title: field.type }, `${field.name} (${field.type})`, control);
  switch (field.input) {
    case 'integer': {
      const input = el('input', { type: 'text', inputMode: 'numeric', placeholder: '0', name: field.name });
      node = label(input);
      read = () => integer(field, input.value.trim());
      break;
    }
    case 'number': {
      const input = el('input', { type: 'number', step: 'any', placeholder: '0', name: field.name });
      node = label(input);
      read = () => {
        if (input.value.trim() === '') return bare ? 0 : undefined;
        const number = Number(input.value);
        if (!Number.isFinite(number)) throw new Error(`${field.name}: "${input.value}" is not a number`);
        return number;
      };
      break;
    }
    case 'bool': {
      const input = el('input', { type: 'checkbox', name: field.name });
      node = label(input);
      read = () => input.checked;
      break;
    }
    case 'enum': {
      const input = el('select', { name: field.name }, field.values.map((v) => el('option', { value: v }, v)));
      node = label(input);
      read = () => input.value;
      break;
    }
    case 'string':
    case 'bytes': {
      const input = el('input', { type: 'text', name: field.name, placeholder: field.input === 'bytes' ? 'base64' : '' });
      node = label(input);
      read = () => (input.value === '' && !bare ? undefined : input.value);
      break;
    }
    default: { // messages, lists, maps: JSON, checked here and again by the monitor
      const input = el('textarea', { name: field.name, spellcheck: false, value: field.example || '' });
      node = label(input);
      read = () => {
        if (input.value.trim() === '') return undefined;
        try {
          return JSON.parse(input.value);
        } catch (error) {
          throw new Error(`${field.name}: bad JSON: ${error.message}`);
        }
      };
    }
  }
  return { name: field.name, node, read };
}

/** An integer field's text as JSON: checked against its bounds, a string past 2^53. */
function integer(field, text) {
  if (text === '') return undefined;
  if (!/^-?\d+$/.test(text)) throw new Error(`${field.name}: "${text}" is not an integer`);
  const value = BigInt(text);
  if ((field.min !== undefined && value < BigInt(field.min)) || (field.max !== undefined && value > BigInt(field.max))) {
    throw new Error(`${field.name}: ${text} is outside ${field.type} (${field.min} … ${field.max})`);
  }
  return Number.isSafeInteger(Number(text)) ? Number(text) : text;
}

async function post(path, body) {
  const started = performance.now();
  try {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const answer = await response.json();
    answer.ms = performance.now() - started;
    return answer;
  } catch (error) {
    return { error: { message: `the monitor did not answer: ${error.message}` } };
  }
}

async function errorText(response) {
  try {
    const answer = await response.json();
    return errorLine(answer.error);
  } catch (_) {
    return `${response.status} ${response.statusText}`;
  }
}

/** The monitor's message: for a HERO's refusal it starts with the gRPC code and the kind. */
function errorLine(error) {
  return error.message;
}

function showResult(node, answer) {
  node.hidden = false;
  if (answer.error) {
    node.textContent = errorLine(answer.error);
    node.classList.add('error');
  } else {
    const shown = 'reply' in answer ? answer.reply : answer.value;
    node.textContent = JSON.stringify(shown, null, node.tagName === 'PRE' ? 2 : 0) +
      (answer.ms !== undefined ? `  (${answer.ms.toFixed(1)} ms)` : '');
    node.classList.remove('error');
  }
  node.dataset.ok = answer.error ? 'false' : 'true';
}

// ---- events ---------------------------------------------------------------------------------

function showEvent(item) {
  state.counts.set(item.member, (state.counts.get(item.member) || 0) + 1);
  showCounts();
  if (item.missed) logProblem(item.member, `missed ${item.missed} event(s) before this one`, item.at);
  log(item.member, JSON.stringify(item.event), item.at, false);
  plotEvent(item);
}

function showCounts() {
  $('event-counts').replaceChildren(...[...state.counts].map(([name, count]) =>
    el('span', { dataset: { count: name } }, `${name}: ${count}`)));
}

function logProblem(member, text, at) {
  log(member, text, at, true);
}

function showFeedError(item) {
  logProblem(item.member, item.message, item.at);
  const cell = document.querySelector(`[data-attr="${CSS.escape(attributeKey(item))}"]`);
  if (cell) cell.title = item.message;
}

function log(member, text, at, problem) {
  if (state.paused) return;
  const list = $('event-log');
  const time = new Date(at).toLocaleTimeString();
  list.prepend(el('li', { className: problem ? 'problem' : '', dataset: { event: member } },
    el('span', { className: 'time' }, time), el('span', { className: 'member' }, member), text));
  while (list.children.length > MAX_LOG) list.lastChild.remove();
}

// ---- the plot -------------------------------------------------------------------------------

function numeric(value) {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return null;
}

/** Numbers an event carries: a datasource's values by id, else its numeric top-level fields. */
function plotEvent(item) {
  const event = item.event || {};
  if (Array.isArray(event.values) && event.values.every((v) => v && 'id' in v && 'value' in v)) {
    for (const v of event.values) {
      const number = numeric(v.value);
      if (number !== null) addPoint(`${item.member}.${v.id}`, item.at, number);
    }
    return;
  }
  for (const [field, value] of Object.entries(event)) {
    const number = numeric(value);
    // Measurements are mostly floating point; integer fields (sequence numbers, counters) start
    // hidden, a click on the legend shows them.
    if (number !== null && typeof value === 'number') {
      addPoint(`${item.member}.${field}`, item.at, number, !/int|fixed/.test(eventFieldType(item, field)));
    }
  }
}

/** The type `describe` gives for a field of an event's message ('' if unknown). */
function eventFieldType(item, field) {
  const iface = state.description?.interfaces.find((i) => i.name === item.interface);
  const event = iface?.events.find((e) => e.name === item.member);
  return event?.message.fields.find((f) => f.name === field)?.type || '';
}

function addPoint(name, at, value, on = true) {
  let series = state.series.get(name);
  if (!series) {
    series = { points: [], color: PALETTE[state.series.size % PALETTE.length], on };
    state.series.set(name, series);
    showLegend();
  }
  series.points.push([at, value]);
  series.last = value;
  scheduleDraw();
}

function showLegend() {
  $('no-plot').hidden = state.series.size > 0;
  $('legend').replaceChildren(...[...state.series].map(([name, series]) => {
    const entry = el('span', { className: series.on ? '' : 'off', title: 'show or hide', dataset: { series: name } },
      el('i', { style: `background:${series.color}` }), name, el('b', { className: 'range' }));
    entry.onclick = () => { series.on = !series.on; showLegend(); draw(); };
    return entry;
  }));
}

let drawing = false;
function scheduleDraw() {
  if (drawing) return;
  drawing = true;
  requestAnimationFrame(() => { drawing = false; draw(); });
}

/**
 * Every visible series on one time axis (the last windowMs). Values: one axis for all, or (the
 * default) each line scaled to its own range, so that a temperature near 21 and a counter at
 * 10000 both show their shape; the legend then gives each line's range.
 */
function draw() {
  const canvas = $('plot');
  const context = canvas.getContext('2d');
  const { width, height } = canvas;
  const pad = { left: 52, right: 8, top: 8, bottom: 20 };
  context.clearRect(0, 0, width, height);
  const now = Date.now();
  // Until there is a window's worth of data, the axis spans what there is (at least 10 s), so
  // the first seconds are not squeezed against the right edge.
  let earliest = now;
  for (const series of state.series.values()) if (series.points.length) earliest = Math.min(earliest, series.points[0][0]);
  const span = Math.min(state.windowMs, Math.max(now - earliest, 10000));
  const from = now - span;
  const visible = [];
  for (const series of state.series.values()) {
    // Keep one point before the window, so a line enters from the left edge.
    while (series.points.length > 1 && series.points[1][0] < now - state.windowMs) series.points.shift();
    series.min = Math.min(...series.points.map(([, v]) => v));
    series.max = Math.max(...series.points.map(([, v]) => v));
    if (series.on && series.points.length) visible.push(series);
  }
  context.strokeStyle = '#dde1e6';
  context.fillStyle = '#68737d';
  context.font = '11px system-ui, sans-serif';
  context.strokeRect(pad.left, pad.top, width - pad.left - pad.right, height - pad.top - pad.bottom);
  context.fillText(span >= 60000 ? `-${Math.round(span / 60000)} min` : `-${Math.round(span / 1000)} s`, pad.left, height - 5);
  context.fillText('now', width - pad.right - 22, height - 5);
  showRanges();
  if (!visible.length) return;
  const shared = state.sharedScale || visible.length === 1;
  const range = (series) => {
    let [min, max] = shared
      ? [Math.min(...visible.map((s) => s.min)), Math.max(...visible.map((s) => s.max))]
      : [series.min, series.max];
    if (min === max) { min -= 1; max += 1; }
    return [min, max];
  };
  if (shared) {
    const [min, max] = range(visible[0]);
    context.fillText(format(max), 4, pad.top + 10);
    context.fillText(format(min), 4, height - pad.bottom);
  } else {
    context.fillText('own', 4, pad.top + 10);
    context.fillText('scales', 4, pad.top + 23);
  }
  const x = (t) => pad.left + ((t - from) / span) * (width - pad.left - pad.right);
  for (const series of visible) {
    const [min, max] = range(series);
    const y = (v) => pad.top + 2 + (1 - (v - min) / (max - min)) * (height - pad.top - pad.bottom - 4);
    context.strokeStyle = series.color;
    context.lineWidth = 1.5;
    context.beginPath();
    // A value holds until the next one: steps, not slopes (attributes change at instants).
    series.points.forEach(([t, v], i) => {
      const px = Math.max(x(t), pad.left);
      if (i === 0) context.moveTo(px, y(v));
      else { context.lineTo(px, y(series.points[i - 1][1])); context.lineTo(px, y(v)); }
    });
    context.lineTo(x(now), y(series.points[series.points.length - 1][1]));
    context.stroke();
  }
}

/** Each legend entry's latest value and range, as text beside its name. */
function showRanges() {
  for (const entry of $('legend').children) {
    const series = state.series.get(entry.dataset.series);
    if (!series || !series.points.length) continue;
    const range = series.min === series.max ? '' : ` (${format(series.min)} … ${format(series.max)})`;
    entry.querySelector('b').textContent = ` ${format(series.last)}${range}`;
  }
}

function format(v) {
  return Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(2) : String(+v.toFixed(3));
}

// ---- start ----------------------------------------------------------------------------------

$('pause').onclick = () => {
  state.paused = !state.paused;
  $('pause').textContent = state.paused ? 'Resume' : 'Pause';
  $('pause').setAttribute('aria-pressed', String(state.paused));
};
$('clear').onclick = () => $('event-log').replaceChildren();
$('plot-window').onchange = (event) => { state.windowMs = Number(event.target.value); draw(); };
$('plot-scale').onchange = (event) => { state.sharedScale = event.target.value === 'shared'; draw(); };
window.addEventListener('hashchange', () => choose(chosenFromHash()));
setInterval(draw, 1000); // the time axis moves even when no value does
choose(chosenFromHash());
