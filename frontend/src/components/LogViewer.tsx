/** Log viewer: the server's records (when it offers /api/v1/logs) and this browser's API/WS events. */

import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { requestJson } from '../api/http';
import { useTelemetry, type LogLevel } from '../stores/telemetry';
import { Card, EmptyState, errorMessage } from './ui';

interface ServerLog {
  ts: string | number;
  level: string;
  logger?: string;
  message: string;
}

const LEVELS: LogLevel[] = ['debug', 'info', 'warning', 'error'];

export function LogViewer() {
  const [level, setLevel] = useState<LogLevel>('info');
  const [text, setText] = useState('');
  const clientLogs = useTelemetry((s) => s.logs);
  const server = useQuery({
    queryKey: ['server-logs'],
    queryFn: ({ signal }) => requestJson<{ records?: ServerLog[]; logs?: ServerLog[] }>('/api/v1/logs', { query: { limit: 300 }, signal, quiet: [404] }),
    // Poll while the server offers a log feed; stop after an error (e.g. 404: no such route).
    refetchInterval: (query) => (query.state.status === 'error' ? false : 5000),
    retry: false,
  });
  const serverRecords = server.data?.records ?? server.data?.logs ?? [];
  const rank = (l: string) => {
    const i = LEVELS.indexOf(l.toLowerCase().replace('warn', 'warning').replace('warninging', 'warning') as LogLevel);
    return i < 0 ? (l.toLowerCase() === 'critical' ? 3 : 1) : i;
  };
  const all = [
    ...serverRecords.map((r, i) => ({ id: `s${i}`, ts: typeof r.ts === 'number' ? r.ts * (r.ts < 1e12 ? 1000 : 1) : Date.parse(r.ts), level: r.level.toLowerCase(), source: r.logger ?? 'server', message: r.message })),
    ...clientLogs.map((l) => ({ id: `c${l.id}`, ts: l.ts, level: l.level, source: `browser:${l.source}`, message: l.message })),
  ];
  const needle = text.trim().toLowerCase();
  const shown = all
    .filter((e) => rank(e.level) >= rank(level))
    .filter((e) => !needle || `${e.source} ${e.message}`.toLowerCase().includes(needle))
    .sort((a, b) => b.ts - a.ts)
    .slice(0, 300);
  const levelClass = (l: string) => (rank(l) >= 3 ? 'down font-semibold' : rank(l) === 2 ? 'text-amber-800 dark:text-amber-300' : 'muted');
  return (
    <Card title="Logs and errors" bodyClassName="p-0" id="logs">
      <div className="flex flex-wrap items-end gap-3 border-b border-slate-200 p-3 dark:border-slate-800">
        <div>
          <label htmlFor="log-level" className="label">
            Minimum level
          </label>
          <select id="log-level" className="input w-32" value={level} onChange={(e) => setLevel(e.target.value as LogLevel)}>
            {LEVELS.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </div>
        <div className="min-w-0 flex-1">
          <label htmlFor="log-text" className="label">
            Contains
          </label>
          <input id="log-text" className="input" type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="Filter text" />
        </div>
        <p className="w-full text-xs muted">
          {server.isError
            ? `Server log feed unavailable (${errorMessage(server.error)}); showing this browser's API and WebSocket events.`
            : `Server records and this browser's API/WebSocket events.`}
        </p>
      </div>
      <div className="h-72 overflow-auto font-mono text-xs" tabIndex={0} role="log" aria-label="Log entries" data-testid="log-viewer">
        {shown.length === 0 ? (
          <EmptyState>No entries at this level.</EmptyState>
        ) : (
          <ul className="divide-y divide-slate-100 dark:divide-slate-800">
            {shown.map((e) => (
              <li key={e.id} className="grid grid-cols-[5.5rem_4.5rem_minmax(0,1fr)] gap-2 px-3 py-1 sm:grid-cols-[5.5rem_4.5rem_10rem_minmax(0,1fr)]">
                <span className="num muted">{Number.isFinite(e.ts) ? new Date(e.ts).toLocaleTimeString('en-US', { hour12: false }) : '—'}</span>
                <span className={`uppercase ${levelClass(e.level)}`}>{e.level}</span>
                <span className="hidden truncate muted sm:block">{e.source}</span>
                <span className="break-words">{e.message}</span>
              </li>
            ))}
          </ul>
        )}
      </div>
    </Card>
  );
}

