// The Sessions view: a recorded session opened from a file, its summary, a timeline scrubber whose
// position drives the pending queue, the counts and the recent decisions shown, a read-only
// inspector of recorded requests, and what-if re-evaluation with another script.
import { useWorkbench } from '../../context';
import { OpenSessionBar, SessionSummary } from './SessionHeader';
import { SessionDecisions } from './SessionDecisions';
import { SessionInspector } from './SessionInspector';
import { SessionPending } from './SessionPending';
import { Timeline } from './Timeline';
import { WhatIfPanel } from './WhatIfPanel';

export function SessionsView() {
  const open = useWorkbench((s) => s.session !== null);
  return (
    <div className="sessions-view" data-testid="sessions-view">
      <OpenSessionBar />
      {open ? (
        <>
          <SessionSummary />
          <Timeline />
          <div className="sessions-layout">
            <div className="col">
              <SessionPending />
              <SessionDecisions />
            </div>
            <div className="col"><SessionInspector /></div>
            <div className="col"><WhatIfPanel /></div>
          </div>
        </>
      ) : (
        <p className="empty sessions-empty">
          Open a session file to go through it: start one with Record… in the status bar, or open one the CLI
          (<span className="mono">accept-workbench listen --record</span>) wrote.
        </p>
      )}
    </div>
  );
}
