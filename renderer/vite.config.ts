// Builds the renderer into dist/renderer: one static bundle with relative URLs ('./') so it loads
// both from file:// in Electron and from `accept-workbench serve`. Everything is bundled (CodeMirror,
// recharts, the protocol code from electron/protocol): the CSP allows no other origin.
import * as path from 'node:path';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const here = path.dirname(new URL(import.meta.url).pathname);

export default defineConfig({
  root: here,
  base: './',
  plugins: [react()],
  publicDir: false,
  build: {
    outDir: path.resolve(here, '../dist/renderer'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // CodeMirror + recharts + React make one ~1 MB bundle; loaded from disk, that is fine.
    chunkSizeWarningLimit: 2000,
  },
  server: { host: '127.0.0.1', strictPort: true },
});
