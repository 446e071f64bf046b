/**
 * A lightweight-charts 5 controller: candles + volume pane, indicator overlays and panes,
 * pattern markers, exchange-time labels, and cheap incremental updates for live data.
 */

import {
  CandlestickSeries,
  ColorType,
  createChart,
  createSeriesMarkers,
  CrosshairMode,
  HistogramSeries,
  LineSeries,
  LineStyle,
  TickMarkType,
  type CandlestickData,
  type HistogramData,
  type IChartApi,
  type ISeriesApi,
  type ISeriesMarkersPluginApi,
  type LineData,
  type MouseEventParams,
  type SeriesMarker,
  type Time,
  type UTCTimestamp,
} from 'lightweight-charts';
import type { Bar } from './candles';
import { exchangeParts, formatExchangeTime, formatVolume } from './format';

export interface ChartTheme {
  dark: boolean;
}

export const COLORS = {
  up: '#10b981',
  down: '#f43f5e',
  upVol: 'rgba(16,185,129,0.45)',
  downVol: 'rgba(244,63,94,0.45)',
  sma_20: '#f59e0b',
  sma_50: '#a855f7',
  ema_20: '#38bdf8',
  vwap: '#eab308',
  bb: '#94a3b8',
  rsi: '#a78bfa',
  macd: '#38bdf8',
  signal: '#f59e0b',
  histUp: 'rgba(16,185,129,0.6)',
  histDown: 'rgba(244,63,94,0.6)',
};

/** One line to draw: values by bar time. */
export interface LineSpec {
  id: string;
  pane: 'price' | 'rsi' | 'macd';
  color: string;
  width?: 1 | 2;
  dashed?: boolean;
  kind?: 'line' | 'histogram';
  values: { time: number; value: number | null }[];
  title?: string;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** Axis tick labels in exchange time (America/New_York). */
export function tickLabel(time: number, type: TickMarkType): string {
  const p = exchangeParts(time);
  switch (type) {
    case TickMarkType.Year:
      return String(p.year);
    case TickMarkType.Month:
      return MONTHS[p.month - 1] ?? '';
    case TickMarkType.DayOfMonth:
      return `${MONTHS[p.month - 1]} ${p.day}`;
    case TickMarkType.Time:
      return `${pad(p.hour)}:${pad(p.minute)}`;
    default:
      return `${pad(p.hour)}:${pad(p.minute)}`;
  }
}

function themeOptions(dark: boolean) {
  const text = dark ? '#cbd5e1' : '#334155';
  const grid = dark ? 'rgba(148,163,184,0.08)' : 'rgba(100,116,139,0.12)';
  const border = dark ? '#1e293b' : '#e2e8f0';
  return {
    layout: {
      background: { type: ColorType.Solid, color: 'transparent' },
      textColor: text,
      fontSize: 11,
      fontFamily: "ui-sans-serif, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
      panes: { separatorColor: border, separatorHoverColor: dark ? '#334155' : '#cbd5e1', enableResize: true },
    },
    grid: { vertLines: { color: grid }, horzLines: { color: grid } },
    rightPriceScale: { borderColor: border },
    timeScale: { borderColor: border },
    crosshair: {
      vertLine: { color: dark ? '#64748b' : '#94a3b8', labelBackgroundColor: dark ? '#334155' : '#475569' },
      horzLine: { color: dark ? '#64748b' : '#94a3b8', labelBackgroundColor: dark ? '#334155' : '#475569' },
    },
  };
}

const t = (time: number) => time as UTCTimestamp;

function candleData(b: Bar): CandlestickData<Time> {
  return { time: t(b.time), open: b.open, high: b.high, low: b.low, close: b.close };
}

function volumeData(b: Bar): HistogramData<Time> {
  return { time: t(b.time), value: b.volume, color: b.close >= b.open ? COLORS.upVol : COLORS.downVol };
}

export interface CrosshairInfo {
  time: number | null;
}

export class ChartController {
  readonly chart: IChartApi;
  private readonly candles: ISeriesApi<'Candlestick'>;
  private readonly volume: ISeriesApi<'Histogram'>;
  private readonly markers: ISeriesMarkersPluginApi<Time>;
  private lines = new Map<string, ISeriesApi<'Line'> | ISeriesApi<'Histogram'>>();
  private lineSignature = '';
  private shown: readonly Bar[] = [];
  private timeframe: string;
  private firstRenderDone = false;
  onFirstRender: (() => void) | null = null;

  constructor(container: HTMLElement, opts: { dark: boolean; timeframe: string }) {
    this.timeframe = opts.timeframe;
    this.chart = createChart(container, {
      autoSize: true,
      ...themeOptions(opts.dark),
      crosshair: { ...themeOptions(opts.dark).crosshair, mode: CrosshairMode.Normal },
      localization: {
        locale: 'en-US',
        timeFormatter: (time: Time) => formatExchangeTime(time as number, this.timeframe),
      },
      timeScale: {
        ...themeOptions(opts.dark).timeScale,
        timeVisible: true,
        secondsVisible: false,
        rightOffset: 4,
        tickMarkFormatter: (time: Time, type: TickMarkType) => tickLabel(time as number, type),
      },
    });
    this.candles = this.chart.addSeries(CandlestickSeries, {
      upColor: COLORS.up,
      downColor: COLORS.down,
      borderUpColor: COLORS.up,
      borderDownColor: COLORS.down,
      wickUpColor: COLORS.up,
      wickDownColor: COLORS.down,
      priceLineWidth: 1,
    });
    this.volume = this.chart.addSeries(
      HistogramSeries,
      { priceFormat: { type: 'custom', formatter: (v: number) => formatVolume(v), minMove: 1 }, priceLineVisible: false, lastValueVisible: true },
      1,
    );
    this.markers = createSeriesMarkers(this.candles, []);
    this.layoutPanes();
  }

  setTheme(dark: boolean): void {
    const o = themeOptions(dark);
    this.chart.applyOptions({ ...o, crosshair: { ...o.crosshair, mode: CrosshairMode.Normal } });
  }

  setTimeframe(timeframe: string): void {
    this.timeframe = timeframe;
    this.chart.applyOptions({ timeScale: { timeVisible: !/[dw]$/.test(timeframe) } });
  }

  /** Show `bars`, updating only what changed since the last call when possible. */
  setBars(bars: readonly Bar[]): void {
    const prev = this.shown;
    this.shown = bars;
    if (bars === prev) return;
    let i = 0;
    const n = Math.min(prev.length, bars.length);
    while (i < n && prev[i] === bars[i]) i += 1;
    const sameHead = prev.length > 0 && bars.length > 0 && prev[0] === bars[0];
    const onlyTail = sameHead && i >= prev.length - 1 && bars.length >= prev.length && bars.length - i <= 3;
    if (onlyTail) {
      for (let k = i; k < bars.length; k += 1) {
        const b = bars[k]!;
        this.candles.update(candleData(b));
        this.volume.update(volumeData(b));
      }
    } else if (sameHead && bars.length === prev.length) {
      // A revision inside the list: find the changed bars and update them in place.
      const changed: number[] = [];
      for (let k = i; k < bars.length && changed.length <= 3; k += 1) if (prev[k] !== bars[k]) changed.push(k);
      if (changed.length <= 3 && changed.every((k) => prev[k]!.time === bars[k]!.time)) {
        for (const k of changed) {
          this.candles.update(candleData(bars[k]!), true);
          this.volume.update(volumeData(bars[k]!), true);
        }
      } else {
        this.resetData(bars);
      }
    } else {
      this.resetData(bars);
    }
    if (!this.firstRenderDone && bars.length > 0) {
      this.firstRenderDone = true;
      this.onFirstRender?.();
    }
  }

  private resetData(bars: readonly Bar[]): void {
    this.candles.setData(bars.map(candleData));
    this.volume.setData(bars.map(volumeData));
  }

  /** Replace the indicator lines (re-creating series only when the set of lines changes). */
  setLines(specs: LineSpec[]): void {
    const signature = specs.map((s) => `${s.id}:${s.pane}:${s.kind ?? 'line'}`).join(',');
    if (signature !== this.lineSignature) {
      for (const s of this.lines.values()) this.chart.removeSeries(s);
      this.lines.clear();
      const panes = ['price', ...new Set(specs.map((s) => s.pane).filter((p) => p !== 'price'))];
      for (const spec of specs) {
        const paneIndex = spec.pane === 'price' ? 0 : 1 + panes.indexOf(spec.pane);
        const common = { priceLineVisible: false, lastValueVisible: false, title: '' };
        const series =
          spec.kind === 'histogram'
            ? this.chart.addSeries(HistogramSeries, { ...common, color: spec.color }, paneIndex)
            : this.chart.addSeries(
                LineSeries,
                {
                  ...common,
                  color: spec.color,
                  lineWidth: spec.width ?? 1,
                  lineStyle: spec.dashed ? LineStyle.Dashed : LineStyle.Solid,
                  crosshairMarkerVisible: false,
                },
                paneIndex,
              );
        if (spec.pane === 'rsi' && spec.kind !== 'histogram') {
          for (const level of [70, 30]) {
            series.createPriceLine({ price: level, color: COLORS.bb, lineWidth: 1, lineStyle: LineStyle.Dotted, axisLabelVisible: false, title: '' });
          }
        }
        this.lines.set(spec.id, series);
      }
      this.lineSignature = signature;
      this.layoutPanes();
    }
    for (const spec of specs) {
      const series = this.lines.get(spec.id);
      if (!series) continue;
      const data = spec.values
        .filter((v) => v.value !== null && Number.isFinite(v.value))
        .map((v) =>
          spec.kind === 'histogram'
            ? ({ time: t(v.time), value: v.value as number, color: (v.value as number) >= 0 ? COLORS.histUp : COLORS.histDown } as HistogramData<Time>)
            : ({ time: t(v.time), value: v.value as number } as LineData<Time>),
        );
      series.setData(data as never);
    }
  }

  private layoutPanes(): void {
    const panes = this.chart.panes();
    panes.forEach((pane, idx) => pane.setStretchFactor(idx === 0 ? 5 : idx === 1 ? 1.3 : 1.6));
  }

  setMarkers(markers: SeriesMarker<Time>[]): void {
    this.markers.setMarkers(markers);
  }

  /** Scroll so that the bar at `time` is centred, about `span` bars wide. */
  focusTime(time: number, span = 120): void {
    const bars = this.shown;
    if (bars.length <= span) {
      this.chart.timeScale().fitContent();
      return;
    }
    let idx = bars.findIndex((b) => b.time >= time);
    if (idx < 0) idx = bars.length - 1;
    this.chart.timeScale().setVisibleLogicalRange({ from: idx - span / 2, to: idx + span / 2 });
  }

  /** Show the last `count` bars. */
  showLast(count: number): void {
    const n = this.shown.length;
    if (n === 0) return;
    if (n <= count) {
      this.chart.timeScale().fitContent();
      return;
    }
    this.chart.timeScale().setVisibleLogicalRange({ from: n - count, to: n + 3 });
  }

  onCrosshair(fn: (p: MouseEventParams<Time>) => void): () => void {
    this.chart.subscribeCrosshairMove(fn);
    return () => this.chart.unsubscribeCrosshairMove(fn);
  }

  destroy(): void {
    this.chart.remove();
  }
}
