// A real accept host in this process, with the renderer's store on the other end of an in-process
// transport: the same wiring test/host/protocol.test.ts uses, seen from the UI.
import { AcceptHost } from '../../electron/host/host';
import { attachConnection } from '../../electron/host/connection';
import { afterEach, beforeAll, beforeEach } from 'vitest';
import { cleanup } from '@testing-library/react';
import { loadSandbox, type Sandbox } from '../../electron/host/script/sandbox';
import { WorkbenchClient } from '../../electron/protocol/client';
import { inProcessPair } from '../../electron/protocol/transport';
import { createWorkbench, type Workbench } from '../../renderer/src/store';
import { stubLayout, until } from './helpers';

export interface RealWorkbench { host: AcceptHost; wb: Workbench; close(): void }

export async function realWorkbench(sandbox: Sandbox): Promise<RealWorkbench> {
  const host = new AcceptHost({ sandbox, appVersion: '0.0.0-test' });
  const [hostSide, uiSide] = inProcessPair();
  const connection = attachConnection(host, hostSide);
  const client = new WorkbenchClient(uiSide);
  const wb = createWorkbench(client);
  await client.ready();
  await wb.store.getState().resync();
  await until(() => wb.store.getState().connection === 'connected', 2000, 'connected');
  return {
    host, wb,
    close: () => {
      wb.dispose();
      connection.dispose();
      host.close();
    },
  };
}

/**
 * The hooks every component suite uses: one sandbox for the file, the layout stubbed for each
 * test (the virtualised lists measure it), and after each test the DOM cleaned and every real
 * host started with `realHost()` closed.
 */
export function componentSuite(): { readonly sandbox: Sandbox; realHost(): Promise<RealWorkbench> } {
  let sandbox: Sandbox | null = null;
  let unstub: () => void = () => undefined;
  const real: RealWorkbench[] = [];
  beforeAll(async () => { sandbox = await loadSandbox(); });
  beforeEach(() => { unstub = stubLayout(); });
  afterEach(() => {
    cleanup();
    unstub();
    for (const r of real.splice(0)) r.close();
  });
  const loaded = (): Sandbox => {
    if (!sandbox) throw new Error('the sandbox is loaded in beforeAll');
    return sandbox;
  };
  return {
    get sandbox() { return loaded(); },
    realHost: async () => {
      const r = await realWorkbench(loaded());
      real.push(r);
      return r;
    },
  };
}
