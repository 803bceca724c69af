export { createSystemdNotifier, type SystemdNotifier, type SystemdNotifierOptions } from './notifier.ts';
export {
  notifyMessage,
  parseNotifySocket,
  sockaddrUn,
  watchdogPingMs,
  STATUS_MAX,
  type NotifyAddress,
  type NotifyFields,
} from './protocol.ts';
export { NotifySendError, SystemdEnvError, SystemdError } from './errors.ts';
