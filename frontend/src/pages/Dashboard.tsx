/** Dashboard: live candlestick chart with indicators and patterns, watchlist, narratives. */

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useEffect, useMemo, useState } from 'react';
import { useNavigate, useSearchParams } from 'react-router';
import { api, type EnrichedCandle } from '../api/endpoints';
import CandleChart from '../components/CandleChart';
import { SymbolSelect, TimeframeSelect } from '../components/Pickers';
import { Card, EmptyState, ErrorState, LoadingBlock, Spinner, errorMessage } from '../components/ui';
import { Watchlist } from '../components/Watchlist';
import { useLiveCandles, LOOKBACK_DAYS } from '../hooks/useLiveCandles';
import { activeSymbols, useSymbols } from '../hooks/useSymbols';
import { useThrottled } from '../hooks/useThrottled';
import { epochToIso, formatExchangeTime, formatInt, formatPrice, isoToEpoch } from '../lib/format';
import { buildLines, buildMarkers, describePattern, indicatorParam, patternsByTime } from '../lib/indicators';
import { INDICATOR_IDS, INDICATORS, TIMEFRAMES, useSettings, type IndicatorId } from '../stores/settings';
import { COLORS } from '../lib/chart';
import type { SeriesMarker, Time, UTCTimestamp } from 'lightweight-charts';

function IndicatorToggles({ selected, onChange, patterns, onPatterns }: { selected: IndicatorId[]; onChange: (v: IndicatorId[]) => void; patterns: boolean; onPatterns: (v: boolean) => void }) {
  const chip = (on: boolean) =>
    `chip ${on ? 'border-sky-600 bg-sky-50 text-sky-900 dark:border-sky-500 dark:bg-sky-950 dark:text-sky-100' : 'border-slate-300 text-slate-700 hover:bg-slate-50 dark:border-slate-700 dark:text-slate-300 dark:hover:bg-slate-800'}`;
  return (
    <div role="group" aria-label="Indicators" className="flex flex-wrap gap-1.5">
      {INDICATOR_IDS.map((id) => {
        const on = selected.includes(id);
        return (
          <button key={id} type="button" aria-pressed={on} className={chip(on)} onClick={() => onChange(on ? selected.filter((s) => s !== id) : [...selected, id])}>
            {INDICATORS[id].label}
          </button>
        );
      })}
      <button type="button" aria-pressed={patterns} className={chip(patterns)} onClick={() => onPatterns(!patterns)}>
        Patterns
      </button>
    </div>
  );
}

function Narrative({ symbol, timeframe, at }: { symbol: string; timeframe: string; at: string }) {
  const q = useQuery({
    queryKey: ['narrative', symbol, timeframe, at],
    queryFn: ({ signal }) => api.narrative(symbol, { timeframe, at, format: 'text' }, signal),
    staleTime: Infinity,
  });
  return (
    <Card title={`Narrative · ${symbol} ${timeframe} · ${formatExchangeTime(isoToEpoch(at), timeframe)}`} id="narrative">
      {q.isLoading ? <Spinner label="Writing the narrative" /> : q.isError ? <ErrorState error={q.error} onRetry={() => q.refetch()} /> : <p className="text-sm leading-6 whitespace-pre-wrap" data-testid="narrative-text">{q.data}</p>}
    </Card>
  );
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Market context of the latest enriched candle: regime, trend, levels, confidence. */
const CONTEXT_ROWS = ['Regime', 'Trend', 'Volatility pct.', 'Relative volume', 'Resistance', 'Support', 'Signal bias'];

function ContextCard({ candle, timeframe, state }: { candle: EnrichedCandle | undefined; timeframe: string; state: 'loading' | 'error' | 'ready' }) {
  if (!candle) {
    // The same rows as the filled card, so nothing below moves when the data arrives.
    return (
      <Card title="Context" id="context">
        <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1.5 text-sm" aria-busy={state === 'loading'}>
          {CONTEXT_ROWS.map((k) => (
            <div key={k} className="contents">
              <dt className="muted">{k}</dt>
              <dd className="flex justify-end">{state === 'loading' ? <span className="skeleton my-0.5 h-4 w-16" /> : '—'}</dd>
            </div>
          ))}
        </dl>
        <div className="mt-3 h-[1.125rem]" />
        <div className="mt-1 h-1.5" />
        <div className="mt-3 min-h-6 text-xs muted">{state === 'error' ? 'Context unavailable.' : ''}</div>
      </Card>
    );
  }
  const ctx = (candle.context ?? {}) as Record<string, unknown>;
  const levels = (key: string) =>
    (Array.isArray(ctx[key]) ? (ctx[key] as { price?: number }[]) : [])
      .map((l) => num(l?.price))
      .filter((p): p is number => p !== null)
      .slice(0, 2);
  const support = levels('support');
  const resistance = levels('resistance');
  const bias = num(ctx.signal_bias);
  const conf = num(candle.confidence);
  const trend = String(ctx.trend_direction ?? '—');
  const rows: [string, string, string?][] = [
    ['Regime', String(ctx.regime ?? '—')],
    ['Trend', `${trend}${num(ctx.trend_strength) !== null ? ` (${(num(ctx.trend_strength)! * 100).toFixed(0)}%)` : ''}`, trend === 'up' ? 'up' : trend === 'down' ? 'down' : ''],
    ['Volatility pct.', num(ctx.volatility_percentile) !== null ? `${(num(ctx.volatility_percentile)! * 100).toFixed(0)}%` : '—'],
    ['Relative volume', num(ctx.relative_volume) !== null ? `${num(ctx.relative_volume)!.toFixed(2)}×` : '—'],
    ['Resistance', resistance.length ? resistance.map((p) => formatPrice(p)).join(' · ') : '—', 'down'],
    ['Support', support.length ? support.map((p) => formatPrice(p)).join(' · ') : '—', 'up'],
    ['Signal bias', bias !== null ? `${bias > 0 ? '+' : ''}${bias.toFixed(2)}` : '—', bias === null ? '' : bias > 0 ? 'up' : bias < 0 ? 'down' : ''],
  ];
  const patterns = (candle.patterns ?? []).map(describePattern);
  return (
    <Card title={`Context · ${formatExchangeTime(isoToEpoch(candle.ohlcv.ts), timeframe)}`} id="context">
      <dl className="num grid grid-cols-[auto_1fr] gap-x-4 gap-y-1.5 text-sm" data-testid="context">
        {rows.map(([k, v, cls]) => (
          <div key={k} className="contents">
            <dt className="muted">{k}</dt>
            <dd className={`text-right capitalize ${cls ?? ''}`}>{v}</dd>
          </div>
        ))}
      </dl>
      <div className="mt-3">
        <div className="flex justify-between text-xs">
          <span className="muted">Confidence</span>
          <span className="num">{conf !== null ? `${(conf * 100).toFixed(0)}%` : '—'}</span>
        </div>
        <div className="mt-1 h-1.5 overflow-hidden rounded-full bg-slate-200 dark:bg-slate-700" aria-hidden="true">
          <div className="h-full bg-sky-500" style={{ width: `${(conf ?? 0) * 100}%` }} />
        </div>
      </div>
      {patterns.length === 0 ? (
        <p className="mt-3 min-h-6 text-xs leading-6 muted">No pattern on this candle.</p>
      ) : (
        <ul className="mt-3 flex min-h-6 flex-wrap gap-1.5" aria-label="Patterns on this candle">
          {patterns.slice(0, 6).map((p) => (
            <li key={p.name} className={`rounded-full px-2 py-0.5 text-xs font-medium ${p.direction === 'bullish' ? 'bg-emerald-100 text-emerald-900 dark:bg-emerald-950 dark:text-emerald-300' : p.direction === 'bearish' ? 'bg-rose-100 text-rose-900 dark:bg-rose-950 dark:text-rose-300' : 'bg-slate-100 text-slate-800 dark:bg-slate-800 dark:text-slate-200'}`}>
              {p.name.replace(/_/g, ' ')}
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

export default function Dashboard() {
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const settings = useSettings();
  const symbolsQ = useSymbols();
  const active = activeSymbols(symbolsQ.data);
  const watch = useMemo(() => {
    const wanted = settings.defaultSymbols.length ? settings.defaultSymbols : active;
    return wanted.slice(0, 16);
  }, [settings.defaultSymbols, active.join(',')]);

  const symbol = (params.get('symbol') ?? watch[0] ?? '').toUpperCase();
  const tfParam = params.get('tf');
  const timeframe = tfParam && (TIMEFRAMES as readonly string[]).includes(tfParam) ? tfParam : settings.defaultTimeframe;
  const at = params.get('at');
  const atEpoch = at ? isoToEpoch(at) : null;
  const [indicators, setIndicators] = useState<IndicatorId[]>(settings.defaultIndicators);
  const [patterns, setPatterns] = useState(settings.showPatterns);
  const [describeAt, setDescribeAt] = useState<string | null>(null);
  useEffect(() => setDescribeAt(null), [symbol, timeframe]);

  const update = (patch: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) next.delete(k);
      else next.set(k, v);
    }
    setParams(next, { replace: false });
  };

  // Around a focused candle (from Search): a window centred on it; live only if it reaches now.
  const window_ = useMemo(() => {
    if (atEpoch === null) return { start: undefined, end: undefined, live: true };
    const span = (LOOKBACK_DAYS[timeframe] ?? 30) * 86400;
    const now = Math.floor(Date.now() / 1000);
    const end = atEpoch + span * 0.5;
    return end >= now ? { start: atEpoch - span * 0.5, end: undefined, live: true } : { start: atEpoch - span * 0.5, end, live: false };
  }, [atEpoch, timeframe]);

  const candles = useLiveCandles(symbol, timeframe, window_);
  const closed = useThrottled(candles.closedCount, 4000);
  const firstTime = candles.bars[0]?.time;
  const wantEnriched = indicators.length > 0 || patterns;
  const enriched = useQuery({
    queryKey: ['enriched', symbol, timeframe, indicatorParam(indicators), firstTime, window_.end, closed],
    queryFn: ({ signal }) =>
      api.enriched(
        symbol,
        {
          timeframe,
          start: epochToIso(firstTime!),
          end: window_.end !== undefined ? epochToIso(window_.end) : undefined,
          indicators: indicatorParam(indicators) || undefined,
        },
        signal,
      ),
    enabled: candles.status === 'ready' && firstTime !== undefined && wantEnriched,
    placeholderData: keepPreviousData,
    staleTime: 60_000,
  });
  const enrichedCandles = enriched.data?.symbol === symbol && enriched.data?.timeframe === timeframe ? enriched.data.candles : [];
  const lines = useMemo(() => buildLines(enrichedCandles, indicators), [enrichedCandles, indicators]);
  const patternMap = useMemo(() => (patterns ? patternsByTime(enrichedCandles) : undefined), [enrichedCandles, patterns]);
  const markers = useMemo(() => {
    const m: SeriesMarker<Time>[] = patterns ? buildMarkers(enrichedCandles) : [];
    if (atEpoch !== null) {
      m.push({ time: atEpoch as UTCTimestamp, position: 'aboveBar', shape: 'arrowDown', color: COLORS.ema_20, text: 'selected', size: 1.4 });
      m.sort((a, b) => (a.time as number) - (b.time as number));
    }
    return m;
  }, [enrichedCandles, patterns, atEpoch]);

  const last = candles.bars[candles.bars.length - 1];
  const lastClosed = [...candles.bars.slice(-3)].reverse().find((b) => b.final);
  const noSymbols = symbolsQ.isSuccess && active.length === 0 && !params.get('symbol');

  return (
    <div className="grid gap-4 xl:grid-cols-[minmax(0,1fr)_19rem]">
      <div className="min-w-0 space-y-4">
        <section className="card" aria-label="Price chart">
          <div className="flex flex-wrap items-center gap-3 border-b border-slate-200 px-3 py-2.5 sm:px-4 dark:border-slate-800">
            <SymbolSelect value={symbol} options={active.length ? active : symbol ? [symbol] : []} onChange={(s) => update({ symbol: s, at: null })} />
            <TimeframeSelect value={timeframe} onChange={(tf) => update({ tf })} />
            <div className="ml-auto flex items-baseline gap-2" aria-live="off">
              <span className="num text-lg font-semibold" data-testid="last-price">
                {formatPrice(last?.close)}
              </span>
              <span className="num inline-block min-w-[7.5rem] text-xs muted">{formatInt(candles.liveUpdates)} live updates</span>
            </div>
            <div className="w-full">
              <IndicatorToggles selected={indicators} onChange={setIndicators} patterns={patterns} onPatterns={setPatterns} />
            </div>
          </div>
          {at && (
            <div className="flex flex-wrap items-center gap-2 border-b border-slate-200 bg-sky-50 px-4 py-2 text-sm dark:border-slate-800 dark:bg-sky-950/40">
              <span>
                Viewing <strong>{formatExchangeTime(atEpoch!, timeframe)}</strong>
                {!window_.live && ' (history; live updates paused)'}
              </span>
              <button type="button" className="btn ml-auto h-8" onClick={() => update({ at: null })}>
                Back to live
              </button>
            </div>
          )}
          <div className="relative p-1 sm:p-2">
            {noSymbols ? (
              <EmptyState>
                <span>
                  No symbols are tracked yet.{' '}
                  <button type="button" className="font-semibold text-sky-700 underline dark:text-sky-400" onClick={() => navigate('/symbols')}>
                    Add one
                  </button>
                  .
                </span>
              </EmptyState>
            ) : !symbol && symbolsQ.isError ? (
              <div className="flex h-[420px] flex-col items-center justify-center gap-3 p-4 sm:h-[540px] xl:h-[600px]">
                <ErrorState title="Cannot load the symbols" error={symbolsQ.error} onRetry={() => symbolsQ.refetch()} />
                <button type="button" className="text-sm font-medium text-sky-700 underline dark:text-sky-400" onClick={() => navigate('/settings')}>
                  Check the API base URL and key in Settings
                </button>
              </div>
            ) : !symbol ? (
              <LoadingBlock label="Loading symbols" className="h-[420px] sm:h-[540px] xl:h-[600px]" />
            ) : (
              <>
                <CandleChart bars={candles.bars} timeframe={timeframe} symbol={symbol} lines={lines} markers={markers} focusTime={atEpoch} patterns={patternMap} dataKey={candles.key} />
                {candles.status === 'loading' && (
                  <div className="absolute inset-0 flex items-center justify-center bg-white/60 dark:bg-slate-900/60">
                    <Spinner label={`Loading ${symbol || 'chart'}`} />
                  </div>
                )}
                {candles.status === 'error' && (
                  <div className="absolute inset-x-4 top-16">
                    <ErrorState title={`Could not load ${symbol} ${timeframe}`} error={candles.error} onRetry={candles.reload} />
                  </div>
                )}
                {candles.status === 'ready' && candles.bars.length === 0 && (
                  <div className="absolute inset-0 flex items-center justify-center">
                    <p className="rounded-lg bg-white/90 px-4 py-3 text-sm muted dark:bg-slate-900/90">No bars stored for {symbol} {timeframe} in this window yet.</p>
                  </div>
                )}
              </>
            )}
          </div>
          <div className="flex min-h-9 flex-wrap items-center gap-x-4 gap-y-1 border-t border-slate-200 px-4 py-2 text-xs muted dark:border-slate-800">
            <span className="num">{formatInt(candles.bars.length)} bars</span>
            {candles.truncated && <span>(older bars not loaded)</span>}
            <span>Exchange time (America/New_York)</span>
            {wantEnriched && (
              <span role="status" className={`min-w-0 truncate ${enriched.isError ? 'down' : ''}`}>
                {enriched.isError ? `Indicators unavailable: ${errorMessage(enriched.error)}` : enriched.isFetching ? 'Updating indicators…' : enrichedCandles.length ? `Indicators on ${formatInt(enrichedCandles.length)} bars` : ''}
              </span>
            )}
            {lastClosed && !at && (
              <button type="button" className="ml-auto font-medium text-sky-700 underline-offset-2 hover:underline dark:text-sky-400" onClick={() => setDescribeAt(epochToIso(lastClosed.time))}>
                Describe last closed bar
              </button>
            )}
          </div>
        </section>
        {at && <Narrative symbol={symbol} timeframe={timeframe} at={at} />}
        {!at && describeAt && <Narrative symbol={symbol} timeframe={timeframe} at={describeAt} />}
      </div>
      <aside className="min-w-0 space-y-4" aria-label="Watchlist and session">
        <Card title="Watchlist" bodyClassName="">
          {symbolsQ.isLoading ? (
            <ul aria-busy="true" aria-label="Watchlist loading" className="divide-y divide-slate-100 dark:divide-slate-800">
              {Array.from({ length: Math.max(settings.defaultSymbols.length, 5) }, (_, i) => (
                <li key={i} className="grid h-14 grid-cols-[1fr_auto] items-center gap-x-3 px-4">
                  <span className="skeleton h-4 w-16" />
                  <span className="skeleton h-4 w-20" />
                </li>
              ))}
            </ul>
          ) : symbolsQ.isError ? (
            <div className="p-4">
              <ErrorState error={symbolsQ.error} onRetry={() => symbolsQ.refetch()} />
            </div>
          ) : watch.length === 0 ? (
            <EmptyState>No symbols to watch.</EmptyState>
          ) : (
            <Watchlist symbols={watch} selected={symbol} onSelect={(s) => update({ symbol: s, at: null })} />
          )}
        </Card>
        {wantEnriched && (
          <ContextCard
            candle={enrichedCandles[enrichedCandles.length - 1]}
            timeframe={timeframe}
            state={enriched.isError ? 'error' : enrichedCandles.length ? 'ready' : 'loading'}
          />
        )}
        <Card title="Current bar">
          <dl className="num grid grid-cols-[auto_1fr] gap-x-4 gap-y-2 text-sm">
            <dt className="muted">Open time</dt>
            <dd className="text-right whitespace-nowrap">{last ? formatExchangeTime(last.time, timeframe) : '—'}</dd>
            <dt className="muted">Open</dt>
            <dd className="text-right">{formatPrice(last?.open)}</dd>
            <dt className="muted">High</dt>
            <dd className="text-right">{formatPrice(last?.high)}</dd>
            <dt className="muted">Low</dt>
            <dd className="text-right">{formatPrice(last?.low)}</dd>
            <dt className="muted">Close</dt>
            <dd className="text-right">{formatPrice(last?.close)}</dd>
            <dt className="muted">Volume</dt>
            <dd className="text-right">{formatInt(last?.volume)}</dd>
            <dt className="muted">State</dt>
            <dd className="text-right">{last ? (last.final ? 'closed' : 'forming') : '—'}</dd>
          </dl>
        </Card>
      </aside>
    </div>
  );
}
