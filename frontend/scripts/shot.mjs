// Dev helper: screenshot pages of a running server. `node scripts/shot.mjs http://127.0.0.1:8765 /history dark 1280`
import { chromium } from 'playwright-core';
const [base = 'http://127.0.0.1:8000', path = '/', theme = 'dark', width = '1440', wait = '3000'] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'] });
const ctx = await browser.newContext({ viewport: { width: Number(width), height: 900 }, colorScheme: theme });
const page = await ctx.newPage();
page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.log('console:', m.type(), m.text()); });
page.on('pageerror', (e) => console.log('pageerror:', e.message));
await page.goto(base + path);
await page.waitForTimeout(Number(wait));
const file = `/tmp/fe/shot-${path.replace(/[^a-z0-9]+/gi, '_')}-${theme}-${width}.png`;
await page.screenshot({ path: file, fullPage: true });
console.log(file);
await browser.close();
