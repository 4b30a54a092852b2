/**
 * eBPF opcode fields, as RFC 9669 and the kernel's `include/uapi/linux/bpf.h`
 * name them. An opcode byte is `class | source | operation` for ALU and jump
 * instructions and `class | mode | size` for loads and stores.
 */

// Instruction classes (low 3 bits).
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_JMP32 = 0x06;
export const BPF_ALU64 = 0x07;

// Source operand (bit 3).
export const BPF_K = 0x00;
export const BPF_X = 0x08;
/** For BPF_END: BPF_TO_LE is BPF_K, BPF_TO_BE is BPF_X. */
export const BPF_TO_LE = 0x00;
export const BPF_TO_BE = 0x08;

// ALU operations (high 4 bits).
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;
export const BPF_MOV = 0xb0;
export const BPF_ARSH = 0xc0;
export const BPF_END = 0xd0;

// Jump operations (high 4 bits).
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
export const BPF_JNE = 0x50;
export const BPF_JSGT = 0x60;
export const BPF_JSGE = 0x70;
export const BPF_CALL = 0x80;
export const BPF_EXIT = 0x90;
export const BPF_JLT = 0xa0;
export const BPF_JLE = 0xb0;
export const BPF_JSLT = 0xc0;
export const BPF_JSLE = 0xd0;

// Load/store sizes (bits 3-4).
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;
export const BPF_DW = 0x18;

// Load/store modes (bits 5-7).
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_MEM = 0x60;
export const BPF_MEMSX = 0x80;
export const BPF_ATOMIC = 0xc0;

// Atomic operations, in the imm field of BPF_STX | BPF_ATOMIC.
export const BPF_FETCH = 0x01;
export const BPF_XCHG = 0xe0 | BPF_FETCH;
export const BPF_CMPXCHG = 0xf0 | BPF_FETCH;

// Pseudo sources of `lddw` (BPF_LD | BPF_IMM | BPF_DW), RFC 9669 §5.4.
export const BPF_PSEUDO_IMM64 = 0;
export const BPF_PSEUDO_MAP_FD = 1;
export const BPF_PSEUDO_MAP_VALUE = 2;
export const BPF_PSEUDO_BTF_ID = 3;
export const BPF_PSEUDO_FUNC = 4;
export const BPF_PSEUDO_MAP_IDX = 5;
export const BPF_PSEUDO_MAP_IDX_VALUE = 6;

// Call sources.
export const BPF_PSEUDO_HELPER = 0;
export const BPF_PSEUDO_CALL = 1;
export const BPF_PSEUDO_KFUNC_CALL = 2;

/** `off` of BPF_MOV64_PERCPU_REG (the kernel's BPF_ADDR_PERCPU): dst = src + gsBase. */
export const BPF_ADDR_PERCPU = -1;

/** Frame size of one call level and the deepest call chain, as in the kernel. */
export const MAX_BPF_STACK = 512;
export const MAX_CALL_FRAMES = 8;

/** Frame pointer register, read-only. */
export const BPF_REG_FP = 10;
export const MAX_BPF_REG = 11;

export const bpfClass = (code: number): number => code & 0x07;
export const bpfSrc = (code: number): number => code & 0x08;
export const bpfOp = (code: number): number => code & 0xf0;
export const bpfSize = (code: number): number => code & 0x18;
export const bpfMode = (code: number): number => code & 0xe0;

/** Bytes accessed by a load/store of the given size field. */
export function sizeBytes(size: number): 1 | 2 | 4 | 8 {
  switch (size) {
    case BPF_B:
      return 1;
    case BPF_H:
      return 2;
    case BPF_W:
      return 4;
    default:
      return 8;
  }
}

/** The size field for an access of 1, 2, 4 or 8 bytes. */
export function sizeField(bytes: number): number {
  switch (bytes) {
    case 1:
      return BPF_B;
    case 2:
      return BPF_H;
    case 4:
      return BPF_W;
    case 8:
      return BPF_DW;
  }
  throw new RangeError(`access size ${bytes} is not 1, 2, 4 or 8`);
}

/** The `lddw` opcode: BPF_LD | BPF_IMM | BPF_DW. */
export const LDDW = BPF_LD | BPF_IMM | BPF_DW;
