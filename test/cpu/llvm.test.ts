/**
 * Our assembler and disassembler against LLVM's (`llvm-mc -triple bpf`,
 * `llvm-objdump -d`), LLVM 14 and LLVM 19, each skipped with a printed reason
 * where that version is missing (Debian 12: `apt-get install llvm llvm-19`).
 *
 * LLVM 14: llvm-mc 14 needs no `-mcpu=v3` for jmp32, `wN` registers or
 * atomics: its parser takes every form whatever the cpu, and `-mcpu` only
 * steers code generation. llvm-objdump does need `--mattr=+alu32` to decode
 * 32-bit atomics other than `lock ... += ...`, and then names all 32-bit
 * load, store and atomic operands `wN`; our `{ alu32: true }` matches it.
 *
 * LLVM 19 knows what LLVM 14 does not: cpu v4 (`-mcpu=v4`: sdiv/smod, movsx,
 * sign-extending loads, bswap, gotol), BPF_MOD, BPF_JSET, stores of
 * immediates and callx. Its llvm-objdump prints immediates and offsets in hex
 * (`r1 += 0x1`), which the comparisons read as the numbers they are; its
 * 32-bit atomics without alu32 are as LLVM 14's.
 *
 * What neither knows (`this_cpu_ptr`, local and kfunc calls, pseudo `lddw`
 * sources) is pinned by test/cpu/asm/pseudo-c.test.ts and the round-trip
 * property instead.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assemble } from '../../cpu/asm/pseudo-c.ts';
import { type DisasmOptions, disassembleInsn } from '../../cpu/disasm.ts';
import { decode, encode, type Insn } from '../../cpu/insn.ts';
import { BPF_ADD, BPF_ATOMIC, BPF_FETCH, BPF_STX, BPF_W, LDDW } from '../../cpu/opcodes.ts';
import { arbitraryProgram } from './fixtures/arbitrary-program.ts';

const FIXTURES = path.join(import.meta.dirname, 'fixtures');
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), 'utf8');
const corpus = fixture('llvm-corpus.s');
const decodeOnly = fixture('llvm-decode-only.s');
const v4Corpus = fixture('llvm-v4-corpus.s');

const TOOLS = ['llvm-mc', 'llvm-objdump', 'llvm-objcopy'] as const;
type Tool = (typeof TOOLS)[number];

/** One LLVM version's tools, by the command that runs each. */
interface Llvm {
  version: 14 | 19;
  tools: Record<Tool, string>;
}

/**
 * LLVM `version`'s tools: in Debian's /usr/lib/llvm-N/bin, as `tool-N`, or
 * as plain `tool` when that is version N; or a sentence saying which is missing.
 */
function findLlvm(version: 14 | 19): Llvm | string {
  const tools = {} as Record<Tool, string>;
  for (const tool of TOOLS) {
    const candidates = [`/usr/lib/llvm-${version}/bin/${tool}`, `${tool}-${version}`, tool];
    const found = candidates.find((command) => {
      const run = spawnSync(command, ['--version'], { encoding: 'utf8' });
      return run.status === 0 && run.stdout.includes(`LLVM version ${version}.`);
    });
    if (found === undefined) {
      return `no ${tool} of LLVM ${version} (tried ${candidates.join(', ')}); apt-get install ${version === 14 ? 'llvm' : `llvm-${version}`} adds it`;
    }
    tools[tool] = found;
  }
  return { version, tools };
}

/**
 * 32-bit atomics that plain llvm-objdump (without alu32, 14 and 19 alike)
 * cannot print: it says `<unknown>` for most, and misreads
 * `atomic_fetch_add` as `lock ... += rN`, dropping the fetch; we print what
 * alu32 mode prints.
 */
function plainLlvmCannotPrint(ins: Insn): boolean {
  return ins.code === (BPF_STX | BPF_ATOMIC | BPF_W) && ins.imm !== BPF_ADD;
}

/** Runs LLVM's tools in a temporary folder and compares their readings with ours. */
function comparisons(llvm: Llvm) {
  let dir = '';
  let files = 0;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), `percpu-emu-llvm${llvm.version}-`));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (tool: Tool, args: string[]) =>
    execFileSync(llvm.tools[tool], args, { encoding: 'utf8', maxBuffer: 1 << 26 });

  /** Runs llvm-mc on source text; returns the object file's path. */
  function llvmMc(source: string): string {
    const base = path.join(dir, `t${files++}`);
    writeFileSync(`${base}.s`, source);
    const cpu = llvm.version === 19 ? ['-mcpu=v4'] : [];
    run('llvm-mc', ['-triple', 'bpf', ...cpu, '-filetype=obj', '-o', `${base}.o`, `${base}.s`]);
    return `${base}.o`;
  }

  /** The .text bytes of an object file. */
  function textBytes(object: string): Uint8Array {
    const bin = object.replace(/\.o$/, '.bin');
    run('llvm-objcopy', ['-O', 'binary', '--only-section=.text', object, bin]);
    return new Uint8Array(readFileSync(bin));
  }

  /** An object file whose .text holds exactly these bytes. */
  function objectOf(bytes: Uint8Array): string {
    const lines: string[] = [];
    for (let at = 0; at < bytes.length; at += 8) {
      lines.push(`.byte ${Array.from(bytes.subarray(at, at + 8)).join(', ')}`);
    }
    return llvmMc(`${lines.join('\n')}\n`);
  }

  /** Whitespace collapsed; LLVM 19's hex numbers (`-0x8`) as decimal, as we and LLVM 14 print them. */
  function normalize(text: string): string {
    const spaced = text.replace(/\s+/g, ' ').trim();
    return llvm.version === 14
      ? spaced
      : spaced.replace(/0x[0-9a-f]+/gi, (hex) => BigInt(hex).toString());
  }

  /** llvm-objdump's text for each instruction slot, without the `<sym+off>` note after jumps. */
  function llvmObjdump(object: string, alu32: boolean): Map<number, string> {
    const out = run('llvm-objdump', [
      '-d',
      '--no-show-raw-insn',
      ...(alu32 ? ['--mattr=+alu32'] : []),
      object,
    ]);
    const lines = new Map<number, string>();
    for (const line of out.split('\n')) {
      const m = /^\s*(\d+):\s+(.*)$/.exec(line);
      if (m !== null) lines.set(Number(m[1]), normalize(m[2].replace(/\s+<[^<>]*>$/, '')));
    }
    return lines;
  }

  function ours(insns: readonly Insn[], opts: DisasmOptions): Map<number, string> {
    const lines = new Map<number, string>();
    for (let i = 0; i < insns.length; i++) {
      lines.set(i, normalize(disassembleInsn(insns, i, opts)));
      if (insns[i].code === LDDW) i++;
    }
    return lines;
  }

  /** Checks our text against llvm-objdump's for every slot, in both decoder modes. */
  function expectSameDisassembly(insns: Insn[], object: string): void {
    expect(ours(insns, { alu32: true })).toEqual(llvmObjdump(object, true));
    const plain = llvmObjdump(object, false);
    const mine = ours(insns, {});
    expect([...mine.keys()]).toEqual([...plain.keys()]);
    for (const [slot, text] of plain) {
      if (plainLlvmCannotPrint(insns[slot])) {
        const misread = insns[slot].imm === (BPF_ADD | BPF_FETCH) && text.startsWith('lock ');
        expect(text === '<unknown>' || misread, `slot ${slot}: ${text}`).toBe(true);
      } else {
        expect(mine.get(slot), `slot ${slot}`).toBe(text);
      }
    }
  }

  /** Reassembles llvm-objdump's text with our assembler. */
  function reassembled(object: string): Uint8Array {
    const text = [...llvmObjdump(object, true).values()].join('\n');
    return encode(assemble(text).insns);
  }

  /** Our bytes for `source` equal llvm-mc's; our disassembly of them equals llvm-objdump's and reassembles. */
  function expectAgreementOn(source: string): Uint8Array {
    const object = llvmMc(source);
    const llvmBytes = textBytes(object);
    const mine = encode(assemble(source).insns);
    expect(Buffer.from(mine)).toEqual(Buffer.from(llvmBytes));
    expectSameDisassembly(decode(llvmBytes), object);
    expect(Buffer.from(reassembled(object))).toEqual(Buffer.from(llvmBytes));
    return mine;
  }

  /** Random programs of what this LLVM knows: our disassembly equals llvm-objdump's and reassembles. */
  function expectAgreementOnRandomPrograms(seed: number): void {
    const programs = fc.sample(arbitraryProgram({ llvm: llvm.version, maxLength: 30 }), {
      seed,
      numRuns: 300,
    });
    // Jumps stay inside their own program, so the concatenation is one valid program.
    const insns = programs.flat();
    const bytes = encode(insns);
    const object = objectOf(bytes);
    expectSameDisassembly(insns, object);
    expect(Buffer.from(reassembled(object))).toEqual(Buffer.from(bytes));
  }

  return {
    objectOf,
    llvmObjdump,
    normalize,
    expectSameDisassembly,
    reassembled,
    expectAgreementOn,
    expectAgreementOnRandomPrograms,
  };
}

const llvm14 = findLlvm(14);
const llvm19 = findLlvm(19);
if (typeof llvm14 === 'string') console.log(`skipping the LLVM 14 comparisons: ${llvm14}`);
if (typeof llvm19 === 'string') console.log(`skipping the LLVM 19 (cpu v4) comparisons: ${llvm19}`);

describe.skipIf(typeof llvm14 === 'string')('against LLVM 14', () => {
  const llvm = comparisons(llvm14 as Llvm);

  it('assembles the corpus of every v1-v3 form to the bytes llvm-mc produces, and disassembles it as llvm-objdump does', () => {
    const mine = llvm.expectAgreementOn(corpus);
    expect(mine.length).toBeGreaterThanOrEqual(150 * 8);
  });

  it('agrees with llvm-objdump on the atomics llvm-mc 14 cannot parse', () => {
    const bytes = encode(assemble(decodeOnly).insns);
    const object = llvm.objectOf(bytes);
    const expected = decodeOnly
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.trim().startsWith('#'))
      .map(llvm.normalize);
    expect([...llvm.llvmObjdump(object, true).values()]).toEqual(expected);
    llvm.expectSameDisassembly(decode(bytes), object);
    expect(Buffer.from(llvm.reassembled(object))).toEqual(Buffer.from(bytes));
  });

  it('agrees with llvm-objdump on random programs of the instructions LLVM 14 knows', () => {
    llvm.expectAgreementOnRandomPrograms(20240601);
  });
});

describe.skipIf(typeof llvm19 === 'string')('against LLVM 19 (cpu v4)', () => {
  const llvm = comparisons(llvm19 as Llvm);

  it('assembles every v4 form (and BPF_MOD, BPF_JSET, immediate stores, callx) as llvm-mc -mcpu=v4 does, and disassembles it as llvm-objdump does', () => {
    const mine = llvm.expectAgreementOn(v4Corpus);
    expect(mine.length).toBe(41 * 8);
  });

  it('agrees on the v1-v3 corpus and the 32-bit atomics, which llvm-mc 19 parses', () => {
    llvm.expectAgreementOn(corpus);
    llvm.expectAgreementOn(decodeOnly);
  });

  it('agrees with llvm-objdump on random programs of the instructions LLVM 19 knows', () => {
    llvm.expectAgreementOnRandomPrograms(20251203);
  });
});
