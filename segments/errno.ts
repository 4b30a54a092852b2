/**
 * The one error type of percpu-emu: an errno name plus a sentence that says
 * what was wrong and with which value, as the kernel would report it.
 *
 * @example
 * throw new ErrnoError('E2BIG', 'key 9 >= max_entries 8');
 * // message: "E2BIG: key 9 >= max_entries 8"
 */

/** errno names used by the emulator, with the Linux numbers. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  ENOSYS: 38,
  ETIME: 62,
  EMSGSIZE: 90,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  /** Structure needs cleaning: kernel data found corrupted in memory. */
  EUCLEAN: 117,
  ENOTSUPP: 524,
} as const;

export type Errno = keyof typeof ERRNO;

export class ErrnoError extends Error {
  constructor(
    readonly errno: Errno,
    readonly detail: string,
  ) {
    super(`${errno}: ${detail}`);
    this.name = 'ErrnoError';
  }

  /** The negative number a syscall or helper returns for this error. */
  get code(): number {
    return -ERRNO[this.errno];
  }
}
