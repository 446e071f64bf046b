/**
 * One shared WebSocket to `/ws` with reconnect (exponential backoff + jitter) and resubscribe.
 *
 * Subscriptions are reference-counted per (symbol, timeframe): the first listener sends
 * `{"action": "subscribe", ...}`, the last one to leave sends `unsubscribe`, and after every
 * reconnect the whole set is subscribed again.
 */

import type { CandleMessage } from './candles';

export type SocketStatus = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export type CandleListener = (msg: CandleMessage) => void;

export interface SocketStats {
  status: SocketStatus;
  messages: number;
  reconnects: number;
  lastMessageAt: number | null;
  lastError: string | null;
  nextRetryAt: number | null;
}

/** The subset of the WebSocket API we use (the browser's, or a fake in tests). */
export interface WebSocketLike {
  readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketFactory = (url: string) => WebSocketLike;

export interface LiveSocketOptions {
  /** Builds the URL at each (re)connect, so a changed base URL or key is picked up. */
  url: () => string;
  factory?: WebSocketFactory;
  minDelayMs?: number;
  maxDelayMs?: number;
  /** 0..1: the share of each delay that is randomised. */
  jitter?: number;
  random?: () => number;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

const OPEN = 1;

export const keyOf = (symbol: string, timeframe: string) => `${symbol}|${timeframe}`;

/** Group (symbol, timeframe) keys by timeframe: one subscribe message per timeframe. */
export function groupByTimeframe(keys: Iterable<string>): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const key of keys) {
    const [symbol, timeframe] = key.split('|') as [string, string];
    const list = groups.get(timeframe) ?? [];
    list.push(symbol);
    groups.set(timeframe, list);
  }
  return groups;
}

export class LiveSocket {
  private ws: WebSocketLike | null = null;
  private readonly listeners = new Map<string, Set<CandleListener>>();
  private readonly anyListeners = new Set<CandleListener>();
  private readonly statsListeners = new Set<(s: SocketStats) => void>();
  private attempt = 0;
  private timer: unknown = null;
  private stableTimer: unknown = null;
  private stopped = true;
  private stats: SocketStats = {
    status: 'idle',
    messages: 0,
    reconnects: 0,
    lastMessageAt: null,
    lastError: null,
    nextRetryAt: null,
  };
  private readonly opts: Required<LiveSocketOptions>;

  constructor(options: LiveSocketOptions) {
    this.opts = {
      factory: (url) => new WebSocket(url) as unknown as WebSocketLike,
      minDelayMs: 500,
      maxDelayMs: 15_000,
      jitter: 0.3,
      random: Math.random,
      now: Date.now,
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
      ...options,
    };
  }

  /** Current statistics (status, message count, reconnects). */
  getStats(): SocketStats {
    return this.stats;
  }

  /** Listen to statistics changes; returns the unsubscribe function. */
  onStats(fn: (s: SocketStats) => void): () => void {
    this.statsListeners.add(fn);
    return () => this.statsListeners.delete(fn);
  }

  /** The (symbol|timeframe) keys currently subscribed. */
  subscribedKeys(): string[] {
    return [...this.listeners.keys()];
  }

  /** Open the socket (idempotent). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Close the socket and stop reconnecting. */
  stop(): void {
    this.stopped = true;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.onerror = null;
      ws.onopen = null;
      ws.close(1000, 'client stop');
    }
    this.update({ status: 'closed', nextRetryAt: null });
  }

  /** Drop the current connection and connect again now (after a settings change). */
  restart(): void {
    this.stop();
    this.attempt = 0;
    this.start();
  }

  /** Listen to candles of one (symbol, timeframe); returns the unsubscribe function. */
  subscribe(symbol: string, timeframe: string, fn: CandleListener): () => void {
    const key = keyOf(symbol, timeframe);
    let set = this.listeners.get(key);
    if (!set) {
      set = new Set();
      this.listeners.set(key, set);
      this.sendAction('subscribe', [key]);
    }
    set.add(fn);
    return () => {
      const current = this.listeners.get(key);
      if (!current) return;
      current.delete(fn);
      if (current.size === 0) {
        this.listeners.delete(key);
        this.sendAction('unsubscribe', [key]);
      }
    };
  }

  /** Listen to every candle message (for counters). */
  onAny(fn: CandleListener): () => void {
    this.anyListeners.add(fn);
    return () => this.anyListeners.delete(fn);
  }

  private update(patch: Partial<SocketStats>): void {
    this.stats = { ...this.stats, ...patch };
    for (const fn of this.statsListeners) fn(this.stats);
  }

  private clearTimers(): void {
    if (this.timer !== null) this.opts.clearTimer(this.timer);
    if (this.stableTimer !== null) this.opts.clearTimer(this.stableTimer);
    this.timer = null;
    this.stableTimer = null;
  }

  private sendAction(action: 'subscribe' | 'unsubscribe', keys: string[]): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return; // sent on (re)open instead
    for (const [timeframe, symbols] of groupByTimeframe(keys)) {
      ws.send(JSON.stringify({ action, symbols, timeframes: [timeframe] }));
    }
  }

  private connect(): void {
    if (this.stopped) return;
    this.update({ status: this.stats.reconnects > 0 || this.attempt > 0 ? 'reconnecting' : 'connecting', nextRetryAt: null });
    let ws: WebSocketLike;
    try {
      ws = this.opts.factory(this.opts.url());
    } catch (err) {
      this.update({ lastError: String(err) });
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.update({ status: 'open', lastError: null });
      this.sendAction('subscribe', this.subscribedKeys());
      // Reset the backoff only once the connection has proved stable.
      this.stableTimer = this.opts.setTimer(() => {
        this.attempt = 0;
        this.stableTimer = null;
      }, 5000);
    };
    ws.onmessage = (ev) => this.handleMessage(ev.data);
    ws.onerror = () => {
      if (this.ws !== ws) return;
      this.update({ lastError: 'connection error' });
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stableTimer !== null) {
        this.opts.clearTimer(this.stableTimer);
        this.stableTimer = null;
      }
      if (ev.code !== 1000 && ev.code !== 1005) {
        this.update({ lastError: `closed (${ev.code}${ev.reason ? `: ${ev.reason}` : ''})` });
      }
      this.scheduleReconnect();
    };
  }

  /** Delay before reconnect attempt `n` (0-based): min·2^n capped at max, jittered. */
  delayFor(n: number): number {
    const base = Math.min(this.opts.maxDelayMs, this.opts.minDelayMs * 2 ** n);
    const spread = base * this.opts.jitter;
    return Math.round(base - spread + this.opts.random() * spread);
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = this.delayFor(this.attempt);
    this.attempt += 1;
    this.update({
      status: 'reconnecting',
      reconnects: this.stats.reconnects + 1,
      nextRetryAt: this.opts.now() + delay,
    });
    this.timer = this.opts.setTimer(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  private handleMessage(data: unknown): void {
    if (typeof data !== 'string') return;
    let msg: unknown;
    try {
      msg = JSON.parse(data);
    } catch {
      this.update({ lastError: 'unreadable message' });
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    const m = msg as Record<string, unknown>;
    if (m.type === 'ping') {
      this.ws?.send(JSON.stringify({ action: 'pong' }));
      return;
    }
    if (m.type === 'error') {
      const err = m.error as { message?: string } | string | undefined;
      this.update({ lastError: typeof err === 'string' ? err : (err?.message ?? (m.message as string) ?? 'server error') });
      return;
    }
    if (m.type !== 'candle' || typeof m.symbol !== 'string' || typeof m.timeframe !== 'string' || !m.candle) return;
    const candle = m as unknown as CandleMessage;
    if (typeof candle.revision !== 'number') candle.revision = 0;
    this.update({ messages: this.stats.messages + 1, lastMessageAt: this.opts.now() });
    const set = this.listeners.get(keyOf(candle.symbol, candle.timeframe));
    if (set) for (const fn of [...set]) fn(candle);
    for (const fn of [...this.anyListeners]) fn(candle);
  }
}
