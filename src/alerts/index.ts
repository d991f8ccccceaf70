// Alert channels and the dispatcher, for pass.ts and service.ts to wire up.
export { AlertDispatcher, type Delivery, type DispatchOptions, type DispatcherOptions, type DispatchResult } from './dispatcher.js';
export { EmailNotifier, emailBody, emailSubject, type EmailOptions } from './email.js';
export { EventNotifier } from './event.js';
export { LogNotifier } from './log.js';
export { detailLines, isFullyResolved, resolvedSentence, shortName, statusLabel, title, type Notification, type Notifier } from './notification.js';
export {
  FileAlertStateStore,
  MemoryAlertStateStore,
  emptyAlertState,
  fromStoredAlert,
  parseAlertState,
  pendingDeliveries,
  planNotifications,
  serializeAlertState,
  toStoredAlert,
  type AlertRecord,
  type AlertState,
  type AlertStateStore,
  type ChannelDelivery,
  type PlannedNotification,
  type StoredAlert,
} from './state.js';
export { WebhookNotifier, jsonPayload, redactUrl, slackPayload, type SlackPayload, type WebhookFormat, type WebhookOptions, type WebhookPayload } from './webhook.js';
