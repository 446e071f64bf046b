/** History: a date range and timeframe → chart, virtualised table, gaps and downloads. */

import { useQuery } from '@tanstack/react-query';
import { useMemo, useState, type FormEvent } from 'react';
import { useSearchParams } from 'react-router';
import { fetchHistoryAll } from '../api/endpoints';
import { apiUrl, authHeaders } from '../api/http';
import CandleChart from '../components/CandleChart';
import { DownloadIcon } from '../components/icons';
import { SymbolSelect, TimeframeSelect } from '../components/Pickers';
import { Card, EmptyState, ErrorState, LoadingBlock, PageHeader, errorMessage } from '../components/ui';
import { VirtualTable, type Column } from '../components/VirtualTable';
import { activeSymbols, useSymbols } from '../hooks/useSymbols';
import { findGaps, toBar, type Bar } from '../lib/candles';
import type { ApiCandle } from '../lib/candles';
import { exchangeDate, formatExchangeTime, formatInt, formatPrice, isoToEpoch, timeframeSeconds } from '../lib/format';
import { TIMEFRAMES, useSettings } from '../stores/settings';

const MAX_BARS = 50_000;

function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function defaultStart(tf: string): string {
  const days = tf === '1d' ? 365 : tf === '1h' ? 60 : tf === '15m' ? 20 : tf === '5m' ? 10 : 7;
  return isoDay(new Date(Date.now() - days * 86400_000));
}

/** Download through fetch (so the API key header is sent), then save the blob. */
async function download(url: string, filename: string): Promise<void> {
  const res = await fetch(url, { headers: authHeaders() });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { error?: { message?: string } };
      message = body.error?.message ?? message;
    } catch {
      /* not JSON */
    }
    throw new Error(message);
  }
  const blob = await res.blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 5000);
}

export default function History() {
  const [params, setParams] = useSearchParams();
  const symbolsQ = useSymbols();
  const active = activeSymbols(symbolsQ.data);
  const defaultTf = useSettings((s) => s.defaultTimeframe);
  const symbol = (params.get('symbol') ?? active[0] ?? '').toUpperCase();
  const tfParam = params.get('tf');
  const timeframe = tfParam && (TIMEFRAMES as readonly string[]).includes(tfParam) ? tfParam : defaultTf;
  const start = params.get('start') ?? defaultStart(timeframe);
  const end = params.get('end') ?? isoDay(new Date());
  const [draft, setDraft] = useState({ start, end });
  const [focus, setFocus] = useState<number | null>(null);
  const [dlError, setDlError] = useState<string | null>(null);
  const [dlBusy, setDlBusy] = useState<string | null>(null);
  const hasKey = useSettings((st) => st.apiKey.trim() !== '');

  const set = (patch: Record<string, string>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(patch)) next.set(k, v);
    setParams(next);
  };

  const rangeError = draft.start && draft.end && draft.start > draft.end ? 'The start date must be on or before the end date.' : null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (rangeError) return;
    setFocus(null);
    set({ start: draft.start, end: draft.end });
  };

  const endExclusive = isoDay(new Date(Date.parse(`${end}T00:00:00Z`) + 86400_000));
  const q = useQuery({
    queryKey: ['history', symbol, timeframe, start, end],
    queryFn: ({ signal }) => fetchHistoryAll(symbol, { timeframe, start, end: endExclusive }, { maxBars: MAX_BARS, keep: 'first', signal }),
    enabled: Boolean(symbol),
    staleTime: 60_000,
  });

  const candles: ApiCandle[] = q.data?.candles ?? [];
  const bars: Bar[] = useMemo(() => candles.map((c) => toBar(c)), [candles]);
  const gaps = useMemo(() => findGaps(bars, timeframeSeconds(timeframe), exchangeDate), [bars, timeframe]);
  const gapStarts = useMemo(() => new Set(gaps.map((g) => g.to)), [gaps]);
  const missing = gaps.reduce((s, g) => s + g.missing, 0);

  const columns: Column<ApiCandle>[] = [
    { key: 'ts', header: 'Time (ET)', width: 'minmax(11rem,1.6fr)', render: (c) => formatExchangeTime(isoToEpoch(c.ts), timeframe) },
    { key: 'open', header: 'Open', align: 'right', width: 'minmax(5rem,1fr)', render: (c) => formatPrice(c.open) },
    { key: 'high', header: 'High', align: 'right', width: 'minmax(5rem,1fr)', render: (c) => formatPrice(c.high) },
    { key: 'low', header: 'Low', align: 'right', width: 'minmax(5rem,1fr)', render: (c) => formatPrice(c.low) },
    { key: 'close', header: 'Close', align: 'right', width: 'minmax(5rem,1fr)', render: (c) => <span className={c.close >= c.open ? 'up' : 'down'}>{formatPrice(c.close)}</span> },
    { key: 'volume', header: 'Volume', align: 'right', width: 'minmax(6rem,1fr)', render: (c) => formatInt(c.volume) },
    { key: 'trades', header: 'Trades', align: 'right', width: 'minmax(5rem,1fr)', render: (c) => formatInt(c.trade_count ?? null) },
    { key: 'vwap', header: 'VWAP', align: 'right', width: 'minmax(5rem,1fr)', render: (c) => formatPrice(c.vwap ?? null) },
  ];

  const fileBase = `${symbol}_${timeframe}_${start}_${end}`;
  const link = (format: string) => apiUrl(`/api/v1/ohlcv/${encodeURIComponent(symbol)}/history`, { timeframe, start, end: endExclusive, format });
  const onDownload = async (format: 'csv' | 'parquet') => {
    setDlError(null);
    setDlBusy(format);
    try {
      await download(link(format), `${fileBase}.${format}`);
    } catch (err) {
      setDlError(`Download failed: ${errorMessage(err)}`);
    } finally {
      setDlBusy(null);
    }
  };

  return (
    <div className="space-y-4">
      <PageHeader title="History" description="Stored bars for a date range, with gaps and downloads. Times are exchange time (ET)." />
      <Card>
        <form onSubmit={submit} className="flex flex-wrap items-end gap-3" aria-label="History range">
          <SymbolSelect value={symbol} options={active} onChange={(s) => set({ symbol: s })} />
          <TimeframeSelect value={timeframe} onChange={(tf) => set({ tf })} />
          <div>
            <label className="label" htmlFor="h-start">
              Start
            </label>
            <input id="h-start" type="date" className="input w-40" value={draft.start} max={draft.end} onChange={(e) => setDraft({ ...draft, start: e.target.value })} required />
          </div>
          <div>
            <label className="label" htmlFor="h-end">
              End (inclusive)
            </label>
            <input id="h-end" type="date" className="input w-40" value={draft.end} min={draft.start} onChange={(e) => setDraft({ ...draft, end: e.target.value })} required />
          </div>
          <button type="submit" className="btn-primary" disabled={Boolean(rangeError)}>
            Load
          </button>
          <div className="ml-auto flex gap-2">
            {(['csv', 'parquet'] as const).map((format) =>
              hasKey ? (
                <button key={format} type="button" className="btn" onClick={() => onDownload(format)} disabled={!symbol || dlBusy !== null} data-testid={`download-${format}`}>
                  <DownloadIcon /> {dlBusy === format ? 'Preparing…' : format.toUpperCase()}
                </button>
              ) : (
                <a key={format} className="btn" href={symbol ? link(format) : undefined} download={`${fileBase}.${format}`} data-testid={`download-${format}`} aria-label={`Download ${symbol} ${timeframe} ${start} to ${end} as ${format.toUpperCase()}`}>
                  <DownloadIcon /> {format === 'csv' ? 'CSV' : 'Parquet'}
                </a>
              ),
            )}
          </div>
          {rangeError && (
            <p role="alert" className="down w-full text-sm">
              {rangeError}
            </p>
          )}
          {dlError && (
            <p role="alert" className="down w-full text-sm">
              {dlError}
            </p>
          )}
        </form>
      </Card>

      {q.isLoading ? (
        <Card>
          <LoadingBlock label={`Loading ${symbol} ${timeframe}`} className="h-80" />
        </Card>
      ) : q.isError ? (
        <ErrorState title="Could not load the history" error={q.error} onRetry={() => q.refetch()} />
      ) : !symbol ? (
        <Card>
          <EmptyState>Add a symbol first (Symbols page).</EmptyState>
        </Card>
      ) : (
        <>
          <div className="grid gap-4 xl:grid-cols-[minmax(0,1fr)_22rem]">
            <Card title={`${symbol} · ${timeframe} · ${start} → ${end}`} bodyClassName="p-1 sm:p-2">
              {bars.length === 0 ? <EmptyState>No bars in this range.</EmptyState> : <CandleChart bars={bars} timeframe={timeframe} symbol={symbol} focusTime={focus} className="h-[360px]" />}
            </Card>
            <Card title="Summary and gaps" bodyClassName="p-0">
              <dl className="num grid grid-cols-[auto_1fr] gap-x-4 gap-y-1.5 p-4 text-sm">
                <dt className="muted">Bars</dt>
                <dd className="text-right" data-testid="history-count">
                  {formatInt(bars.length)}
                  {q.data?.truncated ? '+' : ''}
                </dd>
                <dt className="muted">First</dt>
                <dd className="text-right whitespace-nowrap">{bars[0] ? formatExchangeTime(bars[0].time, timeframe) : '—'}</dd>
                <dt className="muted">Last</dt>
                <dd className="text-right whitespace-nowrap">{bars.length ? formatExchangeTime(bars[bars.length - 1]!.time, timeframe) : '—'}</dd>
                <dt className="muted">Gaps</dt>
                <dd className={`text-right ${gaps.length ? 'down' : 'up'}`} data-testid="gap-count">
                  {gaps.length} ({formatInt(missing)} bars)
                </dd>
              </dl>
              {q.data?.truncated && <p className="px-4 pb-2 text-xs muted">Showing the first {formatInt(MAX_BARS)} bars; narrow the range for more.</p>}
              <ul className="max-h-56 overflow-y-auto border-t border-slate-200 text-sm dark:border-slate-800" aria-label="Gaps">
                {gaps.length === 0 && <li className="px-4 py-3 muted">{timeframe === '1d' ? 'No skipped weekdays.' : 'No missing bars inside sessions.'}</li>}
                {gaps.slice(0, 200).map((g) => (
                  <li key={g.from}>
                    <button type="button" className="num w-full px-4 py-1.5 text-left hover:bg-slate-50 dark:hover:bg-slate-800" onClick={() => setFocus(g.to)}>
                      {formatExchangeTime(g.from, timeframe)} → {formatExchangeTime(g.to, timeframe)} <span className="down">({g.missing} missing{timeframe === '1d' ? ' weekday(s): holiday or gap' : ''})</span>
                    </button>
                  </li>
                ))}
              </ul>
            </Card>
          </div>
          <Card title="Bars" actions={<span className="num text-xs muted">{formatInt(candles.length)} rows</span>}>
            {candles.length === 0 ? (
              <EmptyState>No bars.</EmptyState>
            ) : (
              <VirtualTable
                rows={candles}
                columns={columns}
                label={`${symbol} ${timeframe} bars`}
                testId="history-table"
                rowClassName={(c) => (gapStarts.has(isoToEpoch(c.ts)) ? 'bg-amber-50 dark:bg-amber-950/40' : '')}
              />
            )}
            {gaps.length > 0 && <p className="mt-2 text-xs muted">Rows highlighted in amber follow a gap.</p>}
          </Card>
        </>
      )}
    </div>
  );
}
