import { userChannel, type Bus, type ChangePosition, type DeviceTarget, type MessagePosition } from '../bus/bus.js';
import { serializeFrame, type ServerFrame } from '../schemas/server-frames.js';
import type { NodeCache } from './node-cache.js';

/**
 * Where services hand frames to the bus, after their commit: every socket of the named
 * users, on whichever node it is. A frame is serialised once per fanout, and the bus call
 * is made synchronously, so frames published one after another (say, a batch's messages
 * in seq order) leave in that order. At most once, like the bus: clients repair gaps by
 * `seq` (docs/protocol.md §7).
 */
export class Fanout {
  constructor(
    private readonly bus: Bus,
    private readonly cache: NodeCache,
  ) {}

  /**
   * `frame` to every socket of each user; `position` for a `new_message` frame, `change`
   * for a `message_updated` or `reaction` frame.
   */
  toUsers(userIds: number[], frame: ServerFrame, position?: MessagePosition, change?: ChangePosition): Promise<void> {
    return this.bus.publishMany(userIds.map(userChannel), {
      kind: 'frame',
      frame: serializeFrame(frame),
      ...(position ? { position } : {}),
      ...(change ? { change } : {}),
    });
  }

  /** `frame` to every member of the conversation but `except`. */
  async toMembers(conversationId: number, frame: ServerFrame, except?: number): Promise<void> {
    const ids = await this.cache.memberIds(conversationId);
    await this.toUsers(except === undefined ? ids : ids.filter((id) => id !== except), frame);
  }

  /** `frame` to the user's sockets of one device (`only`) or of all their devices but one (`except`). */
  toDevices(userId: number, device: DeviceTarget, frame: ServerFrame): Promise<void> {
    return this.bus.publish(userChannel(userId), { kind: 'frame', frame: serializeFrame(frame), device });
  }

  /** Every node closes the session's sockets (4001). */
  sessionRevoked(userId: number, sessionId: string): Promise<void> {
    return this.bus.publish(userChannel(userId), { kind: 'session_revoked', sessionId });
  }
}
