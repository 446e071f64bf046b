// The API layer against a real local HTTP server (node:http): base URL, key header,
// query serialisation, error bodies, and latency telemetry.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { api, fetchHistoryAll } from '../src/api/endpoints';
import { ApiError } from '../src/api/http';
import { useSettings } from '../src/stores/settings';
import { useTelemetry } from '../src/stores/telemetry';

let server: Server;
let base = '';
const seen: { method: string; url: string; key: string | undefined; body: string }[] = [];

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => resolve(b));
  });
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const body = await readBody(req);
    seen.push({ method: req.method ?? '', url: req.url ?? '', key: req.headers['x-api-key'] as string | undefined, body });
    const url = new URL(req.url ?? '/', 'http://x');
    const json = (status: number, data: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(JSON.stringify(data));
    };
    if (url.pathname === '/api/v1/health') return json(200, { status: 'ok', components: {}, version: '1', uptime_s: 1 });
    if (url.pathname === '/api/v1/symbols' && req.method === 'POST') return json(201, { symbols: JSON.parse(body).symbols.map((s: string) => ({ symbol: s, active: true, added_at: '', updated_at: '' })) });
    if (url.pathname === '/api/v1/symbols') return json(401, { error: { code: 'unauthorized', message: 'missing API key' } });
    if (url.pathname === '/api/v1/ohlcv/AAPL/history') {
      // Two pages of one bar each, by cursor.
      const cur = url.searchParams.get('cursor');
      const ts = cur ? '2024-01-02T14:31:00Z' : '2024-01-02T14:30:00Z';
      return json(200, { symbol: 'AAPL', timeframe: '1m', candles: [{ ts, open: 1, high: 1, low: 1, close: 1, volume: 1 }], next_cursor: cur ? null : 'c1' });
    }
    if (url.pathname === '/api/v1/rag/search') return json(429, { error: { code: 'rate_limited', message: 'slow down' } }, { 'Retry-After': '7' });
    return json(404, { error: { code: 'not_found', message: `no route ${url.pathname}` } });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

beforeEach(() => {
  seen.length = 0;
  useSettings.setState({ apiBase: base, apiKey: '' });
  useTelemetry.getState().clear();
});

describe('API client', () => {
  it('targets the configured base and records latency', async () => {
    const h = await api.health();
    expect(h.status).toBe('ok');
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/api/v1/health', key: undefined });
    const [sample] = useTelemetry.getState().requests;
    expect(sample).toMatchObject({ route: '/api/v1/health', status: 200 });
  });

  it('sends the API key and JSON bodies', async () => {
    useSettings.setState({ apiKey: 'jk_test' });
    const res = await api.addSymbols(['TSLA']);
    expect(res.symbols[0]!.symbol).toBe('TSLA');
    expect(seen[0]).toMatchObject({ method: 'POST', key: 'jk_test', body: '{"symbols":["TSLA"]}' });
  });

  it('turns error bodies into ApiError with hints', async () => {
    const err = await api.symbols().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(401);
    expect((err as ApiError).code).toBe('unauthorized');
    expect((err as ApiError).message).toMatch(/missing API key — set an API key in Settings/);
    const limited = (await api.search({ q: 'x' }).catch((e: unknown) => e)) as ApiError;
    expect(limited.status).toBe(429);
    expect(limited.message).toMatch(/retry after 7 s/);
    const logs = useTelemetry.getState().logs;
    expect(logs.some((l) => l.level === 'warning' && l.message.includes('401'))).toBe(true);
  });

  it('serialises queries and follows cursors', async () => {
    const { candles, truncated } = await fetchHistoryAll('AAPL', { timeframe: '1m', start: '2024-01-02' }, { pageSize: 1 });
    expect(candles.map((c) => c.ts)).toEqual(['2024-01-02T14:30:00Z', '2024-01-02T14:31:00Z']);
    expect(truncated).toBe(false);
    expect(seen[0]!.url).toBe('/api/v1/ohlcv/AAPL/history?timeframe=1m&start=2024-01-02&limit=1&format=json');
    expect(seen[1]!.url).toContain('cursor=c1');
  });

  it('reports an unreachable server clearly', async () => {
    useSettings.setState({ apiBase: 'http://127.0.0.1:9' });
    const err = (await api.health().catch((e: unknown) => e)) as ApiError;
    expect(err.code).toBe('network');
    expect(err.message).toMatch(/cannot reach the API at http:\/\/127.0.0.1:9/);
  });
});
