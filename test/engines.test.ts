import { readFileSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

/**
 * The README promises Node ≥ 20.19 and the machines run Node 20: every package the lock installs
 * must accept the oldest Node that package.json's `engines` admits, so `npm install` prints no
 * engine warning and nothing needs a newer Node than we ship on.
 */

const ROOT = path.resolve(__dirname, '..');
const readJson = (file: string) => JSON.parse(readFileSync(path.join(ROOT, file), 'utf8'));

describe('the dependency tree and the Node version', () => {
  const ours: string = readJson('package.json').engines.node;
  const oldest = semver.minVersion(ours)!.version;

  it('is declared by package.json as Node 20', () => {
    expect(semver.major(oldest)).toBe(20);
  });

  it("holds no package whose engines refuse the oldest Node we support", () => {
    const packages: Record<string, { version: string; engines?: { node?: string } | string[] }> = readJson('package-lock.json').packages;
    const refusing = Object.entries(packages)
      .filter(([where, p]) => where !== '' && p.engines && !Array.isArray(p.engines) && p.engines.node)
      .filter(([, p]) => !semver.satisfies(oldest, (p.engines as { node: string }).node, { includePrerelease: true }))
      .map(([where, p]) => `${where.replace(/^.*node_modules\//, '')}@${p.version} wants node ${(p.engines as { node: string }).node}`);
    expect(refusing).toEqual([]);
  });
});
