/** React wrapper around the chart controller: candles, volume, indicator lines, markers, legend. */

import type { SeriesMarker, Time } from 'lightweight-charts';
import { useEffect, useMemo, useRef, useState } from 'react';
import { findBar, type Bar } from '../lib/candles';
import { ChartController, type LineSpec } from '../lib/chart';
import { formatExchangeTime, formatPct, formatPrice, formatVolume, pctChange } from '../lib/format';
import { useResolvedTheme } from '../lib/theme';

export interface CandleChartProps {
  bars: readonly Bar[];
  timeframe: string;
  symbol: string;
  lines?: LineSpec[];
  markers?: SeriesMarker<Time>[];
  /** Centre the chart on this time (epoch seconds) once bars are loaded. */
  focusTime?: number | null;
  className?: string;
  /** Accessible description of the chart. */
  label?: string;
  /** Identifies the data shown (`symbol|timeframe`), exposed as `data-key` for tests. */
  dataKey?: string;
  /** Pattern names per bar time, listed in the legend. */
  patterns?: Map<number, { name: string; direction: string }[]>;
}

function valueAt(values: LineSpec['values'], time: number): number | null {
  // The latest value at or before `time` (the forming bar has no indicator value yet).
  let lo = 0;
  let hi = values.length - 1;
  let found: number | null = null;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = values[mid]!;
    if (v.time <= time) {
      if (v.value !== null) found = v.value;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (found === null) {
    for (let i = Math.min(hi, values.length - 1); i >= 0; i -= 1) {
      if (values[i]!.value !== null) return values[i]!.value;
    }
  }
  return found;
}

function Legend({
  symbol,
  timeframe,
  bars,
  lines,
  hover,
  patterns,
}: {
  symbol: string;
  timeframe: string;
  bars: readonly Bar[];
  lines: LineSpec[];
  hover: number | null;
  patterns?: Map<number, { name: string; direction: string }[]>;
}) {
  const idx = hover !== null ? findBar(bars, hover) : bars.length - 1;
  const bar = idx >= 0 ? bars[idx] : undefined;
  const prev = idx > 0 ? bars[idx - 1] : undefined;
  const change = bar ? pctChange(bar.close, prev ? prev.close : bar.open) : null;
  const cls = change === null ? '' : change >= 0 ? 'up' : 'down';
  const lineValues = useMemo(() => {
    if (!bar) return [];
    return lines
      .filter((l) => l.kind !== 'histogram')
      .map((l) => {
        return { id: l.id, title: l.title ?? l.id, color: l.color, value: valueAt(l.values, bar.time) };
      });
  }, [bar, lines]);
  return (
    <div className="pointer-events-none absolute top-2 left-2 z-10 max-w-[calc(100%-5rem)] rounded-md bg-white/85 px-2 py-1 text-xs leading-5 shadow-sm backdrop-blur-sm dark:bg-slate-900/85" data-testid="chart-legend">
      <div className="flex flex-wrap items-baseline gap-x-3">
        <span className="font-semibold">
          {symbol} · {timeframe}
        </span>
        <span className="num muted">{bar ? formatExchangeTime(bar.time, timeframe) : '—'}</span>
        {bar && !bar.final && <span className="rounded bg-sky-100 px-1 text-[10px] font-semibold text-sky-900 uppercase dark:bg-sky-950 dark:text-sky-200">forming</span>}
      </div>
      <div className="num flex flex-wrap gap-x-3">
        <span>
          <span className="muted">O</span> {formatPrice(bar?.open)}
        </span>
        <span>
          <span className="muted">H</span> {formatPrice(bar?.high)}
        </span>
        <span>
          <span className="muted">L</span> {formatPrice(bar?.low)}
        </span>
        <span>
          <span className="muted">C</span> <span className={cls}>{formatPrice(bar?.close)}</span>
        </span>
        <span className={cls}>{formatPct(change)}</span>
        <span>
          <span className="muted">V</span> {formatVolume(bar?.volume)}
        </span>
      </div>
      {bar && patterns?.get(bar.time) && (
        <div className="hidden flex-wrap gap-x-2 sm:flex">
          {patterns.get(bar.time)!.slice(0, 4).map((p) => (
            <span key={p.name} className={p.direction === 'bullish' ? 'up' : p.direction === 'bearish' ? 'down' : 'muted'}>
              {p.direction === 'bullish' ? '▲' : p.direction === 'bearish' ? '▼' : '•'} {p.name}
            </span>
          ))}
        </div>
      )}
      {lineValues.length > 0 && (
        <div className="num hidden flex-wrap gap-x-3 sm:flex">
          {lineValues.map((l) => (
            <span key={l.id}>
              <span style={{ color: l.color }} aria-hidden="true">
                ●
              </span>{' '}
              <span className="muted">{l.title}</span> {formatPrice(l.value)}
            </span>
          ))}
        </div>
      )}
    </div>
  );
}

export function CandleChart({ bars, timeframe, symbol, lines = [], markers = [], focusTime = null, className = 'h-[420px] sm:h-[540px] xl:h-[600px]', label, patterns, dataKey }: CandleChartProps) {
  const containerRef = useRef<HTMLDivElement>(null);
  const wrapperRef = useRef<HTMLDivElement>(null);
  const ctrlRef = useRef<ChartController | null>(null);
  const dark = useResolvedTheme((s) => s.theme === 'dark');
  const [hover, setHover] = useState<number | null>(null);
  const focusedRef = useRef<string>('');

  useEffect(() => {
    const el = containerRef.current;
    if (!el) return;
    const ctrl = new ChartController(el, { dark: useResolvedTheme.getState().theme === 'dark', timeframe });
    ctrl.onFirstRender = () => {
      performance.mark('first-candle');
      wrapperRef.current?.setAttribute('data-first-render', String(Math.round(performance.now())));
    };
    ctrlRef.current = ctrl;
    const off = ctrl.onCrosshair((p) => setHover(p.time === undefined ? null : (p.time as number)));
    return () => {
      off();
      ctrl.destroy();
      ctrlRef.current = null;
    };
    // The chart is created once; timeframe/theme changes are applied below.
  }, []);

  useEffect(() => ctrlRef.current?.setTheme(dark), [dark]);
  useEffect(() => ctrlRef.current?.setTimeframe(timeframe), [timeframe]);

  useEffect(() => {
    const ctrl = ctrlRef.current;
    if (!ctrl) return;
    ctrl.setBars(bars);
    const last = bars[bars.length - 1];
    const w = wrapperRef.current;
    if (w) {
      w.dataset.key = dataKey ?? `${symbol}|${timeframe}`;
      w.dataset.bars = String(bars.length);
      w.dataset.lastTime = last ? String(last.time) : '';
      w.dataset.lastClose = last ? String(last.close) : '';
      w.dataset.lastVolume = last ? String(last.volume) : '';
    }
  }, [bars, dataKey, symbol, timeframe]);

  useEffect(() => ctrlRef.current?.setLines(lines), [lines]);
  useEffect(() => ctrlRef.current?.setMarkers(markers), [markers]);

  useEffect(() => {
    const ctrl = ctrlRef.current;
    if (!ctrl || bars.length === 0) return;
    const key = `${symbol}|${timeframe}|${focusTime ?? ''}`;
    if (focusedRef.current === key) return;
    focusedRef.current = key;
    if (focusTime !== null) ctrl.focusTime(focusTime);
    else ctrl.showLast(160);
  }, [bars, focusTime, symbol, timeframe]);

  return (
    <div ref={wrapperRef} className={`relative w-full ${className}`} data-testid="price-chart" data-symbol={symbol} data-timeframe={timeframe}>
      <Legend symbol={symbol} timeframe={timeframe} bars={bars} lines={lines} hover={hover} patterns={patterns} />
      <div
        ref={containerRef}
        className="absolute inset-0"
        role="figure"
        aria-label={label ?? `Candlestick chart of ${symbol}, ${timeframe} bars, with volume${lines.length ? ' and indicators' : ''}`}
      />
    </div>
  );
}

export default CandleChart;
