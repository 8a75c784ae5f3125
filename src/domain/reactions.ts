import { AppError } from './errors.js';

/** Distinct emoji one user may put on one message. */
export const MAX_REACTIONS_PER_USER = 20;

/** One emoji as Unicode's RGI set lists it: a skin tone, ZWJ sequence, flag or keycap is one. */
// Built at run time: the `v` flag is newer than the compile target (Node 20 has it).
const ONE_EMOJI = new RegExp('^\\p{RGI_Emoji}$', 'v');
const VARIATION_SELECTOR_16 = '\uFE0F';

/**
 * The emoji a reaction stores for `input`: the input itself when it is one RGI emoji, or
 * its emoji-style form when it is a text-style symbol that has one ("❤" → "❤️"), so the
 * two spellings of one heart are one reaction. Anything else is validation_failed.
 */
export function reactionEmoji(input: string): string {
  if (ONE_EMOJI.test(input)) return input;
  const emojiStyle = input + VARIATION_SELECTOR_16;
  if ([...input].length === 1 && ONE_EMOJI.test(emojiStyle)) return emojiStyle;
  throw new AppError('validation_failed', 'emoji must be a single emoji (a skin tone or ZWJ sequence counts as one)', {
    field: 'emoji',
  });
}
