/** Search: semantic search over candle narratives; a result opens the chart at that candle. */

import { useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { api } from '../api/endpoints';
import { SearchIcon } from '../components/icons';
import { Card, EmptyState, ErrorState, LoadingBlock, PageHeader } from '../components/ui';
import { activeSymbols, useSymbols } from '../hooks/useSymbols';
import { formatExchangeTime, isoToEpoch } from '../lib/format';
import { TIMEFRAMES } from '../stores/settings';

const EXAMPLES = ['bullish engulfing after a selloff', 'breakout on high volume', 'oversold RSI near support', 'doji in a downtrend'];

export default function Search() {
  const [params, setParams] = useSearchParams();
  const symbolsQ = useSymbols();
  const symbols = activeSymbols(symbolsQ.data);
  const q = params.get('q') ?? '';
  const symbol = params.get('symbol') ?? '';
  const timeframe = params.get('tf') ?? '';
  const k = Number(params.get('k') ?? 10);
  const [draft, setDraft] = useState({ q, symbol, timeframe, k });

  const search = useQuery({
    queryKey: ['rag', q, symbol, timeframe, k],
    queryFn: ({ signal }) => api.search({ q, symbol: symbol || undefined, timeframe: timeframe || undefined, k }, signal),
    enabled: q.trim().length > 0,
    staleTime: 60_000,
  });

  const submit = (e: FormEvent, override?: string) => {
    e.preventDefault();
    const text = (override ?? draft.q).trim();
    if (!text) return;
    const next = new URLSearchParams();
    next.set('q', text);
    if (draft.symbol) next.set('symbol', draft.symbol);
    if (draft.timeframe) next.set('tf', draft.timeframe);
    next.set('k', String(draft.k));
    setParams(next);
  };

  const results = search.data?.results ?? [];
  return (
    <div className="space-y-4">
      <PageHeader title="Search" description="Semantic search over candle narratives (LanceDB + all-MiniLM-L6-v2). Pick a result to open its chart." />
      <Card>
        <form onSubmit={submit} role="search" aria-label="Narratives" className="grid gap-3 md:grid-cols-[minmax(0,1fr)_9rem_8rem_6rem_auto] md:items-end">
          <div className="min-w-0">
            <label htmlFor="s-q" className="label">
              Describe what you are looking for
            </label>
            <input id="s-q" className="input" type="search" value={draft.q} onChange={(e) => setDraft({ ...draft, q: e.target.value })} placeholder="e.g. hammer at support after a downtrend" data-testid="search-input" />
          </div>
          <div>
            <label htmlFor="s-sym" className="label">
              Symbol
            </label>
            <select id="s-sym" className="input" value={draft.symbol} onChange={(e) => setDraft({ ...draft, symbol: e.target.value })}>
              <option value="">Any</option>
              {symbols.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label htmlFor="s-tf" className="label">
              Timeframe
            </label>
            <select id="s-tf" className="input" value={draft.timeframe} onChange={(e) => setDraft({ ...draft, timeframe: e.target.value })}>
              <option value="">Any</option>
              {TIMEFRAMES.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label htmlFor="s-k" className="label">
              Results
            </label>
            <select id="s-k" className="input" value={draft.k} onChange={(e) => setDraft({ ...draft, k: Number(e.target.value) })}>
              {[5, 10, 20, 50].map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </div>
          <button type="submit" className="btn-primary" disabled={!draft.q.trim()} data-testid="search-submit">
            <SearchIcon /> Search
          </button>
        </form>
        <div className="mt-3 flex flex-wrap items-center gap-2 text-xs">
          <span className="muted">Try:</span>
          {EXAMPLES.map((ex) => (
            <button
              key={ex}
              type="button"
              className="chip border-slate-300 text-slate-700 hover:bg-slate-50 dark:border-slate-700 dark:text-slate-300 dark:hover:bg-slate-800"
              onClick={(e) => {
                setDraft({ ...draft, q: ex });
                submit(e, ex);
              }}
            >
              {ex}
            </button>
          ))}
        </div>
      </Card>

      {!q ? (
        <Card>
          <EmptyState>Enter a description of a market situation to find similar candles.</EmptyState>
        </Card>
      ) : search.isLoading ? (
        <Card>
          <LoadingBlock label="Searching" />
        </Card>
      ) : search.isError ? (
        <ErrorState title="Search failed" error={search.error} onRetry={() => search.refetch()} />
      ) : results.length === 0 ? (
        <Card>
          <EmptyState>
            <span>
              No narratives match. Narratives are indexed by <code className="font-mono">jonbu-ohlcv export rag</code>.
            </span>
          </EmptyState>
        </Card>
      ) : (
        <section aria-label="Results">
          <p className="mb-2 text-sm muted" role="status">
            {results.length} result{results.length === 1 ? '' : 's'} for “{q}”
          </p>
          <ol className="grid gap-3 lg:grid-cols-2" data-testid="search-results">
            {results.map((r) => {
              const t = isoToEpoch(r.ts);
              const href = `/?symbol=${encodeURIComponent(r.symbol)}&tf=${encodeURIComponent(r.timeframe)}&at=${encodeURIComponent(r.ts)}`;
              const score = Math.max(0, Math.min(1, r.score));
              return (
                <li key={`${r.symbol}-${r.timeframe}-${r.ts}`}>
                  <Link to={href} className="card block h-full p-4 transition-colors hover:border-sky-400 dark:hover:border-sky-600" data-testid="search-result">
                    <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
                      <span className="font-semibold">{r.symbol}</span>
                      <span className="rounded bg-slate-100 px-1.5 text-xs font-medium dark:bg-slate-800">{r.timeframe}</span>
                      <span className="num text-sm muted">{formatExchangeTime(t, r.timeframe)}</span>
                      <span className="ml-auto flex items-center gap-2 text-xs muted" title={`similarity ${r.score.toFixed(3)}`}>
                        <span className="h-1.5 w-14 overflow-hidden rounded-full bg-slate-200 dark:bg-slate-700" aria-hidden="true">
                          <span className="block h-full bg-sky-500" style={{ width: `${score * 100}%` }} />
                        </span>
                        <span className="num">score {r.score.toFixed(2)}</span>
                      </span>
                    </div>
                    <p className="mt-2 line-clamp-4 text-sm leading-6">{r.text}</p>
                    <p className="mt-2 text-xs font-medium text-sky-700 dark:text-sky-400">Open chart at this candle →</p>
                  </Link>
                </li>
              );
            })}
          </ol>
        </section>
      )}
    </div>
  );
}
