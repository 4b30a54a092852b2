import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Scenario files import the package entry by name; in the tests that is the sources.
  resolve: { alias: { 'percpu-emu': fileURLToPath(new URL('./index.ts', import.meta.url)) } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
  },
});
