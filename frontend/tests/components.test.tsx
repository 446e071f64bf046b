import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, fireEvent, render, screen } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { describe, expect, it } from 'vitest';
import { ConnectionIndicator } from '../src/components/ConnectionIndicator';
import { useLiveStats } from '../src/lib/live';
import Symbols from '../src/pages/Symbols';

describe('ConnectionIndicator', () => {
  it('shows the socket state and offers a retry while reconnecting', () => {
    render(<ConnectionIndicator />);
    act(() => useLiveStats.setState({ status: 'open', lastMessageAt: Date.now() }));
    expect(screen.getByTestId('connection').dataset.status).toBe('open');
    expect(screen.getByText('Live')).toBeTruthy();
    act(() => useLiveStats.setState({ status: 'reconnecting', nextRetryAt: Date.now() + 3000 }));
    expect(screen.getByText('Reconnecting')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Retry now' })).toBeTruthy();
  });
});

describe('Symbols add form', () => {
  it('validates input before sending anything', () => {
    const qc = new QueryClient({ defaultOptions: { queries: { retry: false, enabled: false } } });
    render(
      <QueryClientProvider client={qc}>
        <MemoryRouter>
          <Symbols />
        </MemoryRouter>
      </QueryClientProvider>,
    );
    const input = screen.getByLabelText(/Symbols to track/);
    fireEvent.change(input, { target: { value: 'tsla, 9bad' } });
    fireEvent.click(screen.getByTestId('add-symbol-submit'));
    const alert = screen.getByRole('alert');
    expect(alert.textContent).toMatch(/invalid symbol "9bad"/);
    expect(input.getAttribute('aria-invalid')).toBe('true');
    fireEvent.change(input, { target: { value: 'tsla meta' } });
    expect(screen.getByText('Will add: TSLA, META')).toBeTruthy();
  });
});
