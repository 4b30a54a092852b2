/**
 * Parser of the eBPF conformance suite's `.data` test files.
 *
 * A file is line based. A line starting with `--` opens a section named by
 * the rest of the line; lines before the first section (the copyright
 * header) are ignored. Sections:
 *
 * - `asm`: the program in the suite's syntax (see cpu/asm/conformance-syntax.ts),
 *   kept as text with the file line it starts at, so errors can cite the file.
 * - `raw`: the program as instructions, one per line, either a 64-bit
 *   little-endian word (`0x5566778800000018`, opcode in the low byte) or
 *   eight hex bytes in memory order (`18 00 00 00 88 77 66 55`).
 * - `mem`: whitespace-separated hex bytes, the input buffer.
 * - `result`: the expected 64-bit r0, hex with `0x`, else decimal; kept as
 *   an unsigned 64-bit value.
 * - `error`: the program must be rejected; the text is the original
 *   runner's message.
 * - anything else (`c`, `no register offset`): ignored.
 *
 * `#` starts a comment in `raw`, `mem` and `result`. A malformed section is
 * an ErrnoError('EINVAL', 'line N: ...').
 *
 * @example
 * const test = parseDataFile('-- asm\nmov %r0, 1\nexit\n-- result\n0x1\n');
 * test.result; // 1n
 */

import { ErrnoError } from '../../segments/errno.ts';

/** One conformance test, as its file describes it. */
export interface ConformanceTest {
  /** The `-- asm` section's text. */
  asm?: string;
  /** File line (1-based) of the first line of `asm`. */
  asmLine?: number;
  /** The `-- raw` section as program bytes. */
  raw?: Uint8Array;
  /** The input buffer; empty when the file has no `-- mem`. */
  mem: Uint8Array;
  /** Expected r0 at exit, as an unsigned 64-bit value. */
  result?: bigint;
  /** The original runner's rejection message, when the program must be rejected. */
  error?: string;
}

interface Section {
  name: string;
  /** File line of the section's first content line. */
  firstLine: number;
  lines: string[];
}

/** Parses the text of a `.data` file; throws ErrnoError('EINVAL', 'line N: ...') if malformed. */
export function parseDataFile(text: string): ConformanceTest {
  const test: ConformanceTest = { mem: new Uint8Array(0) };
  for (const s of sections(text)) {
    switch (s.name) {
      case 'asm':
        test.asm = s.lines.join('\n');
        test.asmLine = s.firstLine;
        break;
      case 'raw':
        test.raw = parseRaw(s);
        break;
      case 'mem':
        test.mem = parseMem(s);
        break;
      case 'result':
        test.result = parseResult(s);
        break;
      case 'error':
        test.error = s.lines.join('\n').trim();
        break;
    }
  }
  return test;
}

function sections(text: string): Section[] {
  const out: Section[] = [];
  let current: Section | undefined;
  text.split(/\r?\n/).forEach((line, i) => {
    const header = /^--\s*(.*?)\s*$/.exec(line);
    if (header) {
      current = { name: header[1], firstLine: i + 2, lines: [] };
      out.push(current);
    } else {
      current?.lines.push(line);
    }
  });
  return out;
}

/** The section's lines without comments, each with its file line, blank ones dropped. */
function contentLines(s: Section): { line: number; text: string }[] {
  return s.lines
    .map((raw, i) => ({ line: s.firstLine + i, text: raw.replace(/#.*/, '').trim() }))
    .filter((l) => l.text !== '');
}

function malformed(line: number, why: string): ErrnoError {
  return new ErrnoError('EINVAL', `line ${line}: ${why}`);
}

function parseRaw(s: Section): Uint8Array {
  const bytes: number[] = [];
  for (const { line, text } of contentLines(s)) {
    if (/^0x[0-9a-f]{1,16}$/i.test(text)) {
      let word = BigInt(text);
      for (let k = 0; k < 8; k++, word >>= 8n) bytes.push(Number(word & 0xffn));
      continue;
    }
    const fields = text.split(/\s+/);
    if (fields.length !== 8 || !fields.every((f) => /^[0-9a-f]{2}$/i.test(f))) {
      throw malformed(
        line,
        `raw instruction '${text}' is neither a 0x 64-bit word nor eight hex bytes`,
      );
    }
    for (const f of fields) bytes.push(Number.parseInt(f, 16));
  }
  return Uint8Array.from(bytes);
}

function parseMem(s: Section): Uint8Array {
  const bytes: number[] = [];
  for (const { line, text } of contentLines(s)) {
    for (const f of text.split(/\s+/)) {
      if (!/^[0-9a-f]{1,2}$/i.test(f))
        throw malformed(line, `mem byte '${f}' is not 1 or 2 hex digits`);
      bytes.push(Number.parseInt(f, 16));
    }
  }
  return Uint8Array.from(bytes);
}

function parseResult(s: Section): bigint {
  const lines = contentLines(s);
  if (lines.length !== 1) {
    throw malformed(s.firstLine, `result section has ${lines.length} values, expected 1`);
  }
  const { line, text } = lines[0];
  const m = /^([-+]?)(0x[0-9a-f]+|\d+)$/i.exec(text);
  if (m === null) throw malformed(line, `result '${text}' is not a decimal or 0x hex number`);
  const magnitude = BigInt(m[2]);
  const value = m[1] === '-' ? -magnitude : magnitude;
  if (value < -(2n ** 63n) || value >= 2n ** 64n) {
    throw malformed(line, `result ${text} does not fit in 64 bits`);
  }
  return BigInt.asUintN(64, value);
}
