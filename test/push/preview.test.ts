import { describe, expect, test } from 'vitest';
import { callNotificationText, MAX_BODY_CHARS, notificationText, type NotifiedMessage } from '../../src/domain/push.js';

/** What a lock screen shows for each PUSH_PREVIEW, in direct and group conversations. */

const msg = (over: Partial<NotifiedMessage> = {}): NotifiedMessage => ({
  conversationType: 'direct',
  conversationName: null,
  senderName: 'alice',
  type: 'text',
  content: 'see you at 8',
  attachmentKinds: [],
  count: 1,
  ...over,
});

describe('full', () => {
  test('direct: the sender as title, the text as body', () => {
    expect(notificationText('full', msg())).toEqual({ title: 'alice', body: 'see you at 8' });
  });
  test('group: the group as title, "sender: text" as body; an unnamed group says so', () => {
    expect(notificationText('full', msg({ conversationType: 'group', conversationName: 'Hikers' }))).toEqual({ title: 'Hikers', body: 'alice: see you at 8' });
    expect(notificationText('full', msg({ conversationType: 'group' })).title).toBe('Group');
  });
  test('attachments by kind, with their caption; a bare link is no caption', () => {
    expect(notificationText('full', msg({ type: 'image', content: '' })).body).toBe('📷 Photo');
    expect(notificationText('full', msg({ type: 'video', content: 'the jump' })).body).toBe('🎥 Video: the jump');
    expect(notificationText('full', msg({ type: 'audio', content: 'https://cdn.example.com/a.m4a' })).body).toBe('🎤 Audio');
    expect(notificationText('full', msg({ type: 'text', content: 'the plan', attachmentKinds: ['file'] })).body).toBe('📎 File: the plan');
  });
  test('a long text is cut to MAX_BODY_CHARS characters without splitting an emoji', () => {
    const body = notificationText('full', msg({ content: '😀'.repeat(MAX_BODY_CHARS + 50) })).body;
    expect([...body]).toHaveLength(MAX_BODY_CHARS);
    expect(body.endsWith('😀…')).toBe(true);
  });
});

describe('sender and none', () => {
  test('sender names who wrote, never what nor the group', () => {
    expect(notificationText('sender', msg())).toEqual({ title: null, body: 'New message from alice' });
    expect(notificationText('sender', msg({ conversationType: 'group', conversationName: 'Hikers', count: 3 }))).toEqual({
      title: null,
      body: '3 new messages, the latest from alice',
    });
  });
  test('none names nobody', () => {
    expect(notificationText('none', msg())).toEqual({ title: null, body: 'New message' });
    expect(notificationText('none', msg({ conversationType: 'group', conversationName: 'Hikers', count: 2 }))).toEqual({ title: null, body: '2 new messages' });
  });
});

describe('a call\'s ring', () => {
  test('full and sender name the caller and say whether it is video; none names nobody', () => {
    for (const preview of ['full', 'sender'] as const) {
      expect(callNotificationText(preview, { callerName: 'alice', video: false })).toEqual({ title: null, body: 'Incoming call from alice' });
      expect(callNotificationText(preview, { callerName: 'alice', video: true })).toEqual({ title: null, body: 'Incoming video call from alice' });
    }
    expect(callNotificationText('none', { callerName: 'alice', video: false })).toEqual({ title: null, body: 'Incoming call' });
    expect(callNotificationText('none', { callerName: 'alice', video: true })).toEqual({ title: null, body: 'Incoming video call' });
  });
});
