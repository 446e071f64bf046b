import { describe, expect, it } from 'vitest';
import type { EnrichedCandle } from '../src/api/endpoints';
import { buildLines, buildMarkers, describePattern, indicatorParam, patternsByTime } from '../src/lib/indicators';

const ec = (ts: string, indicators: Record<string, number | null>, patterns: EnrichedCandle['patterns'] = []): EnrichedCandle => ({
  ohlcv: { ts, open: 1, high: 2, low: 0.5, close: 1.5, volume: 10 },
  indicators,
  patterns,
});

const data = [
  ec('2024-01-02T14:30:00Z', { sma_20: null, rsi_14: null, macd_12_26_9: null, macd_signal_12_26_9: null, macd_hist_12_26_9: null }),
  ec('2024-01-02T14:31:00Z', { sma_20: 1.2, rsi_14: 55, macd_12_26_9: 0.1, macd_signal_12_26_9: 0.05, macd_hist_12_26_9: 0.05 }, ['cdl_hammer']),
  ec('2024-01-02T14:32:00Z', { sma_20: 1.3, rsi_14: 61, macd_12_26_9: -0.1, macd_signal_12_26_9: 0.0, macd_hist_12_26_9: -0.1 }, [{ name: 'engulfing', direction: 'bearish' }, { name: 'doji' }]),
];

describe('indicator lines', () => {
  it('requests the chosen indicators in the registry syntax, in a stable order', () => {
    expect(indicatorParam(['sma_20', 'bb_20_2'])).toBe('bbands:20:2,sma:20');
    expect(indicatorParam(['bb_20_2', 'sma_20'])).toBe('bbands:20:2,sma:20');
    expect(indicatorParam(['macd_12_26_9', 'vwap'])).toBe('macd:12:26:9,vwap');
    expect(indicatorParam([])).toBe('');
  });
  it('builds price overlays first, then RSI, then MACD, keeping warm-up nulls', () => {
    const lines = buildLines(data, ['macd_12_26_9', 'rsi_14', 'sma_20']);
    expect(lines.map((l) => `${l.pane}:${l.id}`)).toEqual([
      'price:sma_20:sma_20',
      'rsi:rsi_14:rsi_14',
      'macd:macd_12_26_9:macd_hist_12_26_9',
      'macd:macd_12_26_9:macd_12_26_9',
      'macd:macd_12_26_9:macd_signal_12_26_9',
    ]);
    expect(lines[0]!.values.map((v) => v.value)).toEqual([null, 1.2, 1.3]);
    expect(lines[2]!.kind).toBe('histogram');
  });
  it('skips indicators the API did not return', () => {
    expect(buildLines(data, ['ema_20', 'vwap'])).toEqual([]);
  });
});

describe('patterns', () => {
  it('reads direction from strings and objects', () => {
    expect(describePattern('cdl_hammer').direction).toBe('bullish');
    expect(describePattern('evening star').direction).toBe('bearish');
    expect(describePattern({ name: 'x', signal: -100 }).direction).toBe('bearish');
    expect(describePattern({ pattern: 'breakout', direction: 'bullish' })).toEqual({ name: 'breakout', direction: 'bullish' });
    expect(describePattern({ name: 'doji' }).direction).toBe('neutral');
  });
  it('puts bearish markers above the bar and bullish ones below, one per candle', () => {
    const m = buildMarkers(data);
    expect(m).toHaveLength(2);
    expect(m[0]).toMatchObject({ position: 'belowBar', shape: 'arrowUp', id: 'hammer' });
    expect(m[1]).toMatchObject({ position: 'aboveBar', shape: 'arrowDown', id: 'engulfing +1' });
  });
  it('leaves out weak patterns when the API grades them', () => {
    const graded = [ec('2024-01-02T14:30:00Z', {}, [{ name: 'doji', direction: 'neutral', strength: 0.3 }]), ec('2024-01-02T14:31:00Z', {}, [{ name: 'breakout', direction: 'bullish', strength: 0.9 }])];
    expect(buildMarkers(graded).map((x) => x.id)).toEqual(['breakout']);
    expect(patternsByTime(graded).get(1704205800)).toEqual([{ name: 'doji', direction: 'neutral' }]);
  });
});
