/** Symbols: add (validated), list with coverage, deactivate. */

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { api, type SymbolEntry } from '../api/endpoints';
import { PlusIcon } from '../components/icons';
import { Card, EmptyState, ErrorState, LoadingBlock, PageHeader, Spinner, StatusBadge, errorMessage } from '../components/ui';
import { useSymbols } from '../hooks/useSymbols';
import { exchangeDate, formatExchangeTime, formatInt, formatPct, isoToEpoch, parseSymbols } from '../lib/format';

interface Coverage {
  first: number | null;
  last: number | null;
  bars: number | null;
  completeness: number | null;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
function ts(v: unknown): number | null {
  if (typeof v !== 'string') return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.floor(t / 1000);
}

/** Coverage fields the API may send with a symbol (several spellings accepted). */
export function coverageFromEntry(e: SymbolEntry): Coverage | null {
  const raw = e as unknown as Record<string, unknown>;
  const c = (raw.coverage && typeof raw.coverage === 'object' ? raw.coverage : raw) as Record<string, unknown>;
  const first = ts(c.first_bar ?? c.first_ts ?? c.first);
  const last = ts(c.last_bar ?? c.last_ts ?? c.last);
  if (first === null && last === null) return null;
  const completeness = num(c.completeness);
  return { first, last, bars: num(c.bars ?? c.bar_count ?? c.count), completeness: completeness !== null && completeness <= 1 ? completeness * 100 : completeness };
}

/**
 * Measured coverage when the API does not send it: the first daily bar, the latest 1m bar,
 * and the share of 1m bars present over the last few sessions (390 per regular session).
 */
async function measureCoverage(symbol: string, signal: AbortSignal): Promise<Coverage> {
  const [firstDaily, latest] = await Promise.all([
    api.history(symbol, { timeframe: '1d', start: '1990-01-01', limit: 1 }, signal),
    api.latest(symbol, '1m', signal).catch(() => null),
  ]);
  const first = firstDaily.candles[0] ? isoToEpoch(firstDaily.candles[0].ts) : null;
  const last = latest?.candle ? isoToEpoch(latest.candle.ts) : null;
  let completeness: number | null = null;
  let bars: number | null = null;
  if (last !== null) {
    const since = new Date((last - 8 * 86400) * 1000).toISOString();
    const recent = await api.history(symbol, { timeframe: '1m', start: since, limit: 5000 }, signal);
    bars = recent.candles.length;
    const perDay = new Map<string, number>();
    for (const c of recent.candles) {
      const d = exchangeDate(isoToEpoch(c.ts));
      perDay.set(d, (perDay.get(d) ?? 0) + 1);
    }
    // Whole past sessions only: not the current one (still filling), nor the first day of
    // the window (it starts mid-session).
    const today = exchangeDate(Date.now() / 1000);
    const days = [...perDay.entries()].filter(([d]) => d !== today).slice(1);
    if (days.length) completeness = (100 * days.reduce((s, [, n]) => s + Math.min(n, 390), 0)) / (390 * days.length);
  }
  return { first, last, bars, completeness };
}

function CoverageCells({ entry }: { entry: SymbolEntry }) {
  const given = coverageFromEntry(entry);
  const q = useQuery({
    queryKey: ['coverage', entry.symbol],
    queryFn: ({ signal }) => measureCoverage(entry.symbol, signal),
    enabled: given === null && entry.active !== false,
    staleTime: 60_000,
  });
  const c = given ?? q.data;
  if (!c) {
    return (
      <td colSpan={3} className="px-3 py-2 text-sm muted">
        {q.isLoading ? <Spinner label="Measuring" /> : q.isError ? `coverage unavailable: ${errorMessage(q.error)}` : '—'}
      </td>
    );
  }
  const pct = c.completeness;
  return (
    <>
      <td className="num px-3 py-2 text-sm whitespace-nowrap">{c.first !== null ? formatExchangeTime(c.first, '1d') : '—'}</td>
      <td className="num px-3 py-2 text-sm whitespace-nowrap">{c.last !== null ? formatExchangeTime(c.last, '1m') : '—'}</td>
      <td className="px-3 py-2 text-sm">
        {pct === null ? (
          '—'
        ) : (
          <div className="flex items-center gap-2" title="Share of 1m bars present in recent whole sessions">
            <div className="h-1.5 w-16 overflow-hidden rounded-full bg-slate-200 dark:bg-slate-700" aria-hidden="true">
              <div className={`h-full ${pct >= 99 ? 'bg-emerald-500' : pct >= 90 ? 'bg-amber-500' : 'bg-rose-500'}`} style={{ width: `${Math.min(100, pct)}%` }} />
            </div>
            <span className="num">{formatPct(pct, 1).replace('+', '')}</span>
          </div>
        )}
      </td>
    </>
  );
}

function RemoveButton({ symbol }: { symbol: string }) {
  const qc = useQueryClient();
  const [confirm, setConfirm] = useState(false);
  const m = useMutation({
    mutationFn: () => api.removeSymbol(symbol),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['symbols'] }),
  });
  if (m.isError) return <span className="down text-xs">{errorMessage(m.error)}</span>;
  if (!confirm) {
    return (
      <button type="button" className="btn-danger" onClick={() => setConfirm(true)} aria-label={`Deactivate ${symbol}`}>
        Deactivate
      </button>
    );
  }
  return (
    <span className="inline-flex gap-1.5">
      <button type="button" className="btn-danger bg-rose-50 dark:bg-rose-950" onClick={() => m.mutate()} disabled={m.isPending} aria-label={`Confirm deactivating ${symbol}`}>
        {m.isPending ? 'Removing…' : 'Confirm'}
      </button>
      <button type="button" className="btn h-8 px-2.5 text-xs" onClick={() => setConfirm(false)}>
        Cancel
      </button>
    </span>
  );
}

function AddSymbols() {
  const qc = useQueryClient();
  const [text, setText] = useState('');
  const [touched, setTouched] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const errId = useId();
  let parsed: string[] = [];
  let invalid: string | null = null;
  try {
    parsed = parseSymbols(text);
  } catch (err) {
    invalid = (err as Error).message;
  }
  const m = useMutation({
    mutationFn: (symbols: string[]) => api.addSymbols(symbols),
    onSuccess: (_d, symbols) => {
      setDone(`Now tracking ${symbols.join(', ')}: the stream picks them up; history comes from a backfill (the Dagster sensor, or fetch in the Console).`);
      setText('');
      setTouched(false);
      qc.invalidateQueries({ queryKey: ['symbols'] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setTouched(true);
    setDone(null);
    if (invalid) return;
    m.mutate(parsed);
  };
  const showInvalid = touched && text.trim() !== '' && invalid;
  return (
    <form onSubmit={submit} className="flex flex-wrap items-start gap-3" aria-label="Add symbols" noValidate>
      <div className="w-full max-w-md min-w-0 flex-1">
        <label htmlFor="add-symbols" className="label">
          Symbols to track (comma or space separated)
        </label>
        <input
          id="add-symbols"
          className="input uppercase placeholder:normal-case"
          value={text}
          placeholder="e.g. TSLA, META"
          autoComplete="off"
          spellCheck={false}
          onChange={(e) => {
            setText(e.target.value);
            setDone(null);
          }}
          onBlur={() => setTouched(true)}
          aria-invalid={showInvalid ? true : undefined}
          aria-describedby={errId}
          data-testid="add-symbol-input"
        />
        <p id={errId} className={`mt-1 min-h-5 text-xs ${showInvalid || m.isError ? 'down' : 'muted'}`} role={showInvalid || m.isError ? 'alert' : undefined}>
          {showInvalid ? invalid : m.isError ? errorMessage(m.error) : text.trim() && !invalid ? `Will add: ${parsed.join(', ')}` : 'Letters first; letters, digits, "." and "-"; up to 10 characters.'}
        </p>
      </div>
      <button type="submit" className="btn-primary mt-5" disabled={m.isPending || !text.trim()} data-testid="add-symbol-submit">
        <PlusIcon /> {m.isPending ? 'Adding…' : 'Add'}
      </button>
      {done && (
        <p role="status" className="up w-full text-sm" data-testid="add-symbol-done">
          {done}
        </p>
      )}
    </form>
  );
}

export default function Symbols() {
  const q = useSymbols();
  const list = q.data ?? [];
  const activeCount = list.filter((s) => s.active !== false).length;
  return (
    <div className="space-y-4">
      <PageHeader title="Symbols" description="The registry of tracked symbols: the stream follows it, and backfills fill in history." />
      <Card title="Add">
        <AddSymbols />
      </Card>
      <Card title="Tracked symbols" actions={<span className="text-xs muted">{activeCount} active · {list.length - activeCount} inactive</span>} bodyClassName="">
        {q.isLoading ? (
          <LoadingBlock />
        ) : q.isError ? (
          <div className="p-4">
            <ErrorState error={q.error} onRetry={() => q.refetch()} />
          </div>
        ) : list.length === 0 ? (
          <EmptyState>No symbols yet. Add one above.</EmptyState>
        ) : (
          <div className="relative overflow-x-auto" tabIndex={0} role="region" aria-label="Tracked symbols table (scrollable)">
            <table className="w-full min-w-[44rem] text-left" data-testid="symbols-table">
              <thead className="border-b border-slate-200 dark:border-slate-800">
                <tr>
                  <th scope="col" className="table-head px-3 py-2">
                    Symbol
                  </th>
                  <th scope="col" className="table-head px-3 py-2">
                    Status
                  </th>
                  <th scope="col" className="table-head px-3 py-2">
                    First bar
                  </th>
                  <th scope="col" className="table-head px-3 py-2">
                    Last bar (ET)
                  </th>
                  <th scope="col" className="table-head px-3 py-2">
                    Completeness
                  </th>
                  <th scope="col" className="table-head px-3 py-2 text-right">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100 dark:divide-slate-800">
                {list.map((s) => (
                  <tr key={s.symbol} data-testid={`symbol-row-${s.symbol}`}>
                    <th scope="row" className="px-3 py-2 text-sm font-semibold">
                      <Link to={`/?symbol=${encodeURIComponent(s.symbol)}`} className="text-sky-700 hover:underline dark:text-sky-400">
                        {s.symbol}
                      </Link>
                    </th>
                    <td className="px-3 py-2">
                      <StatusBadge status={s.active !== false ? 'active' : 'inactive'} />
                    </td>
                    <CoverageCells entry={s} />
                    <td className="px-3 py-2 text-right">{s.active !== false ? <RemoveButton symbol={s.symbol} /> : <span className="text-xs muted">{s.updated_at ? `since ${s.updated_at.slice(0, 10)}` : ''}</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      <p className="text-xs muted">
        Completeness: the share of regular-session 1m bars (390 a day) present in the last whole sessions, when the API does not report coverage itself. {formatInt(list.length)} symbols.
      </p>
    </div>
  );
}
