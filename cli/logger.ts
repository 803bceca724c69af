import winston from 'winston';
import type { Logger } from '../actors/logger.ts';

/**
 * The agent's winston logger: JSON lines for machines or text for people, on stderr. The text
 * is coloured only when stderr is a terminal: a journal, a file or a pipe would keep the escape
 * codes as garbage.
 */
export function createLogger(options: {
  level: string;
  format: 'json' | 'pretty';
  /** Default: whether stderr, where every level goes, is a terminal. */
  colour?: boolean;
}): Logger {
  const colour = options.colour ?? process.stderr.isTTY === true;
  const format =
    options.format === 'json'
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : winston.format.combine(
          winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
          ...(colour ? [winston.format.colorize()] : []),
          winston.format.printf(({ timestamp, level, message, ...meta }) => {
            const rest = Object.keys(meta).length ? ` ${JSON.stringify(meta)}` : '';
            return `${String(timestamp)} ${level} ${String(message)}${rest}`;
          }),
        );
  return winston.createLogger({
    level: options.level,
    format,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
  });
}
