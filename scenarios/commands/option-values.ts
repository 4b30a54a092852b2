/**
 * Parsers for the CLI's option values, and the check that refuses options
 * which mean nothing in the mode a command runs in. Numbers are read exactly:
 * only decimal digits, compared as BigInts against their range before they
 * become JS numbers, so `--seed 4294967296` is refused rather than wrapped to
 * 0 and `--max-steps 9007199254740993` rather than rounded.
 *
 * @example
 * new Option('--seed <n>', 'the seed').argParser(integerIn(0, SEED_MAX));
 */

import { type Command, InvalidArgumentError } from 'commander';
import { InputError } from './exit-status.ts';

/** Seeds feed a 32-bit generator (preempt/rng.ts): larger ones would wrap. */
export const SEED_MAX = 0xffff_ffff;

/** A parser accepting a decimal integer in min..max (both at most 2^53 - 1). */
export function integerIn(min: number, max: number): (text: string) => number {
  return (text) => {
    if (!/^[+-]?\d+$/.test(text.trim())) {
      throw new InvalidArgumentError(`'${shorten(text)}' is not an integer.`);
    }
    const value = BigInt(text.trim());
    if (value < BigInt(min) || value > BigInt(max)) {
      throw new InvalidArgumentError(`${shorten(text)} is out of range: use ${min}..${max}.`);
    }
    return Number(value);
  };
}

/** Long values are cut in messages: a typo should not print a megabyte back. */
export function shorten(text: string, max = 40): string {
  return text.length > max ? `${text.slice(0, max)}... (${text.length} characters)` : text;
}

/** The options of `cmd` given on the command line (not defaults), by attribute name. */
export function givenOptions(cmd: Command): Set<string> {
  const given = new Set<string>();
  for (const opt of cmd.options) {
    const key = opt.attributeName();
    if (cmd.getOptionValueSource(key) === 'cli') given.add(key);
  }
  return given;
}

/**
 * Refuses every option of `names` that was given, saying why it means
 * nothing here: `--quantum is for --strategy rr; it means nothing with pct`.
 */
export function refuse(cmd: Command, names: readonly string[], why: string): void {
  const given = givenOptions(cmd);
  for (const opt of cmd.options) {
    if (names.includes(opt.attributeName()) && given.has(opt.attributeName())) {
      throw new InputError(`${opt.long} ${why}`);
    }
  }
}
