import 'reflect-metadata';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { program } from '../src/app/cli';

/** Every command under `payouts`, with its path (`dead-letters discard`). */
function commands(command: Command, path: string[] = []): [string, Command][] {
  return command.commands.flatMap((sub) => [[[...path, sub.name()].join(' '), sub] as [string, Command], ...commands(sub, [...path, sub.name()])]);
}

describe('payouts --help', () => {
  it('explains every command, argument and option', () => {
    const unexplained: string[] = [];
    for (const [path, command] of commands(program)) {
      if (!command.description().trim()) unexplained.push(`${path}: no description`);
      for (const argument of command.registeredArguments) {
        if (!argument.description.trim()) unexplained.push(`${path} <${argument.name()}>: no description`);
      }
      for (const option of command.options) {
        if (!option.description.trim()) unexplained.push(`${path} ${option.flags}: no description`);
      }
    }
    expect(unexplained).toEqual([]);
  });

  it('lists the commands the contracts name, and discarding dead letters', () => {
    const names = commands(program).map(([path]) => path);
    for (const name of ['start', 'api', 'callbacks', 'worker', 'migrate', 'token', 'ingest', 'dead-letters list', 'dead-letters retry', 'dead-letters discard', 'ledger check', 'demo', 'schema']) {
      expect(names).toContain(name);
    }
  });
});
