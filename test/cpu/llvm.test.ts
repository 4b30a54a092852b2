/**
 * Our assembler and disassembler against LLVM's (`llvm-mc -triple bpf`,
 * `llvm-objdump -d`, LLVM 14 here). llvm-mc 14 needs no `-mcpu=v3` for jmp32,
 * `wN` registers or atomics: its parser takes every form whatever the cpu, and
 * `-mcpu` only steers code generation. llvm-objdump does need `--mattr=+alu32`
 * to decode 32-bit atomics other than `lock ... += ...`, and then names all
 * 32-bit load, store and atomic operands `wN`; our `{ alu32: true }` matches it.
 *
 * What LLVM 14 does not know at all (BPF_MOD, BPF_JSET, stores of immediates,
 * cpu v4, `this_cpu_ptr`, local and kfunc calls, pseudo `lddw` sources) is
 * pinned by test/cpu/asm/pseudo-c.test.ts and the round-trip property instead.
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
const corpus = readFileSync(path.join(FIXTURES, 'llvm-corpus.s'), 'utf8');
const decodeOnly = readFileSync(path.join(FIXTURES, 'llvm-decode-only.s'), 'utf8');

function missingTool(): string | undefined {
  for (const tool of ['llvm-mc', 'llvm-objdump', 'llvm-objcopy']) {
    const run = spawnSync(tool, ['--version'], { encoding: 'utf8' });
    if (run.error !== undefined || run.status !== 0) {
      return `${tool} is not available (${run.error?.message ?? `exit status ${run.status}`})`;
    }
  }
  return undefined;
}

const missing = missingTool();
if (missing !== undefined) console.log(`skipping the LLVM comparisons: ${missing}`);

describe.skipIf(missing !== undefined)('against LLVM 14', () => {
  let dir = '';
  let files = 0;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'percpu-emu-llvm-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs llvm-mc on source text; returns the object file's path. */
  function llvmMc(source: string): string {
    const base = path.join(dir, `t${files++}`);
    writeFileSync(`${base}.s`, source);
    execFileSync('llvm-mc', ['-triple', 'bpf', '-filetype=obj', '-o', `${base}.o`, `${base}.s`]);
    return `${base}.o`;
  }

  /** The .text bytes of an object file. */
  function textBytes(object: string): Uint8Array {
    const bin = object.replace(/\.o$/, '.bin');
    execFileSync('llvm-objcopy', ['-O', 'binary', '--only-section=.text', object, bin]);
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

  /** llvm-objdump's text for each instruction slot, without the `<sym+off>` note after jumps. */
  function llvmObjdump(object: string, alu32: boolean): Map<number, string> {
    const args = ['-d', '--no-show-raw-insn', ...(alu32 ? ['--mattr=+alu32'] : []), object];
    const out = execFileSync('llvm-objdump', args, { encoding: 'utf8', maxBuffer: 1 << 26 });
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

  function normalize(text: string): string {
    return text.replace(/\s+/g, ' ').trim();
  }

  /**
   * 32-bit atomics that plain llvm-objdump 14 (without alu32) cannot print: it
   * says `<unknown>` for most, and misreads `atomic_fetch_add` as
   * `lock ... += rN`, dropping the fetch; we print what alu32 mode prints.
   */
  function plainLlvmCannotPrint(ins: Insn): boolean {
    return ins.code === (BPF_STX | BPF_ATOMIC | BPF_W) && ins.imm !== BPF_ADD;
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

  it('assembles the corpus of every v1-v3 form to the bytes llvm-mc produces', () => {
    const llvm = textBytes(llvmMc(corpus));
    const mine = encode(assemble(corpus).insns);
    expect(mine.length).toBeGreaterThanOrEqual(150 * 8);
    expect(Buffer.from(mine)).toEqual(Buffer.from(llvm));
  });

  it('disassembles the corpus as llvm-objdump does, and reassembles its text', () => {
    const object = llvmMc(corpus);
    const bytes = textBytes(object);
    expectSameDisassembly(decode(bytes), object);
    expect(Buffer.from(reassembled(object))).toEqual(Buffer.from(bytes));
  });

  it('agrees with llvm-objdump on the atomics llvm-mc 14 cannot parse', () => {
    const bytes = encode(assemble(decodeOnly).insns);
    const object = objectOf(bytes);
    const expected = decodeOnly
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.trim().startsWith('#'))
      .map(normalize);
    expect([...llvmObjdump(object, true).values()]).toEqual(expected);
    expectSameDisassembly(decode(bytes), object);
    expect(Buffer.from(reassembled(object))).toEqual(Buffer.from(bytes));
  });

  it('agrees with llvm-objdump on random programs of the instructions LLVM 14 knows', () => {
    const programs = fc.sample(arbitraryProgram({ llvm14Only: true, maxLength: 30 }), {
      seed: 20240601,
      numRuns: 300,
    });
    // Jumps stay inside their own program, so the concatenation is one valid program.
    const insns = programs.flat();
    const bytes = encode(insns);
    const object = objectOf(bytes);
    expectSameDisassembly(insns, object);
    expect(Buffer.from(reassembled(object))).toEqual(Buffer.from(bytes));
  });
});
