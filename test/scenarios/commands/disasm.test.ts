import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnCli } from '../cli-process.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'percpu-emu-disasm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], input: string | Buffer = '') {
  return spawnCli(['disasm', ...args], { input });
}

describe('percpu-emu disasm', () => {
  it('disassembles raw bytes from a file', () => {
    const file = path.join(dir, 'prog.bin');
    writeFileSync(file, Buffer.from('b7000000010000009500000000000000', 'hex'));
    const out = run([file]);
    expect(out.status).toBe(0);
    expect(out.stdout).toBe('r0 = 1\nexit\n');
  });

  it('reads hex text, as asm --hex prints it, with labels on request', () => {
    const hex =
      '# a loop\n07 00 00 00 01 00 00 00\n0x55,0x00,0xfe,0xff,0x00,0x00,0x00,0x00\n9500000000000000\n';
    expect(run(['--hex'], hex).stdout).toBe('r0 += 1\nif r0 != 0 goto -2\nexit\n');
    expect(run(['--hex', '--labels'], hex).stdout).toBe(
      'LBB0_0:\nr0 += 1\nif r0 != 0 goto LBB0_0\nexit\n',
    );
  });

  it('names the line and column of bad hex and exits with 2', () => {
    const out = run(['--hex'], 'b7 00 00 00\n01 00 0x0g 00\n');
    expect(out.status).toBe(2);
    expect(out.stderr).toBe("percpu-emu disasm: <stdin>:2:7: '0x0g' is not whole bytes of hex\n");
  });

  it('refuses input that is not whole instructions', () => {
    const out = run(['--hex'], 'b7 00 00');
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(/3 bytes is not a whole number of 8-byte instructions/);
  });

  it('refuses a raw file that is not a multiple of 8 bytes, with exit status 2', () => {
    const file = path.join(dir, 'short.bin');
    writeFileSync(file, Buffer.from('b700000001000000950000', 'hex'));
    const out = run([file]);
    expect(out.status).toBe(2);
    expect(out.stderr).toBe(
      `percpu-emu disasm: ${file}: 11 bytes is not a whole number of 8-byte instructions\n`,
    );
    expect(out.stdout).toBe('');
  });

  it('refuses raw input that looks like text, pointing at --hex and asm', () => {
    const out = run([], 'r0 = 1\nexit\n'); // 14 bytes of source
    expect(out.status).toBe(2);
    expect(out.stderr).toContain('<stdin> looks like text, not eBPF bytes: give --hex');
    const sixteen = run([], 'b700000001000000'); // 16 characters of hex: a multiple of 8, still text
    expect(sixteen.status).toBe(2);
    expect(sixteen.stderr).toContain('looks like text');
  });
});
