import { errorResponses } from '../../schemas/common.js';
import { SearchPageSchema, SearchQuery } from '../../schemas/search.js';
import { caller } from '../auth.js';
import type { AppServer, RouteContext } from '../server.js';

export function searchRoutes(app: AppServer, ctx: RouteContext): void {
  const { search } = ctx.services;

  app.get(
    '/search/messages',
    {
      preHandler: ctx.requireAuth,
      schema: {
        tags: ['search'],
        summary: 'Full-text search over the messages of the caller\'s conversations, newest first',
        description:
          '`q` takes words (all must occur), `"a phrase"`, `or` and `-word` (web search syntax); a last word of ' +
          'three letters or more also matches as a prefix unless it is quoted or negated, so `hel` finds "hello". A query with no ' +
          'searchable word (only punctuation or stop words) finds nothing. Only conversations the caller is a ' +
          'member of are searched (`conversation_id` of any other answers 404); deleted messages and messages ' +
          'the caller hid for themselves are never found. `before`/`after` bound `created_at`, exclusive. ' +
          'Page on with `cursor` = the previous page\'s `next_cursor`.\n\n' +
          '`highlight` is HTML, safe to insert as is: PostgreSQL\'s `ts_headline` marks the matched words with ' +
          'two sentinel characters (the noncharacters U+FDD0 and U+FDD1; the message\'s own occurrences of them ' +
          'become U+FFFD in the highlight), natter HTML-escapes the result (`& < > " \'`) and then turns the ' +
          'sentinels into `<mark>` and `</mark>`; nothing else in it is markup. (`ts_headline` sees a space after ' +
          'every `<`, taken out again before escaping, as it would drop anything that looks like a tag.) ' +
          '`message.content` is the text as sent.',
        security: [{ bearer: [] }],
        querystring: SearchQuery,
        response: { 200: SearchPageSchema, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const query = request.query;
      return search.messages(caller(request).userId, {
        q: query.q,
        conversationId: query.conversation_id,
        senderId: query.sender_id,
        before: query.before,
        after: query.after,
        limit: query.limit,
        cursor: query.cursor,
      });
    },
  );
}
