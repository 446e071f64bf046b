import { describe, expect, it } from 'vitest';
import { expandUsage, groupOf, renderChunk } from '../src/pages/Console';

describe('console palette', () => {
  it('splits alternatives and decides run vs. edit', () => {
    const entries = expandUsage({ name: 'symbols', usage: 'symbols list | add A,B | remove A', help: 'The registry.' });
    expect(entries.map((e) => [e.label, e.run, e.fill])).toEqual([
      ['symbols list', 'symbols list', 'symbols list'],
      ['symbols add A,B', null, 'symbols add A,B'],
      ['symbols remove A', null, 'symbols remove A'],
    ]);
    const metrics = expandUsage({ name: 'metrics', usage: 'metrics [FILTER]', help: '' });
    expect(metrics[0]!.run).toBe('metrics');
    const fetch = expandUsage({ name: 'fetch', usage: 'fetch SYMBOLS --start DATE [--end DATE]', help: '' });
    expect(fetch[0]!.run).toBeNull();
    expect(fetch[0]!.fill).toBe('fetch SYMBOLS --start DATE');
    const withChoice = expandUsage({ name: 'fetch', usage: 'fetch SYMBOLS --start DATE [--provider mock|alpaca]', help: '' });
    expect(withChoice).toHaveLength(1);
    expect(withChoice[0]!.label).toBe('fetch SYMBOLS --start DATE [--provider mock|alpaca]');
    expect(expandUsage({ name: 'mock', usage: 'mock test [SYMBOL] | speed [N]', help: '' }).map((e) => e.run)).toEqual(['mock test', 'mock speed']);
  });
  it('groups commands as data, mock and server', () => {
    expect(groupOf('fetch')).toBe('data');
    expect(groupOf('symbols')).toBe('data');
    expect(groupOf('mock')).toBe('mock');
    expect(groupOf('health')).toBe('server');
    expect(groupOf('metrics')).toBe('server');
  });
  it('renders NDJSON events', () => {
    expect(renderChunk({ type: 'start', command: 'health' })).toEqual([]);
    expect(renderChunk({ type: 'line', text: 'status: ok' })).toEqual([{ kind: 'out', text: 'status: ok' }]);
    expect(renderChunk({ type: 'progress', done: 1, total: 4, text: 'AAPL stored' })).toEqual([{ kind: 'info', text: '[1/4 25%] AAPL stored' }]);
    expect(renderChunk({ type: 'end', ok: true, exit_code: 0 })).toEqual([{ kind: 'info', text: 'exit 0' }]);
    expect(renderChunk({ type: 'end', ok: false, exit_code: 1, error: { code: 'invalid_input', message: 'unknown command' } })).toEqual([
      { kind: 'err', text: 'error: invalid_input: unknown command' },
      { kind: 'err', text: 'exit 1' },
    ]);
  });
});
