// The top-level view switch: a tablist under the status bar and one panel per view. Views are a
// list (App.tsx), so adding one is one line there.
import type { KeyboardEvent, ReactNode } from 'react';

export interface ViewDef {
  id: string;
  label: string;
  /** The view; `active` is false while it stays mounted behind another one (see keepMounted). */
  render: (active: boolean) => ReactNode;
  /** Stays mounted, hidden, while another view is shown: keeps editor history, drafts, scroll. */
  keepMounted?: boolean;
}

export function ViewTabs({ views, active, onSelect }: { views: readonly ViewDef[]; active: string; onSelect: (id: string) => void }) {
  // Arrow keys move along the tabs and show the view at once (the tabs pattern of WAI-ARIA).
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>): void => {
    const at = views.findIndex((v) => v.id === active);
    const to = e.key === 'ArrowRight' ? at + 1 : e.key === 'ArrowLeft' ? at - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? views.length - 1 : null;
    if (to === null) return;
    e.preventDefault();
    const next = views[(to + views.length) % views.length]!;
    onSelect(next.id);
    document.getElementById(`view-tab-${next.id}`)?.focus();
  };
  return (
    <nav className="view-bar" aria-label="Views">
      <div role="tablist" aria-label="Views" className="view-tabs" onKeyDown={onKeyDown}>
        {views.map((v) => (
          <button
            key={v.id} type="button" role="tab" id={`view-tab-${v.id}`} aria-selected={v.id === active} aria-controls={`view-panel-${v.id}`}
            tabIndex={v.id === active ? 0 : -1} className={v.id === active ? 'view-tab active' : 'view-tab'} onClick={() => onSelect(v.id)}
          >
            {v.label}
          </button>
        ))}
      </div>
    </nav>
  );
}

export function ViewPanels({ views, active }: { views: readonly ViewDef[]; active: string }) {
  return (
    <>
      {views.map((v) => (v.id === active || v.keepMounted ? (
        <div key={v.id} role="tabpanel" id={`view-panel-${v.id}`} aria-labelledby={`view-tab-${v.id}`} hidden={v.id !== active} className="view-panel">
          {v.render(v.id === active)}
        </div>
      ) : null))}
    </>
  );
}
