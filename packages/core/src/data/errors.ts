import { TradebusError } from '../errors.js';

/** Base class of the data layer's errors; `code` starts with `DATA_`. */
export class DataError extends TradebusError {}

/**
 * A write could not be made durable (disk full, I/O error, failed fsync). The log stops taking
 * writes: after a failed fsync the operating system may have dropped the unwritten pages, so only
 * a restart (which re-reads and checks the files) can say what is on disk.
 */
export class DataWriteError extends DataError {
  constructor(file: string, cause: unknown) {
    super(
      'DATA_WRITE_FAILED',
      `Writing ${file} failed, so the data store stopped accepting writes. Check free disk space and permissions, then restart: everything acknowledged before the failure is on disk.`,
      { cause, details: { file } },
    );
  }
}

/** The store (or one of its logs) is closed or has failed: the write was not accepted. */
export class DataClosedError extends DataError {
  constructor(what: string, reason: 'closed' | 'failed') {
    super(
      reason === 'closed' ? 'DATA_CLOSED' : 'DATA_FAILED',
      reason === 'closed'
        ? `${what} is closed: open the data store again before writing.`
        : `${what} stopped after a write failure: restart the process to recover (acknowledged data is safe on disk).`,
      { details: { what, reason } },
    );
  }
}

/** A file does not hold what the data layer wrote (and cannot be repaired by quarantining a tail). */
export class DataCorruptedError extends DataError {
  constructor(file: string, problem: string, cause?: unknown) {
    super(
      'DATA_CORRUPTED',
      `${file} is corrupted (${problem}). Restore it from a backup (see restoreBackup), or move it aside to start that part of the store empty.`,
      { cause, details: { file, problem } },
    );
  }
}

/** Another live process holds the data directory. */
export class DataLockedError extends DataError {
  constructor(dir: string, pid: number) {
    super(
      'DATA_LOCKED',
      `The data directory ${dir} is in use by process ${pid}. Stop that process, or give this one its own data directory (data.dir).`,
      { details: { dir, pid } },
    );
  }
}

/** Bad arguments to a data-layer call (a limit of 0, an unknown option value...). */
export class DataArgumentError extends DataError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('DATA_ARGUMENT', message, details === undefined ? {} : { details });
  }
}
