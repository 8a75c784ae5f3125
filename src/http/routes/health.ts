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
        summary: 'Readiness: the database answers',
        response: {
          200: Type.Object({ status: Type.Literal('ready'), database: Type.Literal('ok') }),
          503: Type.Ref('Error'),
        },
      },
    },
    async () => {
      if (!(await ctx.readiness())) throw new AppError('not_ready', 'Database is not reachable');
      return { status: 'ready' as const, database: 'ok' as const };
    },
  );
}
