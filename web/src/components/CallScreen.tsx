import { useEffect, useRef, useState } from 'preact/hooks';
import { duration, type CallSession, type IncomingCall } from '../calls.js';
import type { ChatStore } from '../store.js';
import { Avatar } from './Avatar.js';
import { Icon } from './Icon.js';

/** What a call shows over the app: the incoming call (while it rings), or the call in progress. */
export function CallScreen({ store }: { store: ChatStore }) {
  const calls = store.calls;
  if (calls.current) return <CallView session={calls.current} />;
  if (calls.incoming) return <Incoming call={calls.incoming} onAccept={() => void calls.accept()} onDecline={() => calls.decline()} />;
  if (calls.error) {
    return (
      <p class="call-error" role="alert">
        {calls.error}
      </p>
    );
  }
  return null;
}

function Incoming({ call, onAccept, onDecline }: { call: IncomingCall; onAccept: () => void; onDecline: () => void }) {
  const kind = call.invite.video ? 'Video call' : 'Voice call';
  return (
    <section class="call incoming" role="dialog" aria-label={`Incoming ${kind.toLowerCase()} from ${call.name}`}>
      <Avatar name={call.name} />
      <h2>{call.name}</h2>
      <p class="call-status" role="status">
        Incoming {kind.toLowerCase()}…
      </p>
      <div class="call-actions">
        <button type="button" class="call-button decline" onClick={onDecline} aria-label="Decline">
          <Icon name="hangup" /> Decline
        </button>
        <button type="button" class="call-button accept" onClick={onAccept} aria-label="Accept">
          <Icon name={call.invite.video ? 'video' : 'phone'} /> Accept
        </button>
      </div>
    </section>
  );
}

const STATUS = { calling: 'Calling…', ringing: 'Ringing…', connecting: 'Connecting…', connected: 'Connected' } as const;

function CallView({ session: s }: { session: CallSession }) {
  const remote = useRef<HTMLVideoElement>(null);
  const local = useRef<HTMLVideoElement>(null);
  const [, tick] = useState(0);

  useEffect(() => {
    if (remote.current && remote.current.srcObject !== s.remoteStream) remote.current.srcObject = s.remoteStream;
    if (local.current && local.current.srcObject !== s.localStream) local.current.srcObject = s.localStream;
  });

  // The duration counts once connected.
  useEffect(() => {
    if (s.connectedAt === null) return;
    const timer = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(timer);
  }, [s.connectedAt]);

  const kind = s.video ? 'Video call' : 'Voice call';
  return (
    <section class={`call active ${s.video ? 'video' : 'voice'}`} role="dialog" aria-label={`${kind} with ${s.peerName}`}>
      <video ref={remote} class="remote-video" autoPlay playsInline aria-label={`${s.peerName}'s video`} hidden={!s.video} />
      {!s.video && <Avatar name={s.peerName} />}
      <div class="call-head">
        <h2>{s.peerName}</h2>
        <p class="call-status" role="status">
          {STATUS[s.phase]}
          {s.connectedAt !== null && <time class="call-timer"> · {duration(Date.now() - s.connectedAt)}</time>}
        </p>
      </div>
      {s.video && <video ref={local} class="local-video" autoPlay playsInline muted aria-label="Your camera" />}
      <div class="call-actions">
        <button type="button" class="call-button" aria-pressed={s.muted} onClick={() => s.toggleMute()} aria-label={s.muted ? 'Unmute' : 'Mute'}>
          <Icon name={s.muted ? 'mic-off' : 'mic'} /> {s.muted ? 'Unmute' : 'Mute'}
        </button>
        {s.video && (
          <button type="button" class="call-button" aria-pressed={!s.cameraOn} onClick={() => s.toggleCamera()} aria-label={s.cameraOn ? 'Camera off' : 'Camera on'}>
            <Icon name={s.cameraOn ? 'video' : 'video-off'} /> {s.cameraOn ? 'Camera off' : 'Camera on'}
          </button>
        )}
        <button type="button" class="call-button decline" onClick={() => s.hangup()} aria-label="Hang up">
          <Icon name="hangup" /> Hang up
        </button>
      </div>
    </section>
  );
}
