/**
 * Why `Cpu.run` returned. Its own file so the WebAssembly tier (cpu/wasm/)
 * can name the reasons without importing the interpreter.
 *
 * @example
 * if (cpu.run(ctx, 1000) === StopReason.Budget) cpu.run(ctx, 1000); // resume
 */
export const StopReason = {
  /** The program's main function executed `exit`; r0 holds the result. */
  Exit: 0,
  /** The instruction budget ran out; the context resumes where it stopped. */
  Budget: 1,
  /** A CPU exception; `cpu.fault` says what, the context's pc points at the instruction. */
  Fault: 2,
  /** A helper asked to stop (`cpu.requestStop()`); pc is after the call. */
  Stop: 3,
} as const;
export type StopReason = (typeof StopReason)[keyof typeof StopReason];

/**
 * The interpreter's and the fast tier's own stop: a tail call replaced the
 * program, and `Cpu.run` goes on with the new one. Never returned by `run`.
 * @internal
 */
export const TAIL_CALL = 4 as StopReason;
