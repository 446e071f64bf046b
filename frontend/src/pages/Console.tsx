/** Console: the web CLI — a command palette (data, mock, server) and a terminal over /api/v1/console. */

import { useQuery } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { api } from '../api/endpoints';
import { request } from '../api/http';
import { Card, PageHeader, errorMessage } from '../components/ui';

interface Command {
  name: string;
  usage: string;
  help: string;
}

/** Used until the server's list arrives (and if it cannot be fetched). */
const FALLBACK: Command[] = [
  { name: 'health', usage: 'health', help: 'Check server health status' },
  { name: 'metrics', usage: 'metrics', help: 'View performance metrics' },
  { name: 'symbols', usage: 'symbols list', help: 'Manage tracked symbols' },
  { name: 'fetch', usage: 'fetch AAPL --timeframe 1m --start 2024-01-02', help: 'Fetch historical OHLCV data' },
  { name: 'mock', usage: 'mock test [SYMBOL] | speed [N]', help: 'Test mock data generation' },
  { name: 'help', usage: 'help', help: 'List the console commands' },
];

export interface PaletteEntry {
  key: string;
  label: string;
  help: string;
  /** Run at once (no required arguments)… */
  run: string | null;
  /** …or put this in the input for the user to complete. */
  fill: string;
}

/**
 * Expand a usage line into palette entries: alternatives ("symbols list | add A,B") become
 * separate entries; optional parts ("[FILTER]") are dropped; required placeholders (upper-case
 * words such as SYMBOLS or DATE) mean the entry fills the input instead of running.
 */
/** Split on `|` outside brackets ("a [--x m|n] | b" → ["a [--x m|n]", "b"]). */
export function splitAlternatives(usage: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of usage) {
    if (ch === '[' || ch === '(' || ch === '{') depth += 1;
    if (ch === ']' || ch === ')' || ch === '}') depth = Math.max(0, depth - 1);
    if (ch === '|' && depth === 0) {
      out.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter(Boolean);
}

export function expandUsage(c: Command): PaletteEntry[] {
  return splitAlternatives(c.usage).map((alt, i) => {
    let text = alt.trim();
    if (i > 0 && !text.startsWith(c.name)) text = `${c.name} ${text}`;
    const required = text.replace(/\[[^\]]*\]/g, '').replace(/\s+/g, ' ').trim();
    const needsInput = /\b[A-Z][A-Z0-9_,]*\b/.test(required.slice(c.name.length));
    return { key: `${c.name}:${i}`, label: text, help: i === 0 ? c.help : '', run: needsInput ? null : required, fill: needsInput ? required : text };
  });
}

export function groupOf(name: string): 'data' | 'mock' | 'server' {
  const n = name.toLowerCase();
  if (n.startsWith('mock')) return 'mock';
  if (/^(health|metrics|stats|server|stream|keys|version|status|help)/.test(n)) return 'server';
  return 'data';
}

interface Line {
  id: number;
  kind: 'cmd' | 'out' | 'err' | 'info';
  text: string;
}

let lineId = 1;

/**
 * Turn one console event into terminal lines. The server streams NDJSON events:
 * `start`, `line` (text), `progress` (done/total/text), then one `end` (ok, exit_code, error).
 */
export function renderChunk(body: unknown): { kind: Line['kind']; text: string }[] {
  if (typeof body === 'string') return [{ kind: 'out', text: body }];
  if (!body || typeof body !== 'object') return [{ kind: 'out', text: String(body) }];
  const b = body as Record<string, unknown>;
  const err = b.error as { code?: string; message?: string } | string | undefined;
  const errText = typeof err === 'string' ? err : err ? `${err.code ? `${err.code}: ` : ''}${err.message ?? JSON.stringify(err)}` : null;
  switch (b.type) {
    case 'start':
      return [];
    case 'line':
      return [{ kind: 'out', text: String(b.text ?? '') }];
    case 'progress': {
      const pct = typeof b.done === 'number' && typeof b.total === 'number' && b.total > 0 ? ` ${Math.round((100 * b.done) / b.total)}%` : '';
      return [{ kind: 'info', text: `[${String(b.done ?? '?')}/${String(b.total ?? '?')}${pct}] ${String(b.text ?? '')}` }];
    }
    case 'end': {
      const code = typeof b.exit_code === 'number' ? b.exit_code : b.ok === false ? 1 : 0;
      const out: { kind: Line['kind']; text: string }[] = [];
      if (errText) out.push({ kind: 'err', text: `error: ${errText}` });
      out.push({ kind: code === 0 ? 'info' : 'err', text: `exit ${code}` });
      return out;
    }
    default: {
      const text = b.text ?? b.output ?? b.message;
      if (typeof text === 'string') return [{ kind: errText ? 'err' : 'out', text }];
      if (errText) return [{ kind: 'err', text: errText }];
      return [{ kind: 'out', text: JSON.stringify(body, null, 2) }];
    }
  }
}

export default function Console() {
  const commandsQ = useQuery({
    queryKey: ['console-commands'],
    queryFn: ({ signal }) => api.consoleCommands(signal),
    staleTime: Infinity,
    retry: false,
  });
  const commands = commandsQ.data?.commands?.length ? commandsQ.data.commands : FALLBACK;
  const [filter, setFilter] = useState('');
  const [input, setInput] = useState('');
  const [lines, setLines] = useState<Line[]>([{ id: lineId++, kind: 'info', text: 'jonbu-ohlcv web console. Type a command (e.g. "health") or pick one. ↑/↓ history, Ctrl+L clear, Ctrl+K palette.' }]);
  const [running, setRunning] = useState(false);
  const [history, setHistory] = useState<string[]>([]);
  const [histIdx, setHistIdx] = useState<number | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  const filterRef = useRef<HTMLInputElement>(null);
  const outRef = useRef<HTMLDivElement>(null);
  const abortRef = useRef<AbortController | null>(null);

  useEffect(() => {
    const el = outRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [lines]);

  useEffect(() => {
    const onKey = (e: globalThis.KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        filterRef.current?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('keydown', onKey);
      abortRef.current?.abort();
    };
  }, []);

  const push = (items: { kind: Line['kind']; text: string }[]) => setLines((old) => [...old.slice(-2000), ...items.map((i) => ({ ...i, id: lineId++ }))]);

  const run = async (cmdline: string) => {
    const command = cmdline.trim();
    if (!command || running) return;
    if (command === 'clear') {
      setLines([]);
      setInput('');
      return;
    }
    setHistory((h) => [...h.filter((x) => x !== command), command].slice(-100));
    setHistIdx(null);
    setInput('');
    push([{ kind: 'cmd', text: command }]);
    setRunning(true);
    const ctrl = new AbortController();
    abortRef.current = ctrl;
    try {
      const res = await request('/api/v1/console', { method: 'POST', body: { command }, signal: ctrl.signal, accept: 'application/x-ndjson, application/json, text/plain' });
      const type = res.headers.get('content-type') ?? '';
      if (type.includes('ndjson') || type.includes('text/plain') || type.includes('event-stream')) {
        const reader = res.body?.getReader();
        const decoder = new TextDecoder();
        let buf = '';
        const emit = (line: string) => {
          if (!line.trim()) return;
          const payload = line.startsWith('data:') ? line.slice(5).trim() : line;
          if (type.includes('ndjson') || line.startsWith('data:')) {
            try {
              push(renderChunk(JSON.parse(payload)));
              return;
            } catch {
              /* plain text line */
            }
          }
          push([{ kind: 'out', text: payload }]);
        };
        if (reader) {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += decoder.decode(value, { stream: true });
            const parts = buf.split('\n');
            buf = parts.pop() ?? '';
            parts.forEach(emit);
          }
          emit(buf + decoder.decode());
        }
      } else {
        push(renderChunk(await res.json()));
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') push([{ kind: 'err', text: errorMessage(err) }]);
      else push([{ kind: 'info', text: 'cancelled' }]);
    } finally {
      setRunning(false);
      abortRef.current = null;
      inputRef.current?.focus();
    }
  };

  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      run(input);
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      if (!history.length) return;
      const idx = histIdx === null ? history.length - 1 : Math.max(0, histIdx - 1);
      setHistIdx(idx);
      setInput(history[idx] ?? '');
    } else if (e.key === 'ArrowDown') {
      e.preventDefault();
      if (histIdx === null) return;
      const idx = histIdx + 1;
      if (idx >= history.length) {
        setHistIdx(null);
        setInput('');
      } else {
        setHistIdx(idx);
        setInput(history[idx] ?? '');
      }
    } else if (e.key === 'l' && e.ctrlKey) {
      e.preventDefault();
      setLines([]);
    } else if (e.key === 'c' && e.ctrlKey && running) {
      e.preventDefault();
      abortRef.current?.abort();
    }
  };

  const groups = useMemo(() => {
    const f = filter.trim().toLowerCase();
    const g: Record<'data' | 'mock' | 'server', PaletteEntry[]> = { data: [], mock: [], server: [] };
    for (const c of commands) {
      if (f && !`${c.name} ${c.usage} ${c.help}`.toLowerCase().includes(f)) continue;
      g[groupOf(c.name)].push(...expandUsage(c));
    }
    return g;
  }, [commands, filter]);

  const pick = (e: PaletteEntry) => {
    if (e.run) {
      run(e.run);
    } else {
      setInput(e.fill);
      inputRef.current?.focus();
    }
  };

  return (
    <div className="space-y-4">
      <PageHeader title="Console" description="Whitelisted CLI operations run by the server (never a shell). Needs an admin key when auth is on." />
      <div className="grid gap-4 lg:grid-cols-[18rem_minmax(0,1fr)]">
        <Card title="Commands" bodyClassName="p-3">
          <label htmlFor="palette-filter" className="sr-only">
            Filter commands
          </label>
          <input ref={filterRef} id="palette-filter" type="search" className="input mb-3" placeholder="Filter commands (Ctrl+K)" value={filter} onChange={(e) => setFilter(e.target.value)} />
          {commandsQ.isError && <p className="mb-2 text-xs muted">Server list unavailable ({errorMessage(commandsQ.error)}); showing the usual commands.</p>}
          <div className="space-y-3" data-testid="command-palette">
            {(['data', 'mock', 'server'] as const).map((g) => (
              <section key={g} aria-labelledby={`cg-${g}`}>
                <h3 id={`cg-${g}`} className="card-title mb-1">
                  {g}
                </h3>
                {groups[g].length === 0 ? (
                  <p className="text-xs muted">—</p>
                ) : (
                  <ul className="space-y-0.5">
                    {groups[g].map((c) => (
                      <li key={c.key}>
                        <button
                          type="button"
                          className="w-full rounded-md px-2 py-1.5 text-left hover:bg-slate-100 dark:hover:bg-slate-800"
                          onClick={() => pick(c)}
                          data-testid={`cmd-${c.key.replace(':', '-')}`}
                          aria-label={`${c.run ? 'Run' : 'Edit'} ${c.label}${c.help ? `: ${c.help}` : ''}`}
                        >
                          <span className="flex items-center justify-between gap-2">
                            <span className="min-w-0 font-mono text-sm font-medium break-words">{c.label}</span>
                            <span className="shrink-0 text-[10px] font-semibold tracking-wide text-slate-600 uppercase dark:text-slate-400">{c.run ? 'run' : 'edit'}</span>
                          </span>
                          {c.help && <span className="block text-xs muted">{c.help}</span>}
                        </button>
                      </li>
                    ))}
                  </ul>
                )}
              </section>
            ))}
          </div>
        </Card>
        <section className="flex min-w-0 flex-col overflow-hidden rounded-xl border border-slate-800 bg-slate-950 text-slate-100 shadow-sm" aria-label="Terminal">
          <div className="flex items-center gap-2 border-b border-slate-800 px-4 py-2">
            <span className="flex gap-1.5" aria-hidden="true">
              <span className="size-2.5 rounded-full bg-rose-500" />
              <span className="size-2.5 rounded-full bg-amber-500" />
              <span className="size-2.5 rounded-full bg-emerald-500" />
            </span>
            <span className="ml-2 font-mono text-xs text-slate-300">jonbu-ohlcv</span>
            <button type="button" className="ml-auto rounded px-2 py-0.5 text-xs text-slate-300 hover:bg-slate-800 hover:text-white" onClick={() => setLines([])}>
              Clear
            </button>
          </div>
          <div ref={outRef} className="h-[26rem] overflow-auto p-4 font-mono text-[13px] leading-5" role="log" aria-live="polite" aria-label="Console output" tabIndex={0} data-testid="console-output">
            {lines.map((l) => (
              <pre
                key={l.id}
                className={`break-words whitespace-pre-wrap ${l.kind === 'cmd' ? 'mt-2 text-sky-300' : l.kind === 'err' ? 'text-rose-300' : l.kind === 'info' ? 'text-slate-400' : 'text-emerald-200'}`}
              >
                {l.kind === 'cmd' ? `› ${l.text}` : l.text}
              </pre>
            ))}
            {running && <p className="mt-1 animate-pulse text-slate-400">running…</p>}
          </div>
          <div className="flex items-center gap-2 border-t border-slate-800 px-4 py-2.5 focus-within:bg-slate-900 focus-within:ring-2 focus-within:ring-sky-500 focus-within:ring-inset">
            <label htmlFor="console-input" className="font-mono text-sm text-sky-300">
              <span aria-hidden="true">›</span>
              <span className="sr-only">Command</span>
            </label>
            <input
              ref={inputRef}
              id="console-input"
              className="h-9 min-w-0 flex-1 bg-transparent font-mono text-sm text-slate-100 placeholder:text-slate-400 focus:outline-none"
              value={input}
              onChange={(e) => setInput(e.target.value)}
              onKeyDown={onKeyDown}
              placeholder="health"
              autoComplete="off"
              spellCheck={false}
              data-testid="console-input"
            />
            {running ? (
              <button type="button" className="rounded-md bg-slate-800 px-3 py-1.5 text-sm text-slate-100 hover:bg-slate-700" onClick={() => abortRef.current?.abort()}>
                Stop
              </button>
            ) : (
              <button type="button" className="rounded-md bg-sky-700 px-3 py-1.5 text-sm font-semibold text-white hover:bg-sky-600 disabled:opacity-50" onClick={() => run(input)} disabled={!input.trim()} data-testid="console-run">
                Run
              </button>
            )}
          </div>
        </section>
      </div>
    </div>
  );
}
