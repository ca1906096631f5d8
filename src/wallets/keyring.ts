import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** A sealed value: which key sealed it, and nonce ‖ tag ‖ ciphertext. */
export interface Sealed {
  keyId: string;
  blob: Buffer;
}

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9._-]{1,32}$/;

/**
 * AES-256-GCM under a list of keys (`WALLET_KEYS`): the first seals, every listed one opens, so
 * keys rotate by putting a new one first and re-sealing (`payouts wallets rotate-keys`) before the
 * old one is dropped. `context` is bound into each seal (GCM's additional data): a ciphertext
 * copied onto another wallet does not open there.
 */
export class Keyring {
  private constructor(
    private readonly keys: ReadonlyMap<string, Buffer>,
    readonly currentKeyId: string,
    private onFirstUse: (() => void) | null = null,
  ) {}

  static of(keys: readonly { id: string; key: Buffer }[]): Keyring {
    if (keys.length === 0) throw new Error('a keyring needs at least one key');
    return new Keyring(new Map(keys.map((k) => [k.id, k.key])), keys[0]!.id);
  }

  /**
   * A fresh random key that lives as long as this process: for development only. `onFirstUse`
   * runs when it first seals or opens something (so the warning shows where it matters, not in
   * every command).
   */
  static throwaway(onFirstUse: (keyId: string) => void): Keyring {
    const id = `throwaway-${randomBytes(4).toString('hex')}`;
    return new Keyring(new Map([[id, randomBytes(32)]]), id, () => onFirstUse(id));
  }

  private used(): void {
    const warn = this.onFirstUse;
    this.onFirstUse = null;
    warn?.();
  }

  knows(keyId: string): boolean {
    return this.keys.has(keyId);
  }

  seal(plaintext: Buffer, context: string): Sealed {
    this.used();
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.currentKeyId)!, nonce);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return { keyId: this.currentKeyId, blob: Buffer.concat([nonce, cipher.getAuthTag(), body]) };
  }

  open(sealed: Sealed, context: string): Buffer {
    this.used();
    const key = this.keys.get(sealed.keyId);
    if (!key) throw new Error(`sealed under key "${sealed.keyId}", which WALLET_KEYS does not list`);
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.blob.subarray(0, NONCE_BYTES));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(sealed.blob.subarray(NONCE_BYTES, NONCE_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(sealed.blob.subarray(NONCE_BYTES + TAG_BYTES)), decipher.final()]);
    } catch {
      // Never the data nor the key: only that it did not open.
      throw new Error(`a value sealed under key "${sealed.keyId}" failed authentication (tampered, or sealed for something else)`);
    }
  }
}

/**
 * Parses `WALLET_KEYS` (`id:base64-of-32-bytes[,id:…]`), returning the problems found (never
 * quoting a key). A key must be exactly 32 bytes and not obviously weak: mostly one byte value, or
 * few distinct bytes (a typed password or a pattern rather than random bytes).
 */
export function parseWalletKeys(text: string): { keys: { id: string; key: Buffer }[]; problems: string[] } {
  const keys: { id: string; key: Buffer }[] = [];
  const problems: string[] = [];
  const entries = text.split(',').map((entry) => entry.trim());
  entries.forEach((entry, i) => {
    const colon = entry.indexOf(':');
    const id = colon > 0 ? entry.slice(0, colon) : '';
    const encoded = entry.slice(colon + 1);
    if (!KEY_ID.test(id)) {
      problems.push(`entry ${i + 1}: expected id:base64-of-32-bytes with an id of 1–32 letters, digits, . _ -`);
      return;
    }
    if (keys.some((k) => k.id === id)) problems.push(`key id "${id}" is listed twice`);
    const key = /^[A-Za-z0-9+/]+={0,2}$/.test(encoded) ? Buffer.from(encoded, 'base64') : Buffer.alloc(0);
    if (key.length !== 32) {
      problems.push(`key "${id}": must be 32 bytes in base64 (e.g. from \`openssl rand -base64 32\`)`);
      return;
    }
    if (new Set(key).size < 16) {
      problems.push(`key "${id}": too weak (too few distinct bytes: not random); make one with \`openssl rand -base64 32\``);
      return;
    }
    keys.push({ id, key });
  });
  return { keys, problems };
}
