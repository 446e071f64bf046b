/** The app's one live socket, bound to the settings, and a throttled status store for the UI. */

import { create } from 'zustand';
import { useSettings, wsUrl } from '../stores/settings';
import { useTelemetry } from '../stores/telemetry';
import { LiveSocket, type SocketStats } from './ws';

export const live = new LiveSocket({
  url: () => {
    const { apiBase, apiKey } = useSettings.getState();
    return wsUrl(apiBase, apiKey, window.location.origin);
  },
});

export const useLiveStats = create<SocketStats>()(() => live.getStats());

let pending: ReturnType<typeof setTimeout> | null = null;
let lastStatus = live.getStats().status;
let lastError: string | null = null;

live.onStats((s) => {
  if (s.status !== lastStatus) {
    const level = s.status === 'open' ? 'info' : s.status === 'reconnecting' ? 'warning' : 'info';
    useTelemetry.getState().log(level, 'ws', `WebSocket ${s.status}${s.status === 'reconnecting' && s.lastError ? ` (${s.lastError})` : ''}`);
    lastStatus = s.status;
    if (pending) clearTimeout(pending);
    pending = null;
    useLiveStats.setState(s);
    return;
  }
  if (s.lastError && s.lastError !== lastError) {
    useTelemetry.getState().log('warning', 'ws', s.lastError);
  }
  lastError = s.lastError;
  // Message counters change often: publish at most ~3 times a second.
  if (!pending) {
    pending = setTimeout(() => {
      pending = null;
      useLiveStats.setState(live.getStats());
    }, 300);
  }
});

// Reconnect when the API base or key changes.
let prev = `${useSettings.getState().apiBase}|${useSettings.getState().apiKey}`;
useSettings.subscribe((s) => {
  const next = `${s.apiBase}|${s.apiKey}`;
  if (next !== prev) {
    prev = next;
    live.restart();
  }
});
