// The contract every transport meets (the WebSocket mesh and the in-memory network): send core
// messages by their `to`, receive them as typed events, learn when peers come and go. A Raft
// driver is written against this interface only.

import type { Message, MessageType } from '../core/message.ts';
import type { NodeId } from '../core/types.ts';
import type { TransportErrorCode } from './errors.ts';
import type { Unsubscribe } from './events.ts';
import type { TokenClaims, TokenRole } from './token-claims.ts';

/** What the other side of a connection is, as authenticated by its handshake. */
export type PeerRole = 'peer' | TokenRole;

/** Why a message was not sent. Raft treats each like a lost message. */
export type DropReason = 'not-connected' | 'high-water' | 'hard-cap' | 'too-large' | 'partition' | 'fault';

export interface TransportEventMap {
  /** `claims`: a token holder's verified claims (the connection that came up); null for peers. */
  'peer:up': { readonly peer: NodeId; readonly role: PeerRole; readonly claims: TokenClaims | null };
  'peer:down': { readonly peer: NodeId; readonly role: PeerRole };
  /** Validated messages from one frame, all from `from` to this node. */
  'messages': { readonly from: NodeId; readonly role: PeerRole; readonly msgs: readonly Message[] };
  /** Client-protocol payloads from one rpc frame, unvalidated: the protocol layer checks them. */
  'rpc': { readonly from: NodeId; readonly role: PeerRole; readonly claims: TokenClaims | null; readonly payloads: readonly Uint8Array[] };
  /** Replication to `peer` was shed or could not be sent: the leader should probe it again later. */
  'unreachable': { readonly peer: NodeId };
  'send:dropped': { readonly peer: NodeId; readonly type: MessageType; readonly reason: DropReason };
  /** An authenticated connection sent something invalid and was closed. */
  'frame:rejected': { readonly peer: NodeId | null; readonly remote: string; readonly code: TransportErrorCode; readonly message: string };
  /** A handshake failed (either side); the connection was closed with a generic reason. */
  'auth:failed': { readonly remote: string; readonly code: TransportErrorCode; readonly message: string };
}

export interface Transport {
  readonly id: NodeId;
  /** Queues messages for their `to`; never blocks, never throws for an unreachable peer. */
  send(msgs: readonly Message[]): void;
  on<K extends keyof TransportEventMap>(event: K, listener: (payload: TransportEventMap[K]) => void): Unsubscribe;
  isConnected(peer: NodeId): boolean;
  close(): Promise<void>;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, message: string, fields?: Readonly<Record<string, unknown>>) => void;

/** Default logger: warnings and errors to the console, nothing else. */
export const consoleLogger: Logger = (level, message, fields) => {
  if (level === 'warn') console.warn(`[edgeraft] ${message}`, fields ?? '');
  else if (level === 'error') console.error(`[edgeraft] ${message}`, fields ?? '');
};

/** Replication traffic: shed first under backpressure, and worth an 'unreachable' when lost. */
export function isReplication(type: MessageType): boolean {
  return type === 'app' || type === 'snap';
}
