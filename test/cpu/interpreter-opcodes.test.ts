import { describe, expect, it } from 'vitest';
import * as cpuModule from '../../cpu/cpu.ts';
import * as opcodes from '../../cpu/opcodes.ts';

// The interpreter's `Op` is a const enum (inlined at build time); its object
// still exists at run time, which is how this test reads every member.
const op = (cpuModule as unknown as { Op: Record<string, number | string> }).Op;
const members = Object.entries(op).filter((e): e is [string, number] => typeof e[1] === 'number');
const field = (name: string): number => {
  const v = (opcodes as Record<string, unknown>)[`BPF_${name}`];
  if (typeof v !== 'number') throw new Error(`opcodes.ts has no BPF_${name}`);
  return v;
};

/** The opcode a member's name spells, from the fields of opcodes.ts. */
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
  if (m !== null) {
    return field(m[2] ? 'JMP32' : 'JMP') | field(m[1]) | field(m[3] === 'IMM' ? 'K' : 'X');
  }
  m = /^([A-Z]+)(64|32)_(IMM|REG)$/.exec(name);
  if (m !== null) {
    return field(m[2] === '64' ? 'ALU64' : 'ALU') | field(m[1]) | field(m[3] === 'IMM' ? 'K' : 'X');
  }
  throw new Error(`${name} spells no opcode`);
}

describe('the interpreter opcodes (cpu.ts Op)', () => {
  it('are many and distinct', () => {
    expect(members.length).toBeGreaterThan(100);
    expect(new Set(members.map(([, v]) => v)).size).toBe(members.length);
  });

  it.each(members)('%s is the opcode its name spells', (name, value) => {
    expect(value).toBe(spelled(name));
  });
});
