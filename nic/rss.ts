/**
 * Receive-side scaling as a NIC does it: the Toeplitz hash of a frame's
 * IPv4 or IPv6 addresses (and TCP/UDP ports, when the frame has them)
 * picks an entry of the indirection table, whose value is the RX queue.
 * The defaults are ethtool's: a 40-byte key and a 128-entry table filled
 * with `i % n_rx_queues` (ethtool_rxfh_indir_default). Real drivers draw a
 * random key per boot (netdev_rss_key_fill); ours defaults to the
 * verification key so runs are reproducible. Both are settable, as with
 * `ethtool -X`.
 *
 * The hash input is the fields in network byte order, source before
 * destination: addresses, then ports (12 bytes for IPv4 with ports, 8
 * without; 36 and 32 for IPv6).
 *
 * @example
 * const rss = new Rss(4);
 * rss.queueOf(frameBytes); // 0..3
 */

import { ErrnoError } from '../segments/errno.ts';
import { RSS_VERIFICATION_KEY, toeplitzHash } from './toeplitz.ts';

/** ETH_RSS_HASH_KEY size of most NICs (and ethtool's default netdev_rss_key). */
export const RSS_KEY_SIZE = 40;
/** ETH_RXFH_INDIR_DEFAULT-sized table: 128 entries. */
export const RSS_INDIR_SIZE = 128;

const ETH_HLEN = 14;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/** The RSS state of one device: key, indirection table, and the number of RX queues. */
export class Rss {
  private key: Uint8Array = RSS_VERIFICATION_KEY.slice();
  private indir = new Uint32Array(RSS_INDIR_SIZE);
  /** Scratch for the hash input: the longest is IPv6 with ports. */
  private readonly input = new Uint8Array(36);

  constructor(readonly nQueues: number) {
    if (!Number.isInteger(nQueues) || nQueues < 1) {
      throw new ErrnoError('EINVAL', `an RSS device needs at least one RX queue, not ${nQueues}`);
    }
    this.setIndirectionTable(null);
  }

  /** `ethtool -X dev hkey ...`: a new 40-byte key. */
  setKey(key: Uint8Array): void {
    if (key.length !== RSS_KEY_SIZE) {
      throw new ErrnoError('EINVAL', `an RSS key is ${RSS_KEY_SIZE} bytes, not ${key.length}`);
    }
    this.key = key.slice();
  }

  getKey(): Uint8Array {
    return this.key.slice();
  }

  /**
   * `ethtool -X dev weight ...` or `equal N`: a 128-entry table of queue
   * numbers; null restores the default `i % nQueues`.
   */
  setIndirectionTable(table: readonly number[] | null): void {
    if (table === null) {
      for (let i = 0; i < RSS_INDIR_SIZE; i++) this.indir[i] = i % this.nQueues;
      return;
    }
    if (table.length !== RSS_INDIR_SIZE) {
      throw new ErrnoError(
        'EINVAL',
        `the indirection table has ${RSS_INDIR_SIZE} entries, not ${table.length}`,
      );
    }
    table.forEach((q, i) => {
      if (!Number.isInteger(q) || q < 0 || q >= this.nQueues) {
        throw new ErrnoError('EINVAL', `indirection entry ${i} is queue ${q} of ${this.nQueues}`);
      }
    });
    this.indir = Uint32Array.from(table);
  }

  getIndirectionTable(): number[] {
    return Array.from(this.indir);
  }

  /**
   * The RSS hash of the Ethernet frame `frame[at, at + len)`, or 0 when it is
   * neither IPv4 nor IPv6 (the NIC then hashes nothing and uses queue 0).
   */
  hashFrame(bytes: Uint8Array, at: number, len: number): number {
    if (len < ETH_HLEN) return 0;
    const proto = (bytes[at + 12] << 8) | bytes[at + 13];
    const ip = at + ETH_HLEN;
    const end = at + len;
    const input = this.input;
    let n: number;
    let l4proto: number;
    let l4: number;
    if (proto === ETH_P_IP && ip + 20 <= end) {
      const ihl = (bytes[ip] & 0xf) * 4;
      l4proto = bytes[ip + 9];
      // A fragment after the first has no ports; the NIC hashes addresses only.
      const fragOff = ((bytes[ip + 6] & 0x1f) << 8) | bytes[ip + 7];
      for (let i = 0; i < 8; i++) input[i] = bytes[ip + 12 + i];
      n = 8;
      l4 = fragOff === 0 ? ip + ihl : end;
    } else if (proto === ETH_P_IPV6 && ip + 40 <= end) {
      l4proto = bytes[ip + 6];
      for (let i = 0; i < 32; i++) input[i] = bytes[ip + 8 + i];
      n = 32;
      l4 = ip + 40;
    } else {
      return 0;
    }
    if ((l4proto === IPPROTO_TCP || l4proto === IPPROTO_UDP) && l4 + 4 <= end) {
      for (let i = 0; i < 4; i++) input[n + i] = bytes[l4 + i];
      n += 4;
    }
    return toeplitzHash(this.key, input, n);
  }

  /** The RX queue of a hash: indirection_table[hash % 128]. */
  queueOfHash(hash: number): number {
    return this.indir[hash & (RSS_INDIR_SIZE - 1)];
  }
}
