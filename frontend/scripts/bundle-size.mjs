// After `vite build`: gzip every JS chunk in dist/assets and report the initial bundle
// (the entry chunk plus the chunks it imports statically, from dist/index.html) against 300 kB.
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const assets = join(dist, 'assets');
const LIMIT = 300 * 1024;

const html = readFileSync(join(dist, 'index.html'), 'utf8');
const entry = [...html.matchAll(/<script[^>]+type="module"[^>]+src="\/assets\/([^"]+\.js)"/g)].map((m) => m[1]);
const preloads = [...html.matchAll(/<link[^>]+rel="modulepreload"[^>]+href="\/assets\/([^"]+\.js)"/g)].map((m) => m[1]);
const css = [...html.matchAll(/<link[^>]+rel="stylesheet"[^>]+href="\/assets\/([^"]+\.css)"/g)].map((m) => m[1]);

const gz = (file) => gzipSync(readFileSync(join(assets, file)), { level: 9 }).length;
const raw = (file) => readFileSync(join(assets, file)).length;

// Follow static imports of the entry chunk (`import ... from "./x.js"`), not dynamic ones.
const closure = (roots) => {
  const seen = new Set();
  const visit = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(join(assets, file), 'utf8');
    for (const m of src.matchAll(/(?:^|[;\n}])\s*import\s*(?:[\w*{}\s,$]+from\s*)?["']\.\/([^"']+\.js)["']/g)) visit(m[1]);
  };
  roots.forEach(visit);
  return seen;
};
const initial = closure([...entry, ...preloads]);
// What the dashboard route (`/`) loads in total: the entry plus its lazy page and chart chunks.
const dashboardChunk = readdirSync(assets).find((f) => /^Dashboard-.*\.js$/.test(f));
const dashboardRoute = closure([...initial, ...(dashboardChunk ? [dashboardChunk] : [])]);

const all = readdirSync(assets).filter((f) => f.endsWith('.js')).map((f) => ({ file: f, raw: raw(f), gzip: gz(f), initial: initial.has(f) }));
all.sort((a, b) => b.gzip - a.gzip);
const kb = (n) => `${(n / 1024).toFixed(1)} kB`;
const initialGzip = all.filter((c) => c.initial).reduce((s, c) => s + c.gzip, 0);
const cssGzip = css.reduce((s, f) => s + gz(f), 0);
const dashboardGzip = [...dashboardRoute].reduce((s, f) => s + gz(f), 0);

console.log('\nJS chunks (gzip):');
for (const c of all) console.log(`  ${c.initial ? '*' : ' '} ${c.file.padEnd(40)} ${kb(c.raw).padStart(10)} raw  ${kb(c.gzip).padStart(9)} gzip`);
console.log(`  (* = loaded on first page view)`);
const ok = initialGzip <= LIMIT;
console.log(`\nInitial JS bundle: ${kb(initialGzip)} gzipped (target ≤ ${kb(LIMIT)}) ${ok ? 'OK' : 'OVER TARGET'}; CSS ${kb(cssGzip)} gzipped`);
console.log(`Dashboard route in total (entry + lazy page + lightweight-charts): ${kb(dashboardGzip)} gzipped\n`);
mkdirSync(join(root, 'test-results'), { recursive: true });
writeFileSync(
  join(root, 'test-results', 'bundle-size.json'),
  JSON.stringify({ initial_js_gzip_bytes: initialGzip, dashboard_route_js_gzip_bytes: dashboardGzip, target_bytes: LIMIT, pass: ok, css_gzip_bytes: cssGzip, chunks: all }, null, 2),
);
if (!ok) process.exitCode = 1;
