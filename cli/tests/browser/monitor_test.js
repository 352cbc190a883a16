// Drives the `heros monitor` page in Debian's headless Chromium, as a person would: waits for a
// HERO to appear, chooses it, sets an attribute from its form and watches the value change,
// calls methods and reads replies and errors, sees events arrive (and the pause button hold
// them), opens a second tab, takes a screenshot, kills the HERO's process and sees it go.
//
//   node monitor_test.js --url http://127.0.0.1:PORT/ --hero NAME --pid PID
//                        --profile DIR --screenshot FILE --restart EXECUTABLE
//
// EXECUTABLE is the test binary: run as `EXECUTABLE hero_process --exact` with
// HEROS_MONITOR_TEST_HERO=NAME it serves the HERO again (a new process, a new port).
//
// Run by cli/tests/monitor_browser.rs, which starts the HERO and the monitor in a private
// network namespace. Prints `MEASURE name=value` lines; exits non-zero on the first failure.
'use strict';

const { spawn } = require('node:child_process');
const { chromium } = require('playwright-core');

const options = {};
for (let i = 2; i < process.argv.length; i += 2) options[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const key of ['url', 'hero', 'pid', 'profile', 'screenshot', 'restart']) {
  if (!options[key]) throw new Error(`missing --${key}`);
}

const TESTME = 'examples.v1.TestObject.testme';
const READ_TEMP = 'examples.v1.TestObject.ReadTemp';
const HEAT = 'examples.v1.Furnace.Heat';

function step(text) {
  console.log(`step: ${text}`);
}

function measure(name, value) {
  console.log(`MEASURE ${name}=${typeof value === 'number' ? value.toFixed(1) : value}`);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main() {
  const context = await chromium.launchPersistentContext(options.profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    // Nothing leaves the machine: no update checks, no sync, no QUIC probing.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-dev-shm-usage', // a small /dev/shm (containers) would crash the renderer
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 1050 },
  });
  const problems = [];
  const watch = (page) => {
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      // The browser logs the answers the error steps ask for (400, 422, and 404 for the HERO
      // 'nobody'); anything else counts.
      const text = message.text();
      const expected = /Failed to load resource: .* status of (400|422) /.test(text) ||
        (/status of 404 /.test(text) && /nobody/.test(message.location().url || ''));
      if (message.type() === 'error' && !expected) problems.push(`console error: ${message.text()}`);
    });
  };
  try {
    const page = context.pages()[0] || await context.newPage();
    watch(page);
    const row = `#roster tr[data-hero="${options.hero}"]`;

    step('open the page and wait for the HERO to appear');
    const opened = Date.now();
    await page.goto(options.url, { waitUntil: 'load' });
    const loaded = Date.now() - opened;
    await page.waitForSelector(row, { timeout: 20000 });
    const heroShown = Date.now() - opened;
    const navigation = await page.evaluate(() => performance.getEntriesByType('navigation')[0].toJSON());
    measure('page_load_ms', navigation.loadEventEnd);
    measure('page_load_wall_ms', loaded);
    measure('hero_shown_after_open_ms', heroShown);
    await page.waitForSelector(`${row}[data-health="serving"]`, { timeout: 10000 });

    step('choose the HERO: its attributes, methods and events appear');
    await page.click(row);
    await page.waitForSelector(`#detail:not([hidden])`);
    await page.waitForFunction((key) => {
      const cell = document.querySelector(`[data-attr="${key}"]`);
      return cell && cell.textContent === '5';
    }, TESTME, { timeout: 10000 });
    const firmware = await page.textContent('[data-attr="examples.v1.TestObject.firmware"]');
    if (firmware !== '"1.0.0"') throw new Error(`firmware shows ${firmware}`);
    if (await page.$('form[data-set="examples.v1.TestObject.firmware"]')) throw new Error('read-only firmware has a form');

    step('set the attribute from its form and see the value change');
    await page.fill(`form[data-set="${TESTME}"] input`, '17');
    await page.click(`form[data-set="${TESTME}"] button`);
    await page.waitForFunction((key) => document.querySelector(`[data-attr="${key}"]`).textContent === '17', TESTME,
      { timeout: 10000 });

    step('time 20 attribute changes, from the click on Set to the new value on the page');
    const latencies = [];
    for (let value = 100; value < 120; value++) {
      latencies.push(await page.evaluate(async ({ key, value }) => {
        const form = document.querySelector(`form[data-set="${key}"]`);
        const cell = document.querySelector(`[data-attr="${key}"]`);
        form.querySelector('input').value = String(value);
        const started = performance.now();
        const shown = new Promise((resolve) => {
          const observer = new MutationObserver(() => {
            if (cell.textContent === String(value)) {
              observer.disconnect();
              resolve(performance.now() - started);
            }
          });
          observer.observe(cell, { childList: true, characterData: true, subtree: true });
        });
        form.requestSubmit();
        const late = new Promise((_, reject) => setTimeout(() => reject(new Error(`${value} not shown in 10 s`)), 10000));
        return Promise.race([shown, late]);
      }, { key: TESTME, value }));
    }
    measure('attribute_change_shown_median_ms', median(latencies));
    measure('attribute_change_shown_max_ms', Math.max(...latencies));

    step('call a method and read its reply');
    const readTemp = `form[data-method="${READ_TEMP}"]`;
    await page.fill(`${readTemp} input[name="min"]`, '2');
    await page.fill(`${readTemp} input[name="max"]`, '8');
    await page.click(`${readTemp} > button[type="submit"]`);
    await page.waitForFunction((form) => {
      const reply = document.querySelector(`${form} pre.reply`);
      return reply && reply.dataset.ok === 'true' && /"value": 5/.test(reply.textContent);
    }, readTemp, { timeout: 10000 });

    step('errors: the HERO\'s own, a bad integer, bad JSON');
    await page.fill(`${readTemp} input[name="min"]`, '9');
    await page.fill(`${readTemp} input[name="max"]`, '1');
    await page.click(`${readTemp} > button[type="submit"]`);
    await expectError(page, readTemp, /UNKNOWN \(BadRange\): min 9 is above max 1/);
    await page.fill(`${readTemp} input[name="min"]`, 'abc');
    await page.click(`${readTemp} > button[type="submit"]`);
    await expectError(page, readTemp, /min: "abc" is not an integer/);
    await page.click(`${readTemp} details summary`);
    await page.fill(`${readTemp} details textarea`, '{"min": }');
    await page.click(`${readTemp} .raw-call`);
    await expectError(page, readTemp, /bad JSON \(expected value at line 1 column 9\)/);
    await page.fill(`${readTemp} input[name="min"]`, '0');

    step('an event arrives in the log, counted');
    const heat = `form[data-method="${HEAT}"]`;
    await page.fill(`${heat} input[name="celsius"]`, '88.5');
    await page.click(`${heat} > button[type="submit"]`);
    await page.waitForSelector('#event-log li[data-event="Readings"]:has-text("88.5")', { timeout: 10000 });
    await page.waitForSelector('[data-count="Readings"]:has-text("Readings: 1")');

    step('pause holds the log, the count goes on');
    await page.click('#pause');
    await page.fill(`${heat} input[name="celsius"]`, '91');
    await page.click(`${heat} > button[type="submit"]`);
    await page.waitForSelector('[data-count="Readings"]:has-text("Readings: 2")', { timeout: 10000 });
    const logged = () => page.$$eval('#event-log li[data-event="Readings"]', (items) => items.length);
    if (await logged() !== 1) throw new Error('a paused log took an event');
    await page.click('#pause');
    for (const [i, celsius] of ['84', '86.5', '90'].entries()) {
      await page.fill(`${heat} input[name="celsius"]`, celsius);
      await page.click(`${heat} > button[type="submit"]`);
      await page.waitForFunction((n) => document.querySelectorAll('#event-log li[data-event="Readings"]').length === n,
        2 + i, { timeout: 10000 });
    }

    step('numbers are plotted: the attribute and the event field');
    await page.waitForSelector('[data-series="testme"]');
    await page.waitForSelector('[data-series="Readings.celsius"]');
    await page.waitForSelector('[data-series="Readings.sequence"].off'); // an integer field starts hidden
    await page.waitForSelector('[data-series="ObservableData.temperature"]'); // a datasource's value, by id

    step('a second tab shares the subscriptions');
    const second = await context.newPage();
    watch(second);
    await second.goto(`${options.url}#hero=${encodeURIComponent(options.hero)}`);
    await second.waitForFunction((key) => {
      const cell = document.querySelector(`[data-attr="${key}"]`);
      return cell && cell.textContent === '119';
    }, TESTME, { timeout: 10000 });
    const stats = await (await page.request.get(new URL('/api/stats', options.url).href)).json();
    // testme, firmware, Overheated, Readings, ObservableData: one feed and one subscription
    // each, two pages.
    if (stats.feeds_live !== 5 || stats.upstream_opened !== 5 || stats.pages_live !== 2) {
      throw new Error(`two tabs should share 5 feeds: ${JSON.stringify(stats)}`);
    }

    step('an unknown HERO in the address: the page says so');
    await second.goto(`${options.url}#hero=nobody`);
    await second.waitForSelector('#hero-error:has-text("no HERO \'nobody\' in realm")', { timeout: 10000 });
    await second.close();

    step('screenshot with the HERO chosen');
    await page.click(`${readTemp} details summary`); // folded again, as a person would leave it
    await page.waitForTimeout(2500); // a few more datasource readings: a wave on the plot
    await page.fill(`${readTemp} input[name="min"]`, '2');
    await page.fill(`${readTemp} input[name="max"]`, '8');
    await page.click(`${readTemp} > button[type="submit"]`);
    await page.waitForSelector(`${readTemp} pre.reply[data-ok="true"]`);
    await page.screenshot({ path: options.screenshot, fullPage: true });

    step('kill the HERO\'s process: it turns unreachable, then leaves the list');
    const killed = Date.now();
    process.kill(Number(options.pid), 'SIGKILL');
    await page.waitForSelector(`${row}[data-health="unreachable"]`, { timeout: 10000 });
    measure('killed_hero_unreachable_ms', Date.now() - killed);
    await page.waitForSelector(row, { state: 'detached', timeout: 40000 });
    measure('killed_hero_gone_ms', Date.now() - killed);
    await page.waitForSelector('#hero-state:has-text("gone")');
    await page.waitForSelector('#event-log li.problem', { timeout: 10000 });

    step('the HERO starts again elsewhere: the page follows it without a reload');
    const again = spawn(options.restart, ['hero_process', '--exact', '--nocapture'], {
      env: { ...process.env, HEROS_MONITOR_TEST_HERO: options.hero },
      stdio: 'ignore',
    });
    try {
      await page.waitForSelector(`${row}[data-health="serving"]`, { timeout: 20000 });
      await page.waitForSelector('#hero-state:has-text("serving")');
      // A new object: its counter starts at 5 again, through the feed that subscribed again.
      await page.waitForFunction((key) => document.querySelector(`[data-attr="${key}"]`)?.textContent === '5', TESTME,
        { timeout: 15000 });
      await page.fill(`${heat} input[name="celsius"]`, '77');
      await page.click(`${heat} > button[type="submit"]`);
      await page.waitForSelector('[data-count="Readings"]:has-text("Readings: 6")', { timeout: 10000 });
    } finally {
      again.kill('SIGKILL');
    }

    if (problems.length) throw new Error(problems.join('\n'));
    console.log('monitor_test: all steps passed');
  } finally {
    await context.close();
  }
}

async function expectError(page, form, pattern) {
  await page.waitForFunction(({ form, pattern }) => {
    const reply = document.querySelector(`${form} pre.reply`);
    return reply && reply.dataset.ok === 'false' && new RegExp(pattern).test(reply.textContent);
  }, { form, pattern: pattern.source }, { timeout: 10000 });
}

main().catch((error) => {
  console.error(`monitor_test: FAILED: ${error.stack || error}`);
  process.exit(1);
});
