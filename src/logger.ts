import { pino, type Logger } from 'pino';

/** Strips secrets (`?token=`, `?refresh_token=`) from a URL before it is logged. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:token|access_token|refresh_token)=)[^&]*/gi, '$1[redacted]');
}

/**
 * The process's one logger: JSON lines on stdout. Requests are logged with method, URL
 * (tokens redacted), client address and request id; never headers or bodies.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
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
