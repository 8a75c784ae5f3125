import { AppError } from './errors.js';
import type { MemberSettings, MemberSettingsInput } from '../schemas/member-settings.js';

/**
 * A member's own settings of a conversation: the stored form, the wire form, and what a
 * change asks for. No I/O. A mute is in force while `muted_until` lies in the future; a
 * time in the past is kept as given and simply means "not muted".
 */

/** How the API writes a mute without end (PostgreSQL 'infinity' in the store): the latest ISO time. */
export const MUTED_FOREVER = '9999-12-31T23:59:59.999Z';
export const FOREVER = new Date(MUTED_FOREVER);

/** The settings as the store reads them ('infinity' already read as FOREVER). */
export interface MemberSettingsRecord {
  muted_until: Date | null;
  archived: boolean;
  pinned_at: Date | null;
}

/** A change to apply: a field left out stays as it is. */
export interface MemberSettingsChange {
  /** null: unmute. A time at or after FOREVER is FOREVER. */
  mutedUntil?: Date | null;
  archived?: boolean;
  pinned?: boolean;
}

export const toMemberSettings = (r: MemberSettingsRecord): MemberSettings => ({
  muted_until: r.muted_until?.toISOString() ?? null,
  archived: r.archived,
  pinned: r.pinned_at !== null,
  pinned_at: r.pinned_at?.toISOString() ?? null,
});

/**
 * The request body as a change. Throws validation_failed for an empty change or a
 * muted_until the schema let through but that names no time (say, a leap second), or one
 * before 1970.
 */
export function settingsChange(input: MemberSettingsInput): MemberSettingsChange {
  const change: MemberSettingsChange = {};
  if (input.muted_until !== undefined) {
    const at = input.muted_until === null ? null : new Date(input.muted_until);
    if (at !== null && Number.isNaN(at.getTime())) {
      throw new AppError('validation_failed', 'muted_until must be a valid date time', { field: 'muted_until' });
    }
    // Bounded like every number: no date before the epoch means anything here (and the
    // embedded database cannot read back a year 0).
    if (at !== null && at.getTime() < 0) {
      throw new AppError('validation_failed', 'muted_until must be 1970-01-01 or later', { field: 'muted_until' });
    }
    change.mutedUntil = at !== null && at.getTime() >= FOREVER.getTime() ? FOREVER : at;
  }
  if (input.archived !== undefined) change.archived = input.archived;
  if (input.pinned !== undefined) change.pinned = input.pinned;
  if (Object.keys(change).length === 0) {
    throw new AppError('validation_failed', 'Send at least one of muted_until, archived, pinned', { field: 'body' });
  }
  return change;
}

/** Whether applying `change` to `current` changes anything a member can see. */
export function changesSomething(current: MemberSettingsRecord, change: MemberSettingsChange): boolean {
  if (change.archived !== undefined && change.archived !== current.archived) return true;
  if (change.pinned !== undefined && change.pinned !== (current.pinned_at !== null)) return true;
  if (change.mutedUntil !== undefined && change.mutedUntil?.getTime() !== current.muted_until?.getTime()) return true;
  return false;
}
