/** Monitoring: component health, WS clients, live throughput/lag graphs, latency, CPU/memory, logs. */

import { useQuery } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState } from 'react';
import { Area, AreaChart, CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { api } from '../api/endpoints';
import { Card, EmptyState, ErrorState, LoadingBlock, PageHeader, StatusBadge } from '../components/ui';
import { formatBytes, formatInt, formatMs } from '../lib/format';
import { useLiveStats } from '../lib/live';
import { parseProm, routeLatencies, total, firstOf, type RouteLatency } from '../lib/prom';
import { CLIENT_KEYS, flatten, LAG_KEYS, LATENCY_P99_KEYS, pick, pickMs, THROUGHPUT_KEYS, TOTAL_KEYS } from '../lib/stats';
import { useResolvedTheme } from '../lib/theme';
import { LogViewer } from '../components/LogViewer';
import { latencySummary, useTelemetry } from '../stores/telemetry';

const POLL_MS = 2000;
const POINTS = 90;

interface Point {
  t: number;
  label: string;
  throughput: number | null;
  lag: number | null;
  p99: number | null;
  wsSent: number | null;
  requests: number | null;
  cpu: number | null;
  rssMB: number | null;
  clients: number | null;
}

interface Raw {
  t: number;
  wsSent: number | null;
  requests: number | null;
  cpuSeconds: number | null;
  streamTotal: number | null;
}

function rate(now: number | null, prev: number | null, dt: number): number | null {
  if (now === null || prev === null || dt <= 0) return null;
  return Math.max(0, (now - prev) / dt);
}

function useSampler() {
  const [points, setPoints] = useState<Point[]>([]);
  const [metricsText, setMetricsText] = useState<string | null>(null);
  const [stats, setStats] = useState<Record<string, unknown> | null>(null);
  const [errors, setErrors] = useState<{ metrics?: unknown; stats?: unknown }>({});
  const prev = useRef<Raw | null>(null);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout>;
    const tick = async () => {
      const [m, s] = await Promise.allSettled([api.metrics(), api.streamStats()]);
      if (stopped) return;
      const samples = m.status === 'fulfilled' ? parseProm(m.value) : [];
      const flat = s.status === 'fulfilled' ? flatten(s.value) : {};
      setErrors({ metrics: m.status === 'rejected' ? m.reason : undefined, stats: s.status === 'rejected' ? s.reason : undefined });
      if (m.status === 'fulfilled') setMetricsText(m.value);
      if (s.status === 'fulfilled') setStats(s.value as Record<string, unknown>);
      const t = Date.now() / 1000;
      const raw: Raw = {
        t,
        wsSent: total(samples, 'jonbu_ws_messages_sent_total') ?? total(samples, 'jonbu_ws_messages_sent'),
        requests: total(samples, 'jonbu_http_requests_total') ?? total(samples, 'jonbu_http_requests'),
        cpuSeconds: firstOf(samples, ['process_cpu_seconds_total']),
        streamTotal: pick(flat, TOTAL_KEYS),
      };
      const p = prev.current;
      const dt = p ? t - p.t : 0;
      const streamRate = pick(flat, THROUGHPUT_KEYS) ?? (p ? rate(raw.streamTotal, p.streamTotal, dt) : null);
      const point: Point = {
        t,
        label: new Date(t * 1000).toLocaleTimeString('en-US', { hour12: false }),
        throughput: streamRate,
        lag: pickMs(flat, LAG_KEYS),
        p99: pickMs(flat, LATENCY_P99_KEYS),
        wsSent: p ? rate(raw.wsSent, p.wsSent, dt) : null,
        requests: p ? rate(raw.requests, p.requests, dt) : null,
        cpu: p ? (rate(raw.cpuSeconds, p.cpuSeconds, dt) ?? null) : null,
        rssMB: (() => {
          const v = firstOf(samples, ['process_resident_memory_bytes']);
          return v === null ? null : v / 1024 / 1024;
        })(),
        clients: total(samples, 'jonbu_ws_clients') ?? pick(flat, CLIENT_KEYS),
      };
      if (point.cpu !== null) point.cpu *= 100;
      prev.current = raw;
      setPoints((old) => [...old.slice(-POINTS + 1), point]);
      timer = setTimeout(tick, POLL_MS);
    };
    tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);
  return { points, metricsText, stats, errors };
}

function Kpi({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <div className="card p-4">
      <p className="card-title">{label}</p>
      <p className="num mt-1 text-2xl font-semibold tracking-tight">{value}</p>
      <p className="mt-0.5 min-h-4 text-xs muted">{hint ?? ''}</p>
    </div>
  );
}

function Graph({ data, series, unit, testId }: { data: Point[]; series: { key: keyof Point; name: string; color: string }[]; unit: string; testId?: string }) {
  const dark = useResolvedTheme((s) => s.theme === 'dark');
  const axis = dark ? '#cbd5e1' : '#334155';
  const grid = dark ? 'rgba(148,163,184,0.12)' : 'rgba(100,116,139,0.18)';
  const hasData = data.some((p) => series.some((s) => p[s.key] !== null));
  return (
    <div className="h-48" data-testid={testId} role="figure" aria-label={`${series.map((s) => s.name).join(' and ')} over the last ${Math.round((POINTS * POLL_MS) / 60000)} minutes`}>
      {!hasData ? (
        <EmptyState>Waiting for samples…</EmptyState>
      ) : (
        <ResponsiveContainer width="100%" height="100%">
          <AreaChart data={data} margin={{ top: 8, right: 8, bottom: 0, left: -8 }}>
            <defs>
              {series.map((s) => (
                <linearGradient key={s.key} id={`g-${String(s.key)}`} x1="0" y1="0" x2="0" y2="1">
                  <stop offset="0%" stopColor={s.color} stopOpacity={0.35} />
                  <stop offset="100%" stopColor={s.color} stopOpacity={0} />
                </linearGradient>
              ))}
            </defs>
            <CartesianGrid stroke={grid} vertical={false} />
            <XAxis dataKey="label" tick={{ fill: axis, fontSize: 11 }} minTickGap={40} stroke={grid} />
            <YAxis tick={{ fill: axis, fontSize: 11 }} stroke={grid} width={52} tickFormatter={(v: number) => (v >= 1000 ? `${(v / 1000).toFixed(1)}k` : String(Math.round(v * 10) / 10))} />
            <Tooltip
              contentStyle={{ background: dark ? '#0f172a' : '#fff', border: `1px solid ${grid}`, borderRadius: 8, fontSize: 12 }}
              labelStyle={{ color: axis }}
              formatter={(v) => [`${typeof v === 'number' ? v.toFixed(1) : String(v)} ${unit}`]}
            />
            {series.map((s) => (
              <Area key={s.key} type="monotone" dataKey={s.key} name={s.name} stroke={s.color} fill={`url(#g-${String(s.key)})`} strokeWidth={2} isAnimationActive={false} connectNulls />
            ))}
          </AreaChart>
        </ResponsiveContainer>
      )}
    </div>
  );
}

function MiniLine({ data, k, color }: { data: Point[]; k: keyof Point; color: string }) {
  return (
    <div className="h-10" aria-hidden="true">
      <ResponsiveContainer width="100%" height="100%">
        <LineChart data={data} accessibilityLayer={false}>
          <Line type="monotone" dataKey={k} stroke={color} dot={false} strokeWidth={1.5} isAnimationActive={false} connectNulls />
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
}

function HealthCard() {
  const q = useQuery({ queryKey: ['health'], queryFn: ({ signal }) => api.health(signal), refetchInterval: 5000, staleTime: 0 });
  return (
    <Card title="Health" actions={q.data ? <StatusBadge status={q.data.status} /> : undefined} id="health">
      {q.isLoading ? (
        <LoadingBlock className="h-24" />
      ) : q.isError ? (
        <ErrorState title="Health check failed" error={q.error} onRetry={() => q.refetch()} />
      ) : (
        <ul className="grid gap-3 sm:grid-cols-2 xl:grid-cols-3" data-testid="health-components">
          {Object.entries(q.data?.components ?? {}).map(([name, comp]) => {
            const details = Object.entries(flatten(comp)).filter(([k, v]) => k !== 'status' && v !== null && v !== '');
            return (
              <li key={name} className="rounded-lg border border-slate-200 p-3 dark:border-slate-800">
                <div className="flex items-center justify-between gap-2">
                  <span className="text-sm font-semibold capitalize">{name}</span>
                  <StatusBadge status={String(comp?.status ?? 'unknown')} />
                </div>
                {details.length > 0 && (
                  <dl className="mt-2 grid grid-cols-[auto_1fr] gap-x-3 gap-y-0.5 text-xs">
                    {details.slice(0, 8).map(([k, v]) => (
                      <div key={k} className="contents">
                        <dt className="muted">{k}</dt>
                        <dd className="num truncate text-right" title={String(v)}>
                          {typeof v === 'number' ? (Number.isInteger(v) ? formatInt(v) : v.toFixed(2)) : String(v)}
                        </dd>
                      </div>
                    ))}
                  </dl>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </Card>
  );
}

function LatencyTable({ server }: { server: RouteLatency[] }) {
  const requests = useTelemetry((s) => s.requests);
  const client = useMemo(() => latencySummary(requests), [requests]);
  const rows = server.length
    ? server.map((r) => ({ key: `${r.method} ${r.route}`, route: `${r.method} ${r.route}`, count: r.count, a: r.meanMs, b: r.p95Ms }))
    : client.map((r) => ({ key: r.route, route: r.route, count: r.count, a: r.p50, b: r.p95 }));
  return (
    <Card title={server.length ? 'API latency (server, since start)' : 'API latency (this browser)'} bodyClassName="">
      {rows.length === 0 ? (
        <EmptyState>No requests yet.</EmptyState>
      ) : (
        <div className="relative max-h-72 overflow-auto" tabIndex={0} role="region" aria-label="API latency table (scrollable)">
          <table className="w-full text-sm" data-testid="latency-table">
            <thead className="sticky top-0 bg-white dark:bg-slate-900">
              <tr className="border-b border-slate-200 dark:border-slate-800">
                <th scope="col" className="table-head px-4 py-2">
                  Route
                </th>
                <th scope="col" className="table-head px-3 py-2 text-right">
                  Requests
                </th>
                <th scope="col" className="table-head px-3 py-2 text-right">
                  {server.length ? 'Mean' : 'p50'}
                </th>
                <th scope="col" className="table-head px-4 py-2 text-right">
                  p95
                </th>
              </tr>
            </thead>
            <tbody className="num divide-y divide-slate-100 dark:divide-slate-800">
              {rows.slice(0, 30).map((r) => (
                <tr key={r.key}>
                  <td className="max-w-[16rem] truncate px-4 py-1.5 font-mono text-xs" title={r.route}>
                    {r.route}
                  </td>
                  <td className="px-3 py-1.5 text-right">{formatInt(r.count)}</td>
                  <td className="px-3 py-1.5 text-right">{formatMs(r.a)}</td>
                  <td className="px-4 py-1.5 text-right">{formatMs(r.b)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

export default function Monitoring() {
  const { points, metricsText, stats, errors } = useSampler();
  const ws = useLiveStats();
  const last = points[points.length - 1];
  const serverLatency = useMemo(() => (metricsText ? routeLatencies(parseProm(metricsText), 'jonbu_http_request_duration_seconds') : []), [metricsText]);
  const apiMean = serverLatency.length ? serverLatency.reduce((s, r) => s + r.meanMs * r.count, 0) / serverLatency.reduce((s, r) => s + r.count, 0) : null;
  const statsFlat = useMemo(() => (stats ? Object.entries(flatten(stats)) : []), [stats]);

  return (
    <div className="space-y-4">
      <PageHeader title="Monitoring" description={`Sampled every ${POLL_MS / 1000} s from /api/v1/stream/stats, /metrics and /api/v1/health.`} />
      <HealthCard />
      <div className="grid grid-cols-2 gap-3 md:grid-cols-3 xl:grid-cols-6" data-testid="kpis">
        <Kpi label="WS clients" value={formatInt(last?.clients)} hint={`this tab: ${ws.status}`} />
        <Kpi label="Stream rate" value={last?.throughput != null ? `${formatInt(last.throughput)}/s` : '—'} hint="trades/events per second" />
        <Kpi label="Stream lag" value={last?.lag != null ? formatMs(last.lag) : '—'} hint={last?.p99 != null ? `trade→bus p99 ${formatMs(last.p99)}` : undefined} />
        <Kpi label="API mean latency" value={formatMs(apiMean)} hint="all routes, server-side" />
        <Kpi label="CPU (API process)" value={last?.cpu != null ? `${last.cpu.toFixed(1)}%` : '—'} hint="of one core" />
        <Kpi label="Memory (RSS)" value={last?.rssMB != null ? formatBytes(last.rssMB * 1024 * 1024) : '—'} />
      </div>
      {Boolean(errors.metrics || errors.stats) && (
        <div className="grid gap-3 md:grid-cols-2">
          {Boolean(errors.metrics) && <ErrorState title="/metrics unavailable" error={errors.metrics} />}
          {Boolean(errors.stats) && <ErrorState title="/api/v1/stream/stats unavailable" error={errors.stats} />}
        </div>
      )}
      <div className="grid gap-4 lg:grid-cols-2">
        <Card title="Stream throughput">
          <Graph data={points} series={[{ key: 'throughput', name: 'Stream events/s', color: '#10b981' }]} unit="/s" testId="graph-throughput" />
        </Card>
        <Card title="Stream lag and latency">
          <Graph
            data={points}
            series={[
              { key: 'lag', name: 'Event lag', color: '#f59e0b' },
              { key: 'p99', name: 'Trade→bus p99', color: '#f43f5e' },
            ]}
            unit="ms"
            testId="graph-lag"
          />
        </Card>
        <Card title="WebSocket messages sent and API requests">
          <Graph
            data={points}
            series={[
              { key: 'wsSent', name: 'WS messages/s', color: '#38bdf8' },
              { key: 'requests', name: 'HTTP requests/s', color: '#a78bfa' },
            ]}
            unit="/s"
          />
        </Card>
        <Card title="CPU and memory">
          <div className="grid grid-cols-2 gap-4">
            <div>
              <p className="text-xs muted">CPU %</p>
              <p className="num text-lg font-semibold">{last?.cpu != null ? last.cpu.toFixed(1) : '—'}</p>
              <MiniLine data={points} k="cpu" color="#f43f5e" />
            </div>
            <div>
              <p className="text-xs muted">RSS MB</p>
              <p className="num text-lg font-semibold">{last?.rssMB != null ? last.rssMB.toFixed(0) : '—'}</p>
              <MiniLine data={points} k="rssMB" color="#38bdf8" />
            </div>
          </div>
          <Graph data={points} series={[{ key: 'cpu', name: 'CPU', color: '#f43f5e' }]} unit="%" />
        </Card>
      </div>
      <div className="grid gap-4 lg:grid-cols-2">
        <LatencyTable server={serverLatency} />
        <Card title="Stream status" bodyClassName="">
          {statsFlat.length === 0 ? (
            <EmptyState>{errors.stats ? 'Unavailable.' : 'Waiting…'}</EmptyState>
          ) : (
            <div className="relative max-h-72 overflow-auto" tabIndex={0} role="region" aria-label="Stream status (scrollable)">
              <dl className="grid grid-cols-[minmax(0,1fr)_auto] gap-x-4 gap-y-1 p-4 text-sm" data-testid="stream-stats">
                {statsFlat.map(([k, v]) => (
                  <div key={k} className="contents">
                    <dt className="truncate font-mono text-xs muted" title={k}>
                      {k}
                    </dt>
                    <dd className="num text-right">{typeof v === 'number' ? (Number.isInteger(v) ? formatInt(v) : v.toFixed(3)) : String(v)}</dd>
                  </div>
                ))}
              </dl>
            </div>
          )}
        </Card>
      </div>
      <LogViewer />
    </div>
  );
}
