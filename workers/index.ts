import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { TaskList } from 'graphile-worker';
import type { App } from '../src/app';
import payoutSend from './payout__send';
import payoutRequestProcess from './payout_request__process';
import shopPayout from './shop__payout';
import shopRebookOverdue from './shop__rebook_overdue';

/** Every task, named `entity__action`, one file each. */
const tasks: Record<string, (app: App) => TaskList[string]> = {
  payout_request__process: payoutRequestProcess,
  payout__send: payoutSend,
  shop__payout: shopPayout,
  shop__rebook_overdue: shopRebookOverdue,
};

/** Tasks that run on their own interval: the worker books the first run when it starts. */
export const GATES = ['payout_request__process', 'payout__send'] as const;

export function taskList(app: App): TaskList {
  return Object.fromEntries(Object.entries(tasks).map(([name, make]) => [name, make(app)]));
}

export function crontab(): string {
  return readFileSync(path.join(__dirname, 'crontab'), 'utf8');
}
