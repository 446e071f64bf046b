/** Watchlist: last price and change against the previous session's close, updated live. */

import { useQueries } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { api } from '../api/endpoints';
import { exchangeDate, formatChange, formatExchangeTime, formatPct, formatPrice, isoToEpoch, pctChange } from '../lib/format';
import { live } from '../lib/live';
import { ErrorState } from './ui';

interface Quote {
  price: number;
  time: number;
}

/** The previous session's close before the session of `time`, from ascending daily bars. */
export function previousClose(daily: { time: number; close: number }[], time: number): number | null {
  const day = exchangeDate(time);
  for (let i = daily.length - 1; i >= 0; i -= 1) {
    const d = daily[i]!;
    if (exchangeDate(d.time) < day) return d.close;
  }
  return null;
}

async function loadReference(symbol: string, signal: AbortSignal) {
  const since = new Date(Date.now() - 20 * 86400_000).toISOString().slice(0, 10);
  const [daily, latest] = await Promise.all([
    api.history(symbol, { timeframe: '1d', start: since, limit: 50 }, signal),
    api.latest(symbol, '1m', signal).catch(() => null),
  ]);
  return {
    daily: daily.candles.map((c) => ({ time: isoToEpoch(c.ts), close: c.close })),
    latest: latest?.candle ? { price: latest.candle.close, time: isoToEpoch(latest.candle.ts) } : null,
  };
}

export function Watchlist({ symbols, selected, onSelect }: { symbols: string[]; selected?: string; onSelect: (symbol: string) => void }) {
  const refs = useQueries({
    queries: symbols.map((symbol) => ({
      queryKey: ['quote-ref', symbol],
      queryFn: ({ signal }: { signal: AbortSignal }) => loadReference(symbol, signal),
      staleTime: 60_000,
    })),
  });
  const [quotes, setQuotes] = useState<Record<string, Quote>>({});
  const [flash, setFlash] = useState<Record<string, 'up' | 'down'>>({});
  const pending = useRef<Record<string, Quote>>({});
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const lastPrice = useRef<Record<string, number>>({});

  useEffect(() => {
    const offs = symbols.map((symbol) =>
      live.subscribe(symbol, '1m', (msg) => {
        pending.current[symbol] = { price: msg.candle.close, time: isoToEpoch(msg.candle.ts) };
        if (timer.current === null) {
          // Batch quote updates: at most ~4 renders a second however busy the stream is.
          timer.current = setTimeout(() => {
            timer.current = null;
            const batch = pending.current;
            pending.current = {};
            const fl: Record<string, 'up' | 'down'> = {};
            for (const [s, q] of Object.entries(batch)) {
              const prev = lastPrice.current[s];
              if (prev !== undefined && prev !== q.price) fl[s] = q.price > prev ? 'up' : 'down';
              lastPrice.current[s] = q.price;
            }
            setQuotes((old) => ({ ...old, ...batch }));
            setFlash(fl);
          }, 250);
        }
      }),
    );
    return () => {
      offs.forEach((off) => off());
      if (timer.current !== null) clearTimeout(timer.current);
      timer.current = null;
    };
  }, [symbols]);

  const failed = refs.find((r) => r.isError);
  return (
    <div>
      {failed && symbols.length > 0 && refs.every((r) => r.isError) && <ErrorState title="Quotes unavailable" error={failed.error} onRetry={() => refs.forEach((r) => r.refetch())} />}
      <ul className="divide-y divide-slate-100 dark:divide-slate-800" aria-label="Watchlist" data-testid="watchlist">
        {symbols.map((symbol, i) => {
          const ref = refs[i]?.data;
          const q = quotes[symbol] ?? ref?.latest ?? null;
          const prevClose = q && ref ? previousClose(ref.daily, q.time) : null;
          const chg = q && prevClose !== null ? q.price - prevClose : null;
          const pct = q ? pctChange(q.price, prevClose) : null;
          const dir = chg === null ? '' : chg >= 0 ? 'up' : 'down';
          const f = flash[symbol];
          const active = selected === symbol;
          return (
            <li key={symbol}>
              <button
                type="button"
                onClick={() => onSelect(symbol)}
                aria-current={active ? 'true' : undefined}
                className={`grid h-14 w-full grid-cols-[1fr_auto] items-center gap-x-3 px-4 text-left transition-colors hover:bg-slate-50 dark:hover:bg-slate-800/60 ${active ? 'bg-sky-50 dark:bg-sky-950/40' : ''}`}
                data-testid={`watch-${symbol}`}
                aria-label={`${symbol}: ${q ? formatPrice(q.price) : 'no price'}${pct !== null ? `, ${formatPct(pct)}` : ''}. Show chart`}
              >
                <span className="min-w-0">
                  <span className="block text-sm font-semibold">{symbol}</span>
                  <span className="num block truncate text-xs muted">{q ? formatExchangeTime(q.time, '1m') : refs[i]?.isLoading ? 'loading…' : 'no data'}</span>
                </span>
                <span className="text-right">
                  <span
                    className={`num block rounded px-1 text-sm font-semibold transition-colors duration-500 ${f === 'up' ? 'bg-emerald-500/15' : f === 'down' ? 'bg-rose-500/15' : ''}`}
                    data-testid={`watch-price-${symbol}`}
                  >
                    {q ? formatPrice(q.price) : '—'}
                  </span>
                  <span className={`num block text-xs ${dir}`}>
                    {formatChange(chg)} ({formatPct(pct)})
                  </span>
                </span>
              </button>
            </li>
          );
        })}
      </ul>
    </div>
  );
}
