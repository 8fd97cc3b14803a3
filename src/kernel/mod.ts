/**
 * @module
 * Contracts and shared types of Gatehouse. Imports nothing from sibling folders.
 */
export { type Clock, systemClock, type TimerId } from "./clock.ts";
export { Tally, TALLY_OVERFLOW, type TallyEntry } from "./tally.ts";
export {
  createLogger,
  type LogFields,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  silentLogger,
} from "./logger.ts";
export {
  ConfigError,
  type ErrorCode,
  type ErrorShape,
  GatehouseError,
  toErrorShape,
} from "./errors.ts";
export type { ApprovalDecision, ApprovalRequest, ApprovalResolution } from "./approvals.ts";
export {
  type ChannelAdapter,
  type ChannelSend,
  ChannelSendError,
  type ChannelTarget,
  type Outbox,
  type OutboxEntry,
  type OutboxInput,
  type Replies,
  type ReplyTarget,
} from "./channel.ts";
export type {
  AgentEvent,
  ChatEvent,
  ChatStatus,
  DevicePairRequest,
  EventSink,
  GatewayEventName,
  GatewayEvents,
} from "./events.ts";
export {
  type FailureKind,
  type ModelMessage,
  type ModelRequest,
  type ModelResolver,
  type ModelStreamEvent,
  type Provider,
  ProviderError,
  type ReasoningBlock,
  type StopReason,
  type StreamOptions,
  type ToolCall,
  type ToolResult,
  type ToolSpec,
} from "./provider.ts";
export type { PreparedCall, Tool, ToolContext, ToolGroup, ToolOutput } from "./tool.ts";
export type {
  AdmitResult,
  DeliveryRoute,
  EntryFields,
  EntryRole,
  EntryTool,
  InboundMessage,
  IngressRecord,
  NewEntry,
  QueueMode,
  SessionMeta,
  SessionPatch,
  SessionStore,
  TranscriptEntry,
} from "./session_store.ts";
export {
  AGENT_ID,
  type DmScope,
  isSessionKey,
  MAIN_SESSION_KEY,
  type Route,
  sessionKeyFor,
  sessionKeyProblem,
} from "./session_key.ts";
