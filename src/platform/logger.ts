import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/** `auto`: readable lines when the output is a terminal, JSON lines when it is a pipe or a file. */
export type LogFormat = 'auto' | 'json' | 'pretty';

export interface LoggerOptions {
  /** Unset: `LOG_FORMAT` from the environment (one-off commands read no settings), else `auto`. */
  format?: LogFormat;
  /** Where lines go: stdout unless a test says otherwise. */
  destination?: DestinationStream & { isTTY?: boolean };
}

/**
 * One root logger, children per component. Log collectors read JSON lines; a person at a terminal
 * reads pretty ones (written synchronously, so nothing is lost when the process exits).
 */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? process.stdout;
  const format = options.format ?? logFormatFrom(process.env.LOG_FORMAT);
  const readable = format === 'pretty' || (format === 'auto' && destination.isTTY === true);
  const settings = { level, base: { service: 'payouts' }, timestamp: pino.stdTimeFunctions.isoTime };
  if (!readable) return pino(settings, destination);
  return pino(
    settings,
    pretty({
      destination: destination === process.stdout ? 1 : destination,
      sync: true,
      colorize: destination.isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'service,component',
      messageFormat: '{if component}{component}: {end}{msg}',
    }),
  );
}

function logFormatFrom(text: string | undefined): LogFormat {
  return text === 'json' || text === 'pretty' ? text : 'auto';
}
