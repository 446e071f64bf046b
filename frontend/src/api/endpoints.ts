/** Typed calls to the jonbu-ohlcv API (CONTRACT.md "REST API"). */

import type { ApiCandle } from '../lib/candles';
import { request, requestJson } from './http';

export type ComponentHealth = { status?: string; [k: string]: unknown };
export interface Health {
  status: 'ok' | 'degraded' | 'down' | string;
  components: Record<string, ComponentHealth>;
  [k: string]: unknown;
}

export interface SymbolEntry {
  symbol: string;
  active: boolean;
  added_at?: string;
  updated_at?: string;
  [k: string]: unknown;
}

export interface LatestCandle {
  symbol: string;
  timeframe: string;
  candle: ApiCandle | null;
  final: boolean;
}

export interface HistoryPage {
  symbol: string;
  timeframe: string;
  candles: ApiCandle[];
  next_cursor: string | null;
}

export type PatternValue = string | { name?: string; pattern?: string; direction?: string; signal?: string | number; [k: string]: unknown };

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

export interface SearchResult {
  symbol: string;
  timeframe: string;
  ts: string;
  text: string;
  score: number;
}

export type StreamStats = Record<string, unknown>;

export const api = {
  health: (signal?: AbortSignal) => requestJson<Health>('/api/v1/health', { signal }),

  metrics: async (signal?: AbortSignal) => (await request('/metrics', { signal, accept: 'text/plain' })).text(),

  streamStats: (signal?: AbortSignal) => requestJson<StreamStats>('/api/v1/stream/stats', { signal }),

  symbols: (signal?: AbortSignal) => requestJson<{ symbols: SymbolEntry[] }>('/api/v1/symbols', { signal }),

  addSymbols: (symbols: string[]) =>
    requestJson<{ symbols: SymbolEntry[] }>('/api/v1/symbols', { method: 'POST', body: { symbols } }),

  removeSymbol: (symbol: string) =>
    request(`/api/v1/symbols/${encodeURIComponent(symbol)}`, { method: 'DELETE' }).then(() => undefined),

  latest: (symbol: string, timeframe: string, signal?: AbortSignal) =>
    requestJson<LatestCandle>(`/api/v1/ohlcv/${encodeURIComponent(symbol)}`, { query: { timeframe }, signal }),

  history: (
    symbol: string,
    q: { timeframe: string; start?: string; end?: string; limit?: number; cursor?: string | null },
    signal?: AbortSignal,
  ) => requestJson<HistoryPage>(`/api/v1/ohlcv/${encodeURIComponent(symbol)}/history`, { query: q, signal }),

  enriched: (
    symbol: string,
    q: { timeframe: string; start?: string; end?: string; indicators?: string },
    signal?: AbortSignal,
  ) => requestJson<EnrichedPage>(`/api/v1/ohlcv/${encodeURIComponent(symbol)}/enriched`, { query: q, signal }),

  narrative: async (symbol: string, q: { timeframe: string; at: string; format?: 'text' | 'markdown' | 'json' }, signal?: AbortSignal) => {
    const res = await request(`/api/v1/ohlcv/${encodeURIComponent(symbol)}/narrative`, {
      query: { format: 'text', ...q },
      signal,
      accept: 'application/json, text/plain, text/markdown',
    });
    const type = res.headers.get('content-type') ?? '';
    if (type.includes('json')) {
      const body = (await res.json()) as unknown;
      if (typeof body === 'string') return body;
      const b = body as Record<string, unknown>;
      return String(b.text ?? b.narrative ?? b.markdown ?? JSON.stringify(body, null, 2));
    }
    return res.text();
  },

  search: (q: { q: string; symbol?: string; timeframe?: string; k?: number }, signal?: AbortSignal) =>
    requestJson<{ results: SearchResult[] }>('/api/v1/rag/search', { query: q, signal }),
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
    cursor = res.next_cursor;
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
