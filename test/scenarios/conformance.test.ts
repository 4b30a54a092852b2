import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDataFile } from '../../scenarios/conformance/data-file.ts';
import { runConformanceTest } from '../../scenarios/conformance/run-test.ts';
import { spawnCli } from './cli-process.ts';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The suite is data the project does not own: $PERCPU_EMU_CONFORMANCE when
 * set (an error if it does not exist), else ../shared/conformance beside the
 * repository when it is there, else undefined.
 */
function findSuite(): string | undefined {
  const fromEnv = process.env.PERCPU_EMU_CONFORMANCE;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!existsSync(fromEnv)) {
      throw new Error(`PERCPU_EMU_CONFORMANCE is ${fromEnv}, which does not exist`);
    }
    return path.resolve(fromEnv);
  }
  const beside = path.resolve(projectRoot, '../shared/conformance');
  return existsSync(beside) ? beside : undefined;
}

const suiteDir = findSuite();
const suiteFiles =
  suiteDir === undefined
    ? []
    : readdirSync(suiteDir)
        .filter((n) => n.endsWith('.data'))
        .sort();
if (suiteDir === undefined) {
  console.log(
    'skipping the eBPF conformance suite: set PERCPU_EMU_CONFORMANCE to a checkout of the tests/ folder of github.com/Alan-Jowett/bpf_conformance',
  );
}

describe.skipIf(suiteDir === undefined)(`eBPF conformance suite (${suiteDir})`, () => {
  it('has the files', () => {
    expect(suiteFiles.length).toBeGreaterThan(200);
  });

  it.each(suiteFiles)('%s', (name) => {
    const outcome = runConformanceTest(
      parseDataFile(readFileSync(path.join(suiteDir ?? '', name), 'utf8')),
    );
    expect(outcome).toEqual({ status: 'pass' });
  });

  it.each(suiteFiles)('%s on the WebAssembly tier', (name) => {
    const test = parseDataFile(readFileSync(path.join(suiteDir ?? '', name), 'utf8'));
    expect(runConformanceTest(test, { tier: 'jit' })).toEqual({ status: 'pass' });
  });
});

describe('.data files', () => {
  it('reads raw instructions as 64-bit little-endian words or as eight bytes in memory order', () => {
    const test = parseDataFile(
      '# header\n-- raw\n0x5566778800000018\n00 00 00 00 44 33 22 11\n0x95 # exit\n-- result\n0x1122334455667788\n',
    );
    expect(Array.from(test.raw ?? [])).toEqual([
      0x18, 0, 0, 0, 0x88, 0x77, 0x66, 0x55, 0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11, 0x95, 0, 0, 0, 0,
      0, 0, 0,
    ]);
    expect(test.asm).toBeUndefined();
    expect(runConformanceTest(test)).toEqual({ status: 'pass' });
  });

  it('reads mem over several lines, a decimal or negative result, and ignores other sections', () => {
    const test = parseDataFile(
      '-- c\nint x;\n-- asm\nldxb %r0, [%r1+2]\nexit\n-- mem\naa bb\n11 cc\n-- result\n17\n-- no register offset\n',
    );
    expect(Array.from(test.mem)).toEqual([0xaa, 0xbb, 0x11, 0xcc]);
    expect(test.result).toBe(17n);
    expect(test.asmLine).toBe(4);
    expect(runConformanceTest(test)).toEqual({ status: 'pass' });
    expect(parseDataFile('-- result\n-1\n').result).toBe(0xffff_ffff_ffff_ffffn);
  });

  it('passes r1 = mem address and r2 = its length', () => {
    const test = parseDataFile('-- asm\nmov %r0, %r2\nexit\n-- mem\n01 02 03\n-- result\n3\n');
    expect(runConformanceTest(test)).toEqual({ status: 'pass' });
  });

  it('refuses a malformed raw line, naming its file line', () => {
    expect(() => parseDataFile('-- raw\n95 00 00\n')).toThrow(/^EINVAL: line 2: raw instruction/);
  });

  it('fails a test whose asm does not assemble to its raw section', () => {
    const outcome = runConformanceTest(
      parseDataFile('-- asm\nmov %r0, 2\nexit\n-- raw\n0x00000001000000b7\n0x95\n-- result\n0x2\n'),
    );
    expect(outcome.status).toBe('fail');
    expect(outcome.status === 'fail' && outcome.reason).toContain(
      'slot 0 is b7 00 00 00 02 00 00 00, raw has b7 00 00 00 01 00 00 00',
    );
  });

  it('cites the .data file line of an assembly error', () => {
    const outcome = runConformanceTest(
      parseDataFile('# c\n-- asm\nmov %r0, 1\nbad %r0\nexit\n-- result\n1\n'),
    );
    expect(outcome).toEqual({
      status: 'fail',
      reason: "rejected: EINVAL: line 4, column 1: unknown mnemonic 'bad'",
    });
  });

  it('fails a program that faults or never exits', () => {
    const fault = runConformanceTest(
      parseDataFile('-- asm\nldxdw %r0, [%r0]\nexit\n-- result\n0\n'),
    );
    expect(fault.status === 'fail' && fault.reason).toMatch(/^fault: EFAULT: page fault/);
    const loop = runConformanceTest(parseDataFile('-- asm\nja -1\n-- result\n0\n'), {
      budget: 1000,
    });
    expect(loop).toEqual({ status: 'fail', reason: 'did not exit within 1000 instructions' });
  });
});

describe('percpu-emu conformance', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'percpu-conformance-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  function cli(...args: string[]) {
    return cliWith({ PERCPU_EMU_CONFORMANCE: '' }, ...args);
  }

  function cliWith(env: Record<string, string>, ...args: string[]) {
    const r = spawnCli(['conformance', ...args], { cwd: projectRoot, env });
    const lines = r.stdout.trimEnd().split('\n');
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, last: lines[lines.length - 1] };
  }

  function dataFile(name: string, text: string): string {
    const file = path.join(tmp, name);
    writeFileSync(file, text);
    return file;
  }

  it.skipIf(suiteDir === undefined)(
    'runs a whole folder and ends with "N passed, 0 failed"',
    () => {
      const r = cli(suiteDir ?? '');
      expect(r.last).toBe(`${suiteFiles.length} passed, 0 failed`);
      expect(r.status).toBe(0);
    },
  );

  it('prints a wrong result with the file, expected and actual r0, and exits 1', () => {
    const file = dataFile('wrong.data', '-- asm\nmov %r0, 2\nexit\n-- result\n0x3\n');
    const right = dataFile('right.data', '-- asm\nmov %r0, 3\nexit\n-- result\n0x3\n');
    const r = cli(file, right);
    expect(r.stdout).toContain(`FAIL ${file}: expected r0 = 0x3, got 0x2\n`);
    expect(r.last).toBe('1 passed, 1 failed');
    expect(r.status).toBe(1);
  });

  it('passes an `-- error` test when the program is rejected, fails it when it loads', () => {
    const rejected = dataFile(
      'rejected.data',
      '-- asm\nfoo %r0\nexit\n-- error\nInvalid mnemonic: foo\n',
    );
    expect(cli(rejected)).toMatchObject({ last: '1 passed, 0 failed', status: 0 });
    const loads = dataFile('loads.data', '-- asm\nmov %r0, 1\nexit\n-- error\nsomething\n');
    const r = cli(loads);
    expect(r.stdout).toContain(`FAIL ${loads}: the program loaded, but it should be rejected`);
    expect(r.status).toBe(1);
  });

  it('prints skips with their reason and counts them only when there are some', () => {
    const file = dataFile('empty.data', '-- result\n0x0\n');
    const r = cli(file);
    expect(r.stdout).toContain(`SKIP ${file}: no program`);
    expect(r.last).toBe('0 passed, 0 failed, 1 skipped');
    expect(r.status).toBe(0);
  });

  it('exits 2 with a usage line without arguments or with a missing path', () => {
    const none = cli();
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('usage: percpu-emu conformance <files or folders...>');
    expect(none.stderr).toContain('(default: $PERCPU_EMU_CONFORMANCE)');
    const missing = cli(path.join(tmp, 'no-such.data'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('cannot read');
  });

  it('runs $PERCPU_EMU_CONFORMANCE without arguments', () => {
    const folder = mkdtempSync(path.join(tmp, 'suite-'));
    writeFileSync(path.join(folder, 'one.data'), '-- asm\nmov %r0, 1\nexit\n-- result\n0x1\n');
    expect(cliWith({ PERCPU_EMU_CONFORMANCE: folder })).toMatchObject({
      last: '1 passed, 0 failed',
      status: 0,
    });
  });
});
