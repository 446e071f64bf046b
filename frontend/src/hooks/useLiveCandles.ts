/** History + live candles of one (symbol, timeframe): loads a window, then follows `/ws`. */

import { useCallback, useEffect, useRef, useState } from 'react';
import { fetchHistoryAll } from '../api/endpoints';
import { mergeBar, mergeHistory, toBar, type Bar } from '../lib/candles';
import { epochToIso } from '../lib/format';
import { live } from '../lib/live';

/** Calendar days of history loaded by default per timeframe. */
export const LOOKBACK_DAYS: Record<string, number> = {
  '1m': 5,
  '5m': 20,
  '15m': 45,
  '30m': 60,
  '1h': 120,
  '4h': 365,
  '1d': 1100,
  '1w': 3650,
};

export interface LiveCandles {
  bars: Bar[];
  /** `symbol|timeframe` of the bars held (lags the arguments until a load finishes). */
  key: string;
  status: 'loading' | 'ready' | 'error';
  error: unknown;
  truncated: boolean;
  /** Increments whenever a bar closes (final update), for dependent refetches. */
  closedCount: number;
  liveUpdates: number;
  reload: () => void;
}

export interface LiveCandlesOptions {
  /** Window start/end (epoch seconds); default: LOOKBACK_DAYS before now, open-ended. */
  start?: number;
  end?: number;
  live?: boolean;
  maxBars?: number;
}

export function useLiveCandles(symbol: string, timeframe: string, opts: LiveCandlesOptions = {}): LiveCandles {
  const { start, end, live: follow = true, maxBars = 2500 } = opts;
  const [bars, setBars] = useState<Bar[]>([]);
  const [key, setKey] = useState('');
  const [status, setStatus] = useState<LiveCandles['status']>('loading');
  const [error, setError] = useState<unknown>(null);
  const [truncated, setTruncated] = useState(false);
  const [closedCount, setClosedCount] = useState(0);
  const [liveUpdates, setLiveUpdates] = useState(0);
  const [token, setToken] = useState(0);
  const reload = useCallback(() => setToken((n) => n + 1), []);
  const maxRef = useRef(maxBars);
  maxRef.current = maxBars;

  useEffect(() => {
    if (!symbol) return;
    const ctrl = new AbortController();
    let loaded = false;
    let held: Bar[] = [];
    let queue: Bar[] = [];
    let frame: number | null = null;
    let closed = 0;
    setBars([]);
    setKey('');
    setStatus('loading');
    setError(null);
    setTruncated(false);

    const flush = () => {
      frame = null;
      const batch = queue;
      queue = [];
      if (batch.length === 0) return;
      setBars((prev) => {
        let next = prev;
        for (const b of batch) next = mergeBar(next, b, maxRef.current).bars;
        return next;
      });
      setLiveUpdates((n) => n + batch.length);
      if (closed > 0) {
        const c = closed;
        closed = 0;
        setClosedCount((n) => n + c);
      }
    };

    const unsubscribe = follow
      ? live.subscribe(symbol, timeframe, (msg) => {
          const bar = toBar(msg.candle, msg.final, msg.revision);
          if (!loaded) {
            held = mergeBar(held, bar, maxRef.current).bars;
            return;
          }
          if (msg.final) closed += 1;
          queue.push(bar);
          if (queue.length > 2000) {
            // A hidden tab gets no animation frames: keep only the latest update per bar.
            const latest = new Map<number, Bar>();
            for (const b of queue) latest.set(b.time, b);
            queue = [...latest.values()].sort((a, b) => a.time - b.time);
          }
          if (frame === null) frame = requestAnimationFrame(flush);
        })
      : () => undefined;

    const load = async () => {
      const lookback = (LOOKBACK_DAYS[timeframe] ?? 30) * 86400;
      const now = Math.floor(Date.now() / 1000);
      const from = start ?? now - lookback;
      let res = await fetchHistoryAll(
        symbol,
        { timeframe, start: epochToIso(from), end: end !== undefined ? epochToIso(end) : undefined },
        { maxBars: maxRef.current, keep: start !== undefined && end !== undefined ? 'first' : 'last', signal: ctrl.signal },
      );
      if (res.candles.length < 30 && start === undefined) {
        // A long weekend or holiday: look further back.
        res = await fetchHistoryAll(
          symbol,
          { timeframe, start: epochToIso(now - lookback * 8) },
          { maxBars: maxRef.current, keep: 'last', signal: ctrl.signal },
        );
      }
      if (ctrl.signal.aborted) return;
      loaded = true;
      const history = res.candles.map((c) => toBar(c, true, 0));
      setBars(mergeHistory(history, held));
      setKey(`${symbol}|${timeframe}`);
      held = [];
      setTruncated(res.truncated);
      setStatus('ready');
    };
    load().catch((err: unknown) => {
      if (ctrl.signal.aborted) return;
      setError(err);
      setStatus('error');
    });

    return () => {
      ctrl.abort();
      unsubscribe();
      if (frame !== null) cancelAnimationFrame(frame);
    };
  }, [symbol, timeframe, start, end, follow, token]);

  return { bars, key, status, error, truncated, closedCount, liveUpdates, reload };
}
