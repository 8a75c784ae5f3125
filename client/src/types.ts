/**
 * Names for the generated types: REST objects from the OpenAPI document
 * (generated/openapi.ts), WebSocket frames from the AsyncAPI document
 * (generated/frames.ts). Nothing here is written by hand but the names.
 */
import type { components as Frames } from './generated/frames.js';
import type { components as Rest, paths } from './generated/openapi.js';

export type { paths };
export type Schemas = Rest['schemas'];

export type User = Schemas['User'];
/** The signed-in user's own view of themselves (what /users/me answers). */
export type Me = Schemas['Me'];
export type Message = Schemas['Message'];
export type Conversation = Schemas['Conversation'];
/** An uploaded file (the document has no Attachment component: it is inlined, so it is named from Message). */
export type Attachment = Message['attachments'][number];
export type MemberSettings = Schemas['MemberSettings'];
export type ErrorBody = Schemas['Error'];

type FrameSchemas = Frames['schemas'];
type FramesOf<Prefix extends string> = {
  [K in keyof FrameSchemas]: K extends `${Prefix}.${string}` ? FrameSchemas[K] : never;
}[keyof FrameSchemas];

/** Every frame natter sends (`server.<type>` in the AsyncAPI document). */
export type ServerFrame = FramesOf<'server'>;
export type ServerFrameType = ServerFrame['type'];
export type ServerFrameOf<T extends ServerFrameType> = Extract<ServerFrame, { type: T }>;

/** Every frame a client may send (`client.<type>`). */
export type ClientFrame = FramesOf<'client'>;
export type ClientFrameType = ClientFrame['type'];
export type ClientFrameOf<T extends ClientFrameType> = Extract<ClientFrame, { type: T }>;
