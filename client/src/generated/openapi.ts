/**
 * Generated from natter's OpenAPI document (GET /docs/json) by `npm run client:openapi` (scripts/client-openapi.ts).
 * Do not edit: change the server's schemas and run the script again.
 */
export interface paths {
    "/health": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Liveness: the process is up */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            /** @enum {string} */
                            status: "ok";
                        };
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/ready": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Readiness: the database (and the bus, with several nodes) answer */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            /** @enum {string} */
                            status: "ready";
                            /** @enum {string} */
                            database: "ok";
                        };
                    };
                };
                /** @description Default Response */
                503: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/auth/register": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Create an account and log in */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        /** @description 3–32 letters, digits, `_`, `.` or `-`. */
                        username: string;
                        /** Format: email */
                        email: string;
                        password: string;
                        phone?: string | null;
                        avatar?: string | null;
                    };
                };
            };
            responses: {
                /** @description Default Response */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            /** @description Access token (JWT) for `Authorization: Bearer`. */
                            token: string;
                            /** @description Exchange at /auth/refresh for a new pair; single use. */
                            refresh_token: string;
                            /** @description This session's public id as a device: what call frames name it by (`from_device`, `call_selected`). The same for the session's life. */
                            device_id: string;
                            user: components["schemas"]["Me"];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/auth/login": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Log in with email (or username) and password
         * @description Send `email` (the seed's field; a username is accepted there too) or `username`.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        email?: string;
                        username?: string;
                        password: string;
                    };
                };
            };
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            /** @description Access token (JWT) for `Authorization: Bearer`. */
                            token: string;
                            /** @description Exchange at /auth/refresh for a new pair; single use. */
                            refresh_token: string;
                            /** @description This session's public id as a device: what call frames name it by (`from_device`, `call_selected`). The same for the session's life. */
                            device_id: string;
                            user: components["schemas"]["Me"];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/auth/refresh": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Exchange a refresh token for a new token pair */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        refresh_token: string;
                    };
                };
            };
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            /** @description Access token (JWT) for `Authorization: Bearer`. */
                            token: string;
                            /** @description Exchange at /auth/refresh for a new pair; single use. */
                            refresh_token: string;
                            /** @description This session's public id as a device: what call frames name it by (`from_device`, `call_selected`). The same for the session's life. */
                            device_id: string;
                            user: components["schemas"]["Me"];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/auth/logout": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * End this session
         * @description Revokes the session: its access and refresh tokens stop working at once.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            message: string;
                        };
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/users/me": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The caller's own profile */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            user: components["schemas"]["Me"];
                        };
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /**
         * Change the caller's profile and privacy settings
         * @description Only the fields sent change. `phone` or `avatar` set to null (or "") clears it.
         */
        patch: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        /** @description 3–32 letters, digits, `_`, `.` or `-`. */
                        username?: string;
                        phone?: string | null;
                        avatar?: string | null;
                        last_seen_visibility?: "everyone" | "contacts" | "nobody";
                        share_read_receipts?: boolean;
                    };
                };
            };
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            user: components["schemas"]["Me"];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        trace?: never;
    };
    "/api/v1/users": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Everyone but the caller, by id, a page at a time */
        get: {
            parameters: {
                query?: {
                    /** @description Substring of username or email. */
                    search?: string;
                    /** @description Items per page (1–100). */
                    limit?: number;
                    /** @description `next_cursor` of the previous page. */
                    cursor?: string;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            users: components["schemas"]["User"][];
                            next_cursor: string | null;
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/users/me/blocks": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The users the caller blocks, by id, a page at a time */
        get: {
            parameters: {
                query?: {
                    /** @description Items per page (1–100). */
                    limit?: number;
                    /** @description `next_cursor` of the previous page. */
                    cursor?: string;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            blocks: {
                                user: components["schemas"]["User"];
                                /** Format: date-time */
                                blocked_at: string;
                            }[];
                            next_cursor: string | null;
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/users/{id}/block": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Block a user
         * @description Answers 201 with the block, or 200 when the caller already blocks them (nothing changes). While you block someone they cannot open a direct conversation with you, send into yours (403 `blocked`) or put you in a group they create; they see you offline with no `last_seen` and never see your reads; typing and presence frames between you stop both ways. Groups you share keep you both. Blocking yourself is 400 `validation_failed`; an unknown user 404.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            block: {
                                user: components["schemas"]["User"];
                                /** Format: date-time */
                                blocked_at: string;
                            };
                        };
                    };
                };
                /** @description Default Response */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            block: {
                                user: components["schemas"]["User"];
                                /** Format: date-time */
                                blocked_at: string;
                            };
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        /**
         * Unblock a user
         * @description Answers 204, also when there was no block. Everything blocking stopped works again; nothing they tried to send meanwhile was kept.
         */
        delete: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Unblocked */
                204: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/users/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One user */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            user: components["schemas"]["User"];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/conversations": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The caller's conversations: pinned ones first, then by most recent activity
         * @description Pinned conversations come first, the latest pinned first; then the rest, most recent activity first. `archived=true` lists only those the caller archived, `archived=false` only the others; without it, all.
         */
        get: {
            parameters: {
                query?: {
                    /** @description Items per page (1–100). */
                    limit?: number;
                    /** @description `next_cursor` of the previous page. */
                    cursor?: string;
                    /** @description Only the conversations you archived (true) or did not (false); absent: all. */
                    archived?: "true" | "false";
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            conversations: components["schemas"]["Conversation"][];
                            next_cursor: string | null;
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        /**
         * Start a direct conversation (or get the existing one) or create a group
         * @description `{"type":"direct","participant_id":2}` answers 200 with the existing conversation between the two users, or 201 with a new one. `{"type":"group","name":"…","participant_ids":[2,3]}` answers 201; the caller becomes its owner.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        /** @enum {string} */
                        type: "direct";
                        /** @description The other user. */
                        participant_id: number;
                    } | {
                        /** @enum {string} */
                        type: "group";
                        name: string;
                        avatar?: string | null;
                        /** @description Members besides the caller. */
                        participant_ids?: number[];
                    };
                };
            };
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            conversation: components["schemas"]["Conversation"];
                        };
                    };
                };
                /** @description Default Response */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            conversation: components["schemas"]["Conversation"];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/conversations/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One conversation (404 unless the caller is a participant) */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            conversation: components["schemas"]["Conversation"];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /**
         * Change a group's name, description, avatar or settings
         * @description Admins may change everything; other members the name, description and avatar unless `settings.only_admins_can_edit_info`. Each change is told in the group as a system message (`renamed`, `info_changed`); a field sent with its current value changes nothing.
         */
        patch: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        name?: string;
                        description?: string | null;
                        avatar?: string | null;
                        settings?: {
                            /** @description Only the owner and admins may send messages. */
                            only_admins_can_post?: boolean;
                            /** @description Only the owner and admins may change the name, description and avatar. */
                            only_admins_can_edit_info?: boolean;
                            /** @description Only the owner and admins may add members. */
                            only_admins_can_add?: boolean;
                            /** @description New members see the messages from before they joined (false: from their joining on). */
                            history_visible_to_new_members?: boolean;
                        };
                    };
                };
            };
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            conversation: components["schemas"]["Conversation"];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                422: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        trace?: never;
    };
    "/api/v1/conversations/{id}/messages": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * A page of history, oldest first
         * @description No bounds: the latest `limit` messages. `before_seq`: the page just before it (older). `after_seq`: the page just after it (newer). `has_more` says whether more lie beyond the page in that direction.
         */
        get: {
            parameters: {
                query?: {
                    /** @description Items per page (1–100). */
                    limit?: number;
                    /** @description The page just before this seq (older). */
                    before_seq?: number;
                    /** @description The page just after this seq (newer). */
                    after_seq?: number;
                };
                header?: never;
                path: {
                    id: number;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            messages: components["schemas"]["Message"][];
                            has_more: boolean;
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        /**
         * Send a message (the same path as the WebSocket `message` frame)
         * @description Answers 201 with the stored message; with a `client_id` already used by the caller, 200 with the original message and nothing stored twice. Participants receive it as a `new_message` frame. Files go first to `POST /conversations/:id/attachments`; their ids are sent here as `attachment_ids`.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        content?: string | null;
                        /** @description The client's id for this message (1–128 characters), unique per sender. */
                        client_id?: string | null;
                        /** @description A message of the same conversation. */
                        reply_to_id?: number | null;
                        media_url?: string | null;
                        /** @description Attachments this sender uploaded into this conversation and has not sent yet (1–10), in order. */
                        attachment_ids?: number[] | null;
                        /** @description text (default), image, video, audio or file */
                        type?: string;
                        /** @description Alias of `type`, as in the WebSocket frame. */
                        message_type?: string;
                    };
                };
            };
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            message: components["schemas"]["Message"];
                        };
                    };
                };
                /** @description Default Response */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            message: components["schemas"]["Message"];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                413: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/conversations/{id}/participants": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Add members to a group
         * @description Admins, or any member unless `settings.only_admins_can_add`. Users already in the group are left as they are. Unknown ids: 422 `unknown_users` naming them; someone who blocks the caller: 403 `blocked`; past `GROUP_MAX_MEMBERS`: 422 `group_full` — nobody is added then.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        /** @description Users to add (members already in are left as they are). */
                        user_ids: number[];
                    };
                };
            };
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            conversation: components["schemas"]["Conversation"];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                422: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/conversations/{id}/participants/{userId}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /**
         * Remove a member from a group, or leave it (your own id)
         * @description Admins remove members; only the owner removes admins; nobody removes the owner. An owner who leaves hands ownership to the longest-serving admin, else the longest-serving member. The removed member loses access at once, on every node.
         */
        delete: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                    userId: number;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Removed (or left). */
                204: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                422: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        options?: never;
        head?: never;
        /**
         * Change a member's role (the owner)
         * @description `admin` or `member`; `owner` hands ownership to that member and makes the caller an admin.
         */
        patch: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                    userId: number;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        /**
                         * @description `owner` hands ownership over; the old owner becomes an admin.
                         * @enum {string}
                         */
                        role: "owner" | "admin" | "member";
                    };
                };
            };
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            conversation: components["schemas"]["Conversation"];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                422: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        trace?: never;
    };
    "/api/v1/conversations/{id}/invites": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The group's invite links still usable (admins) */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            invites: components["schemas"]["Invite"][];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                422: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        /** Create an invite link (admins) */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        /** @description Seconds until it expires (none: never). */
                        expires_in?: number;
                        /** @description Joins it allows (none: any number). */
                        max_uses?: number;
                    };
                };
            };
            responses: {
                /** @description Default Response */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            invite: components["schemas"]["Invite"];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                422: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/invites/{code}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * What an invite link leads to: the group and its member count
         * @description 404 for a code that never existed; 410 `invite_invalid` once revoked, expired or used up.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    code: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            invite: components["schemas"]["Invite"];
                            conversation: {
                                id: number;
                                name: string | null;
                                description: string | null;
                                avatar: string | null;
                                member_count: number;
                            };
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                410: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        /** Revoke an invite link (the group's admins) */
        delete: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    code: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Revoked. */
                204: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/invites/{code}/join": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Join a group by its invite link
         * @description Joining a group you are in changes nothing and counts no use.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    code: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            conversation: components["schemas"]["Conversation"];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                410: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                422: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/conversations/{id}/settings": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /**
         * Mute, archive or pin a conversation for yourself
         * @description Only the fields sent change (at least one). `muted_until`: an ISO-8601 time (muted while it lies ahead; a time past is kept as given and means not muted), `9999-12-31T23:59:59.999Z` for until unmuted, null to unmute. `pinned: true` pins it (an already pinned one keeps its `pinned_at`), false unpins it. These settings are the caller's alone: the answer is the conversation with its `my_settings`, and the caller's sockets get a `conversation_settings` frame when something changed. Direct conversations and groups alike; 404 unless the caller is a member.
         */
        patch: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        /**
                         * Format: date-time
                         * @description Mute until this time (ISO-8601 with a time zone); `9999-12-31T23:59:59.999Z` (or later): until unmuted; null: unmute.
                         */
                        muted_until?: string | null;
                        archived?: boolean;
                        /** @description true pins it (an already pinned one keeps its pinned_at); false unpins it. */
                        pinned?: boolean;
                    };
                };
            };
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            conversation: components["schemas"]["Conversation"];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        trace?: never;
    };
    "/api/v1/conversations/{id}/messages/{messageId}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /**
         * Delete a message for everyone (its sender), or for your own devices (`?for=me`)
         * @description For everyone, the message stays in the sequence as a tombstone: `deleted_at` set, `deleted_for: "everyone"`, empty content, its attachments (and their files), edit history and reactions gone; members receive `message_updated`. `?for=me` hides it from the caller's devices only (they receive `message_updated` with `deleted_for: "me"`). Deleting again changes nothing. Answers the message as the caller now sees it.
         */
        delete: {
            parameters: {
                query?: {
                    /** @description `everyone` (default; the sender only) or `me` (hide it on your own devices). */
                    for?: "everyone" | "me";
                };
                header?: never;
                path: {
                    id: number;
                    messageId: number;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            message: components["schemas"]["Message"];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        options?: never;
        head?: never;
        /**
         * Edit a message (its sender, within MESSAGE_EDIT_WINDOW)
         * @description Replaces the content (a text, or the caption of a message with attachments) and sets `edited_at`; the version it replaces is kept (`GET …/edits`). Members receive `message_updated`. The same content again changes nothing. 403 `forbidden` for someone else's message, 403 `edit_window_passed` past the window, 409 `message_deleted` for a deleted one.
         */
        patch: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                    messageId: number;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        /** @description The new text (or caption). */
                        content: string;
                    };
                };
            };
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            message: components["schemas"]["Message"];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                413: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        trace?: never;
    };
    "/api/v1/conversations/{id}/messages/{messageId}/edits": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The earlier versions of an edited message, oldest first
         * @description Each is a content an edit replaced, with when; the latest 100. Empty for a message never edited, or deleted; 404 for one you deleted for yourself.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                    messageId: number;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            /** @description Earlier versions, oldest first. */
                            edits: {
                                /** @description An earlier version of the content. */
                                content: string;
                                /**
                                 * Format: date-time
                                 * @description When an edit replaced it.
                                 */
                                edited_at: string;
                            }[];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/conversations/{id}/messages/{messageId}/reactions/{emoji}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Who reacted with this emoji, in the order they did
         * @description 404 for a message you deleted for yourself.
         */
        get: {
            parameters: {
                query?: {
                    /** @description Items per page (1–100). */
                    limit?: number;
                    /** @description `next_cursor` of the previous page. */
                    cursor?: string;
                };
                header?: never;
                path: {
                    id: number;
                    messageId: number;
                    /** @description One emoji (a skin tone or ZWJ sequence is one). */
                    emoji: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            users: components["schemas"]["User"][];
                            next_cursor: string | null;
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        /**
         * React to a message with one emoji
         * @description The emoji is URL-encoded in the path and must be one emoji (a skin tone or ZWJ sequence is one); a text-style symbol is stored in its emoji form ("❤" as "❤️"). Idempotent. At most 20 different reactions per user and message (422 `too_many_reactions`). Members receive a `reaction` frame. Answers the message with its `reactions`.
         */
        put: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                    messageId: number;
                    /** @description One emoji (a skin tone or ZWJ sequence is one). */
                    emoji: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            message: components["schemas"]["Message"];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                422: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        post?: never;
        /**
         * Take your reaction back
         * @description The emoji is URL-encoded in the path and must be one emoji (a skin tone or ZWJ sequence is one); a text-style symbol is stored in its emoji form ("❤" as "❤️"). Idempotent. At most 20 different reactions per user and message (422 `too_many_reactions`). Members receive a `reaction` frame. Answers the message with its `reactions`.
         */
        delete: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                    messageId: number;
                    /** @description One emoji (a skin tone or ZWJ sequence is one). */
                    emoji: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            message: components["schemas"]["Message"];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                422: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/conversations/{id}/read": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Mark messages up to seq as read
         * @description Moves the caller's pointer forward to `seq` (default: the latest message). An older seq is ignored, a seq past the end is capped. Reading implies delivered.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        /** @description Up to and including this seq (absent or null: the latest). */
                        seq?: number | null;
                    };
                };
            };
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            conversation_id: number;
                            last_delivered_seq: number;
                            last_read_seq: number;
                            unread_count: number;
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/conversations/{id}/delivered": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Mark messages up to seq as delivered
         * @description Moves the caller's pointer forward to `seq` (default: the latest message). An older seq is ignored, a seq past the end is capped.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        /** @description Up to and including this seq (absent or null: the latest). */
                        seq?: number | null;
                    };
                };
            };
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            conversation_id: number;
                            last_delivered_seq: number;
                            last_read_seq: number;
                            unread_count: number;
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/conversations/{id}/messages/{messageId}/receipts": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** How far one message has got with each other participant */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                    messageId: number;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            message_id: number;
                            seq: number;
                            receipts: {
                                user_id: number;
                                /** @enum {string} */
                                status: "sent" | "delivered" | "read";
                            }[];
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/users/me/unread": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Unread counts per conversation and in total
         * @description Messages after your read pointer, not yours, not deleted. Conversations with none are left out.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            total: number;
                            conversations: {
                                conversation_id: number;
                                unread_count: number;
                            }[];
                        };
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/search/messages": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Full-text search over the messages of the caller's conversations, newest first
         * @description `q` takes words (all must occur), `"a phrase"`, `or` and `-word` (web search syntax); a last word of three letters or more also matches as a prefix unless it is quoted or negated, so `hel` finds "hello". A query with no searchable word (only punctuation or stop words) finds nothing. Only conversations the caller is a member of are searched (`conversation_id` of any other answers 404); deleted messages and messages the caller hid for themselves are never found. `before`/`after` bound `created_at`, exclusive. Page on with `cursor` = the previous page's `next_cursor`.
         *
         *     `highlight` is HTML, safe to insert as is: PostgreSQL's `ts_headline` marks the matched words with two sentinel characters (the noncharacters U+FDD0 and U+FDD1; the message's own occurrences of them become U+FFFD in the highlight), natter HTML-escapes the result (`& < > " '`) and then turns the sentinels into `<mark>` and `</mark>`; nothing else in it is markup. (`ts_headline` sees a space after every `<`, taken out again before escaping, as it would drop anything that looks like a tag.) `message.content` is the text as sent.
         */
        get: {
            parameters: {
                query: {
                    /** @description Words to find, all of them (`hello world`); `"a phrase"`; `cats or dogs`; `-word` to exclude one. The last word, if it has 3 letters or more, also matches as a prefix while it is being typed (`hel` finds "hello"). */
                    q: string;
                    /** @description Only this conversation (404 unless the caller is a member). */
                    conversation_id?: number;
                    /** @description Only messages this user sent. */
                    sender_id?: number;
                    /** @description Only messages sent before this time (exclusive). */
                    before?: string;
                    /** @description Only messages sent after this time (exclusive). */
                    after?: string;
                    /** @description Items per page (1–100). */
                    limit?: number;
                    /** @description `next_cursor` of the previous page. */
                    cursor?: string;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            results: {
                                message: components["schemas"]["Message"];
                                /** @description HTML: the message text (or the part around the matches) with every character escaped and the matched words in `<mark>…</mark>`; safe to insert as HTML. */
                                highlight: string;
                            }[];
                            /** @description Pass as `cursor` for the next (older) page; null: no more. */
                            next_cursor: string | null;
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/devices": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The caller's push devices, on every live session, newest first
         * @description `current` marks those of the session making the request. Devices of ended sessions are not listed.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            devices: {
                                id: number;
                                /** @enum {string} */
                                platform: "fcm" | "webpush" | "webhook";
                                /** @description fcm and webhook: the token; webpush: null. */
                                token: string | null;
                                /** @description webpush: the endpoint; otherwise null. */
                                subscription_endpoint: string | null;
                                locale: string | null;
                                app_version: string | null;
                                /** @description Registered by the session making this request. */
                                current: boolean;
                                /** Format: date-time */
                                created_at: string;
                                /** Format: date-time */
                                updated_at: string;
                            }[];
                        };
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        /**
         * Register a push device for the current session
         * @description `fcm` and `webhook` take a `token`, `webpush` a `subscription` ({endpoint, keys: {p256dh, auth}}, as the browser's PushSubscription gives it). Answers 201 with a new device, or 200 when the token (or endpoint) is already registered: that device is updated and now belongs to this session and user, wherever it was before (another account logged in on the same phone). `locale` and `app_version` are replaced each time (absent: none). At most 20 devices per session (422 `too_many_devices`). Logging out removes the session's devices.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            /** @description At most 20 devices per session. */
            requestBody: {
                content: {
                    "application/json": {
                        /** @enum {string} */
                        platform: "fcm";
                        /** @description The registration token (1–4096 characters, no whitespace). */
                        token: string;
                        /** @description The device's language, BCP 47 (`en`, `pt-BR`), for the notification texts. */
                        locale?: string | null;
                        /** @description The app's version (1–64 characters). */
                        app_version?: string | null;
                    } | {
                        /** @enum {string} */
                        platform: "webpush";
                        subscription: {
                            /**
                             * Format: uri
                             * @description The push service URL (at most 2048 characters), on a push service WEBPUSH_ENDPOINTS lists.
                             */
                            endpoint: string;
                            keys: {
                                /** @description The subscription's P-256 public key, base64url. */
                                p256dh: string;
                                /** @description The subscription's auth secret, base64url. */
                                auth: string;
                            };
                        };
                        /** @description The device's language, BCP 47 (`en`, `pt-BR`), for the notification texts. */
                        locale?: string | null;
                        /** @description The app's version (1–64 characters). */
                        app_version?: string | null;
                    } | {
                        /** @enum {string} */
                        platform: "webhook";
                        /** @description The registration token (1–4096 characters, no whitespace). */
                        token: string;
                        /** @description The device's language, BCP 47 (`en`, `pt-BR`), for the notification texts. */
                        locale?: string | null;
                        /** @description The app's version (1–64 characters). */
                        app_version?: string | null;
                    };
                };
            };
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            /** Device */
                            device: {
                                id: number;
                                /** @enum {string} */
                                platform: "fcm" | "webpush" | "webhook";
                                /** @description fcm and webhook: the token; webpush: null. */
                                token: string | null;
                                /** @description webpush: the endpoint; otherwise null. */
                                subscription_endpoint: string | null;
                                locale: string | null;
                                app_version: string | null;
                                /** @description Registered by the session making this request. */
                                current: boolean;
                                /** Format: date-time */
                                created_at: string;
                                /** Format: date-time */
                                updated_at: string;
                            };
                        };
                    };
                };
                /** @description Default Response */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            /** Device */
                            device: {
                                id: number;
                                /** @enum {string} */
                                platform: "fcm" | "webpush" | "webhook";
                                /** @description fcm and webhook: the token; webpush: null. */
                                token: string | null;
                                /** @description webpush: the endpoint; otherwise null. */
                                subscription_endpoint: string | null;
                                locale: string | null;
                                app_version: string | null;
                                /** @description Registered by the session making this request. */
                                current: boolean;
                                /** Format: date-time */
                                created_at: string;
                                /** Format: date-time */
                                updated_at: string;
                            };
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                422: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/devices/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /**
         * Remove one of the caller's push devices
         * @description Answers 204. Another user's device, or one that does not exist: 404 `not_found`.
         */
        delete: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Removed */
                204: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/push/webpush-key": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The VAPID public key to subscribe to Web Push with
         * @description Pass it as `applicationServerKey` to `PushManager.subscribe`. 404 `not_found` when the server has no VAPID keys.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            /** @description base64url, the uncompressed P-256 point (65 bytes). */
                            public_key: string;
                        };
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/calls/turn": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * STUN/TURN servers and short-lived TURN credentials for calls
         * @description Pass `{urls: uris, username, credential: password}` as an RTCPeerConnection ice server. The credentials are coturn's use-auth-secret (TURN REST API) form: `username` is `<expiry unix seconds>:<user id>`, `password` base64(HMAC-SHA1(TURN_SECRET, username)); they work for `ttl` seconds (TURN_TTL) and are made afresh on each request (never cached: `Cache-Control: no-store`). Without TURN_SECRET only the stun: URIs of TURN_URIS are listed, `username` and `password` are null and `note` says TURN is not configured. Counts against the caller's REST budget (RATE_LIMIT_USER, 429 `rate_limited`).
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            /** @description TURN username, `<expiry in unix seconds>:<user id>` (coturn's use-auth-secret form); null when TURN is not configured. */
                            username: string | null;
                            /** @description TURN password (RTCIceServer `credential`): base64 of HMAC-SHA1(TURN_SECRET, username); null when TURN is not configured. */
                            password: string | null;
                            /** @description Seconds the credentials work from now (TURN_TTL); fetch new ones before they run out. */
                            ttl: number;
                            /** @description STUN and TURN URIs (RTCIceServer `urls`) from TURN_URIS; only the stun: ones when TURN is not configured. */
                            uris: string[];
                            /** @description Present when TURN is not configured: why there are no credentials. */
                            note?: string;
                        };
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/conversations/{id}/attachments": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Upload a file into a conversation (send it with a message as `attachment_ids`)
         * @description `multipart/form-data` with one part named `file`; its file name is kept. The type is sniffed from the bytes. Images are measured and thumbnailed, and stored without their location and camera metadata. Larger than `UPLOAD_MAX_BYTES`: 413 and nothing is kept. An attachment not sent within `UPLOAD_ORPHAN_TTL` is deleted. For large files on unreliable networks use the resumable (tus) endpoint `/uploads`.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: number;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            /** Attachment */
                            attachment: {
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
                            };
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                413: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/attachments/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * An attachment's bytes
         * @description With the `expires` and `signature` of the attachment's `url` (no Authorization header needed), or with a bearer token of a member who can see it. Supports `Range` (206), `ETag` / `If-None-Match` (304). Only images, video and audio are served inline; every other file as a download. Expired link: 403 `url_expired`; altered: 403 `forbidden`.
         */
        get: {
            parameters: {
                query?: {
                    /** @description Expiry, Unix seconds. */
                    expires?: number;
                    signature?: string;
                };
                header?: never;
                path: {
                    id: number;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The bytes */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/octet-stream": string;
                    };
                };
                /** @description The bytes */
                206: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/octet-stream": string;
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                416: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/attachments/{id}/thumbnail": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * An image attachment's WebP thumbnail
         * @description With the `expires` and `signature` of the attachment's `url` (no Authorization header needed), or with a bearer token of a member who can see it. Supports `Range` (206), `ETag` / `If-None-Match` (304). Only images, video and audio are served inline; every other file as a download. Expired link: 403 `url_expired`; altered: 403 `forbidden`.
         */
        get: {
            parameters: {
                query?: {
                    /** @description Expiry, Unix seconds. */
                    expires?: number;
                    signature?: string;
                };
                header?: never;
                path: {
                    id: number;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The bytes */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/octet-stream": string;
                    };
                };
                /** @description The bytes */
                206: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/octet-stream": string;
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                416: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/uploads/{uploadId}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The attachment a finished resumable (tus) upload became
         * @description POST/PATCH/HEAD/DELETE on `/uploads` speak tus 1.0; see docs/protocol.md.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    uploadId: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Default Response */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            /** Attachment */
                            attachment: {
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
                            };
                        };
                    };
                };
                /** @description Default Response */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description Default Response */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /** Error */
        Error: {
            /** @description Human-readable message (clients may display it). */
            error: string;
            /**
             * @description Machine-readable code, see docs/errors.md.
             * @enum {string}
             */
            code: "validation_failed" | "invalid_json" | "invalid_frame" | "unknown_type" | "payload_too_large" | "message_too_large" | "unsupported_media_type" | "unauthorized" | "invalid_credentials" | "invalid_refresh_token" | "forbidden" | "url_expired" | "edit_window_passed" | "blocked" | "range_not_satisfiable" | "not_found" | "route_not_found" | "email_taken" | "username_taken" | "offset_mismatch" | "message_deleted" | "call_in_progress" | "too_many_reactions" | "too_many_devices" | "not_a_group" | "unknown_users" | "group_full" | "invite_invalid" | "rate_limited" | "not_ready" | "shutting_down" | "internal";
            /** @description The request field at fault, for validation errors. */
            field?: string;
        };
        /** User */
        User: {
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
        };
        /**
         * Me
         * @description The caller's own user object, with privacy settings.
         */
        Me: {
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
            /** @enum {string} */
            last_seen_visibility: "everyone" | "contacts" | "nobody";
            share_read_receipts: boolean;
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
        /** Participant */
        Participant: {
            id: number;
            username: string;
            email: string;
            phone: string | null;
            avatar: string | null;
            /** @enum {string} */
            status: "online" | "offline";
            /** Format: date-time */
            last_seen: string | null;
            /** Format: date-time */
            created_at: string;
            /** Format: date-time */
            updated_at: string;
            /** @enum {string} */
            role: "owner" | "admin" | "member";
        };
        /**
         * GroupSettings
         * @description A group's rules (a direct conversation shows the defaults).
         */
        GroupSettings: {
            /** @description Only the owner and admins may send messages. */
            only_admins_can_post: boolean;
            /** @description Only the owner and admins may change the name, description and avatar. */
            only_admins_can_edit_info: boolean;
            /** @description Only the owner and admins may add members. */
            only_admins_can_add: boolean;
            /** @description New members see the messages from before they joined (false: from their joining on). */
            history_visible_to_new_members: boolean;
        };
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
        /** Conversation */
        Conversation: {
            id: number;
            /** @enum {string} */
            type: "direct" | "group";
            name: string | null;
            description: string | null;
            avatar: string | null;
            settings: components["schemas"]["GroupSettings"];
            created_by: number | null;
            /** @description seq of the latest message (0: none yet). */
            last_seq: number;
            /** @description The latest change (new message, edit, delete, reaction): `changes_since` in `sync`. */
            mod_seq: number;
            unread_count: number;
            participants: components["schemas"]["Participant"][];
            /** @description The latest message, as a list of at most one. */
            messages: components["schemas"]["Message"][];
            /** Format: date-time */
            last_message_at: string | null;
            /** Format: date-time */
            created_at: string;
            /** Format: date-time */
            updated_at: string;
            my_settings: components["schemas"]["MemberSettings"];
        };
        /** Invite */
        Invite: {
            code: string;
            /** @description GET it for a preview; POST `<url>/join` to join. */
            url: string;
            conversation_id: number;
            created_by: number | null;
            /** Format: date-time */
            expires_at: string | null;
            max_uses: number | null;
            uses: number;
            /** Format: date-time */
            created_at: string;
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
