/** Turning enriched candles into chart lines and pattern markers. */

import type { SeriesMarker, Time, UTCTimestamp } from 'lightweight-charts';
import type { EnrichedCandle, PatternValue } from '../api/endpoints';
import type { IndicatorId } from '../stores/settings';
import { COLORS, type LineSpec } from './chart';
import { isoToEpoch } from './format';

/** The indicator keys (CONTRACT.md names) each dashboard choice draws. */
export const INDICATOR_KEYS: Record<IndicatorId, { key: string; color: string; label: string; kind?: 'histogram'; dashed?: boolean }[]> = {
  sma_20: [{ key: 'sma_20', color: COLORS.sma_20, label: 'SMA20' }],
  sma_50: [{ key: 'sma_50', color: COLORS.sma_50, label: 'SMA50' }],
  ema_20: [{ key: 'ema_20', color: COLORS.ema_20, label: 'EMA20' }],
  bb_20_2: [
    { key: 'bb_upper_20_2', color: COLORS.bb, label: 'BB up', dashed: true },
    { key: 'bb_middle_20_2', color: COLORS.bb, label: 'BB mid' },
    { key: 'bb_lower_20_2', color: COLORS.bb, label: 'BB low', dashed: true },
  ],
  vwap: [{ key: 'vwap', color: COLORS.vwap, label: 'VWAP', dashed: true }],
  rsi_14: [{ key: 'rsi_14', color: COLORS.rsi, label: 'RSI14' }],
  macd_12_26_9: [
    { key: 'macd_hist_12_26_9', color: COLORS.macd, label: 'Hist', kind: 'histogram' },
    { key: 'macd_12_26_9', color: COLORS.macd, label: 'MACD' },
    { key: 'macd_signal_12_26_9', color: COLORS.signal, label: 'Signal' },
  ],
};

const PANE: Record<IndicatorId, LineSpec['pane']> = {
  sma_20: 'price',
  sma_50: 'price',
  ema_20: 'price',
  bb_20_2: 'price',
  vwap: 'price',
  rsi_14: 'rsi',
  macd_12_26_9: 'macd',
};

/** The `/enriched?indicators=` spec of each choice (`name:param:…`, the enrichment registry's syntax). */
export const INDICATOR_SPEC: Record<IndicatorId, string> = {
  sma_20: 'sma:20',
  sma_50: 'sma:50',
  ema_20: 'ema:20',
  bb_20_2: 'bbands:20:2',
  vwap: 'vwap',
  rsi_14: 'rsi:14',
  macd_12_26_9: 'macd:12:26:9',
};

/** The indicators to request from `/enriched` for the chosen overlays (sorted, so the cache key is stable). */
export function indicatorParam(selected: readonly IndicatorId[]): string {
  return [...new Set(selected.map((id) => INDICATOR_SPEC[id]))].sort().join(',');
}

/** Chart lines for the chosen indicators (ordered: price overlays, then RSI, then MACD). */
export function buildLines(enriched: readonly EnrichedCandle[], selected: readonly IndicatorId[]): LineSpec[] {
  const order: LineSpec['pane'][] = ['price', 'rsi', 'macd'];
  const ids = [...selected].sort((a, b) => order.indexOf(PANE[a]) - order.indexOf(PANE[b]));
  const times = enriched.map((c) => isoToEpoch(c.ohlcv.ts));
  const specs: LineSpec[] = [];
  for (const id of ids) {
    for (const k of INDICATOR_KEYS[id]) {
      const values = enriched.map((c, i) => {
        const v = c.indicators?.[k.key];
        return { time: times[i]!, value: typeof v === 'number' ? v : null };
      });
      if (!values.some((v) => v.value !== null)) continue;
      specs.push({ id: `${id}:${k.key}`, pane: PANE[id], color: k.color, values, title: k.label, kind: k.kind, dashed: k.dashed, width: k.kind ? undefined : id.startsWith('bb') ? 1 : 2 });
    }
  }
  return specs;
}

/** A pattern's display name and direction, whatever shape the API gives it. */
export function describePattern(p: PatternValue): { name: string; direction: 'bullish' | 'bearish' | 'neutral' } {
  if (typeof p === 'string') {
    const lower = p.toLowerCase();
    const direction = /bull|up|bottom|hammer|morning|piercing/.test(lower) ? 'bullish' : /bear|down|top|shooting|evening|hanging/.test(lower) ? 'bearish' : 'neutral';
    return { name: p, direction };
  }
  const name = String(p.name ?? p.pattern ?? 'pattern');
  const raw = String(p.direction ?? p.signal ?? '').toLowerCase();
  const num = typeof p.signal === 'number' ? p.signal : Number.NaN;
  const direction = raw.includes('bull') || num > 0 ? 'bullish' : raw.includes('bear') || num < 0 ? 'bearish' : describePattern(name).direction;
  return { name, direction };
}

function shortName(name: string): string {
  const clean = name.replace(/^cdl_?/i, '').replace(/[_-]+/g, ' ').trim();
  return clean.length > 14 ? `${clean.slice(0, 13)}…` : clean;
}

/** Pattern names per bar time (for the chart legend). */
export function patternsByTime(enriched: readonly EnrichedCandle[]): Map<number, { name: string; direction: string }[]> {
  const out = new Map<number, { name: string; direction: string }[]>();
  for (const c of enriched) {
    if (c.patterns?.length) out.set(isoToEpoch(c.ohlcv.ts), c.patterns.map(describePattern).map((p) => ({ ...p, name: p.name.replace(/_/g, ' ') })));
  }
  return out;
}

function strength(p: PatternValue): number {
  return typeof p === 'object' && typeof p.strength === 'number' ? p.strength : 1;
}

/**
 * Chart markers for candlestick and chart patterns: the `max` most recent candles with a
 * pattern of at least `minStrength` (when the API grades them).
 */
export function buildMarkers(enriched: readonly EnrichedCandle[], max = 40, minStrength = 0.7): SeriesMarker<Time>[] {
  const out: SeriesMarker<Time>[] = [];
  for (const c of enriched) {
    const strong = (c.patterns ?? []).filter((p) => strength(p) >= minStrength);
    if (!strong.length) continue;
    const described = strong.map(describePattern);
    const first = described[0]!;
    const dir = described.some((d) => d.direction === 'bullish') ? 'bullish' : described.some((d) => d.direction === 'bearish') ? 'bearish' : first.direction;
    const text = described.length > 1 ? `${shortName(first.name)} +${described.length - 1}` : shortName(first.name);
    // No text on the chart (names would overlap); the legend lists them for the hovered bar.
    out.push({
      time: isoToEpoch(c.ohlcv.ts) as UTCTimestamp,
      position: dir === 'bearish' ? 'aboveBar' : 'belowBar',
      shape: dir === 'bearish' ? 'arrowDown' : dir === 'bullish' ? 'arrowUp' : 'circle',
      color: dir === 'bearish' ? COLORS.down : dir === 'bullish' ? COLORS.up : COLORS.bb,
      id: text,
      size: 0.5,
    });
  }
  return out.slice(-max);
}
