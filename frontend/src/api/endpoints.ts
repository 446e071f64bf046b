/**
 * Typed calls to the jonbu-ohlcv API. Paths, parameters and answers are checked against
 * `schema.d.ts`, generated from the service's OpenAPI document (`npm run gen:api`).
 */

import createClient from 'openapi-fetch';
import type { ApiCandle } from '../lib/candles';
import { apiFetch, request } from './http';
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type Health = Schemas['HealthOut'];
export type ComponentHealth = Schemas['ComponentStatus'];
export type SymbolEntry = Schemas['SymbolInfo'];
export type LatestCandle = Schemas['LatestOut'];
export type HistoryPage = Schemas['HistoryOut'];
export type SearchResult = Schemas['SearchResultOut'];
export type StreamStats = Schemas['StreamStatsOut'];
export type Timeframe = NonNullable<NonNullable<paths['/api/v1/ohlcv/{symbol}/history']['get']['parameters']['query']>['timeframe']>;

/** Patterns come as names or objects, depending on the detector. */
export type PatternValue = string | { name?: string; pattern?: string; kind?: string; direction?: string; signal?: string | number; strength?: number; description?: string; [k: string]: unknown };

/** An enriched candle (Schemas['EnrichedCandleOut']), with `patterns` narrowed to what the chart understands. */
export interface EnrichedCandle {
  ohlcv: ApiCandle;
  indicators: Record<string, number | null>;
  patterns: PatternValue[];
  context?: Record<string, unknown>;
  features?: Record<string, number | null>;
  confidence?: number | null;
}

export interface EnrichedPage {
  symbol: string;
  timeframe: string;
  candles: EnrichedCandle[];
}

/** The generated client; every request goes through `apiFetch` (base URL, key, latency, errors). */
export const client = createClient<paths>({
  // apiFetch re-targets each request at the configured base URL; this only makes it absolute.
  baseUrl: typeof window !== 'undefined' ? window.location.origin : 'http://localhost',
  fetch: apiFetch,
});

function tf(timeframe: string): Timeframe {
  return timeframe as Timeframe;
}

async function data<T>(p: Promise<{ data?: T; error?: unknown }>): Promise<T> {
  const res = await p;
  if (res.error !== undefined) throw res.error;
  return res.data as T;
}

export const api = {
  health: (signal?: AbortSignal) => data(client.GET('/api/v1/health', { signal })),

  metrics: async (signal?: AbortSignal) => (await request('/metrics', { signal, accept: 'text/plain' })).text(),

  streamStats: (signal?: AbortSignal) => data(client.GET('/api/v1/stream/stats', { signal })),

  symbols: (signal?: AbortSignal) => data(client.GET('/api/v1/symbols', { signal })),

  addSymbols: (symbols: string[]) => data(client.POST('/api/v1/symbols', { body: { symbols } })),

  removeSymbol: async (symbol: string) => {
    await client.DELETE('/api/v1/symbols/{symbol}', { params: { path: { symbol } }, parseAs: 'text' });
  },

  latest: (symbol: string, timeframe: string, signal?: AbortSignal) =>
    data(client.GET('/api/v1/ohlcv/{symbol}', { params: { path: { symbol }, query: { timeframe: tf(timeframe) } }, signal })),

  history: (
    symbol: string,
    q: { timeframe: string; start?: string; end?: string; limit?: number; cursor?: string | null },
    signal?: AbortSignal,
  ): Promise<HistoryPage> =>
    data(
      client.GET('/api/v1/ohlcv/{symbol}/history', {
        params: { path: { symbol }, query: { timeframe: tf(q.timeframe), start: q.start, end: q.end, limit: q.limit, cursor: q.cursor ?? undefined, format: 'json' } },
        signal,
      }),
    ) as Promise<HistoryPage>,

  enriched: async (symbol: string, q: { timeframe: string; start?: string; end?: string; indicators?: string }, signal?: AbortSignal): Promise<EnrichedPage> =>
    (await data(
      client.GET('/api/v1/ohlcv/{symbol}/enriched', {
        params: { path: { symbol }, query: { timeframe: tf(q.timeframe), start: q.start, end: q.end, indicators: q.indicators } },
        signal,
      }),
    )) as EnrichedPage,

  narrative: async (symbol: string, q: { timeframe: string; at: string; format?: 'text' | 'markdown' | 'json' }, signal?: AbortSignal) => {
    const res = await request(`/api/v1/ohlcv/${encodeURIComponent(symbol)}/narrative`, {
      query: { format: 'text', ...q },
      signal,
      accept: 'text/plain, text/markdown, application/json',
    });
    if ((res.headers.get('content-type') ?? '').includes('json')) {
      const body = (await res.json()) as Schemas['NarrativeOut'] | string;
      if (typeof body === 'string') return body;
      return body.text ?? JSON.stringify(body, null, 2);
    }
    return res.text();
  },

  search: (q: { q: string; symbol?: string; timeframe?: string; k?: number }, signal?: AbortSignal) =>
    data(client.GET('/api/v1/rag/search', { params: { query: { ...q, timeframe: q.timeframe ? tf(q.timeframe) : undefined } }, signal })),

  consoleCommands: (signal?: AbortSignal) => data(client.GET('/api/v1/console/commands', { signal })),
};

/** Fetch every page of a history range (following `next_cursor`), up to `maxBars`. */
export async function fetchHistoryAll(
  symbol: string,
  q: { timeframe: string; start?: string; end?: string },
  opts: { maxBars?: number; pageSize?: number; signal?: AbortSignal; keep?: 'first' | 'last' } = {},
): Promise<{ candles: ApiCandle[]; truncated: boolean }> {
  const maxBars = opts.maxBars ?? 20_000;
  const pageSize = opts.pageSize ?? 5000;
  let cursor: string | null = null;
  let out: ApiCandle[] = [];
  let truncated = false;
  for (let page = 0; page < 200; page += 1) {
    const res: HistoryPage = await api.history(symbol, { ...q, limit: pageSize, cursor }, opts.signal);
    out = out.concat(res.candles);
    cursor = res.next_cursor ?? null;
    if (!cursor) break;
    if (out.length >= maxBars && opts.keep !== 'last') {
      truncated = true;
      break;
    }
    if (out.length > maxBars * 2) {
      out = out.slice(out.length - maxBars);
      truncated = true;
    }
  }
  if (out.length > maxBars) {
    truncated = true;
    out = opts.keep === 'last' ? out.slice(out.length - maxBars) : out.slice(0, maxBars);
  }
  return { candles: out, truncated };
}
