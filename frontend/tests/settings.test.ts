import { describe, expect, it } from 'vitest';
import { DEFAULTS, normalizeBase, useSettings, validateBase, wsUrl } from '../src/stores/settings';
import { resolveTheme } from '../src/lib/theme';

describe('settings store', () => {
  it('persists to localStorage and resets', () => {
    useSettings.getState().set({ apiBase: 'http://127.0.0.1:9000', apiKey: 'jk_secret', theme: 'dark' });
    const saved = JSON.parse(localStorage.getItem('jonbu-settings') ?? '{}');
    expect(saved.state.apiBase).toBe('http://127.0.0.1:9000');
    expect(saved.state.theme).toBe('dark');
    expect(saved.state.set).toBeUndefined();
    useSettings.getState().reset();
    expect(useSettings.getState().apiBase).toBe(DEFAULTS.apiBase);
    expect(useSettings.getState().theme).toBe('system');
  });
});

describe('URLs', () => {
  it('validates base URLs', () => {
    expect(validateBase('')).toBeNull();
    expect(validateBase('http://127.0.0.1:8000')).toBeNull();
    expect(validateBase('ftp://x')).toMatch(/http/);
    expect(validateBase('not a url')).toMatch(/not a valid URL/);
    expect(normalizeBase(' http://h:1/// ')).toBe('http://h:1');
  });
  it('derives the WebSocket URL from the base, the page and the key', () => {
    expect(wsUrl('', '', 'http://127.0.0.1:8000')).toBe('ws://127.0.0.1:8000/ws');
    expect(wsUrl('https://api.example.com/', '', 'http://x')).toBe('wss://api.example.com/ws');
    expect(wsUrl('', 'jk_a b', 'http://h')).toBe('ws://h/ws?api_key=jk_a+b');
  });
});

describe('theme', () => {
  it('follows the OS for "system" and the choice otherwise', () => {
    expect(resolveTheme('system', true)).toBe('dark');
    expect(resolveTheme('system', false)).toBe('light');
    expect(resolveTheme('light', true)).toBe('light');
    expect(resolveTheme('dark', false)).toBe('dark');
  });
});
