/**
 * Message search rules with no I/O: when the last word of a query is taken as a prefix,
 * and how PostgreSQL's `ts_headline` output becomes HTML that is safe to insert.
 *
 * `ts_headline` marks the matched words with strings of our choosing. The marks chosen
 * here are Unicode noncharacters (U+FDD0, U+FDD1), which Unicode reserves for a program's
 * internal use and which no text a client sends means anything by. The store hands
 * `ts_headline` the content with these two characters replaced by U+FFFD, so a mark in
 * the result is always one of ours, and with a space after every `<`: `ts_headline`
 * replaces anything that looks like an HTML tag with a space, which would drop `<div>`
 * from a message about HTML, and `< div>` looks like no tag. `highlightHtml` takes those
 * spaces out again, escapes the whole text and then turns the marks into `<mark>` and
 * `</mark>`.
 */

/** What `ts_headline` puts before a matched word (StartSel). */
export const HIGHLIGHT_START = '\uFDD0';
/** What `ts_headline` puts after a matched word (StopSel). */
export const HIGHLIGHT_STOP = '\uFDD1';
/** What the content's own U+FDD0 and U+FDD1 become in a highlight. */
export const HIGHLIGHT_REPLACEMENT = '\uFFFD';

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * `ts_headline`'s output → HTML: the text as the message has it, every character escaped
 * (`& < > " '`), the matched words inside `<mark>…</mark>`. Safe as element content and
 * inside a quoted attribute.
 */
export function highlightHtml(headline: string): string {
  return headline
    .replaceAll('< ', '<')
    .replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!)
    .replaceAll(HIGHLIGHT_START, '<mark>')
    .replaceAll(HIGHLIGHT_STOP, '</mark>');
}

/** The shortest last word taken as a prefix, in letters and digits. */
export const MIN_PREFIX = 3;

/**
 * Whether the query's last word is still being typed, so it is matched as a prefix
 * ("hel" finds "hello"): the query ends in a word of at least MIN_PREFIX letters or
 * digits that is not inside quotes (a quoted phrase is meant as written). Shorter ones
 * are matched whole: "to" as a prefix is a quarter of a vocabulary, which PostgreSQL
 * gathers from the index entry by entry before it can intersect anything (60 ms on a
 * million messages, against 2 ms for the word alone). The store applies it only to a
 * last term that is not negated (`-word` excludes that word, not every word it begins).
 */
export function endsInPrefix(q: string): boolean {
  const text = q.trimEnd();
  const quotes = text.split('"').length - 1;
  const word = /[\p{L}\p{M}\p{N}]+$/u.exec(text)?.[0] ?? '';
  return quotes % 2 === 0 && [...word.replace(/\p{M}/gu, '')].length >= MIN_PREFIX;
}
