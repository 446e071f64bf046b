// Start `jonbu-ohlcv up` (mock data, no Dagster) on a free port with a temporary data
// directory, wait for /api/v1/health, and always stop it (SIGTERM to its process group,
// then SIGKILL) — on success, on failure, on Ctrl-C and on an uncaught error.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Start the real stack. Returns { url, stop, logFile, dataDir }.
 * @param {{ repoRoot: string, logFile: string, timeoutMs?: number, extraArgs?: string[] }} opts
 */
export async function startServer({ repoRoot, logFile, timeoutMs = 180_000, extraArgs = [] }) {
  const exe = join(repoRoot, '.venv', 'bin', 'jonbu-ohlcv');
  if (!existsSync(exe)) throw new Error(`${exe} not found: run \`make setup\` first`);
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'jonbu-e2e-'));
  const log = createWriteStream(logFile);
  const env = {
    ...process.env,
    JONBU_DATA_DIR: dataDir,
    JONBU_AUTH: 'off',
    JONBU_STORE: 'lake',
    JONBU_BUS: 'memory',
    JONBU_PROVIDER: 'mock',
    HF_HUB_OFFLINE: '1',
    TRANSFORMERS_OFFLINE: '1',
    PYTHONUNBUFFERED: '1',
  };
  const args = ['up', '--no-dagster', '--port', String(port), '--host', '127.0.0.1', ...extraArgs];
  const t0 = Date.now();
  // Its own process group, so stopping it also stops anything it started.
  const child = spawn(exe, args, { cwd: repoRoot, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });

  const killGroup = (sig) => {
    try {
      process.kill(-child.pid, sig);
    } catch {
      /* already gone */
    }
  };
  // Last resort: never leave the server behind, whatever happens to this process.
  const onExit = () => {
    if (!exited) killGroup('SIGKILL');
  };
  process.on('exit', onExit);
  const onSignal = (sig) => {
    killGroup('SIGKILL');
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let stopped = false;
  const stop = async () => {
    if (stopped) return exited;
    stopped = true;
    if (!exited) {
      killGroup('SIGTERM');
      const res = await Promise.race([exitPromise, sleep(15_000).then(() => null)]);
      if (!res) {
        killGroup('SIGKILL');
        await Promise.race([exitPromise, sleep(5000)]);
      }
    }
    // Any straggler of the group (e.g. a worker) goes too.
    killGroup('SIGKILL');
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    log.end();
    rmSync(dataDir, { recursive: true, force: true });
    return exited;
  };

  const url = `http://127.0.0.1:${port}`;
  try {
    for (;;) {
      if (exited) throw new Error(`jonbu-ohlcv up exited early (${JSON.stringify(exited)}); see ${logFile}`);
      if (Date.now() - t0 > timeoutMs) throw new Error(`the server did not answer /api/v1/health within ${timeoutMs / 1000}s; see ${logFile}`);
      try {
        const res = await fetch(`${url}/api/v1/health`, { signal: AbortSignal.timeout(2000) });
        if (res.ok) break;
      } catch {
        /* not up yet */
      }
      await sleep(500);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, stop, logFile, dataDir, startupMs: Date.now() - t0, pid: child.pid };
}
