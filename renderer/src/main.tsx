// Renderer entry: connect to the host, build the store, render the workbench.
import { StrictMode } from 'react';
import { z } from 'zod';
import { createRoot } from 'react-dom/client';
import { WorkbenchClient } from '../../electron/protocol/client';
import { openTransport } from './connection';
import { createWorkbench, reportProtocolError, type Workbench } from './store';
import { WorkbenchProvider } from './context';
import { App } from './components/App';
import './styles.css';

// The CSP allows no eval: tell zod not to probe for it (the probe alone logs a CSP violation).
z.config({ jitless: true });

let workbench: Workbench | null = null;
const client = new WorkbenchClient(openTransport(), {
  // Invalid messages are not acted upon; the status bar says they happened.
  onProtocolError: (message) => { if (workbench) reportProtocolError(workbench.store, message); },
});
workbench = createWorkbench(client);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <WorkbenchProvider workbench={workbench}>
      <App />
    </WorkbenchProvider>
  </StrictMode>,
);
