import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnCli } from '../cli-process.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'percpu-emu-asm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], input = '') {
  return spawnCli(['asm', ...args], { input });
}

describe('percpu-emu asm', () => {
  it('prints hex bytes, one instruction slot per line', () => {
    const out = run(['--hex'], 'r0 = 0x100000000 ll\nexit\n');
    expect(out.status).toBe(0);
    expect(out.stdout).toBe(
      '18 00 00 00 00 00 00 00\n00 00 00 00 01 00 00 00\n95 00 00 00 00 00 00 00\n',
    );
  });

  it('writes raw bytes to -o, reading a file', () => {
    const source = path.join(dir, 'prog.s');
    const out = path.join(dir, 'prog.bin');
    writeFileSync(source, 'r0 = 1\nexit\n');
    expect(run([source, '-o', out]).status).toBe(0);
    expect(readFileSync(out).toString('hex')).toBe('b7000000010000009500000000000000');
  });

  it('reads the conformance syntax with --syntax conformance', () => {
    const out = run(['--hex', '--syntax', 'conformance'], 'mov %r0, 1\nexit\n');
    expect(out.stdout).toBe('b7 00 00 00 01 00 00 00\n95 00 00 00 00 00 00 00\n');
  });

  it('names the line and column of an error and exits with 2', () => {
    const out = run(['--hex'], 'r0 = 0\n  r11 = 1\nexit\n');
    expect(out.status).toBe(2);
    expect(out.stderr).toBe("percpu-emu asm: <stdin>:2:3: expected a register, found 'r11'\n");
  });

  it('cuts a huge token and escapes control characters in an error', () => {
    const big = run(['--hex'], `r0 = ${'9'.repeat(1_000_000)}\nexit\n`);
    expect(big.status).toBe(2);
    expect(big.stderr).toBe(
      'percpu-emu asm: <stdin>:1:6: immediate 999999999999999999999999... (1000000 characters) does not fit in 32 bits\n',
    );
    const nul = run(['--hex'], 'r0 = 1\x00\x01 foo\nexit\n');
    expect(nul.status).toBe(2);
    expect(nul.stderr).toBe("percpu-emu asm: <stdin>:1:7: unexpected character '\\x00'\n");
  });

  it('exits with 2 on a usage error', () => {
    const out = run(['--bogus']);
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(/unknown option '--bogus'/);
  });
});
