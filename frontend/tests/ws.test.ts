import { beforeEach, describe, expect, it } from 'vitest';
import type { CandleMessage } from '../src/lib/candles';
import { groupByTimeframe, LiveSocket, type WebSocketLike } from '../src/lib/ws';

/** An in-memory stand-in for the browser WebSocket: records what the client sends. */
class FakeSocket implements WebSocketLike {
  readyState = 0;
  sent: unknown[] = [];
  closed: { code?: number } | null = null;
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close(code?: number) {
    this.closed = { code };
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }
  receive(msg: unknown) {
    this.onmessage?.({ data: typeof msg === 'string' ? msg : JSON.stringify(msg) });
  }
}

/** Manual timers: tests advance them explicitly. */
class Timers {
  now = 0;
  private items: { at: number; fn: () => void; id: number }[] = [];
  private next = 1;
  set = (fn: () => void, ms: number) => {
    const id = this.next++;
    this.items.push({ at: this.now + ms, fn, id });
    return id;
  };
  clear = (id: unknown) => {
    this.items = this.items.filter((i) => i.id !== id);
  };
  pending() {
    return this.items.map((i) => i.at - this.now).sort((a, b) => a - b);
  }
  advance(ms: number) {
    this.now += ms;
    for (;;) {
      const due = this.items.filter((i) => i.at <= this.now).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.items = this.items.filter((i) => i !== due);
      due.fn();
    }
  }
}

const candle = (symbol: string, timeframe: string, close: number, extra: Partial<CandleMessage> = {}): CandleMessage => ({
  type: 'candle',
  symbol,
  timeframe,
  candle: { ts: '2024-01-02T14:30:00Z', open: 1, high: 2, low: 0.5, close, volume: 10 },
  final: false,
  revision: 0,
  ...extra,
});

let sockets: FakeSocket[];
let timers: Timers;
let client: LiveSocket;
let url = 'ws://host/ws';

beforeEach(() => {
  sockets = [];
  timers = new Timers();
  url = 'ws://host/ws';
  client = new LiveSocket({
    url: () => url,
    factory: (u) => {
      const s = new FakeSocket(u);
      sockets.push(s);
      return s;
    },
    minDelayMs: 500,
    maxDelayMs: 8000,
    jitter: 0,
    now: () => timers.now,
    setTimer: timers.set,
    clearTimer: timers.clear,
  });
});

describe('LiveSocket', () => {
  it('subscribes on open, grouped per timeframe', () => {
    client.subscribe('AAPL', '1m', () => undefined);
    client.subscribe('MSFT', '1m', () => undefined);
    client.subscribe('AAPL', '5m', () => undefined);
    client.start();
    expect(client.getStats().status).toBe('connecting');
    sockets[0]!.open();
    expect(client.getStats().status).toBe('open');
    expect(sockets[0]!.sent).toEqual([
      { action: 'subscribe', symbols: ['AAPL', 'MSFT'], timeframes: ['1m'] },
      { action: 'subscribe', symbols: ['AAPL'], timeframes: ['5m'] },
    ]);
  });

  it('sends subscribe/unsubscribe only for the first and last listener of a key', () => {
    client.start();
    sockets[0]!.open();
    const off1 = client.subscribe('AAPL', '1m', () => undefined);
    const off2 = client.subscribe('AAPL', '1m', () => undefined);
    expect(sockets[0]!.sent).toEqual([{ action: 'subscribe', symbols: ['AAPL'], timeframes: ['1m'] }]);
    off1();
    expect(sockets[0]!.sent).toHaveLength(1);
    off2();
    expect(sockets[0]!.sent).toEqual([
      { action: 'subscribe', symbols: ['AAPL'], timeframes: ['1m'] },
      { action: 'unsubscribe', symbols: ['AAPL'], timeframes: ['1m'] },
    ]);
    expect(client.subscribedKeys()).toEqual([]);
  });

  it('dispatches candles to the listeners of their (symbol, timeframe) only', () => {
    const got: string[] = [];
    client.subscribe('AAPL', '1m', (m) => got.push(`a1:${m.candle.close}`));
    client.subscribe('AAPL', '5m', (m) => got.push(`a5:${m.candle.close}`));
    client.onAny(() => got.push('any'));
    client.start();
    sockets[0]!.open();
    sockets[0]!.receive(candle('AAPL', '1m', 1.5));
    sockets[0]!.receive(candle('MSFT', '1m', 9));
    expect(got).toEqual(['a1:1.5', 'any', 'any']);
    expect(client.getStats().messages).toBe(2);
  });

  it('reconnects with exponential backoff and resubscribes everything', () => {
    client.subscribe('AAPL', '1m', () => undefined);
    client.start();
    sockets[0]!.open();
    client.subscribe('NVDA', '15m', () => undefined);
    sockets[0]!.drop(1006);
    expect(client.getStats().status).toBe('reconnecting');
    expect(client.getStats().lastError).toMatch(/1006/);
    expect(timers.pending()).toEqual([500]);
    timers.advance(499);
    expect(sockets).toHaveLength(1);
    timers.advance(1);
    expect(sockets).toHaveLength(2);
    // The second attempt fails too: the next delay doubles.
    sockets[1]!.drop(1006);
    expect(timers.pending()).toEqual([1000]);
    timers.advance(1000);
    expect(sockets).toHaveLength(3);
    sockets[2]!.open();
    expect(client.getStats().status).toBe('open');
    expect(sockets[2]!.sent).toEqual([
      { action: 'subscribe', symbols: ['AAPL'], timeframes: ['1m'] },
      { action: 'subscribe', symbols: ['NVDA'], timeframes: ['15m'] },
    ]);
    expect(client.getStats().reconnects).toBe(2);
  });

  it('caps the backoff and resets it after a stable connection', () => {
    client.start();
    for (let i = 0; i < 6; i += 1) {
      sockets[sockets.length - 1]!.drop();
      timers.advance(timers.pending()[0]!);
    }
    expect(client.delayFor(10)).toBe(8000);
    sockets[sockets.length - 1]!.open();
    timers.advance(5000); // stable for 5 s
    sockets[sockets.length - 1]!.drop();
    expect(timers.pending()).toEqual([500]);
  });

  it('jitters delays within the configured share', () => {
    const jittery = new LiveSocket({ url: () => url, factory: (u) => new FakeSocket(u), minDelayMs: 1000, maxDelayMs: 10_000, jitter: 0.5, random: () => 0 });
    expect(jittery.delayFor(0)).toBe(500);
    const high = new LiveSocket({ url: () => url, factory: (u) => new FakeSocket(u), minDelayMs: 1000, maxDelayMs: 10_000, jitter: 0.5, random: () => 1 });
    expect(high.delayFor(0)).toBe(1000);
    expect(high.delayFor(5)).toBe(10_000);
  });

  it('answers pings, records error frames and ignores garbage without crashing', () => {
    client.start();
    sockets[0]!.open();
    sockets[0]!.receive({ type: 'ping', ts: 1 });
    expect(sockets[0]!.sent).toEqual([{ action: 'pong' }]);
    sockets[0]!.receive({ type: 'error', error: { code: 'invalid_input', message: 'bad timeframe' } });
    expect(client.getStats().lastError).toBe('bad timeframe');
    sockets[0]!.receive('{not json');
    sockets[0]!.receive({ type: 'candle' });
    expect(client.getStats().messages).toBe(0);
    expect(client.getStats().status).toBe('open');
  });

  it('stops for good on stop(), and restart() picks up a new URL', () => {
    client.start();
    sockets[0]!.open();
    client.stop();
    expect(sockets[0]!.closed?.code).toBe(1000);
    expect(client.getStats().status).toBe('closed');
    timers.advance(60_000);
    expect(sockets).toHaveLength(1);
    url = 'ws://other/ws?api_key=k';
    client.restart();
    expect(sockets).toHaveLength(2);
    expect(sockets[1]!.url).toBe('ws://other/ws?api_key=k');
  });

  it('ignores events of a socket it has replaced', () => {
    const got: number[] = [];
    client.subscribe('AAPL', '1m', (m) => got.push(m.candle.close));
    client.start();
    const old = sockets[0]!;
    old.open();
    client.restart();
    old.receive(candle('AAPL', '1m', 1));
    old.drop();
    expect(got).toEqual([]);
    expect(timers.pending()).toEqual([]);
  });
});

describe('groupByTimeframe', () => {
  it('groups keys', () => {
    expect([...groupByTimeframe(['A|1m', 'B|1m', 'A|5m'])]).toEqual([
      ['1m', ['A', 'B']],
      ['5m', ['A']],
    ]);
  });
});
