import { BlockList, isIP } from 'node:net';

/**
 * A list of addresses and CIDR blocks (`79.142.16.0/20, 91.232.230.0/23`), IPv4 or IPv6. Returns the
 * problems of a bad list (for the settings' message) or the parsed entries.
 */
export function parseCidrList(text: string): { entries: { address: string; prefix: number; family: 'ipv4' | 'ipv6' }[]; problems: string[] } {
  const entries: { address: string; prefix: number; family: 'ipv4' | 'ipv6' }[] = [];
  const problems: string[] = [];
  for (const raw of text.split(',').map((part) => part.trim()).filter(Boolean)) {
    // Every part read: `1.2.3.4/24/x` is a typo, not a /24.
    const [address = '', prefixText, ...extra] = raw.split('/');
    const version = isIP(address);
    const max = version === 6 ? 128 : 32;
    const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (version === 0 || extra.length > 0 || !(prefix >= 0 && prefix <= max)) {
      problems.push(`"${raw.slice(0, 60)}" is not an address or CIDR block`);
      continue;
    }
    entries.push({ address, prefix, family: version === 6 ? 'ipv6' : 'ipv4' });
  }
  if (entries.length === 0 && problems.length === 0) problems.push('lists no address');
  return { entries, problems };
}

/** Source addresses a payment system calls from. */
export class AllowList {
  private readonly list = new BlockList();

  constructor(text: string) {
    const { entries, problems } = parseCidrList(text);
    if (problems.length > 0) throw new Error(problems.join('; '));
    for (const entry of entries) this.list.addSubnet(entry.address, entry.prefix, entry.family);
  }

  allows(address: string): boolean {
    const plain = plainAddress(address);
    const version = isIP(plain);
    return version !== 0 && this.list.check(plain, version === 6 ? 'ipv6' : 'ipv4');
  }
}

/** An IPv4 address as a dual-stack socket shows it (`::ffff:1.2.3.4`) is the IPv4 address. */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
