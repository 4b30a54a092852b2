import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as opcodes from '../../cpu/opcodes.ts';

// The interpreter's case labels are literals named in a comment (cpu.ts says
// why); this reads them from the source and checks each against its name.
const source = readFileSync(new URL('../../cpu/cpu.ts', import.meta.url), 'utf8');
const labels = [...source.matchAll(/case \/\* ([A-Z0-9_]+) \*\/ (0x[0-9a-f]{2}):/g)].map(
  (m): [string, number] => [m[1], Number(m[2])],
);
const runBody = source.slice(
  source.indexOf('  interpret(ctx: CpuContext'),
  source.indexOf('  stop(n: number'),
);

const field = (name: string): number => {
  const v = (opcodes as Record<string, unknown>)[`BPF_${name}`];
  if (typeof v !== 'number') throw new Error(`opcodes.ts has no BPF_${name}`);
  return v;
};
const src = (s: string) => field(s === 'IMM' ? 'K' : 'X');

/** The opcode a name spells, from the fields of opcodes.ts. */
function spelled(name: string): number {
  const special: Record<string, number> = {
    LDDW: opcodes.LDDW,
    BSWAP: field('ALU64') | field('END') | field('TO_LE'),
    LE: field('ALU') | field('END') | field('TO_LE'),
    BE: field('ALU') | field('END') | field('TO_BE'),
    JA: field('JMP') | field('JA'),
    JA32: field('JMP32') | field('JA'),
    CALL: field('JMP') | field('CALL'),
    CALLX: field('JMP') | field('CALL') | field('X'),
    EXIT: field('JMP') | field('EXIT'),
    NEG64: field('ALU64') | field('NEG'),
    NEG32: field('ALU') | field('NEG'),
  };
  if (name in special) return special[name];
  let m = /^(LDXS|LDX|STX|ST|ATOMIC_)(W|H|B|DW)$/.exec(name);
  if (m !== null) {
    const [cls, mode] = {
      LDXS: ['LDX', 'MEMSX'],
      LDX: ['LDX', 'MEM'],
      STX: ['STX', 'MEM'],
      ST: ['ST', 'MEM'],
      ATOMIC_: ['STX', 'ATOMIC'],
    }[m[1]] as [string, string];
    return field(cls) | field(mode) | field(m[2]);
  }
  m = /^(J[A-Z]+?)(32)?_(IMM|REG)$/.exec(name);
  if (m !== null) return field(m[2] ? 'JMP32' : 'JMP') | field(m[1]) | src(m[3]);
  m = /^([A-Z]+)(64|32)_(IMM|REG)$/.exec(name);
  if (m !== null) return field(m[2] === '64' ? 'ALU64' : 'ALU') | field(m[1]) | src(m[3]);
  throw new Error(`${name} spells no opcode`);
}

describe('the interpreter case labels (cpu.ts)', () => {
  it('name every case of run, each opcode once', () => {
    const cases = [...runBody.matchAll(/case /g)].length;
    const inRun = [...runBody.matchAll(/case \/\* [A-Z0-9_]+ \*\/ (0x[0-9a-f]{2}):/g)];
    expect(cases).toBeGreaterThan(100);
    expect(inRun).toHaveLength(cases);
    expect(new Set(inRun.map((m) => m[1])).size).toBe(cases);
  });

  it.each(labels)('%s is the opcode its name spells', (name, value) => {
    expect(value).toBe(spelled(name));
  });
});
