/**
 * The oops report of a guest fault, in the shape of the x86 one, with eBPF
 * registers: what went wrong, CPU, task, the faulting instruction
 * disassembled, the registers, and a backtrace through the local-call frames
 * saved in the task's context.
 *
 * @example
 * oopsLines(fault, ctx, { cpu: 1, pid: 5, comm: 'worker', count: 1 });
 * // ['BUG: unable to handle page fault for address: 0000000000000000', ...]
 */

import { type CpuContext, CTX_DEPTH, CTX_FRAMES, FRAME_WORDS } from '../cpu/context.ts';
import { type DisasmOptions, disassembleInsn } from '../cpu/disasm.ts';
import type { CpuFault } from '../cpu/fault.ts';
import { INSN_SIZE } from '../cpu/insn.ts';
import { MAX_CALL_FRAMES } from '../cpu/opcodes.ts';
import type { LoadedProgram, SourceLine } from '../cpu/program.ts';

const hex16 = (v: bigint) => BigInt.asUintN(64, v).toString(16).padStart(16, '0');

/**
 * `name+0xoff/0xsize`, the kernel's %pS: the symbol at or before `pc`, the
 * byte offset into it, and its size (up to the next symbol or the end).
 */
export function symbolizePc(prog: LoadedProgram, pc: number): string {
  let start = 0;
  let name = prog.name;
  for (const [at, label] of prog.symbols) {
    if (at <= pc && at >= start) {
      start = at;
      name = label;
    }
  }
  let end = prog.length;
  for (const at of prog.symbols.keys()) if (at > start && at < end) end = at;
  return `${name}+0x${((pc - start) * INSN_SIZE).toString(16)}/0x${((end - start) * INSN_SIZE).toString(16)}`;
}

/** `file.c:31` of a compiled program's source line (the file's base name). */
export function sourceLocation(l: SourceLine): string {
  return `${l.file.slice(l.file.lastIndexOf('/') + 1)}:${l.line}`;
}

export function oopsLines(
  fault: CpuFault,
  ctx: CpuContext,
  who: { cpu: number; pid: number; comm: string; count: number },
  disasm: DisasmOptions = {},
): string[] {
  const prog = ctx.program;
  const pc = fault.pc;
  const lines: string[] = [];
  if (fault.kind === 'page-fault' && fault.access) {
    const region = fault.access.region;
    lines.push(
      `BUG: unable to handle page fault for address: ${hex16(fault.access.addr)}${region === undefined ? '' : ` in ${region} (kernel data)`}`,
    );
    lines.push(`#PF: supervisor ${fault.access.kind} access in kernel mode`);
    // x86's error code: bit 0 a present page (a permissions violation), bit 1 a write.
    const code = (region === undefined ? 0 : 1) | (fault.access.kind === 'write' ? 2 : 0);
    lines.push(
      `#PF: error_code(0x${code.toString(16).padStart(4, '0')}) - ${region === undefined ? 'not-present page' : 'permissions violation'}`,
    );
  } else {
    lines.push(`BUG: ${fault.detail}`);
  }
  lines.push(`Oops: ${fault.errno} [#${who.count}] SMP`);
  lines.push(`CPU: ${who.cpu} PID: ${who.pid} Comm: ${who.comm}`);
  const insn =
    pc >= 0 && pc < prog.length ? disassembleInsn(prog.insns, pc, disasm) : '<outside the program>';
  lines.push(`RIP: ${symbolizePc(prog, pc)}`);
  const source = prog.sourceLine(pc);
  if (source !== undefined) lines.push(`at ${sourceLocation(source)}: ${source.text}`);
  lines.push(`Code: ${insn}`);
  for (let r = 0; r <= 10; r += 3) {
    const regs = [r, r + 1, r + 2].filter((x) => x <= 10);
    lines.push(
      regs
        .map((x) => `R${x}: ${hex16(ctx.reg(x))}`.padStart(22))
        .join(' ')
        .trimStart(),
    );
  }
  lines.push('Call Trace:');
  lines.push(' <TASK>');
  // A corrupted context's depth is printed in its BUG line; the trace shows the frames that exist.
  const depth = Math.min(Math.max(ctx.words[CTX_DEPTH], 0), MAX_CALL_FRAMES);
  for (let d = depth - 1; d >= 0; d--) {
    const ret = ctx.words[CTX_FRAMES + d * FRAME_WORDS];
    const at = prog.sourceLine(ret - 1);
    lines.push(
      ` ${symbolizePc(prog, ret - 1)}${at === undefined ? '' : ` (${sourceLocation(at)})`}`,
    );
  }
  lines.push(' </TASK>');
  return lines;
}
