import { Type } from 'typebox';
import { Cursor, Id, nullable, PageLimit, Timestamp } from './common.js';
import type { Message } from './messages.js';

/** Message search on the wire. */

/** The longest query accepted, in characters. */
export const SEARCH_QUERY_MAX = 256;

export const SearchQuery = Type.Object({
  q: Type.String({
    minLength: 1,
    maxLength: SEARCH_QUERY_MAX,
    description:
      'Words to find, all of them (`hello world`); `"a phrase"`; `cats or dogs`; `-word` to exclude one. ' +
      'The last word, if it has 3 letters or more, also matches as a prefix while it is being typed (`hel` finds "hello").',
  }),
  conversation_id: Type.Optional(Id({ description: 'Only this conversation (404 unless the caller is a member).' })),
  sender_id: Type.Optional(Id({ description: 'Only messages this user sent.' })),
  before: Type.Optional(Timestamp({ description: 'Only messages sent before this time (exclusive).' })),
  after: Type.Optional(Timestamp({ description: 'Only messages sent after this time (exclusive).' })),
  limit: PageLimit(),
  cursor: Type.Optional(Cursor()),
});

export const SearchResultSchema = Type.Object({
  message: Type.Ref('Message'),
  highlight: Type.String({
    description:
      'HTML: the message text (or the part around the matches) with every character escaped and the matched ' +
      'words in `<mark>…</mark>`; safe to insert as HTML.',
  }),
});

export const SearchPageSchema = Type.Object({
  results: Type.Array(SearchResultSchema),
  next_cursor: nullable<string>(Type.String({ description: 'Pass as `cursor` for the next (older) page; null: no more.' })),
});

/** Refs resolve to `unknown` in Static, so the message is typed here. */
export interface SearchResult {
  message: Message;
  highlight: string;
}

export interface SearchPage {
  results: SearchResult[];
  next_cursor: string | null;
}
