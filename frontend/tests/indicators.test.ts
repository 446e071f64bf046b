import { describe, expect, it } from 'vitest';
import type { EnrichedCandle } from '../src/api/endpoints';
import { buildLines, buildMarkers, describePattern, indicatorParam } from '../src/lib/indicators';

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
  it('requests the contract names of the chosen indicators', () => {
    expect(indicatorParam(['sma_20', 'bb_20_2'])).toBe('sma_20,bb_upper_20_2,bb_middle_20_2,bb_lower_20_2');
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
    expect(m[0]).toMatchObject({ position: 'belowBar', shape: 'arrowUp', text: 'hammer' });
    expect(m[1]).toMatchObject({ position: 'aboveBar', shape: 'arrowDown', text: 'engulfing +1' });
  });
});
