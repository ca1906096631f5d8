import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

// Decorators need metadata (type-graphql, MikroORM): SWC transpiles, not esbuild.
export default defineConfig({
  plugins: [swc.vite({ module: { type: 'es6' } })],
  // One copy of graphql. Vite would give our sources its ESM build while type-graphql and Apollo,
  // loaded by Node, get the CommonJS one: a scalar made with one is not a type to the other.
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
