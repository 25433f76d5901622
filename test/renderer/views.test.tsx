// @vitest-environment jsdom
// The top-level view switch (tabs, arrow keys, views kept mounted or not) and the throttled store
// selection the 10,000-row lists use (first change at once, then at most one per interval, the
// newest always shown in the end).
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { useState } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../renderer/src/components/App';
import { ViewPanels, ViewTabs, type ViewDef } from '../../renderer/src/components/ViewTabs';
import { useThrottledWorkbench } from '../../renderer/src/useThrottledWorkbench';
import type { WorkbenchState } from '../../renderer/src/store';
import { decisionEvent, fakeWorkbench, renderWith, sleep, until } from './helpers';

afterEach(cleanup);

function Counter({ name }: { name: string }) {
  const [n, setN] = useState(0);
  return <button type="button" onClick={() => setN(n + 1)}>{name} {n}</button>;
}

const VIEWS: ViewDef[] = [
  { id: 'a', label: 'Alpha', keepMounted: true, render: (active) => <><Counter name="alpha" /><span>{active ? 'alpha shown' : 'alpha hidden'}</span></> },
  { id: 'b', label: 'Beta', render: () => <Counter name="beta" /> },
  { id: 'c', label: 'Gamma', keepMounted: true, render: () => <Counter name="gamma" /> },
];

function Views() {
  const [view, setView] = useState('a');
  return <><ViewTabs views={VIEWS} active={view} onSelect={setView} /><ViewPanels views={VIEWS} active={view} /></>;
}

describe('view switch', () => {
  it('tabs select views; arrow keys move along them; kept-mounted views keep their state', () => {
    render(<Views />);
    const tab = (name: string) => screen.getByRole('tab', { name });
    expect(tab('Alpha').getAttribute('aria-selected')).toBe('true');
    fireEvent.click(screen.getByRole('button', { name: 'alpha 0' }));
    fireEvent.click(tab('Beta'));
    expect(screen.getByRole('tabpanel').id).toBe('view-panel-b');
    expect(screen.getByText('alpha hidden')).toBeTruthy(); // mounted, told it is hidden
    fireEvent.click(screen.getByRole('button', { name: 'beta 0' }));
    fireEvent.keyDown(tab('Beta'), { key: 'ArrowRight' });
    expect(tab('Gamma').getAttribute('aria-selected')).toBe('true');
    expect(document.activeElement).toBe(tab('Gamma'));
    fireEvent.keyDown(tab('Gamma'), { key: 'ArrowRight' }); // wraps around
    expect(tab('Alpha').getAttribute('aria-selected')).toBe('true');
    expect(screen.getByRole('button', { name: 'alpha 1' })).toBeTruthy(); // kept its state
    fireEvent.keyDown(tab('Alpha'), { key: 'End' });
    fireEvent.keyDown(tab('Gamma'), { key: 'ArrowLeft' });
    expect(screen.getByRole('button', { name: 'beta 0' })).toBeTruthy(); // not kept: started again
  });
});

describe('throttled store selection', () => {
  it('shows the first change at once, then at most one per interval, and the newest in the end', async () => {
    const { host, wb } = await fakeWorkbench();
    const seen: number[] = [];
    const selectCount = (s: WorkbenchState): number => s.decisions.length;
    function Probe() {
      const n = useThrottledWorkbench(selectCount, 200);
      seen.push(n);
      return <span data-testid="n">{n}</span>;
    }
    renderWith(wb, <Probe />);
    act(() => host.events([decisionEvent(1, 1, 1)]));
    await until(() => screen.getByTestId('n').textContent === '1', 1000, 'the first change');
    const start = Date.now();
    for (let i = 2; i <= 40; i++) {
      act(() => host.events([decisionEvent(1, i, i)]));
      await sleep(10);
    }
    await until(() => screen.getByTestId('n').textContent === '40', 2000, 'the newest value');
    const took = Date.now() - start;
    // ~40 batches in `took` ms: about one render per 200 ms, not one per batch.
    const distinct = new Set(seen).size;
    expect(distinct).toBeLessThanOrEqual(Math.ceil(took / 200) + 3);
    expect(distinct).toBeLessThan(20);
  });
});

describe('the File menu in the desktop app', () => {
  it('New listener shows the live view with the new-listener form open', async () => {
    const { wb } = await fakeWorkbench();
    let menu: ((a: unknown) => void) | null = null;
    (window as { workbench?: unknown }).workbench = { transport: () => { throw new Error('unused'); }, onMenu: (h: (a: unknown) => void) => { menu = h; } };
    try {
      renderWith(wb, <App />);
      fireEvent.click(screen.getByRole('tab', { name: 'Charts' }));
      expect(screen.queryByRole('button', { name: 'Close form' })).toBeNull();
      await until(() => menu !== null);
      act(() => menu!({ action: 'new-listener' }));
      expect(screen.getByRole('tab', { name: 'Live' }).getAttribute('aria-selected')).toBe('true');
      expect(screen.getByRole('button', { name: 'Close form' })).toBeTruthy();
      expect(screen.getByRole('form', { name: 'New listener' })).toBeTruthy();
      // Help > Platform notes: the bundled notes, closed with Escape.
      act(() => menu!({ action: 'platform-notes' }));
      expect(screen.getByRole('dialog', { name: 'Platform notes' })).toBeTruthy();
      fireEvent.keyDown(window, { key: 'Escape' });
      expect(screen.queryByRole('dialog', { name: 'Platform notes' })).toBeNull();
    } finally {
      delete (window as { workbench?: unknown }).workbench;
    }
  });
});

describe('the live view\'s inspector and script tabs', () => {
  it('arrow keys switch between them and move the focus; only the selected one is in the tab order', async () => {
    const { wb } = await fakeWorkbench();
    renderWith(wb, <App />);
    const inspector = screen.getByRole('tab', { name: 'Inspector' });
    const script = screen.getByRole('tab', { name: 'Script' });
    expect([inspector.tabIndex, script.tabIndex]).toEqual([0, -1]);
    fireEvent.keyDown(inspector, { key: 'ArrowRight' });
    expect(script.getAttribute('aria-selected')).toBe('true');
    expect(document.activeElement).toBe(script);
    expect([inspector.tabIndex, script.tabIndex]).toEqual([-1, 0]);
    fireEvent.keyDown(script, { key: 'Home' });
    expect(inspector.getAttribute('aria-selected')).toBe('true');
  });
});
