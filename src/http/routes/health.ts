import { Type } from 'typebox';
import { AppError } from '../../domain/errors.js';
import type { AppServer, RouteContext } from '../server.js';

export function healthRoutes(app: AppServer, ctx: RouteContext): void {
  app.get(
    '/health',
    {
      logLevel: 'warn',
      schema: {
        tags: ['health'],
        summary: 'Liveness: the process is up',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/ready',
    {
      logLevel: 'warn',
      schema: {
        tags: ['health'],
        summary: 'Readiness: the database (and the bus, with several nodes) answer',
        response: {
          200: Type.Object({ status: Type.Literal('ready'), database: Type.Literal('ok') }),
          503: Type.Ref('Error'),
        },
      },
    },
    async () => {
      const failing = await ctx.readiness();
      if (failing.length > 0) throw new AppError('not_ready', `Not ready: ${failing.join(', ')} not reachable`);
      return { status: 'ready' as const, database: 'ok' as const };
    },
  );
}
