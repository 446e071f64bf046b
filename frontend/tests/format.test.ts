import { describe, expect, it } from 'vitest';
import {
  exchangeClock,
  exchangeDate,
  formatBytes,
  formatChange,
  formatExchangeTime,
  formatMs,
  formatPct,
  formatPrice,
  formatVolume,
  isoToEpoch,
  epochToIso,
  parseSymbols,
  pctChange,
  timeframeSeconds,
} from '../src/lib/format';

describe('numbers', () => {
  it('formats prices with separators and sensible decimals', () => {
    expect(formatPrice(1234.5)).toBe('1,234.50');
    expect(formatPrice(0.12345)).toBe('0.1235');
    expect(formatPrice(187.1, 3)).toBe('187.100');
    expect(formatPrice(null)).toBe('—');
    expect(formatPrice(Number.NaN)).toBe('—');
  });
  it('formats volumes compactly', () => {
    expect(formatVolume(980)).toBe('980');
    expect(formatVolume(1234)).toBe('1.23K');
    expect(formatVolume(1_234_567)).toBe('1.23M');
    expect(formatVolume(123_456_789)).toBe('123.5M');
    expect(formatVolume(2.5e9)).toBe('2.50B');
    expect(formatVolume(undefined)).toBe('—');
  });
  it('formats signed changes and percentages', () => {
    expect(formatPct(1.234)).toBe('+1.23%');
    expect(formatPct(-0.4)).toBe('-0.40%');
    expect(formatPct(0)).toBe('0.00%');
    expect(formatPct(-0.001)).toBe('0.00%');
    expect(formatChange(1.2)).toBe('+1.20');
    expect(formatChange(-0.8621)).toBe('-0.86');
    expect(pctChange(110, 100)).toBeCloseTo(10);
    expect(pctChange(1, 0)).toBeNull();
    expect(pctChange(null, 1)).toBeNull();
  });
  it('formats bytes and durations', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(150 * 1024 * 1024)).toBe('150.0 MB');
    expect(formatMs(0.85)).toBe('850 µs');
    expect(formatMs(12.34)).toBe('12.3 ms');
    expect(formatMs(1200)).toBe('1.20 s');
  });
});

describe('exchange time', () => {
  it('shows UTC instants in New York time, across DST', () => {
    // 14:30 UTC in January is 09:30 EST; in July 13:30 UTC is 09:30 EDT.
    const jan = isoToEpoch('2024-01-02T14:30:00Z');
    const jul = isoToEpoch('2024-07-01T13:30:00Z');
    expect(exchangeClock(jan)).toBe('09:30');
    expect(exchangeClock(jul)).toBe('09:30');
    expect(formatExchangeTime(jan, '1m')).toBe('2024-01-02 09:30 ET');
  });
  it('labels daily bars by their session date', () => {
    // A 1d bar is labelled at midnight New York time, in UTC (05:00Z in winter).
    const d = isoToEpoch('2024-01-02T05:00:00Z');
    expect(formatExchangeTime(d, '1d')).toBe('2024-01-02');
    // 03:00 UTC is still the previous day in New York.
    expect(exchangeDate(isoToEpoch('2024-01-03T03:00:00Z'))).toBe('2024-01-02');
  });
  it('round-trips ISO timestamps', () => {
    expect(epochToIso(isoToEpoch('2024-01-02T14:30:00Z'))).toBe('2024-01-02T14:30:00Z');
    expect(() => isoToEpoch('not a date')).toThrow(/invalid timestamp/);
  });
  it('knows timeframe lengths', () => {
    expect(timeframeSeconds('1m')).toBe(60);
    expect(timeframeSeconds('15m')).toBe(900);
    expect(timeframeSeconds('4h')).toBe(14400);
    expect(timeframeSeconds('1d')).toBe(86400);
    expect(() => timeframeSeconds('2x')).toThrow(/invalid timeframe/);
  });
});

describe('symbols', () => {
  it('parses, upper-cases and de-duplicates', () => {
    expect(parseSymbols('aapl, msft  brk.b,AAPL')).toEqual(['AAPL', 'MSFT', 'BRK.B']);
  });
  it('rejects invalid symbols with a clear message', () => {
    expect(() => parseSymbols('1ABC')).toThrow(/invalid symbol "1ABC"/);
    expect(() => parseSymbols('TOOLONGSYMBOL')).toThrow(/invalid symbol/);
    expect(() => parseSymbols('A$B')).toThrow(/invalid symbol/);
    expect(() => parseSymbols(' , ')).toThrow(/at least one symbol/);
  });
});
