// Window hardening for the workbench renderer: the options every window is created with, the
// Content-Security-Policy, and the rules that keep the renderer on its own page. Pure functions
// over the parts of Electron they need, so they can be tested without an Electron binary.
import type { BrowserWindowConstructorOptions } from 'electron';

/** What `npm run dev` adds to the policy, for the Vite dev server only. */
export interface DevServerPolicy {
  /** The dev server's page (http://127.0.0.1:PORT/ or http://localhost:PORT/). */
  url: string;
  /** sha256 sources ('sha256-…') of the inline scripts Vite puts in the page; none → 'unsafe-inline'. */
  scriptHashes?: readonly string[];
}

const SCRIPT_HASH = /^sha256-[A-Za-z0-9+/]{43}=$/;

/**
 * The renderer loads only its own bundle; it talks to the host over a MessagePort, not the network.
 * Against the dev server (`dev` given) two things are allowed besides: the inline script that the
 * React plugin injects for hot reload (by its hash when known) and the dev server's websocket.
 */
export function contentSecurityPolicy(dev?: DevServerPolicy): string {
  let script = "'self'";
  let connect = "'self'";
  if (dev) {
    const hashes = (dev.scriptHashes ?? []).filter((h) => SCRIPT_HASH.test(h));
    script += hashes.length > 0 ? hashes.map((h) => ` '${h}'`).join('') : " 'unsafe-inline'";
    connect += ` ws://${new URL(dev.url).host}`;
  }
  return `default-src 'self'; script-src ${script}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src ${connect}; ` +
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
}

/** The packaged app's policy. */
export const CONTENT_SECURITY_POLICY = contentSecurityPolicy();

export interface WindowBounds {
  width: number;
  height: number;
  x?: number;
  y?: number;
  maximized?: boolean;
}

export function windowOptions(preloadPath: string, bounds: WindowBounds): BrowserWindowConstructorOptions {
  return {
    width: bounds.width,
    height: bounds.height,
    ...(bounds.x !== undefined && bounds.y !== undefined ? { x: bounds.x, y: bounds.y } : {}),
    minWidth: 900,
    minHeight: 600,
    title: 'Accept Workbench',
    show: false,
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
    },
  };
}

/**
 * The dev server to load instead of the built renderer (`npm run dev` sets AW_DEV_URL): never in
 * a packaged app, and only a loopback http URL. Returns it, or null with why it was refused.
 */
export function devServerUrl(isPackaged: boolean, value: string | undefined): { url: string | null; refused: string | null } {
  if (value === undefined || value === '') return { url: null, refused: null };
  if (isPackaged) return { url: null, refused: 'AW_DEV_URL is ignored in a packaged app' };
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return { url: null, refused: `AW_DEV_URL is not a URL: ${JSON.stringify(value)}` };
  }
  if (u.protocol !== 'http:' || !['127.0.0.1', 'localhost'].includes(u.hostname)) {
    return { url: null, refused: `AW_DEV_URL must be an http URL on this machine (127.0.0.1, localhost): ${JSON.stringify(value)}` };
  }
  return { url: u.toString(), refused: null };
}

interface Rect { x: number; y: number; width: number; height: number }

/** The saved window bounds, without a position that no display shows any more (a monitor removed). */
export function onScreenBounds(bounds: WindowBounds, workAreas: readonly Rect[]): WindowBounds {
  if (bounds.x === undefined || bounds.y === undefined) return bounds;
  const { x, y } = bounds;
  // Some of its top strip (where it is dragged from) must be on a display.
  const visible = workAreas.some((a) => x < a.x + a.width - 40 && x + bounds.width > a.x + 40 && y >= a.y - 10 && y < a.y + a.height - 40);
  if (visible) return bounds;
  const { x: _x, y: _y, ...rest } = bounds;
  return rest;
}

/** Is `url` the renderer's own page (the packaged file, or the dev server in development)? */
export function isAppUrl(url: string, appUrl: string): boolean {
  let u: URL;
  let app: URL;
  try {
    u = new URL(url);
    app = new URL(appUrl);
  } catch {
    return false;
  }
  if (app.protocol === 'file:') return u.protocol === 'file:' && u.pathname === app.pathname;
  return u.origin === app.origin;
}

interface NavigationEvent { preventDefault(): void }
interface HardenableContents {
  on(event: 'will-navigate' | 'will-redirect', listener: (event: NavigationEvent, url: string) => void): unknown;
  on(event: 'will-attach-webview', listener: (event: NavigationEvent) => void): unknown;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' | 'allow' }): void;
}

/** No navigation away from the app, no new windows, no webviews. */
export function hardenContents(contents: HardenableContents, appUrl: string): void {
  const stay = (event: NavigationEvent, url: string): void => {
    if (!isAppUrl(url, appUrl)) event.preventDefault();
  };
  contents.on('will-navigate', stay);
  contents.on('will-redirect', stay);
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
}
