import { describe, expect, it } from 'vitest';
import { Machine } from '../../preempt/machine.ts';

const k = new Machine({ cpus: 1 }).boot();

describe('assembler errors name the program', () => {
  it('by the name given to k.assemble, as the CLI names a file', () => {
    expect(() => k.assemble('r0 = 0\n  r11 = 1\nexit', 'inc')).toThrow(
      "EINVAL: inc:2:3: expected a register, found 'r11'",
    );
  });

  it('by the scenario code that assembled it, without a name', () => {
    let message = '';
    try {
      k.assemble('r0 = 0\n  r11 = 1\nexit');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(
      /^EINVAL: \S*test\/preempt\/assembly-site\.test\.ts:16:9: program line 2, column 3: expected a register, found 'r11'$/,
    );
  });

  it('for the k.asm template too', () => {
    expect(() => k.asm`r0 = ${1}\n  r11 = 1\nexit`).toThrow(
      /assembly-site\.test\.ts:\d+:\d+: program line 2, column 3: expected a register/,
    );
  });
});
