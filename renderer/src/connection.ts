// How the renderer reaches the host: the Electron preload's transport when there is one, else a
// WebSocket back to the `serve` process that served this page. The per-run token comes in the
// page URL (`?token=`); it is kept in sessionStorage so a reload of a URL without it still works.
import { WebSocketTransport, type Transport } from '../../electron/protocol/transport';

const TOKEN_KEY = 'accept-workbench.token';

/** The serve token: from the URL when present (and remembered), else the one remembered. */
export function serveToken(search: string, storage: Pick<Storage, 'getItem' | 'setItem'> | null): string | null {
  const fromUrl = new URLSearchParams(search).get('token');
  try {
    if (fromUrl) {
      storage?.setItem(TOKEN_KEY, fromUrl);
      return fromUrl;
    }
    return storage?.getItem(TOKEN_KEY) ?? null;
  } catch {
    // Storage can be disabled (privacy settings); the URL token still works for this load.
    return fromUrl;
  }
}

/** The WebSocket URL of the serve bridge for a page at `loc`. */
export function webSocketUrl(loc: Pick<Location, 'protocol' | 'host'>, token: string | null): string {
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  return `${scheme}://${loc.host}/ws${query}`;
}

function sessionStore(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

/** Opens the transport to the host for this page. */
export function openTransport(): Transport {
  const bridge = window.workbench;
  if (bridge) return bridge.transport();
  const token = serveToken(location.search, sessionStore());
  return new WebSocketTransport(new WebSocket(webSocketUrl(location, token)));
}
