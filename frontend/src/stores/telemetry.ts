/** Client-side telemetry: request latencies and a log of notable events (for Monitoring). */

import { create } from 'zustand';

export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

export interface LogEntry {
  id: number;
  ts: number;
  level: LogLevel;
  source: string;
  message: string;
}

export interface RequestSample {
  ts: number;
  route: string;
  ms: number;
  status: number;
}

interface TelemetryState {
  logs: LogEntry[];
  requests: RequestSample[];
  log: (level: LogLevel, source: string, message: string) => void;
  request: (sample: RequestSample) => void;
  clear: () => void;
}

const MAX_LOGS = 500;
const MAX_REQUESTS = 400;
let nextId = 1;

export const useTelemetry = create<TelemetryState>()((set) => ({
  logs: [],
  requests: [],
  log: (level, source, message) =>
    set((s) => {
      const entry: LogEntry = { id: nextId++, ts: Date.now(), level, source, message };
      const logs = s.logs.length >= MAX_LOGS ? s.logs.slice(-MAX_LOGS + 1) : s.logs.slice();
      logs.push(entry);
      return { logs };
    }),
  request: (sample) =>
    set((s) => {
      const requests = s.requests.length >= MAX_REQUESTS ? s.requests.slice(-MAX_REQUESTS + 1) : s.requests.slice();
      requests.push(sample);
      return { requests };
    }),
  clear: () => set({ logs: [], requests: [] }),
}));

/** Route template of a concrete API path (`/api/v1/ohlcv/AAPL/history` → `/api/v1/ohlcv/{symbol}/history`). */
export function routeOf(path: string): string {
  const p = path.split('?')[0] ?? path;
  return p
    .replace(/^\/api\/v1\/ohlcv\/[^/]+/, '/api/v1/ohlcv/{symbol}')
    .replace(/^\/api\/v1\/symbols\/[^/]+$/, '/api/v1/symbols/{symbol}');
}

/** p50/p95 and count per route over the recorded samples. */
export function latencySummary(samples: readonly RequestSample[]): { route: string; count: number; p50: number; p95: number; errors: number }[] {
  const by = new Map<string, RequestSample[]>();
  for (const s of samples) {
    const list = by.get(s.route) ?? [];
    list.push(s);
    by.set(s.route, list);
  }
  const q = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
  return [...by.entries()]
    .map(([route, list]) => {
      const ms = list.map((s) => s.ms).sort((a, b) => a - b);
      return { route, count: list.length, p50: q(ms, 0.5), p95: q(ms, 0.95), errors: list.filter((s) => s.status >= 400 || s.status === 0).length };
    })
    .sort((a, b) => b.count - a.count);
}
