// The workbench: status bar and view switch on top, then the view. Live: listeners and latency on
// the left; the pending queue and the decisions log in the middle; the inspector and the script
// editor on the right.
import { useEffect, useState, type KeyboardEvent } from 'react';
import { useWorkbench } from '../context';
import { ChartsView } from './charts/ChartsView';
import { DecisionsLog } from './DecisionsLog';
import { Inspector } from './Inspector';
import { LatencyChart } from './LatencyChart';
import { ListenersPanel } from './ListenersPanel';
import { PendingQueue } from './PendingQueue';
import { ScriptPanel } from './ScriptPanel';
import { useSessionsView } from './sessions/MenuActions';
import { SessionsView } from './sessions/SessionsView';
import { SimulatorView } from './SimulatorView';
import { LostBanner, StatusBar } from './StatusBar';
import { ViewPanels, ViewTabs, type ViewDef } from './ViewTabs';

/** The top-level views, in tab order. */
const VIEWS: ViewDef[] = [
  { id: 'live', label: 'Live', keepMounted: true, render: () => <LiveView /> },
  { id: 'charts', label: 'Charts', keepMounted: true, render: (active) => <ChartsView active={active} /> },
  { id: 'simulator', label: 'Simulator', keepMounted: true, render: () => <SimulatorView /> },
  { id: 'sessions', label: 'Sessions', keepMounted: true, render: () => <SessionsView /> },
];

export function App() {
  const [view, setView] = useState(VIEWS[0]!.id);
  useSessionsView(() => setView('sessions'));
  const newListenerWanted = useWorkbench((s) => s.newListenerWanted);
  useEffect(() => { if (newListenerWanted > 0) setView('live'); }, [newListenerWanted]);
  return (
    <div className="app">
      <StatusBar />
      <ViewTabs views={VIEWS} active={view} onSelect={setView} />
      <LostBanner />
      <ViewPanels views={VIEWS} active={view} />
    </div>
  );
}

type Tab = 'inspector' | 'script';

function LiveView() {
  const [tab, setTab] = useState<Tab>('inspector');
  const tabButton = (id: Tab, label: string) => (
    <button
      type="button" role="tab" id={`tab-${id}`} aria-selected={tab === id} aria-controls={`tabpanel-${id}`} tabIndex={tab === id ? 0 : -1}
      className={tab === id ? 'tab active' : 'tab'} onClick={() => setTab(id)}
    >
      {label}
    </button>
  );
  // Arrow keys (Home, End) switch between the two tabs, as in the view tabs above.
  const onTabKey = (e: KeyboardEvent<HTMLDivElement>): void => {
    if (!['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key)) return;
    e.preventDefault();
    const next: Tab = e.key === 'Home' ? 'inspector' : e.key === 'End' ? 'script' : tab === 'inspector' ? 'script' : 'inspector';
    setTab(next);
    document.getElementById(`tab-${next}`)?.focus();
  };
  return (
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
        <div role="tablist" className="tabs" aria-label="Request and script" onKeyDown={onTabKey}>
          {tabButton('inspector', 'Inspector')}
          {tabButton('script', 'Script')}
        </div>
        {/* Both stay mounted: the editor keeps its undo history and unsaved text across tabs. */}
        <div role="tabpanel" id="tabpanel-inspector" aria-labelledby="tab-inspector" hidden={tab !== 'inspector'} className="tabpanel"><Inspector /></div>
        <div role="tabpanel" id="tabpanel-script" aria-labelledby="tab-script" hidden={tab !== 'script'} className="tabpanel"><ScriptPanel /></div>
      </div>
    </main>
  );
}
