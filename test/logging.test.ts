import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, type LogFormat } from '../src/platform/logger';

const ROOT = path.resolve(__dirname, '..');

/** What a logger writes to an output that is, or is not, a terminal. */
function written(isTTY: boolean, format?: LogFormat): string {
  let text = '';
  const destination = Object.assign(
    new Writable({
      write(chunk, _encoding, done) {
        text += chunk;
        done();
      },
    }),
    { isTTY },
  );
  const logger = createLogger('info', { destination, format });
  logger.child({ component: 'http' }).info({ status: 200 }, 'GET /healthz 200');
  return text;
}

describe('logs', () => {
  it('are JSON lines when the output is not a terminal', () => {
    const line = JSON.parse(written(false));
    expect(line).toMatchObject({ level: 30, service: 'payouts', component: 'http', status: 200, msg: 'GET /healthz 200' });
  });

  it('are readable lines on a terminal', () => {
    const text = written(true);
    expect(() => JSON.parse(text)).toThrow();
    expect(text).toContain('INFO');
    expect(text).toContain('http: GET /healthz 200');
    expect(text).toMatch(/status\S*: 200/);
  });

  it('follow LOG_FORMAT when it is set', () => {
    expect(() => JSON.parse(written(true, 'json'))).not.toThrow();
    expect(written(false, 'pretty')).toContain('http: GET /healthz 200');
  });

  // `script` gives the command a real terminal (util-linux, on every Debian).
  it.runIf(spawnSync('script', ['--version']).status === 0)('are readable lines when a process writes to a real terminal', () => {
    const program = `require(${JSON.stringify(path.join(ROOT, 'dist/src/platform/logger.js'))}).createLogger('info').info({ a: 1 }, 'hello')`;
    spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT });
    const run = spawnSync('script', ['-qec', `${process.execPath} -e "${program.replace(/"/g, '\\"')}"`, '/dev/null'], {
      encoding: 'utf8',
      env: { ...process.env, LOG_FORMAT: '' },
    });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/INFO.*hello/);
    expect(run.stdout).not.toContain('"msg"');
  });
});
