import { Type, type Static } from 'typebox';
import { nullable } from './common.js';

/** `GET /calls/turn`: what a call client puts in its RTCPeerConnection's iceServers. */
export const TurnCredentialsSchema = Type.Object(
  {
    username: nullable<string>(
      Type.String({
        description: 'TURN username, `<expiry in unix seconds>:<user id>` (coturn\'s use-auth-secret form); null when TURN is not configured.',
      }),
    ),
    password: nullable<string>(
      Type.String({
        description: 'TURN password (RTCIceServer `credential`): base64 of HMAC-SHA1(TURN_SECRET, username); null when TURN is not configured.',
      }),
    ),
    ttl: Type.Integer({ minimum: 0, description: 'Seconds the credentials work from now (TURN_TTL); fetch new ones before they run out.' }),
    uris: Type.Array(Type.String(), {
      description: 'STUN and TURN URIs (RTCIceServer `urls`) from TURN_URIS; only the stun: ones when TURN is not configured.',
    }),
    note: Type.Optional(Type.String({ description: 'Present when TURN is not configured: why there are no credentials.' })),
  },
  { title: 'TurnCredentials' },
);
export type TurnCredentials = Static<typeof TurnCredentialsSchema>;
