import { pino, type Logger } from 'pino';

/** Strips secrets (`?token=`, `?refresh_token=`) from a URL before it is logged. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:token|access_token|refresh_token)=)[^&]*/gi, '$1[redacted]');
}

export type LogFormat = 'json' | 'pretty';

/**
 * LOG_FORMAT=auto is `pretty` only for a person watching: NODE_ENV=development with stdout
 * a terminal. Anything else (production, tests, CI, a process manager or a pipe — where
 * lines are parsed, not read) gets JSON lines.
 */
export function resolveLogFormat(
  setting: 'auto' | LogFormat,
  env: string,
  stdoutIsTty: boolean = process.stdout.isTTY === true,
): LogFormat {
  if (setting !== 'auto') return setting;
  return env === 'development' && stdoutIsTty ? 'pretty' : 'json';
}

/**
 * The process's one logger on stdout: JSON lines, or with `pretty` one coloured line per
 * entry through pino-pretty (a pino transport, in a worker thread, loaded only then).
 * Requests are logged with method, URL (tokens redacted), client address and request id;
 * never headers or bodies.
 */
export function createLogger(level: string, format: LogFormat = 'json'): Logger {
  // A silent logger writes nothing: no worker thread for it.
  const pretty = format === 'pretty' && level !== 'silent';
  return pino({
    level,
    ...(pretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: false },
          },
        }
      : {}),
    redact: ['req.headers.authorization', 'req.headers.cookie'],
    serializers: {
      req: (req: { method: string; url: string; ip?: string; socket?: { remoteAddress?: string } }) => ({
        method: req.method,
        url: redactUrl(req.url),
        remoteAddress: req.ip ?? req.socket?.remoteAddress,
      }),
    },
  });
}
