#!/usr/bin/env node
// Entry point of `npx percpu-emu`: the built CLI (npm run build writes dist/;
// npm install runs it through the prepare script).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/scenarios/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('percpu-emu: the CLI is not built; run `npm run build` in the package\n');
  process.exit(3);
}
await import(cli.href);
