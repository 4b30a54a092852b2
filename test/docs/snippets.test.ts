/**
 * Every TypeScript snippet in README.md and docs/*.md type-checks as a module
 * of a user's project: each ```ts block is written to a file of its own and
 * compiled with the project's compiler options, importing `percpu-emu` by
 * name (resolved to this package's entry, as a user's import would be).
 */

import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// Under node_modules so neither biome nor the project's own tsc looks at it;
// the package's exports still resolve `percpu-emu` to index.ts from here.
const OUT = join(ROOT, 'node_modules', '.cache', 'percpu-emu-doc-snippets');

interface Snippet {
  doc: string;
  line: number;
  code: string;
}

function snippetsOf(doc: string): Snippet[] {
  const lines = readFileSync(join(ROOT, doc), 'utf8').split('\n');
  const found: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```ts') continue;
    const start = i + 1;
    while (i + 1 < lines.length && lines[i + 1].trim() !== '```') i++;
    found.push({ doc, line: start + 1, code: lines.slice(start, i + 1).join('\n') });
    i++;
  }
  return found;
}

const docs = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter((f) =>
  f.endsWith('.md'),
);
const snippets = docs.flatMap(snippetsOf);

describe('doc snippets', () => {
  it('finds the snippets of README.md and docs/', () => {
    expect(snippets.length).toBeGreaterThanOrEqual(5);
    for (const s of snippets) expect(s.code, `${s.doc}:${s.line}`).toContain("from 'percpu-emu'");
  });

  it('type-check as modules importing percpu-emu', () => {
    rmSync(OUT, { recursive: true, force: true });
    mkdirSync(OUT, { recursive: true });
    const where = new Map<string, Snippet>();
    snippets.forEach((s, i) => {
      const file = `${s.doc.replace(/[/.]/g, '_')}_${i}.ts`;
      where.set(file, s);
      // `export {}` keeps a snippet without imports a module (top-level await).
      writeFileSync(join(OUT, file), `${s.code}\nexport {};\n`);
    });
    writeFileSync(
      join(OUT, 'tsconfig.json'),
      JSON.stringify({
        extends: join(ROOT, 'tsconfig.json'),
        compilerOptions: { typeRoots: [join(ROOT, 'node_modules', '@types')] },
        include: ['*.ts', join(ROOT, 'preempt', 'parallel', 'comlink.d.ts')],
      }),
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '--noEmit', '-p', OUT], { encoding: 'utf8' });
    // Name each error by its doc and line, not by the generated file.
    const errors = r.stdout.replace(
      /^(?:\S*\/)?(\S+?\.ts)\((\d+),(\d+)\)/gm,
      (all, file, line, col) => {
        const s = where.get(file);
        return s === undefined ? all : `${s.doc}:${s.line + Number(line) - 1}:${col}`;
      },
    );
    expect(errors).toBe('');
    expect(r.status).toBe(0);
  });
});
