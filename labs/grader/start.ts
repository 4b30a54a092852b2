/**
 * `lab start`: a student's folder for a lab, made from its starter: the
 * starter files, the handout (README.md), and a package.json that depends
 * on percpu-emu and grades with `npm run grade`. Existing files are kept
 * (EEXIST) unless `force`.
 *
 * @example
 * startLab(findLab('kalloc'), '/home/me/kalloc');
 */

import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ErrnoError } from 'percpu-emu';
import type { Lab } from './lab.ts';

/** The percpu-emu package.json this grader belongs to (the repository's, or the installed package's). */
export function ownPackage(): { name: string; version: string } {
  for (let dir = dirname(new URL(import.meta.url).pathname); ; dir = dirname(dir)) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'percpu-emu') return { name: pkg.name, version: pkg.version };
    }
    if (dirname(dir) === dir) throw new ErrnoError('ENOENT', 'percpu-emu package.json not found');
  }
}

/** The files `startLab` writes, relative to the student's folder. */
export function startFiles(lab: Lab): string[] {
  return [...lab.studentFiles, 'README.md', 'package.json'];
}

export function startLab(lab: Lab, dir: string, force = false): string[] {
  const target = resolve(dir);
  const clash = startFiles(lab).filter((f) => existsSync(join(target, f)));
  if (clash.length > 0 && !force) {
    throw new ErrnoError(
      'EEXIST',
      `${target} already has ${clash.join(', ')}: choose another folder, or pass --force to overwrite`,
    );
  }
  mkdirSync(target, { recursive: true });
  for (const f of lab.studentFiles) copyFileSync(join(lab.folder, 'starter', f), join(target, f));
  copyFileSync(join(lab.folder, 'README.md'), join(target, 'README.md'));
  const pkg = ownPackage();
  const manifest = {
    name: `${lab.name}-lab`,
    private: true,
    type: 'module',
    description: `percpu-emu lab ${lab.name}: ${lab.title}`,
    scripts: { grade: `percpu-emu lab grade ${lab.name} .` },
    dependencies: { [pkg.name]: `^${pkg.version}` },
  };
  writeFileSync(join(target, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return startFiles(lab).map((f) => join(target, f));
}
