// The main view: status bar on top; listeners and latency on the left; the pending queue and the
// decisions log in the middle; the inspector and the script editor on the right.
import { useState } from 'react';
import { DecisionsLog } from './DecisionsLog';
import { Inspector } from './Inspector';
import { LatencyChart } from './LatencyChart';
import { ListenersPanel } from './ListenersPanel';
import { PendingQueue } from './PendingQueue';
import { ScriptPanel } from './ScriptPanel';
import { LostBanner, StatusBar } from './StatusBar';

type Tab = 'inspector' | 'script';

export function App() {
  const [tab, setTab] = useState<Tab>('inspector');
  const tabButton = (id: Tab, label: string) => (
    <button type="button" role="tab" id={`tab-${id}`} aria-selected={tab === id} aria-controls={`tabpanel-${id}`} className={tab === id ? 'tab active' : 'tab'} onClick={() => setTab(id)}>
      {label}
    </button>
  );
  return (
    <div className="app">
      <StatusBar />
      <LostBanner />
      <main className="layout">
        <div className="col col-left">
          <ListenersPanel />
          <LatencyChart />
        </div>
        <div className="col col-center">
          <PendingQueue />
          <DecisionsLog />
        </div>
        <div className="col col-right">
          <div role="tablist" className="tabs" aria-label="Request and script">
            {tabButton('inspector', 'Inspector')}
            {tabButton('script', 'Script')}
          </div>
          {/* Both stay mounted: the editor keeps its undo history and unsaved text across tabs. */}
          <div role="tabpanel" id="tabpanel-inspector" aria-labelledby="tab-inspector" hidden={tab !== 'inspector'} className="tabpanel"><Inspector /></div>
          <div role="tabpanel" id="tabpanel-script" aria-labelledby="tab-script" hidden={tab !== 'script'} className="tabpanel"><ScriptPanel /></div>
        </div>
      </main>
    </div>
  );
}
