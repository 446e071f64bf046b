// End-to-end tests in real headless Chromium against the real API (`jonbu-ohlcv up`, mock data).
//
//   npm run test:e2e                          starts the stack itself (needs .venv and dist/)
//   JONBU_E2E_URL=http://127.0.0.1:8000 npm run test:e2e    uses a server already running
//
// Screenshots, the server log and e2e-metrics.json go to frontend/test-results/.
import AxeBuilder from '@axe-core/playwright';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const frontend = join(here, '..');
const repoRoot = join(frontend, '..');
const out = join(frontend, 'test-results');
mkdirSync(out, { recursive: true });

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'];
const PAGES = [
  { path: '/', name: 'dashboard', ready: '[data-testid="price-chart"][data-bars]:not([data-bars="0"])' },
  { path: '/history', name: 'history', ready: '[data-testid="history-table"], [data-testid="history-count"]' },
  { path: '/symbols', name: 'symbols', ready: '[data-testid="symbols-table"]' },
  { path: '/monitoring', name: 'monitoring', ready: '[data-testid="health-components"]' },
  { path: '/search?q=bullish%20breakout%20on%20high%20volume', name: 'search', ready: '[data-testid="search-results"], [role="alert"], main :text("No narratives match")' },
  { path: '/console', name: 'console', ready: '[data-testid="command-palette"]' },
  { path: '/settings', name: 'settings', ready: 'h1:text("Settings")' },
];

const results = [];
const metrics = { started_at: new Date().toISOString() };
const notes = [];
const t0 = Date.now();

function log(...a) {
  console.log(`[e2e ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`, ...a);
}

async function check(name, fn) {
  const start = Date.now();
  try {
    const detail = await fn();
    results.push({ name, ok: true, ms: Date.now() - start, detail: detail ?? null });
    log(`PASS ${name}${detail ? ` — ${detail}` : ''}`);
  } catch (err) {
    results.push({ name, ok: false, ms: Date.now() - start, error: String(err?.stack ?? err) });
    log(`FAIL ${name}: ${err?.message ?? err}`);
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

async function newPage(browser, base, { width = 1440, height = 900, scheme = 'dark' } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme: scheme, baseURL: base });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return { context, page, errors };
}

const chartState = (page) =>
  page.$eval('[data-testid="price-chart"]', (el) => ({
    bars: Number(el.dataset.bars ?? 0),
    time: el.dataset.lastTime ?? '',
    close: el.dataset.lastClose ?? '',
    volume: el.dataset.lastVolume ?? '',
    key: el.dataset.key ?? '',
    symbol: el.dataset.symbol ?? '',
    timeframe: el.dataset.timeframe ?? '',
  }));

async function axe(page, { contrastOnly = false } = {}) {
  const builder = new AxeBuilder({ page });
  const res = await (contrastOnly ? builder.withRules(['color-contrast']) : builder.withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'])).analyze();
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  return { bad, all: res.violations };
}

let server = null;
let ragReady = null;

/**
 * `jonbu-ohlcv up` exports narratives of its backfilled sessions in the background
 * (`--rag-sessions`); wait until search answers with results. Resolves to how long it took.
 */
async function prepareRag(srv, base) {
  const t = Date.now();
  while (Date.now() - t < 300_000) {
    const res = await fetch(`${base}/api/v1/rag/search?q=market&k=1`).catch(() => null);
    if (res && res.ok && ((await res.json()).results ?? []).length > 0) {
      return { ms: Date.now() - t, command: 'jonbu-ohlcv up (background RAG export)' };
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
  throw new Error('search had no results 300 s after `jonbu-ohlcv up` started: its background RAG export did not finish (see test-results/server.log)');
}

async function main() {
  let base = process.env.JONBU_E2E_URL;
  if (!existsSync(join(frontend, 'dist', 'index.html'))) throw new Error('frontend/dist is missing: run `npm run build` first');
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found (apt-get install chromium)`);
  if (!base) {
    log('starting jonbu-ohlcv up --no-dagster (mock data, temporary data dir)…');
    server = await startServer({ repoRoot, logFile: join(out, 'server.log') });
    base = server.url;
    metrics.server_startup_ms = server.startupMs;
    log(`server up at ${base} in ${(server.startupMs / 1000).toFixed(1)}s (pid ${server.pid})`);
    ragReady = prepareRag(server, base);
    ragReady.catch(() => undefined); // awaited (and reported) by the search check
  } else {
    log(`using the running server at ${base}`);
  }
  let browser = null;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    await runChecks(browser, base);
  } finally {
    await browser?.close().catch(() => undefined);
    if (server) {
      const exit = await server.stop();
      log(`server stopped (${JSON.stringify(exit)})`);
    }
  }
}

async function runChecks(browser, base) {
  await check('the committed OpenAPI document matches the running API', async () => {
    const live = await fetch(`${base}/openapi.json`).then((r) => r.json());
    const committed = JSON.parse(readFileSync(join(frontend, 'openapi.json'), 'utf8'));
    const canon = (v) => JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));
    const diffs = [];
    for (const part of ['paths', 'components']) {
      const a = live[part] ?? {};
      const b = committed[part] ?? {};
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
        if (part === 'components') {
          for (const name of new Set([...Object.keys(a[key] ?? {}), ...Object.keys(b[key] ?? {})])) {
            if (canon(a[key]?.[name]) !== canon(b[key]?.[name])) diffs.push(`${part}.${key}.${name}`);
          }
        } else if (canon(a[key]) !== canon(b[key])) diffs.push(`${part} ${key}`);
      }
    }
    assert(diffs.length === 0, `frontend/openapi.json is stale (${diffs.slice(0, 8).join(', ')}${diffs.length > 8 ? ', …' : ''}): run \`npm run gen:openapi\` in frontend/ and rebuild`);
    return `${Object.keys(live.paths).length} paths identical`;
  });

  const { context, page, errors } = await newPage(browser, base);
  // Cumulative layout shift, measured by the browser itself.
  await context.addInitScript(() => {
    window.__cls = 0;
    window.__shifts = [];
    const describe = (n) => (n && n.nodeType === 1 ? `${n.tagName.toLowerCase()}${n.id ? `#${n.id}` : ''}.${String(n.className).split(' ').slice(0, 3).join('.')}` : String(n?.nodeName));
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.hadRecentInput) continue;
        window.__cls += e.value;
        window.__shifts.push({ t: Math.round(e.startTime), value: Number(e.value.toFixed(4)), nodes: (e.sources ?? []).map((x) => describe(x.node)) });
      }
    }).observe({ type: 'layout-shift', buffered: true });
  });

  await check('dashboard loads and renders candles', async () => {
    const navStart = Date.now();
    await page.goto('/');
    await page.waitForSelector(PAGES[0].ready, { timeout: 30_000 });
    const firstCandle = await page.evaluate(() => performance.getEntriesByName('first-candle')[0]?.startTime ?? null);
    assert(firstCandle !== null, 'no first-candle performance mark');
    metrics.first_candle_ms = Math.round(firstCandle);
    metrics.first_candle_wall_ms = Date.now() - navStart;
    const s = await chartState(page);
    assert(s.bars > 0, 'no bars');
    const watch = await page.$$('[data-testid^="watch-price-"]');
    assert(watch.length > 0, 'the watchlist is empty');
    await page.screenshot({ path: join(out, 'dashboard-dark.png') });
    return `${s.bars} bars of ${s.symbol} ${s.timeframe}; first candle ${metrics.first_candle_ms} ms after navigation start`;
  });

  await check('a live candle update changes the chart', async () => {
    const before = await chartState(page);
    const start = Date.now();
    const handle = await page.waitForFunction(
      (b) => {
        const el = document.querySelector('[data-testid="price-chart"]');
        if (!el) return false;
        const d = el.dataset;
        return d.lastTime !== b.time || d.lastClose !== b.close || d.lastVolume !== b.volume ? { time: d.lastTime, close: d.lastClose, volume: d.lastVolume } : false;
      },
      before,
      { timeout: 20_000, polling: 100 },
    );
    const after = await handle.jsonValue();
    metrics.live_update_ms = Date.now() - start;
    // Let live data flow a little longer, then check nothing moved on the page because of it.
    const clsBefore = await page.evaluate(() => window.__cls);
    const tBefore = await page.evaluate(() => performance.now());
    await page.waitForTimeout(3000);
    const clsLive = (await page.evaluate(() => window.__cls)) - clsBefore;
    const shifts = await page.evaluate((t) => window.__shifts.filter((x) => x.t >= t), tBefore);
    metrics.layout_shifts = await page.evaluate(() => window.__shifts);
    metrics.cls_total = Number((await page.evaluate(() => window.__cls)).toFixed(4));
    metrics.cls_during_live_updates = Number(clsLive.toFixed(4));
    assert(clsLive < 0.01, `layout shifted while live data arrived (CLS ${clsLive.toFixed(4)}: ${JSON.stringify(shifts)})`);
    const status = await page.$eval('[data-testid="connection"]', (el) => el.dataset.status);
    assert(status === 'open', `connection indicator says ${status}`);
    return `changed in ${metrics.live_update_ms} ms (close ${before.close} → ${after.close}, volume ${before.volume} → ${after.volume})`;
  });

  await check('switching symbol and timeframe', async () => {
    const options = await page.$$eval('[data-testid="symbol-select"] option', (o) => o.map((x) => x.value));
    const current = (await chartState(page)).symbol;
    const other = options.find((o) => o && o !== current);
    assert(other, `only one symbol to choose from (${options})`);
    await page.selectOption('[data-testid="symbol-select"]', other);
    // data-key names the data actually drawn (it changes only once the new bars are loaded).
    await page.waitForFunction((sym) => {
      const el = document.querySelector('[data-testid="price-chart"]');
      return el?.dataset.key === `${sym}|1m` && Number(el.dataset.bars) > 0;
    }, other, { timeout: 20_000 });
    await page.click('[data-testid="timeframe-select"] button:text-is("5m")');
    await page.waitForFunction((sym) => {
      const el = document.querySelector('[data-testid="price-chart"]');
      return el?.dataset.key === `${sym}|5m` && Number(el.dataset.bars) > 0;
    }, other, { timeout: 20_000 });
    const s = await chartState(page);
    // 5m bars are 300 s apart inside a session.
    const times = await page.$eval('[data-testid="price-chart"]', (el) => Number(el.dataset.lastTime));
    assert(times % 300 === 0, `the last bar (${times}) is not on a 5-minute boundary`);
    assert(new URL(page.url()).searchParams.get('tf') === '5m', 'the URL does not carry the timeframe');
    return `${s.symbol} 5m: ${s.bars} bars`;
  });

  await check('history: table, gaps and CSV/Parquet downloads', async () => {
    await page.goto('/history?symbol=AAPL&tf=1m');
    await page.waitForSelector('[data-testid="history-table"]', { timeout: 20_000 });
    const count = Number((await page.textContent('[data-testid="history-count"]')).replace(/[^0-9]/g, ''));
    assert(count > 0, 'no bars counted');
    const rows = await page.$$eval('[data-testid="history-table"] [role="row"]', (r) => r.length);
    assert(rows > 1 && rows < 200, `the table is not virtualised (${rows} rows in the DOM for ${count} bars)`);
    const gaps = await page.textContent('[data-testid="gap-count"]');
    const csvHref = await page.getAttribute('[data-testid="download-csv"]', 'href');
    const csv = await fetch(csvHref);
    const text = await csv.text();
    assert(csv.ok && text.startsWith('ts,open,high,low,close,volume'), `CSV download: ${csv.status} ${text.slice(0, 80)}`);
    const lines = text.trim().split('\n').length - 1;
    // The stream may have stored a bar or two since the page loaded.
    assert(lines >= count && lines <= count + 5, `the CSV has ${lines} rows, the page counted ${count}`);
    const pq = await fetch(await page.getAttribute('[data-testid="download-parquet"]', 'href'));
    const bytes = new Uint8Array(await pq.arrayBuffer());
    assert(pq.ok && String.fromCharCode(...bytes.slice(0, 4)) === 'PAR1', `Parquet download: ${pq.status}`);
    return `${count} bars (${rows} rows rendered), gaps ${gaps}; CSV ${lines} rows, Parquet ${bytes.length} bytes`;
  });

  await check('adding a symbol', async () => {
    await page.goto('/symbols');
    await page.waitForSelector('[data-testid="symbols-table"]', { timeout: 15_000 });
    await page.fill('[data-testid="add-symbol-input"]', 'bad$sym');
    await page.click('[data-testid="add-symbol-submit"]');
    await page.waitForSelector('[role="alert"]:text("invalid symbol")', { timeout: 5000 });
    await page.fill('[data-testid="add-symbol-input"]', 'tsla');
    await page.click('[data-testid="add-symbol-submit"]');
    await page.waitForSelector('[data-testid="symbol-row-TSLA"]', { timeout: 15_000 });
    await page.waitForSelector('[data-testid="add-symbol-done"]', { timeout: 5000 });
    const res = await fetch(`${base}/api/v1/symbols`).then((r) => r.json());
    assert(res.symbols.some((s) => s.symbol === 'TSLA' && s.active), 'TSLA is not active in the API');
    // Deactivate it again (two-step confirm).
    await page.click('[data-testid="symbol-row-TSLA"] button:text("Deactivate")');
    await page.click('[data-testid="symbol-row-TSLA"] button:text("Confirm")');
    await page.waitForSelector('[data-testid="symbol-row-TSLA"] :text("inactive")', { timeout: 15_000 });
    const after = await fetch(`${base}/api/v1/symbols`).then((r) => r.json());
    assert(after.symbols.some((s) => s.symbol === 'TSLA' && !s.active), 'TSLA is still active in the API');
    return 'TSLA added and deactivated (and an invalid symbol refused)';
  });

  await check('monitoring graphs fill live', async () => {
    await page.goto('/monitoring');
    await page.waitForSelector('[data-testid="health-components"]', { timeout: 15_000 });
    await page.waitForSelector('[data-testid="graph-throughput"] .recharts-area-area', { timeout: 15_000 });
    const rate = await page.textContent('[data-testid="kpis"] > :nth-child(2) p:nth-child(2)');
    assert(/\d/.test(rate), `the stream rate KPI shows "${rate}"`);
    return `stream rate ${rate}`;
  });

  await check('console runs health', async () => {
    await page.goto('/console');
    await page.waitForSelector('[data-testid="command-palette"]');
    await page.fill('[data-testid="console-input"]', 'health');
    await page.press('[data-testid="console-input"]', 'Enter');
    await page.waitForFunction(() => /status: (ok|degraded|down)/.test(document.querySelector('[data-testid="console-output"]')?.textContent ?? ''), null, { timeout: 15_000 });
    await page.waitForFunction(() => /exit 0/.test(document.querySelector('[data-testid="console-output"]')?.textContent ?? ''), null, { timeout: 15_000 });
    const text = await page.innerText('[data-testid="console-output"]');
    return text.split('\n').find((l) => l.includes('status:'))?.trim();
  });

  await check('search returns results and opens the chart at the candle', async () => {
    const search = async () => {
      const res = await fetch(`${base}/api/v1/rag/search?q=bullish%20breakout&k=5`);
      if (!res.ok) throw new Error(`GET /api/v1/rag/search answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
      return (await res.json()).results ?? [];
    };
    if (ragReady) {
      const exported = await ragReady;
      if (exported) {
        metrics.rag_export_ms = exported.ms;
        notes.push(`search results became available ${exported.ms} ms after startup (${exported.command})`);
      }
    }
    const hits = await search();
    assert(hits.length > 0, 'the search API returned no results (no narratives exported into LanceDB)');
    await page.goto('/search?q=bullish%20breakout%20on%20high%20volume');
    await page.waitForSelector('[data-testid="search-result"]', { timeout: 20_000 });
    const n = (await page.$$('[data-testid="search-result"]')).length;
    await page.click('[data-testid="search-result"] >> nth=0');
    await page.waitForSelector('[data-testid="price-chart"][data-bars]:not([data-bars="0"])', { timeout: 20_000 });
    await page.waitForSelector('[data-testid="narrative-text"]', { timeout: 20_000 });
    assert(new URL(page.url()).searchParams.get('at'), 'the chart URL has no candle time');
    await page.waitForTimeout(500);
    await page.screenshot({ path: join(out, 'search-opened-candle.png'), fullPage: true });
    return `${n} results; the first opened its chart and narrative`;
  });

  if (errors.length) notes.push(...errors.slice(0, 20).map((e) => `browser (desktop run): ${e}`));
  await context.close();

  // Dark: the full WCAG 2.1 A/AA rule set. Light: only what the theme changes (contrast).
  for (const scheme of ['dark', 'light']) {
    const contrastOnly = scheme === 'light';
    await check(`${scheme} theme renders every page with no serious/critical axe violations${contrastOnly ? ' (colour contrast)' : ''}`, async () => {
      const { context: ctx, page: p } = await newPage(browser, base, { scheme });
      const problems = [];
      const counts = {};
      for (const pg of PAGES) {
        const navStart = Date.now();
        await p.goto(pg.path);
        await p.waitForSelector(pg.ready, { timeout: 20_000 }).catch(() => problems.push(`${pg.name}: not ready`));
        metrics[`page_ready_ms_${pg.name}_${scheme}`] = Date.now() - navStart;
        await p.waitForTimeout(pg.name === 'monitoring' ? 2500 : 300);
        const isDark = await p.evaluate(() => document.documentElement.classList.contains('dark'));
        if (isDark !== (scheme === 'dark')) problems.push(`${pg.name}: html.dark=${isDark} in ${scheme} mode`);
        // Computed colours may be lab()/oklch(): let a canvas turn them into RGB.
        const [r, g, b, bg] = await p.evaluate(() => {
          const c = document.createElement('canvas').getContext('2d');
          const color = getComputedStyle(document.body).backgroundColor;
          c.fillStyle = color;
          c.fillRect(0, 0, 1, 1);
          return [...c.getImageData(0, 0, 1, 1).data.slice(0, 3), color];
        });
        const lum = (r + g + b) / 3;
        if (scheme === 'dark' ? lum > 80 : lum < 180) problems.push(`${pg.name}: body background ${bg} does not look ${scheme}`);
        await p.screenshot({ path: join(out, `${pg.name}-${scheme}.png`), fullPage: true });
        const { bad, all } = await axe(p, { contrastOnly });
        counts[pg.name] = all.length;
        for (const v of bad) problems.push(`${pg.name}: axe ${v.impact} ${v.id} — ${v.help} (${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')})`);
      }
      metrics[`axe_violations_${scheme}`] = counts;
      await ctx.close();
      assert(problems.length === 0, problems.join('\n'));
      return `${PAGES.length} pages; minor/moderate axe findings: ${JSON.stringify(counts)}`;
    });
  }

  await check('a 390-px-wide viewport has no horizontal overflow', async () => {
    const { context: ctx, page: p } = await newPage(browser, base, { width: 390, height: 844, scheme: 'dark' });
    const problems = [];
    for (const pg of PAGES) {
      await p.goto(pg.path);
      await p.waitForSelector(pg.ready, { timeout: 20_000 }).catch(() => problems.push(`${pg.name}: not ready`));
      await p.waitForTimeout(400);
      const w = await p.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
      if (w.scroll > w.client + 1) problems.push(`${pg.name}: scrollWidth ${w.scroll} > ${w.client}`);
      await p.screenshot({ path: join(out, `${pg.name}-390.png`), fullPage: true });
    }
    // The menu opens and navigates with the keyboard.
    await p.goto('/');
    await p.click('button[aria-controls="mobile-nav"]');
    await p.click('#mobile-nav >> text=History');
    await p.waitForURL(/\/history/);
    await ctx.close();
    assert(problems.length === 0, problems.join('\n'));
    return `${PAGES.length} pages fit in 390 px`;
  });

  await check('keyboard: skip link and navigation', async () => {
    const { context: ctx, page: p } = await newPage(browser, base, { scheme: 'light' });
    await p.goto('/settings');
    await p.waitForSelector('h1:text("Settings")');
    await p.keyboard.press('Tab');
    const first = await p.evaluate(() => document.activeElement?.textContent?.trim());
    assert(first === 'Skip to content', `first Tab stop is "${first}"`);
    await p.keyboard.press('Enter');
    const focused = await p.evaluate(() => document.activeElement?.id);
    assert(focused === 'main', `skip link moved focus to "${focused}"`);
    await p.click('[data-testid="theme-dark"]');
    assert(await p.evaluate(() => document.documentElement.classList.contains('dark')), 'choosing Dark did not switch the theme');
    await ctx.close();
    return 'skip link works; theme switch applies';
  });
}

main()
  .catch((err) => {
    results.push({ name: 'e2e setup', ok: false, error: String(err?.stack ?? err) });
    log(`ERROR ${err?.message ?? err}`);
  })
  .finally(() => {
    metrics.total_ms = Date.now() - t0;
    const bundle = join(out, 'bundle-size.json');
    if (existsSync(bundle)) {
      const b = JSON.parse(readFileSync(bundle, 'utf8'));
      metrics.initial_js_gzip_bytes = b.initial_js_gzip_bytes;
      metrics.dashboard_route_js_gzip_bytes = b.dashboard_route_js_gzip_bytes;
    }
    const failed = results.filter((r) => !r.ok);
    writeFileSync(join(out, 'e2e-metrics.json'), JSON.stringify({ metrics, results, notes }, null, 2));
    console.log(`\n${results.length - failed.length}/${results.length} e2e checks passed in ${(metrics.total_ms / 1000).toFixed(1)}s; time to first candle ${metrics.first_candle_ms ?? '?'} ms; results in ${out}`);
    for (const f of failed) console.log(`\nFAILED: ${f.name}\n${f.error}`);
    process.exitCode = failed.length ? 1 : 0;
  });
