import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Scenario files import the package entry by name; in the tests that is the sources.
  resolve: { alias: { 'percpu-emu': fileURLToPath(new URL('./index.ts', import.meta.url)) } },
  test: {
    include: ['test/**/*.test.ts'],
    // A guard against hangs, not a speed limit: 1000-seed sweeps take 20 s on
    // a quiet machine and several times that on a loaded one.
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
