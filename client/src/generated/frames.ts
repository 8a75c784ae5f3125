/**
 * Generated from natter's AsyncAPI document (GET /docs/asyncapi.json): `server.<type>` and `client.<type>` are the frames by `npm run client:openapi` (scripts/client-openapi.ts).
 * Do not edit: change the server's schemas and run the script again.
 */
export type paths = Record<string, never>;
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /** MemberSettings */
        MemberSettings: {
            /**
             * Format: date-time
             * @description Muted (no push notifications) while this lies in the future; `9999-12-31T23:59:59.999Z`: until unmuted. null, or a time that has passed: not muted.
             */
            muted_until: string | null;
            archived: boolean;
            /** @description Pinned conversations come first in the list, the latest pinned first. */
            pinned: boolean;
            /**
             * Format: date-time
             * @description When it was pinned; null: not pinned.
             */
            pinned_at: string | null;
        };
        /** Message */
        Message: {
            id: number;
            conversation_id: number;
            /** @description Position in the conversation: 1, 2, 3 … without gaps. */
            seq: number;
            /** @description The conversation's change counter at this message's latest change (sent, edited, deleted, reacted to). Of two copies of a message, keep the one with the higher mod_seq. */
            mod_seq: number;
            sender_id: number | null;
            /** @description The sender (null if their account was deleted). */
            sender: {
                id: number;
                username: string;
                email: string;
                phone: string | null;
                avatar: string | null;
                /** @enum {string} */
                status: "online" | "offline";
                /**
                 * Format: date-time
                 * @description null when the user hides it from you
                 */
                last_seen: string | null;
                /** Format: date-time */
                created_at: string;
                /** Format: date-time */
                updated_at: string;
            } | null;
            content: string;
            /**
             * @description `system`: a change to the group, told by natter (see `system`); `call`: a call's record (see `call`).
             * @enum {string}
             */
            type: "text" | "image" | "video" | "audio" | "file" | "system" | "call";
            /**
             * @description As seen by the requester.
             * @enum {string}
             */
            status: "sent" | "delivered" | "read";
            /** @description The media's URL: the first attachment's `url`, or a URL the client hosts elsewhere. */
            media_url: string | null;
            /** @description Files sent with the message, in order (may be empty). */
            attachments: {
                id: number;
                conversation_id: number;
                uploader_id: number | null;
                /** @enum {string} */
                kind: "image" | "video" | "audio" | "file";
                /** @description Sniffed from the bytes; the client's Content-Type is never trusted. */
                mime_type: string;
                /** @description Bytes, as stored (a photo is stored without its location and camera metadata). */
                size: number;
                /** @description The file name the client gave. */
                name: string;
                width: number | null;
                height: number | null;
                duration_ms: number | null;
                /** @description Signed, expiring URL of the bytes: works without an Authorization header (see ATTACHMENT_URL_TTL). */
                url: string;
                /** @description A small WebP preview (images; video posters with ffmpeg). */
                thumbnail_url: string | null;
                /** Format: date-time */
                created_at: string;
            }[];
            reply_to_id: number | null;
            client_id: string | null;
            /** @description Reactions by emoji, in the order they first appeared. */
            reactions: {
                emoji: string;
                count: number;
                /** @description Whether the requester is among them. */
                me: boolean;
            }[];
            /** @description For a `system` message, what happened (its `content` says it in words); null for every other. */
            system: {
                /** @enum {string} */
                event: "member_added" | "member_removed" | "member_left" | "member_joined" | "role_changed" | "renamed" | "info_changed" | "owner_changed";
                /** @description Who made the change (null: their account is gone). */
                actor_id: number | null;
                /** @description Whom it was about: added, removed, the new owner. */
                user_ids?: number[];
                /** @description renamed: the new name. */
                name?: string;
                /**
                 * @description role_changed: the new role.
                 * @enum {string}
                 */
                role?: "owner" | "admin" | "member";
            } | null;
            /** @description For a `call` message, the call's record (updated by `message_updated` as the call goes on); null for every other. */
            call: {
                /** @description The caller's id of the call (a UUID). */
                call_id: string;
                video: boolean;
                caller_id: number;
                /**
                 * @description ringing, connecting, active while it lasts; then finished, missed, declined, cancelled, busy or failed.
                 * @enum {string}
                 */
                outcome: "ringing" | "connecting" | "active" | "finished" | "missed" | "declined" | "cancelled" | "busy" | "failed";
                /**
                 * @description Why it ended, as `call_ended` said (null while it lasts).
                 * @enum {string|null}
                 */
                reason: "answered_elsewhere" | "declined" | "missed" | "cancelled" | "busy" | "hangup" | "connect_timeout" | "failed" | null;
                /** Format: date-time */
                started_at: string;
                /** Format: date-time */
                answered_at: string | null;
                /** Format: date-time */
                connected_at: string | null;
                /** Format: date-time */
                ended_at: string | null;
                /** @description From connected to ended; null unless it connected. */
                duration_ms: number | null;
            } | null;
            /** Format: date-time */
            edited_at: string | null;
            /** Format: date-time */
            deleted_at: string | null;
            /**
             * @description `everyone`: the sender deleted it (a tombstone: empty content, no attachments or reactions, same seq). `me`: the requester deleted it for their own devices (shown to them the same way). null: not deleted.
             * @enum {string|null}
             */
            deleted_for: "everyone" | "me" | null;
            /** Format: date-time */
            created_at: string;
            /** Format: date-time */
            updated_at: string;
        };
        "client.message": {
            /** @constant */
            type: "message";
            conversation_id: number;
            content?: string | null;
            client_id?: string | null;
            reply_to_id?: number | null;
            media_url?: string | null;
            attachment_ids?: number[] | null;
            message_type?: string | null;
        };
        "client.typing": {
            /** @constant */
            type: "typing";
            conversation_id: number;
            is_typing?: boolean;
        };
        "client.ping": {
            /** @constant */
            type: "ping";
        };
        "client.delivered": {
            /** @constant */
            type: "delivered";
            conversation_id: number;
            seq: number;
        };
        "client.read": {
            /** @constant */
            type: "read";
            conversation_id: number;
            seq: number;
        };
        "client.edit": {
            /** @constant */
            type: "edit";
            conversation_id: number;
            message_id: number;
            /** @description The new text (or caption). */
            content: string;
        };
        "client.delete": {
            /** @constant */
            type: "delete";
            conversation_id: number;
            message_id: number;
            /** @enum {string} */
            for?: "everyone" | "me";
        };
        "client.react": {
            /** @constant */
            type: "react";
            conversation_id: number;
            message_id: number;
            /** @description One emoji (a skin tone or ZWJ sequence is one). */
            emoji: string;
            on: boolean;
        };
        "client.sync": {
            /** @constant */
            type: "sync";
            since?: {
                [key: string]: number;
            };
            changes_since?: {
                [key: string]: number;
            };
        };
        "client.call_invite": {
            /** @constant */
            type: "call_invite";
            conversation_id: number;
            /** @description The call, as its caller named it (a UUID). */
            call_id: string;
            /** @description A session description (SDP), passed on as it is. */
            sdp: string;
            video: boolean;
        };
        "client.call_ringing": {
            /** @constant */
            type: "call_ringing";
            /** @description The call, as its caller named it (a UUID). */
            call_id: string;
        };
        "client.call_answer": {
            /** @constant */
            type: "call_answer";
            /** @description The call, as its caller named it (a UUID). */
            call_id: string;
            /** @description A session description (SDP), passed on as it is. */
            sdp: string;
        };
        "client.call_candidates": {
            /** @constant */
            type: "call_candidates";
            /** @description The call, as its caller named it (a UUID). */
            call_id: string;
            to_device?: string;
            candidates: {
                candidate: string;
                sdpMid?: string | null;
                sdpMLineIndex?: number | null;
                usernameFragment?: string | null;
            }[];
        };
        "client.call_negotiate": {
            /** @constant */
            type: "call_negotiate";
            /** @description The call, as its caller named it (a UUID). */
            call_id: string;
            /** @description A session description (SDP), passed on as it is. */
            sdp: string;
            /** @enum {string} */
            sdp_type?: "offer" | "answer";
        };
        "client.call_reject": {
            /** @constant */
            type: "call_reject";
            /** @description The call, as its caller named it (a UUID). */
            call_id: string;
            /** @enum {string} */
            reason?: "declined" | "busy";
        };
        "client.call_hangup": {
            /** @constant */
            type: "call_hangup";
            /** @description The call, as its caller named it (a UUID). */
            call_id: string;
            /** @enum {string} */
            reason?: "hangup" | "failed";
        };
        "client.call_connected": {
            /** @constant */
            type: "call_connected";
            /** @description The call, as its caller named it (a UUID). */
            call_id: string;
        };
        "server.connected": {
            /** @constant */
            type: "connected";
            user_id: number;
            device_id: string;
            /** @description This server's call timeouts, so a client that lost natter's call_ended gives up no sooner than natter. Servers before calls send none. */
            calls?: {
                /** @description How long a call rings (CALL_RING_TIMEOUT) before natter ends it as missed. */
                ring_timeout_ms: number;
                /** @description How long an answered call may take to connect (CALL_CONNECT_TIMEOUT) before natter ends it. */
                connect_timeout_ms: number;
            };
        };
        "server.new_message": {
            /** @constant */
            type: "new_message";
            message: components["schemas"]["Message"];
        };
        "server.message_updated": {
            /** @constant */
            type: "message_updated";
            message: components["schemas"]["Message"];
        };
        "server.reaction": {
            /** @constant */
            type: "reaction";
            conversation_id: number;
            message_id: number;
            user_id: number;
            emoji: string;
            on: boolean;
            count: number;
            mod_seq: number;
        };
        "server.typing": {
            /** @constant */
            type: "typing";
            conversation_id: number;
            user_id: number;
            is_typing: boolean;
        };
        "server.receipt": {
            /** @constant */
            type: "receipt";
            conversation_id: number;
            user_id: number;
            status: "delivered" | "read";
            seq: number;
        };
        "server.status_change": {
            /** @constant */
            type: "status_change";
            user_id: number;
            status: "online" | "offline";
            /** Format: date-time */
            last_seen: string;
        };
        "server.synced": {
            /** @constant */
            type: "synced";
            conversations: {
                [key: string]: number;
            };
            mod_seqs: {
                [key: string]: number;
            };
        };
        "server.pong": {
            /** @constant */
            type: "pong";
        };
        "server.conversation_settings": {
            /** @constant */
            type: "conversation_settings";
            conversation_id: number;
            settings: components["schemas"]["MemberSettings"];
        };
        "server.error": {
            /** @constant */
            type: "error";
            error: string;
            /** @enum {string} */
            code: "validation_failed" | "invalid_json" | "invalid_frame" | "unknown_type" | "payload_too_large" | "message_too_large" | "unsupported_media_type" | "unauthorized" | "invalid_credentials" | "invalid_refresh_token" | "forbidden" | "url_expired" | "edit_window_passed" | "blocked" | "range_not_satisfiable" | "not_found" | "route_not_found" | "email_taken" | "username_taken" | "offset_mismatch" | "message_deleted" | "call_in_progress" | "too_many_reactions" | "too_many_devices" | "not_a_group" | "unknown_users" | "group_full" | "invite_invalid" | "rate_limited" | "not_ready" | "shutting_down" | "internal";
            client_id?: string;
            field?: string;
            /** @description The call a refused call frame was about. */
            call_id?: string;
        };
        "server.call_invite": {
            /** @constant */
            type: "call_invite";
            call_id: string;
            conversation_id: number;
            sdp: string;
            video: boolean;
            from_user_id: number;
            from_device: string;
            /** Format: date-time */
            started_at: string;
            /** @description How long it rings from started_at before natter ends it as missed. */
            ring_timeout_ms: number;
            /** @description The call's record in the conversation (a message of type call). */
            message_id: number;
            seq: number;
        };
        "server.call_ringing": {
            /** @constant */
            type: "call_ringing";
            call_id: string;
            from_user_id: number;
            from_device: string;
        };
        "server.call_answer": {
            /** @constant */
            type: "call_answer";
            call_id: string;
            sdp: string;
            from_user_id: number;
            from_device: string;
        };
        "server.call_selected": {
            /** @constant */
            type: "call_selected";
            call_id: string;
            device_id: string;
        };
        "server.call_candidates": {
            /** @constant */
            type: "call_candidates";
            call_id: string;
            candidates: {
                candidate: string;
                sdpMid?: string | null;
                sdpMLineIndex?: number | null;
                usernameFragment?: string | null;
            }[];
            from_user_id: number;
            from_device: string;
        };
        "server.call_negotiate": {
            /** @constant */
            type: "call_negotiate";
            call_id: string;
            sdp: string;
            /** @enum {string} */
            sdp_type: "offer" | "answer";
            from_user_id: number;
            from_device: string;
        };
        "server.call_ended": {
            /** @constant */
            type: "call_ended";
            call_id: string;
            /** @enum {string} */
            reason: "answered_elsewhere" | "declined" | "missed" | "cancelled" | "busy" | "hangup" | "connect_timeout" | "failed";
            /** @description Both called each other at once; this call lost to the other. */
            glare?: boolean;
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export type operations = Record<string, never>;
