// React access to the workbench store: one provider at the root, selector hooks below it.
import { createContext, useContext, type ReactNode } from 'react';
import { useStore } from 'zustand';
import type { Workbench, WorkbenchState } from './store';

const WorkbenchContext = createContext<Workbench | null>(null);

export function WorkbenchProvider({ workbench, children }: { workbench: Workbench; children: ReactNode }) {
  return <WorkbenchContext.Provider value={workbench}>{children}</WorkbenchContext.Provider>;
}

export function useWorkbenchContext(): Workbench {
  const wb = useContext(WorkbenchContext);
  if (!wb) throw new Error('useWorkbench outside <WorkbenchProvider>');
  return wb;
}

/** Selects from the store; re-renders when the selected value changes (Object.is). */
export function useWorkbench<T>(selector: (s: WorkbenchState) => T): T {
  return useStore(useWorkbenchContext().store, selector);
}
