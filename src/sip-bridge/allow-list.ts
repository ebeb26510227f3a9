/**
 * Who may call without authenticating: the `SIP_ALLOW` list of IPs and CIDRs, checked with node's own
 * `net.BlockList` (used here as an allow list). Shared by SIP and AudioSocket.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export class AllowListError extends Error {
  constructor(readonly entry: string, reason: string) {
    super(`SIP_ALLOW entry "${entry}": ${reason}`);
    this.name = 'AllowListError';
  }
}

export class SourceAllowList {
  private readonly list = new BlockList();
  readonly entries: readonly string[];

  /** `spec`: comma-separated addresses and CIDRs (`10.0.0.0/8, 192.0.2.7, ::1, 2001:db8::/32`); empty allows none. */
  constructor(spec: string) {
    this.entries = spec.split(',').map((e) => e.trim()).filter(Boolean);
    for (const entry of this.entries) {
      const [address, prefixText, extra] = entry.split('/');
      if (extra !== undefined || !address) throw new AllowListError(entry, 'expected an address or address/prefix');
      const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
      if (!family) throw new AllowListError(entry, 'not an IP address');
      if (prefixText === undefined) {
        this.list.addAddress(address, family);
        continue;
      }
      const prefix = Number(prefixText);
      const max = family === 'ipv4' ? 32 : 128;
      if (!/^\d+$/.test(prefixText) || prefix > max) throw new AllowListError(entry, `prefix must be 0-${max}`);
      this.list.addSubnet(address, prefix, family);
    }
  }

  allows(address: string): boolean {
    const plain = unmapIPv4(address);
    if (isIPv4(plain)) return this.list.check(plain, 'ipv4');
    if (isIPv6(plain)) return this.list.check(plain, 'ipv6');
    return false;
  }
}

/** A dual-stack socket reports IPv4 peers as `::ffff:a.b.c.d`. */
export function unmapIPv4(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}
