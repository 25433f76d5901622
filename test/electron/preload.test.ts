// The preload with a mocked `electron` module: what it exposes to the page as `window.workbench`.
import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';

const exposed = vi.hoisted(() => new Map<string, unknown>());

vi.mock('electron', async () => {
  const { EventEmitter: EE } = await import('node:events');
  return {
    contextBridge: { exposeInMainWorld: (name: string, api: unknown) => { exposed.set(name, api); } },
    ipcRenderer: Object.assign(new EE(), { invoke: vi.fn(() => Promise.resolve(null)) }),
  };
});

await import('../../electron/preload/preload');
const { ipcRenderer } = await import('electron');

interface Transport {
  send(m: unknown): void;
  onMessage(h: (m: unknown) => void): void;
  onClose(h: (reason: string) => void): void;
  close(reason?: string): void;
}
const workbench = () => exposed.get('workbench') as { transport(): Transport; openPlatformNotes?: unknown };

describe('window.workbench', () => {
  it('has no way to open files outside the page (the platform notes are the bundled copy)', () => {
    expect(workbench().openPlatformNotes).toBeUndefined();
  });

  it('hands messages from the port to the page and closes with the reason the page gave', () => {
    const t = workbench().transport();
    const got: unknown[] = [];
    t.onMessage((m) => got.push(m));
    const port = { onmessage: null as ((e: { data: unknown }) => void) | null, postMessage: vi.fn(), start: vi.fn(), close: vi.fn() };
    (ipcRenderer as unknown as EventEmitter).emit('workbench:port', { ports: [port] });
    port.onmessage!({ data: { kind: 'hello' } });
    expect(got).toEqual([{ kind: 'hello' }]);
    t.send({ kind: 'ping' });
    expect(port.postMessage).toHaveBeenCalledWith({ kind: 'ping' });
    const reasons: string[] = [];
    t.onClose((r) => reasons.push(r));
    t.close('page unloading');
    expect(reasons).toEqual(['page unloading']);
    expect(port.close).toHaveBeenCalled();
  });
});
