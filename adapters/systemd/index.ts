export { createSystemdNotifier, type SystemdNotifier, type SystemdNotifierOptions } from './notifier.ts';
export {
  NOTIFY_VARIABLES,
  notifyMessage,
  parseNotifySocket,
  sockaddrUn,
  watchdogPingMs,
  withoutNotifyVariables,
  STATUS_MAX,
  type NotifyAddress,
  type NotifyFields,
} from './protocol.ts';
export { NotifySendError, SystemdEnvError, SystemdError } from './errors.ts';
