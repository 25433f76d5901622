import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Renderer tests are .tsx: the automatic JSX runtime, as the renderer's own build uses.
  oxc: { jsx: { runtime: 'automatic' } },
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    exclude: ['test/windows/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
