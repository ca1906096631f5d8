import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface Machine {
  os: string;
  cpu: string;
  cores: number;
  memoryGb: number;
  node: string;
}

export interface Commit {
  commit: string;
  /** Uncommitted changes were present: the figures may not match the commit alone. */
  dirty: boolean;
}

export function describeMachine(): Machine {
  let distribution = os.type();
  try {
    distribution = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? distribution;
  } catch {
    // not Linux, or no os-release
  }
  return {
    os: `${distribution} (${os.type()} ${os.release()} ${os.arch()})`,
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
  };
}

export function gitCommit(): Commit {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' });
    return { commit, dirty: status.trim().length > 0 };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}
