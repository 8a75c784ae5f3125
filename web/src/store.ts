import type { ConnectionState, Conversation, Message, NatterClient, OutboxEntry, User } from '@natter/client';
import { api } from './api.js';
import { CallController } from './calls.js';

/**
 * What the app shows, kept current from the SDK's frames: the conversation list, the
 * loaded history of each conversation (by seq, oldest first), who is typing where and
 * how far every member has received and read. Components read a snapshot through
 * `useStore` and re-render when `version` moves.
 *
 * Messages are merged by seq, so a message that arrives twice (live and again in a sync
 * after a reconnect) is shown once; a changed copy replaces the held one only when its
 * mod_seq is higher, as the protocol asks.
 */

export interface Pointers {
  delivered: number;
  read: number;
}

export interface History {
  messages: Message[];
  /** Older pages exist before messages[0]. */
  hasMore: boolean;
  loading: boolean;
  /** The last page failed to load: it is not asked for again until asked (the button). */
  failed?: boolean;
}

const TYPING_SHOWN_MS = 6000;
const PAGE = 30;

export class ChatStore {
  version = 0;
  conversations: Conversation[] = [];
  conversationsLoaded = false;
  readonly histories = new Map<number, History>();
  /** conversation → user → until when (ms) they are shown typing. */
  readonly typing = new Map<number, Map<number, number>>();
  /** conversation → member → their delivered and read pointers, from receipt frames. */
  readonly pointers = new Map<number, Map<number, Pointers>>();
  outbox: OutboxEntry[] = [];
  connection: ConnectionState = 'idle';
  browserOnline = typeof navigator === 'undefined' ? true : navigator.onLine;
  /** The conversation on screen (its messages are marked read as they arrive). */
  openConversation: number | null = null;
  private listeners = new Set<() => void>();
  private unsubscribe: (() => void)[] = [];
  private typingTimer: ReturnType<typeof setInterval> | undefined;

  /** Voice and video calls: the incoming one and the one in progress. */
  readonly calls: CallController;

  constructor(readonly client: NatterClient) {
    this.calls = new CallController(
      client,
      (invite) => {
        const conv = this.conversation(invite.conversation_id);
        const caller = conv?.participants.find((p) => p.id === invite.from_user_id);
        return caller?.username ?? 'Someone';
      },
      () => this.changed(),
    );
  }

  get me(): User | null {
    return this.client.user;
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    this.version++;
    const total = this.conversations.reduce((n, c) => n + (c.id === this.openConversation ? 0 : this.unread(c.id)), 0);
    document.title = total > 0 ? `(${total}) natter` : 'natter';
    for (const fn of this.listeners) fn();
  }

  /** Wires the frames, loads the list and connects; call once after signing in. */
  async start(): Promise<void> {
    const c = this.client;
    this.unsubscribe.push(
      c.on('new_message', (f) => this.addMessage(f.message)),
      c.on('message_updated', (f) => this.replaceMessage(f.message)),
      c.on('reaction', (f) => this.applyReaction(f)),
      c.on('typing', (f) => this.setTyping(f.conversation_id, f.user_id, f.is_typing)),
      c.on('receipt', (f) => this.applyReceipt(f.conversation_id, f.user_id, f.status, f.seq)),
      c.on('conversation_settings', (f) => {
        this.conversations = this.conversations.map((conv) =>
          conv.id === f.conversation_id ? { ...conv, my_settings: f.settings } : conv,
        );
        this.changed();
      }),
      c.on('synced', (f) => void this.catchUp(f.conversations)),
      c.onState((s) => {
        this.connection = s;
        this.changed();
      }),
      c.onUnread(() => this.changed()),
      c.onPresence(() => this.changed()),
      c.outbox.on((entries) => {
        this.outbox = entries;
        this.changed();
      }),
    );
    this.outbox = c.outbox.entries();
    this.calls.start();
    this.watchNetwork();
    this.typingTimer = setInterval(() => this.expireTyping(), 1000);
    await this.loadConversations();
    if (this.browserOnline) await c.connect().catch(() => undefined);
  }

  stop(): void {
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    this.calls.stop();
    clearInterval(this.typingTimer);
    this.client.disconnect();
  }

  /**
   * The browser says when the network goes: the socket may linger (or the browser may
   * hold it open while dropping its traffic), so it is closed at once and messages sent
   * meanwhile wait in the outbox; back online, the SDK reconnects and syncs.
   */
  private watchNetwork(): void {
    const offline = () => {
      this.browserOnline = false;
      this.client.disconnect();
      this.changed();
    };
    const online = () => {
      this.browserOnline = true;
      this.changed();
      void this.client.connect().catch(() => undefined);
    };
    // A chat left open in a background tab is read when the tab is looked at again.
    const visible = () => {
      if (document.visibilityState === 'visible' && this.openConversation !== null) this.markSeen(this.openConversation);
    };
    window.addEventListener('offline', offline);
    window.addEventListener('online', online);
    document.addEventListener('visibilitychange', visible);
    this.unsubscribe.push(() => {
      window.removeEventListener('offline', offline);
      window.removeEventListener('online', online);
      document.removeEventListener('visibilitychange', visible);
    });
  }

  get online(): boolean {
    return this.browserOnline && this.connection === 'online';
  }

  async loadConversations(): Promise<void> {
    try {
      const loaded = await api.conversations(this.client);
      // Frames that arrived while the list was on its way are newer than it: keep them.
      const held = new Map(this.conversations.map((c) => [c.id, c] as const));
      this.conversations = loaded.map((c) => {
        const mine = held.get(c.id);
        const latest = mine?.messages[0];
        if (!mine || !latest || latest.seq <= (c.messages[0]?.seq ?? 0)) return c;
        return { ...c, messages: mine.messages, last_seq: Math.max(c.last_seq, mine.last_seq), last_message_at: mine.last_message_at };
      });
      this.conversationsLoaded = true;
      for (const conv of this.conversations) {
        this.seedPointers(conv);
        // Messages that came while the app was closed arrive here, not as frames: their
        // senders see them delivered now (the list is loaded again after every sync).
        if (conv.unread_count > 0 && conv.id !== this.openConversation) this.client.markDelivered(conv.id, conv.last_seq);
      }
      this.changed();
    } catch {
      // Offline: the list shown stays; it is loaded again after the next sync.
    }
  }

  /**
   * After a (re)connect's sync: the list again (new chats, unread counts), and any loaded
   * history that is behind the seq the server reports gets the messages after it.
   */
  private async catchUp(latest: Record<string, number>): Promise<void> {
    await this.loadConversations();
    for (const [id, h] of this.histories) {
      const held = h.messages.at(-1)?.seq ?? 0;
      const last = latest[String(id)] ?? this.conversation(id)?.last_seq ?? 0;
      if (last <= held) continue;
      // Nothing held (the first load failed, offline): the latest page, as a first open
      // loads, not the oldest messages after seq 0.
      if (held === 0) {
        await this.loadOlder(id);
        continue;
      }
      try {
        const newer = await api.after(this.client, id, held);
        this.histories.set(id, { ...this.history(id), messages: mergeBySeq(this.history(id).messages, newer) });
        this.changed();
      } catch {
        // Offline again: the next sync repeats this.
      }
    }
    if (this.openConversation !== null) this.markSeen(this.openConversation);
  }

  conversation(id: number): Conversation | undefined {
    return this.conversations.find((c) => c.id === id);
  }

  unread(id: number): number {
    return this.client.unread.get(id) ?? this.conversation(id)?.unread_count ?? 0;
  }

  isOnline(userId: number): boolean {
    const p = this.client.presence.get(userId);
    if (p) return p.online;
    for (const conv of this.conversations) {
      const member = conv.participants.find((m) => m.id === userId);
      if (member) return member.status === 'online';
    }
    return false;
  }

  /** A direct conversation's other member. */
  peer(conv: Conversation): Conversation['participants'][number] | undefined {
    return conv.participants.find((p) => p.id !== this.me?.id);
  }

  title(conv: Conversation): string {
    if (conv.type === 'group') return conv.name ?? 'Group';
    return this.peer(conv)?.username ?? 'Direct chat';
  }

  upsertConversation(conv: Conversation): void {
    const rest = this.conversations.filter((c) => c.id !== conv.id);
    this.conversations = [conv, ...rest];
    this.seedPointers(conv);
    this.changed();
  }

  // ---- history

  history(id: number): History {
    return this.histories.get(id) ?? { messages: [], hasMore: true, loading: false };
  }

  /** Loads the latest page (first open) or the page before the oldest one held. */
  async loadOlder(id: number): Promise<void> {
    const h = this.history(id);
    if (h.loading || (!h.hasMore && this.histories.has(id))) return;
    const oldest = h.messages[0]?.seq;
    this.histories.set(id, { ...h, loading: true });
    this.changed();
    try {
      const page = await this.client.history(id, { limit: PAGE, ...(oldest ? { before_seq: oldest } : {}) });
      const now = this.history(id);
      this.histories.set(id, {
        messages: mergeBySeq(now.messages, page),
        hasMore: page.length === PAGE && (page[0]?.seq ?? 1) > 1,
        loading: false,
      });
    } catch {
      this.histories.set(id, { ...this.history(id), loading: false, failed: true });
    }
    this.changed();
  }

  open(id: number | null): void {
    this.openConversation = id;
    if (id !== null) this.markSeen(id);
    this.changed();
  }

  /** Marks the open conversation read up to its latest message. */
  markSeen(id: number): void {
    if (document.visibilityState !== 'visible') return;
    const conv = this.conversation(id);
    const last = Math.max(conv?.last_seq ?? 0, this.history(id).messages.at(-1)?.seq ?? 0);
    if (last > 0 && (this.unread(id) > 0 || (conv?.unread_count ?? 0) > 0)) {
      this.client.markRead(id, last);
      // The list's own count is from its last load; the SDK's count takes over from here.
      if (conv && conv.unread_count > 0) {
        this.conversations = this.conversations.map((c) => (c.id === id ? { ...c, unread_count: 0 } : c));
        this.changed();
      }
    }
  }

  private addMessage(msg: Message): void {
    const id = msg.conversation_id;
    const held = this.histories.get(id);
    if (held) this.histories.set(id, { ...held, messages: mergeBySeq(held.messages, [msg]) });
    const conv = this.conversation(id);
    // A system message says the group changed (members, roles, name): fetch it afresh.
    if (!conv || msg.type === 'system') {
      void this.loadConversations();
    } else {
      const latest = conv.messages[0];
      const updated: Conversation = {
        ...conv,
        last_seq: Math.max(conv.last_seq, msg.seq),
        messages: !latest || latest.seq <= msg.seq ? [msg] : conv.messages,
        last_message_at: msg.created_at,
      };
      this.conversations = [updated, ...this.conversations.filter((c) => c.id !== id)];
    }
    const mine = msg.sender_id === this.me?.id;
    if (!mine && msg.type !== 'system') {
      this.setTyping(id, msg.sender_id ?? 0, false);
      if (this.openConversation === id && document.visibilityState === 'visible') this.client.markRead(id, msg.seq);
      else this.client.markDelivered(id, msg.seq);
    }
    this.changed();
  }

  private replaceMessage(msg: Message): void {
    const id = msg.conversation_id;
    const held = this.histories.get(id);
    if (held) this.histories.set(id, { ...held, messages: mergeBySeq(held.messages, [msg]) });
    const conv = this.conversation(id);
    if (conv && conv.messages[0]?.seq === msg.seq && conv.messages[0].mod_seq < msg.mod_seq) {
      this.conversations = this.conversations.map((c) => (c.id === id ? { ...c, messages: [msg] } : c));
    }
    this.changed();
  }

  private applyReaction(f: { conversation_id: number; message_id: number; user_id: number; emoji: string; on: boolean; count: number; mod_seq: number }): void {
    const held = this.histories.get(f.conversation_id);
    if (!held) return;
    const messages = held.messages.map((m) => {
      if (m.id !== f.message_id || m.mod_seq >= f.mod_seq) return m;
      const mine = f.user_id === this.me?.id;
      const others = m.reactions.filter((r) => r.emoji !== f.emoji);
      const prev = m.reactions.find((r) => r.emoji === f.emoji);
      const me = mine ? f.on : (prev?.me ?? false);
      const reactions = f.count > 0
        ? prev
          ? m.reactions.map((r) => (r.emoji === f.emoji ? { emoji: f.emoji, count: f.count, me } : r))
          : [...others, { emoji: f.emoji, count: f.count, me }]
        : others;
      return { ...m, reactions, mod_seq: f.mod_seq };
    });
    this.histories.set(f.conversation_id, { ...held, messages });
    this.changed();
  }

  // ---- typing

  setTyping(conversationId: number, userId: number, on: boolean): void {
    let users = this.typing.get(conversationId);
    if (!users) this.typing.set(conversationId, (users = new Map<number, number>()));
    if (on) users.set(userId, Date.now() + TYPING_SHOWN_MS);
    else if (!users.delete(userId)) return;
    this.changed();
  }

  typers(conversationId: number): number[] {
    return [...(this.typing.get(conversationId)?.keys() ?? [])].filter((u) => u !== this.me?.id);
  }

  private expireTyping(): void {
    const now = Date.now();
    let any = false;
    for (const users of this.typing.values()) {
      for (const [user, until] of users) {
        if (until < now) {
          users.delete(user);
          any = true;
        }
      }
    }
    if (any) this.changed();
  }

  // ---- receipts

  private seedPointers(conv: Conversation): void {
    // A conversation fetched fresh knows the status of its latest message as the caller
    // sees it; the receipts that follow move each member's pointers from there.
    const latest = conv.messages[0];
    if (!latest || latest.sender_id !== this.me?.id) return;
    let members = this.pointers.get(conv.id);
    if (!members) this.pointers.set(conv.id, (members = new Map<number, Pointers>()));
    for (const p of conv.participants) {
      if (p.id === this.me?.id) continue;
      const held = members.get(p.id) ?? { delivered: 0, read: 0 };
      if (latest.status === 'read') held.read = Math.max(held.read, latest.seq);
      if (latest.status !== 'sent') held.delivered = Math.max(held.delivered, latest.seq);
      members.set(p.id, held);
    }
  }

  private applyReceipt(conversationId: number, userId: number, status: 'delivered' | 'read', seq: number): void {
    let members = this.pointers.get(conversationId);
    if (!members) this.pointers.set(conversationId, (members = new Map<number, Pointers>()));
    const held = members.get(userId) ?? { delivered: 0, read: 0 };
    held.delivered = Math.max(held.delivered, seq);
    if (status === 'read') held.read = Math.max(held.read, seq);
    members.set(userId, held);
    this.changed();
  }

  /**
   * What the sender's ticks show for their message: read once every other member has
   * read it, delivered once every other member has it (from the receipts seen since the
   * page loaded, or the status the server gave with the message, whichever is further).
   */
  statusOf(msg: Message): Message['status'] {
    const conv = this.conversation(msg.conversation_id);
    if (!conv) return msg.status;
    const others = conv.participants.filter((p) => p.id !== this.me?.id);
    const members = this.pointers.get(conv.id);
    if (others.length === 0 || !members) return msg.status;
    const rank = { sent: 0, delivered: 1, read: 2 } as const;
    let least: 0 | 1 | 2 = 2;
    for (const p of others) {
      const ptr = members.get(p.id);
      const r = ptr && ptr.read >= msg.seq ? 2 : ptr && ptr.delivered >= msg.seq ? 1 : 0;
      if (r < least) least = r;
    }
    const fromReceipts = (['sent', 'delivered', 'read'] as const)[least];
    return rank[fromReceipts] > rank[msg.status] ? fromReceipts : msg.status;
  }

  pending(conversationId: number): OutboxEntry[] {
    return this.outbox.filter((e) => e.conversation_id === conversationId);
  }
}

/** `held` and `incoming` merged by seq (oldest first); a copy with a higher mod_seq wins. */
export function mergeBySeq(held: Message[], incoming: Message[]): Message[] {
  const bySeq = new Map<number, Message>();
  for (const m of held) bySeq.set(m.seq, m);
  for (const m of incoming) {
    const old = bySeq.get(m.seq);
    if (!old || old.mod_seq <= m.mod_seq) bySeq.set(m.seq, old && old.mod_seq === m.mod_seq ? { ...m, status: maxStatus(old.status, m.status) } : m);
  }
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

function maxStatus(a: Message['status'], b: Message['status']): Message['status'] {
  const rank = { sent: 0, delivered: 1, read: 2 };
  return rank[a] >= rank[b] ? a : b;
}
