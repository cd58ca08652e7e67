export * from './errors.js';
export * from './repositories.js';
export { FSYNC_POLICIES, type FsyncPolicy } from './fs-utils.js';
export { DurableJsonFile, openDocument, type DurableJsonFileOptions } from './durable-file.js';
export {
  SegmentLog,
  type SegmentLogOptions,
  type LogRecord,
  type LogScanOptions,
  type LogStats,
  type BlockInfo,
  type VerifyProblem,
  type BackupFile,
} from './segment-log.js';
export { EventJournal, journalQuerySchema, type JournalFilter, type JournalStats } from './journal.js';
export { LogOrderRepository, mergeOrder } from './orders.js';
export { LogTradeRepository } from './trades.js';
export { LogAccountRepository } from './accounts.js';
export { LogCandleRepository } from './candles.js';
export { DocumentPositionRepository } from './positions.js';
export { StateLog, LogStateStore, LogAgentStateRepository, DataFormatError, STATE_FORMAT, type StateLogOptions, type StateLogStats } from './state-log.js';
export { restoreBackup, backupManifestSchema, type BackupManifest } from './backup.js';
export { DataStore, openDataStore, DATA_STORE_SERVICE, type DataStoreOptions, type DataStoreStats, type VerifyReport } from './data-store.js';
