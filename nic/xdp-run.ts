/**
 * Running an XDP program on a buffer, and what XDP_PASS leads to. The
 * program runs to its exit on the CPU's interpreter from kernel code (the
 * driver's poll in softirq, a cpumap kthread), with r1 the buffer's
 * xdp_md; its instructions count on the CPU's clock. A program that
 * faults or runs away (the verifier would have refused it) is reported
 * and its verdict is XDP_ABORTED.
 *
 * Context: the CPU `c` runs the caller, with bottom halves disabled or in
 * softirq (nothing else on `c` touches its redirect state meanwhile).
 *
 * @example
 * const act = runXdp(net, c, prog, buff, sd.ctx); // XDP_PASS ...
 */

import type { CpuContext } from '../cpu/context.ts';
import { StopReason } from '../cpu/cpu.ts';
import type { LoadedProgram } from '../cpu/program.ts';
import type { CpuState } from '../preempt/cpu-state.ts';
import type { NetStack } from './net-stack.ts';
import type { XdpBuff } from './xdp-buff.ts';
import { XDP_ABORTED, XDP_REDIRECT } from './xdp-uapi.ts';

/** Instructions an XDP program may run before it is declared stuck. */
export const XDP_INSN_BUDGET = 1_000_000;
/** Cost model: build_skb and netif_receive_skb of one frame, in instructions. */
export const SKB_INSNS = 40;

/** bpf_prog_run_xdp(): the program's verdict on `buff`. */
export function runXdp(
  net: NetStack,
  c: CpuState,
  prog: LoadedProgram,
  buff: XdpBuff,
  ctx: CpuContext,
): number {
  const sd = net.percpu[c.id];
  buff.writeMd();
  ctx.program = prog;
  ctx.reset();
  ctx.setRegNumber(1, buff.md);
  const prev = sd.active;
  sd.active = buff;
  const cpu = c.cpu;
  const before = cpu.totalExecuted;
  let reason: StopReason;
  try {
    reason = cpu.runNested(ctx, XDP_INSN_BUDGET);
  } finally {
    sd.active = prev;
  }
  net.k.advance(c, cpu.totalExecuted - before);
  if (reason === StopReason.Exit) return ctx.regU32(0);
  const why =
    reason === StopReason.Fault
      ? (cpu.fault?.message ?? 'a fault')
      : `no exit in ${XDP_INSN_BUDGET} instructions`;
  net.k.report('warning', c, [`WARNING: CPU: ${c.id} XDP program ${prog.name}: ${why}`]);
  return XDP_ABORTED;
}

/**
 * build_skb + netif_receive_skb: the frame reaches the stack of CPU `c`,
 * which counts it (and keeps a copy with `net.keepFrames`); its buffer is
 * freed.
 */
export function stackReceive(net: NetStack, c: CpuState, buff: XdpBuff): void {
  const sd = net.percpu[c.id];
  net.k.advance(c, SKB_INSNS);
  const len = buff.dataEnd - buff.data;
  sd.stackPackets++;
  sd.stackBytes += len;
  if (net.keepFrames) {
    const bytes = net.k.memory.u8.slice(buff.data, buff.dataEnd);
    net.keptFrames.push({ cpu: c.id, ifindex: buff.ingressIfindex, bytes });
  }
  net.freeBuffer(buff.hardStart);
}

/**
 * bpf_warn_invalid_xdp_action(): once per stack, the kernel's warning for a
 * verdict the caller does not handle ("Driver unsupported") or that is no
 * action at all ("Illegal").
 */
export function warnInvalidXdpAction(
  net: NetStack,
  c: CpuState,
  act: number,
  prog: LoadedProgram,
  devName: string,
): void {
  if (net.warnedInvalidAction) return;
  net.warnedInvalidAction = true;
  const kind = act >>> 0 > XDP_REDIRECT ? 'Illegal' : 'Driver unsupported';
  net.k.report('warning', c, [
    `${kind} XDP return value ${act >>> 0} on prog ${prog.name} (id ${net.progId(prog)}) dev ${devName}, expect packet loss!`,
  ]);
}
